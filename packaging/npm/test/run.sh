#!/usr/bin/env bash
# The npm packages as users get them: the tarballs in DIR installed into a fresh project (with
# Vitest, Jest and TypeScript from the registry), then the ESM and CommonJS suites (node:test),
# a Vitest run and a Jest run with the package's global setups, `tsc --noEmit` over a typed
# example, the error a missing platform package gives, and the example app's test.
#   packaging/npm/test/run.sh target/npm-dist
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dist=$(cd "${1:?give the folder of the tarballs}" && pwd)
project=$(mktemp -d)
trap 'rm -rf "$project" "$project.bare"' EXIT
cp "$here"/*.mjs "$here"/*.cjs "$here"/typed.ts "$here"/tsconfig.json "$project"/
cd "$project"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund "$dist"/bland-sms-sim-*.tgz vitest@3 jest@29 typescript@5 @types/node@20
node --test api.test.mjs cjs.test.cjs
npx vitest run --reporter=dot
npx jest --config jest.config.cjs
# With BLAND_SMS_SIM_URL set (a CI service), both global setups use that simulator instead of
# starting one: a simulator started here stands in for the service, and its journal must hold
# the Jest test's text afterwards (Vitest's last test reset it).
sim_bin=node_modules/@bland-sms-sim/linux-x64/bin/bland-sms-sim
"$sim_bin" --port 0 > service.out &
service=$!
trap '{ kill $service 2>/dev/null || true; }; rm -rf "$project" "$project.bare"' EXIT
for _ in $(seq 50); do grep -q '^listening on' service.out && break; sleep 0.1; done
url=$(head -1 service.out | cut -d' ' -f3)
BLAND_SMS_SIM_URL=$url npx vitest run --reporter=dot
BLAND_SMS_SIM_URL=$url npx jest --config jest.config.cjs
node -e '
  fetch(process.argv[1] + "/_sim/requests/count").then((r) => r.json()).then((v) => {
    if (v.data.count !== 1) throw new Error("the service got " + v.data.count + " texts, not 1");
    console.log("the global setups used the running simulator");
  });' "$url"
kill $service
npx tsc -p tsconfig.json
npx bland-sms-sim --version
# Without the platform package: one clear error naming it.
mkdir "$project.bare" && cd "$project.bare" && npm init -y >/dev/null
npm install --silent --no-audit --no-fund --omit=optional "$dist"/bland-sms-sim-[0-9]*.tgz
if out=$(npx bland-sms-sim --version 2>&1); then
  echo "expected the missing platform package to be an error, got: $out"; exit 1
fi
case "$out" in
  *@bland-sms-sim/linux-x64*BLAND_SMS_SIM_BINARY*) echo "missing platform package: $out" ;;
  *) echo "unexpected error: $out"; exit 1 ;;
esac
# The example app and its test, with the same tarballs.
example=$(mktemp -d)
trap '{ kill $service 2>/dev/null || true; }; rm -rf "$project" "$project.bare" "$example"' EXIT
cp "$here"/../../../examples/node/app.mjs "$here"/../../../examples/node/app.test.mjs "$example"/
cd "$example" && npm init -y >/dev/null && npm pkg set type=module >/dev/null
npm install --silent --no-audit --no-fund "$dist"/bland-sms-sim-*.tgz
node --test app.test.mjs
