#!/usr/bin/env bash
# Soak the release build on loopback for N seconds (default 20): 48 clients mixing every
# operation, then the invariants. Exits non-zero when one breaks. See bench/soak.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
bench/build.sh soak
target=${CARGO_TARGET_DIR:-target}
export SIM_BIN="$target/release/bland-sms-sim"
exec "$target/release/examples/soak" "${1:-20}"
