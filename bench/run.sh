#!/usr/bin/env bash
# Throughput of the release build on loopback: requests/s for GET /v1/sms/numbers and
# POST /v1/sms/send, measured with oha (installed with cargo when missing).
#
#   bench/run.sh            # 50,000 requests per endpoint, 32 connections
#   N=200000 C=64 bench/run.sh
#
# Every request goes to the simulator this script starts on 127.0.0.1; the run is bounded by N.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-50000}
C=${C:-32}
command -v oha >/dev/null || cargo install oha --locked
cargo build --release --quiet

log=$(mktemp)
"${CARGO_TARGET_DIR:-target}/release/bland-sms-sim" --host 127.0.0.1 --port 0 --seed 1 >"$log" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 200); do grep -q '^listening on' "$log" && break; sleep 0.05; done
url=$(head -n 1 "$log" | sed 's/^listening on //')
case "$url" in
  http://127.0.0.1:*) ;;
  *) echo "simulator did not start on loopback: $url" >&2; exit 1 ;;
esac
key=$(sed -n 's/^api key: //p' "$log")

measure() {
  local name=$1
  shift
  local out
  out=$(oha --no-tui -n "$N" -c "$C" -H "authorization: $key" "$@")
  local rps p99 ok
  rps=$(printf '%s\n' "$out" | awk '/Requests\/sec:/ {printf "%.0f", $2}')
  p99=$(printf '%s\n' "$out" | awk '/99.00% in/ {print $3, $4}')
  ok=$(printf '%s\n' "$out" | awk '/Success rate:/ {print $3}')
  printf '%-34s %8s req/s   p99 %-12s success %s\n' "$name" "$rps" "$p99" "$ok"
}

echo "bland-sms-sim $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $N requests, $C connections, $(nproc) cores"
measure "GET  /v1/sms/numbers" "$url/v1/sms/numbers"
measure "POST /v1/sms/send" -m POST -T application/json \
  -d '{"user_number":"+15550001111","agent_number":"+15550002222","agent_message":"bench"}' \
  "$url/v1/sms/send"
measure "POST /v1/sms/send (new conv)" -m POST -T application/json \
  -d '{"user_number":"+15550001111","agent_number":"+15550002222","agent_message":"bench","new_conversation":true}' \
  "$url/v1/sms/send"
measure "POST /_sim/inbound (agent turn)" -m POST -T application/json \
  -d '{"user_number":"+15550001111","agent_number":"+15550002222","message":"hello there"}' \
  "$url/_sim/inbound"
