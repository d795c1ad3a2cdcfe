#!/usr/bin/env bash
# The simulator as a ratio of a bare hyper server, both under the same oha load on loopback,
# one after the other (see bench/ratio.rs). Takes about 80 s once built; oha is installed when missing.
#   bench/ratio.sh            # print the table
#   bench/ratio.sh --readme   # and write it into docs/performance.md
set -euo pipefail
cd "$(dirname "$0")/.."
command -v oha >/dev/null || cargo install oha --locked
bench/build.sh bare ratio
target=${CARGO_TARGET_DIR:-target}
export SIM_BIN="$target/release/bland-sms-sim" BARE_BIN="$target/release/examples/bare"
exec "$target/release/examples/ratio" "$@"
