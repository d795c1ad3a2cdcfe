#!/usr/bin/env bash
# The image as users run it: started with podman (or docker, CONTAINER_ENGINE=docker) and
# checked from the host. Every byte stays on loopback: the container shares the host's network
# and the simulator listens on 127.0.0.1, on a free port (so the health check must follow
# BLAND_SIM_PORT). Checks: the health check passes (and how long it took to be healthy), Bland's
# API answers with the default key, the Host check admits `bland-sms-sim` and refuses others, a
# /send delivers a signed webhook to a receiver on the host, `stop` ends it within 2 s with the
# state file written to the mounted volume, it runs as a non-root user, and the image's size.
#   packaging/image/test.sh bland-sms-sim:dev
set -euo pipefail
image=${1:?give the image, e.g. bland-sms-sim:dev}
engine=${CONTAINER_ENGINE:-podman}
if ! command -v "$engine" >/dev/null; then
  echo "SKIPPED: the image checks need $engine, which is not installed (apt-get install podman)"
  exit 0
fi
fail() { echo "FAILED: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }
work=$(mktemp -d)
name="bland-sms-sim-test-$$"
receiver_pid=""
cleanup() {
  "$engine" rm -f "$name" >/dev/null 2>&1 || true
  [ -z "$receiver_pid" ] || kill "$receiver_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
# A webhook receiver on the host: answers 200 and writes each delivery's signature and body.
python3 - "$work" > "$work/receiver.port" <<'PY' &
import http.server, json, sys
out = sys.argv[1]
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        with open(f"{out}/deliveries.jsonl", "a") as f:
            f.write(json.dumps({"signature": self.headers.get("x-webhook-signature"), "body": body.decode()}) + "\n")
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
print(server.server_address[1], flush=True)
server.serve_forever()
PY
receiver_pid=$!
for _ in $(seq 50); do [ -s "$work/receiver.port" ] && break; sleep 0.1; done
hook_port=$(cat "$work/receiver.port")
mkdir -m 0777 "$work/data"
# Explicit limits under the usual hard ones: a sandboxed engine may not raise them (runc refuses).
run=(run -d --name "$name" --network host
  --ulimit nofile=4096:4096 --ulimit nproc=4096:4096
  -e BLAND_SIM_HOST=127.0.0.1 -e BLAND_SIM_PORT="$port"
  -e BLAND_SIM_STATE_FILE=/data/state.json
  -e BLAND_SIM_WEBHOOK_URL="http://127.0.0.1:$hook_port/bland"
  -v "$work/data:/data")
[ "$engine" != podman ] || run+=(--runtime runc)
started=$(now_ms)
# Podman without systemd says it cannot schedule health checks (they are run below): kept aside.
"$engine" "${run[@]}" "$image" >/dev/null 2>"$work/run.err" || { cat "$work/run.err" >&2; fail "$engine run failed"; }
# Healthy: podman runs the image's HEALTHCHECK on request; docker on its own schedule.
healthy=""
for _ in $(seq 100); do
  if [ "$engine" = podman ]; then
    "$engine" healthcheck run "$name" >/dev/null 2>&1 && healthy=yes
  else
    [ "$("$engine" inspect -f '{{.State.Health.Status}}' "$name")" = healthy ] && healthy=yes
  fi
  [ -z "$healthy" ] || break
  sleep 0.05
done
[ -n "$healthy" ] || { "$engine" logs "$name" >&2; fail "the health check never passed"; }
echo "healthy $(( $(now_ms) - started )) ms after run"
base="http://127.0.0.1:$port"
status=$(curl -s -o "$work/numbers.json" -w '%{http_code}' -H 'authorization: sk_sim_default' "$base/v1/sms/numbers")
[ "$status" = 200 ] || fail "GET /v1/sms/numbers answered $status: $(cat "$work/numbers.json")"
grep -q '+15550002222' "$work/numbers.json" || fail "the default numbers are missing: $(cat "$work/numbers.json")"
echo "GET /v1/sms/numbers: 200"
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: bland-sms-sim:$port" "$base/_sim/health")
[ "$status" = 200 ] || fail "the Host bland-sms-sim was refused ($status)"
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: evil.example:$port" "$base/_sim/health")
[ "$status" = 403 ] || fail "the Host evil.example was answered $status, not refused"
echo "Host check: bland-sms-sim admitted, evil.example refused"
status=$(curl -s -o "$work/send.json" -w '%{http_code}' -H 'authorization: sk_sim_default' \
  -H 'content-type: application/json' \
  -d '{"user_number":"+15550001111","agent_number":"+15550002222"}' "$base/v1/sms/send")
[ "$status" = 200 ] || fail "POST /v1/sms/send answered $status: $(cat "$work/send.json")"
for _ in $(seq 100); do [ -s "$work/deliveries.jsonl" ] && break; sleep 0.05; done
[ -s "$work/deliveries.jsonl" ] || fail "no webhook reached the receiver on the host"
python3 - "$work/deliveries.jsonl" <<'PY' || fail "the webhook's signature does not match its body"
import hashlib, hmac, json, sys
d = json.loads(open(sys.argv[1]).readline())
want = hmac.new(b"whsec_bland_sim_default", d["body"].encode(), hashlib.sha256).hexdigest()
assert d["signature"] == want, (d["signature"], want)
print(f"signed webhook received on the host ({len(d['body'])} bytes)")
PY
conversation=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["conversation_id"])' "$work/send.json")
stop_started=$(now_ms)
"$engine" stop -t 10 "$name" >/dev/null 2>>"$work/run.err"
stopped=$(( $(now_ms) - stop_started ))
[ "$stopped" -lt 2000 ] || fail "stop took $stopped ms (SIGTERM should end it at once)"
[ -s "$work/data/state.json" ] || fail "stop did not write the state file"
grep -q "$conversation" "$work/data/state.json" || fail "the state file lacks the conversation $conversation"
echo "stopped in $stopped ms; the state file holds the conversation ($(wc -c < "$work/data/state.json") bytes)"
user=$("$engine" image inspect -f '{{.Config.User}}' "$image")
[ "$user" = "65532:65532" ] || fail "the image runs as '$user', not 65532:65532"
size=$("$engine" image inspect -f '{{.Size}}' "$image")
[ "$size" -lt 15000000 ] || fail "the image is $size bytes, over 15 MB"
echo "image: $size bytes, user $user"
echo "image checks passed"
