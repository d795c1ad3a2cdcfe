#!/usr/bin/env bash
# The one command CI runs: start the simulator and the app pointed at it, replay the recorded
# conversations against both, stop both, and exit with the replay's status (0: all passed).
#
#   examples/app-tests/run.sh
#
# Needs `bland-sms-sim` on PATH (pip install bland-sms-sim), or BLAND_SMS_SIM=/path/to/binary
# (BLAND_SMS_SIM_BINARY, the pytest plugin's name for it, works too); and a Python with
# `requests` (PYTHON=…, default python3). The JUnit report goes to $JUNIT (default:
# app-tests.xml in the current directory). Everything stays on 127.0.0.1.
set -euo pipefail

sim_bin="${BLAND_SMS_SIM:-${BLAND_SMS_SIM_BINARY:-bland-sms-sim}}"
python="${PYTHON:-python3}"
junit="${JUNIT:-app-tests.xml}"
case "$junit" in /*) ;; *) junit="$PWD/$junit" ;; esac
case "$sim_bin" in /*) ;; */*) sim_bin="$PWD/$sim_bin" ;; esac   # we cd below
case "$python" in /*) ;; */*) python="$PWD/$python" ;; esac
cd "$(dirname "${BASH_SOURCE[0]}")"   # the scripts' paths in the report: replays/…
work="$(mktemp -d)"
sim_pid="" app_pid="" replay_pid=""

# shellcheck disable=SC2317  # called by the trap
stop() {
  set +e
  for pid in $replay_pid $app_pid $sim_pid; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  rm -rf "$work"
}
trap stop EXIT
trap 'exit 130' INT TERM

# The first line of each is "… listening on http://127.0.0.1:PORT": wait for it (5 s at most).
first_url() {
  local log="$1" pid="$2" line
  for _ in $(seq 50); do
    line="$(head -n 1 "$log" 2>/dev/null || true)"
    case "$line" in *"listening on http://"*) echo "${line##* }"; return 0 ;; esac
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "run.sh: no URL from $log:" >&2
  cat "$log" >&2
  return 1
}

# The simulator, on a free port and a manual clock (the scripts move it).
"$sim_bin" --clock manual --port 0 >"$work/sim.log" 2>&1 &
sim_pid=$!
sim="$(first_url "$work/sim.log" "$sim_pid")"
"$sim_bin" healthcheck --url "$sim" >/dev/null

# The app, on a free port, its Bland client pointed at the simulator.
BLAND_BASE_URL="$sim" PORT=0 "$python" app.py >"$work/app.log" 2>&1 &
app_pid=$!
app="$(first_url "$work/app.log" "$app_pid")"

echo "simulator: $sim   app: $app"
status=0
# In the background and waited for, so that a TERM from CI stops everything at once.
APP_WEBHOOK_URL="$app/bland/webhook" APP_URL="$app" \
  "$sim_bin" replay --url "$sim" --junit "$junit" replays/ &
replay_pid=$!
wait "$replay_pid" || status=$?
replay_pid=""
if [ "$status" -ne 0 ]; then
  echo "--- the app's log ---" >&2
  cat "$work/app.log" >&2
fi
exit "$status"
