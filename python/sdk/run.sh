#!/usr/bin/env bash
# Bland's Python SDK (bland==0.3.0, unmodified) against a fresh simulator.
#
#   python/sdk/run.sh [SIMULATOR_BINARY [PYTEST_ARGS...]]
#
# SIMULATOR_BINARY defaults to `bland-sms-sim` on PATH (e.g. target/debug/bland-sms-sim).
# The virtual environment lives at ${CARGO_TARGET_DIR:-target}/sdkenv (relative to the
# repository root unless CARGO_TARGET_DIR is absolute) and is reused once it has bland 0.3.0
# and pytest. Exits with pytest's status (2 if the simulator cannot be started).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
sim="${1:-bland-sms-sim}"
shift || true

target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
venv="$target/sdkenv"
py="$venv/bin/python"

if ! "$py" -c 'import importlib.metadata as m, pytest; assert m.version("bland") == "0.3.0"' \
    >/dev/null 2>&1; then
    echo "run.sh: preparing $venv (bland==0.3.0, pytest)" >&2
    "${PYTHON:-python3}" -m venv "$venv"
    "$py" -m pip install --quiet --disable-pip-version-check "bland==0.3.0" pytest
fi

if ! command -v "$sim" >/dev/null 2>&1; then
    echo "run.sh: simulator binary not found: $sim (pass its path, e.g. target/debug/bland-sms-sim)" >&2
    exit 2
fi

work="$(mktemp -d)"
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

"$sim" --port 0 --clock manual >"$work/sim.log" 2>&1 &
pid=$!

url=""
for _ in $(seq 1 300); do   # up to 30 s: a debug build on a busy machine starts slowly
    line="$(head -n 1 "$work/sim.log" 2>/dev/null || true)"
    case "$line" in
        "listening on http://"*) url="${line#listening on }"; break ;;
    esac
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.1
done
if [ -z "$url" ]; then
    echo "run.sh: the simulator did not report its URL; its output:" >&2
    cat "$work/sim.log" >&2
    exit 2
fi
echo "run.sh: simulator $sim at $url" >&2

status=0
BLAND_SMS_SIM_URL="$url" PYTHONDONTWRITEBYTECODE=1 \
    "$py" -m pytest -p no:cacheprovider --rootdir "$here" "$here/test_bland_sdk.py" -v "$@" \
    || status=$?
exit "$status"
