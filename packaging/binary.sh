#!/usr/bin/env bash
# The one release build the packages share: the static Linux x86_64 binary (musl, no libc
# needed at run time), made by the wheel build when it is missing or older than the sources,
# so the wheel, the npm platform package and the image carry the same bytes. Prints its path.
#   packaging/binary.sh
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
binary="$target/x86_64-unknown-linux-musl/release/bland-sms-sim"
if [ ! -x "$binary" ] || [ -n "$(find src Cargo.toml Cargo.lock build.rs fixtures scenarios -newer "$binary" -print -quit)" ]; then
  packaging/python/build.sh "$target/wheels" >&2
fi
echo "$binary"
