#!/usr/bin/env bash
# The same flow against the simulator built at REV (default: the last commit before the change
# being checked) and the one built from this tree: answers, webhook bytes and signatures, and
# the state must be identical. See bench/differential.py.
#   bench/differential.sh a7476e2
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?give the revision to compare with}
target=${CARGO_TARGET_DIR:-target}
old="$target/differential/$rev"
if [ ! -x "$old/bin/bland-sms-sim" ]; then
  rm -rf "$old/src"
  git worktree add -f --detach "$old/src" "$rev" >/dev/null
  CARGO_TARGET_DIR="$target/differential/build" cargo build --quiet --manifest-path "$old/src/Cargo.toml" --bin bland-sms-sim
  mkdir -p "$old/bin"
  cp "$target/differential/build/debug/bland-sms-sim" "$old/bin/"
  git worktree remove --force "$old/src"
fi
cargo build --quiet --bin bland-sms-sim
exec python3 bench/differential.py "$old/bin/bland-sms-sim" "$target/debug/bland-sms-sim"
