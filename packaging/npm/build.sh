#!/usr/bin/env bash
# The npm packages, packed into OUT_DIR: the main package (launcher, API, types) and the
# linux-x64 platform package with the same portable binary as the Python wheel (glibc 2.17+),
# built when missing or older than the sources. Versions follow Cargo.toml's.
#   packaging/npm/build.sh dist/
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mkdir -p "${1:?give the directory to write the tarballs to}" && cd "$1" && pwd)
target=${CARGO_TARGET_DIR:-target}
binary="$target/x86_64-unknown-linux-gnu/release/bland-sms-sim"
if [ ! -x "$binary" ] || [ -n "$(find src Cargo.toml Cargo.lock build.rs -newer "$binary" -print -quit)" ]; then
  packaging/python/build.sh "$target/wheels"
fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
stage="$target/npm"
rm -rf "$stage" && mkdir -p "$stage"
cp -r packaging/npm/bland-sms-sim "$stage/main"
cp -r packaging/npm/linux-x64 "$stage/linux-x64"
mkdir -p "$stage/linux-x64/bin" && cp "$binary" "$stage/linux-x64/bin/bland-sms-sim"
# Types for every body of Bland's API, from the OpenAPI document (openapi-typescript, fetched
# once into a tools folder of its own).
tools="$target/npm-tools"
if [ ! -x "$tools/node_modules/.bin/openapi-typescript" ]; then
  mkdir -p "$tools" && (cd "$tools" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund openapi-typescript@7)
fi
"$tools/node_modules/.bin/openapi-typescript" src/http/openapi.json -o "$stage/main/types.d.ts" >/dev/null
node -e '
  const fs = require("fs");
  for (const [dir, deps] of [["main", true], ["linux-x64", false]]) {
    const f = process.argv[1] + "/" + dir + "/package.json";
    const p = JSON.parse(fs.readFileSync(f, "utf8"));
    p.version = process.argv[2];
    if (deps) for (const k of Object.keys(p.optionalDependencies)) p.optionalDependencies[k] = process.argv[2];
    fs.writeFileSync(f, JSON.stringify(p, null, 2) + "\n");
  }' "$stage" "$version"
(cd "$stage/main" && npm pack --silent --pack-destination "$out" >/dev/null)
(cd "$stage/linux-x64" && npm pack --silent --pack-destination "$out" >/dev/null)
ls "$out"/bland-sms-sim-"$version".tgz "$out"/bland-sms-sim-linux-x64-"$version".tgz
