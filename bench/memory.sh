#!/usr/bin/env bash
# RSS of the release build after each abuse, at fixed sizes, against its documented bound;
# exits non-zero when one is over. See bench/memory.rs. Takes about 30 s once built; one abuse only:
#   bench/memory.sh webhooks   # journal, webhooks, connections, receiver, idempotency,
#                              # conversation, timers, csv, files, regex, listing, unknown,
#                              # headers, state
set -euo pipefail
cd "$(dirname "$0")/.."
bench/build.sh memory
target=${CARGO_TARGET_DIR:-target}
export SIM_BIN="$target/release/bland-sms-sim"
exec "$target/release/examples/memory" "$@"
