#!/usr/bin/env bash
# The npm packages, packed into OUT_DIR: the main package (launcher, API, types) and one
# platform package per PLATFORM=BINARY pair (linux-x64, linux-arm64, darwin-x64, darwin-arm64,
# win32-x64; npm installs the one matching the machine). Without pairs: linux-x64, with the
# static binary the wheel carries (packaging/binary.sh). Versions follow Cargo.toml's.
#   packaging/npm/build.sh dist/ [PLATFORM=BINARY ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mkdir -p "${1:?give the directory to write the tarballs to}" && cd "$1" && pwd)
shift
pairs=("$@")
[ ${#pairs[@]} -gt 0 ] || pairs=("linux-x64=$(packaging/binary.sh)")
target=${CARGO_TARGET_DIR:-target}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
stage="$target/npm"
rm -rf "$stage" && mkdir -p "$stage"
cp -r packaging/npm/bland-sms-sim "$stage/main"
platforms=()
for pair in "${pairs[@]}"; do
  platform=${pair%%=*} binary=${pair#*=}
  case "$platform" in
    linux-x64 | linux-arm64 | darwin-x64 | darwin-arm64 | win32-x64) ;;
    *) echo "unknown platform $platform: use linux-x64, linux-arm64, darwin-x64, darwin-arm64 or win32-x64" >&2; exit 2 ;;
  esac
  exe=bland-sms-sim
  [ "$platform" != win32-x64 ] || exe=bland-sms-sim.exe
  mkdir -p "$stage/$platform/bin"
  cp "$binary" "$stage/$platform/bin/$exe"
  chmod +x "$stage/$platform/bin/$exe"
  platforms+=("$platform")
done
# Types for every body of Bland's API, from the OpenAPI document (openapi-typescript, fetched
# once into a tools folder of its own).
tools="$target/npm-tools"
if [ ! -x "$tools/node_modules/.bin/openapi-typescript" ]; then
  mkdir -p "$tools" && (cd "$tools" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund openapi-typescript@7)
fi
"$tools/node_modules/.bin/openapi-typescript" src/http/openapi.json -o "$stage/main/types.d.ts" >/dev/null
# The platform packages' manifests, and the main package's version and optional dependencies.
node -e '
  const fs = require("fs");
  const [stage, version, ...platforms] = process.argv.slice(1);
  const os = { linux: "Linux", darwin: "macOS", win32: "Windows" };
  const f = `${stage}/main/package.json`;
  const main = JSON.parse(fs.readFileSync(f, "utf8"));
  for (const p of platforms) {
    const [platform, cpu] = p.split("-");
    const manifest = {
      name: `@bland-sms-sim/${p}`,
      version,
      description: `The bland-sms-sim binary for ${os[platform]} ${cpu}` +
        (platform === "linux" ? " (static: glibc or musl)" : ""),
      license: "MIT",
      repository: main.repository,
      os: [platform],
      cpu: [cpu],
      files: ["bin/"],
    };
    fs.writeFileSync(`${stage}/${p}/package.json`, JSON.stringify(manifest, null, 2) + "\n");
  }
  main.version = version;
  main.optionalDependencies = Object.fromEntries(platforms.map((p) => [`@bland-sms-sim/${p}`, version]));
  fs.writeFileSync(f, JSON.stringify(main, null, 2) + "\n");' "$stage" "$version" "${platforms[@]}"
for dir in main "${platforms[@]}"; do
  (cd "$stage/$dir" && npm pack --silent --pack-destination "$out" >/dev/null)
done
ls "$out"/bland-sms-sim-"$version".tgz
for p in "${platforms[@]}"; do ls "$out/bland-sms-sim-$p-$version.tgz"; done
