#!/usr/bin/env bash
# Builds the release simulator as `cargo run --release` does, then the given bench examples.
# Apart, because the examples' dev-dependencies would add features (tokio's test-util) to a
# simulator built in the same run.
#   bench/build.sh bare ratio
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin bland-sms-sim
cargo build --release --quiet $(printf -- '--example %s ' "$@")
