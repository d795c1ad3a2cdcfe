#!/usr/bin/env bash
# Memory per conversation and per message, a filtered list, one advance over many timers, and
# webhook throughput, at SIZE conversations (default 100,000; see bench/figures.rs). Once
# built, under a minute at 100,000 and about four minutes at 1,000,000.
#   bench/figures.sh                      # print the table
#   SIZE=1000000 bench/figures.sh --readme   # and write it into docs/performance.md
set -euo pipefail
cd "$(dirname "$0")/.."
bench/build.sh figures
target=${CARGO_TARGET_DIR:-target}
export SIM_BIN="$target/release/bland-sms-sim"
exec "$target/release/examples/figures" "$@"
