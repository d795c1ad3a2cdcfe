#!/usr/bin/env bash
# Memory per conversation and per message, a filtered list, one advance over many timers, and
# webhook throughput, at SIZE conversations (default 100,000; see bench/figures.rs). Once
# built, under a minute at 100,000 and about four minutes at 1,000,000.
#   bench/figures.sh                      # print the table
#   SIZE=1000000 bench/figures.sh --readme   # and write it into README.md
set -euo pipefail
cd "$(dirname "$0")/.."
# The simulator as `cargo run --release` builds it: apart from the examples, whose
# dev-dependencies would add features (tokio's test-util) to a binary built with them.
cargo build --release --quiet --bin bland-sms-sim
cargo build --release --quiet --example figures
target=${CARGO_TARGET_DIR:-target}
export SIM_BIN="$target/release/bland-sms-sim"
exec "$target/release/examples/figures" "$@"
