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
trap 'rm -rf "$project" "$project.bare" "$example"' EXIT
cp "$here"/../../../examples/node/app.mjs "$here"/../../../examples/node/app.test.mjs "$example"/
cd "$example" && npm init -y >/dev/null && npm pkg set type=module >/dev/null
npm install --silent --no-audit --no-fund "$dist"/bland-sms-sim-*.tgz
node --test app.test.mjs
