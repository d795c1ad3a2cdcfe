#!/usr/bin/env bash
# The release wheel for Linux, into OUT_DIR, for TARGET (default x86_64-unknown-linux-musl;
# aarch64-unknown-linux-musl too):
#   packaging/python/build.sh dist/ [TARGET]
# The binary is static (musl, linked by zig), so one wheel installs on glibc and musl systems
# alike: it is tagged manylinux2014 and musllinux_1_2. maturin and ziglang come from PyPI into a
# build environment of their own (target/pybuild), made once; the Rust target is added when
# rustup lacks it. The binary stays at target/TARGET/release/bland-sms-sim for the other packages.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:?give the directory to write the wheel to}
triple=${2:-x86_64-unknown-linux-musl}
target=${CARGO_TARGET_DIR:-target}
mkdir -p "$target"
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$triple"; then
  rustup target add "$triple"
fi
# Absolute: build scripts run in other folders, and find zig through this PATH.
env="$(cd "$target" && pwd)/pybuild"
if [ ! -x "$env/bin/maturin" ] || ! "$env/bin/python" -c "import ziglang" 2>/dev/null; then
  python3 -m venv "$env"
  "$env/bin/pip" install --quiet "maturin>=1.5,<2" "ziglang<0.14"
fi
mkdir -p "$out"
PATH="$env/bin:$PATH" "$env/bin/maturin" build --release --strip \
  --compatibility manylinux2014 musllinux_1_2 --zig --target "$triple" --out "$out"
