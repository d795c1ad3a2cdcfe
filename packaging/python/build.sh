#!/usr/bin/env bash
# The release wheel for Linux x86_64, portable to glibc 2.17+ (manylinux2014), into OUT_DIR:
#   packaging/python/build.sh dist/
# maturin and ziglang come from PyPI into a build environment of their own (target/pybuild),
# made once. The binary is linked by zig against glibc 2.17, so the wheel installs on any
# manylinux2014 system.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:?give the directory to write the wheel to}
target=${CARGO_TARGET_DIR:-target}
mkdir -p "$target"
# Absolute: build scripts run in other folders, and find zig through this PATH.
env="$(cd "$target" && pwd)/pybuild"
if [ ! -x "$env/bin/maturin" ] || ! "$env/bin/python" -c "import ziglang" 2>/dev/null; then
  python3 -m venv "$env"
  "$env/bin/pip" install --quiet "maturin>=1.5,<2" "ziglang<0.14"
fi
mkdir -p "$out"
PATH="$env/bin:$PATH" "$env/bin/maturin" build --release --strip \
  --compatibility manylinux2014 --zig --target x86_64-unknown-linux-gnu --out "$out"
