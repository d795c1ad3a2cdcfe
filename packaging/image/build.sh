#!/usr/bin/env bash
# The image bland-sms-sim:TAG (default dev) from the static release binary (packaging/binary.sh,
# the build the wheel and npm packages share), with podman, or docker when podman is absent. No
# registry is needed: the image is the root Dockerfile's last stage over that binary.
# --save FILE also writes it as an archive for `podman load -i FILE` / `docker load -i FILE`: an
# OCI archive when FILE ends in .oci.tar (the OCI format has no HEALTHCHECK), else a
# docker-archive, which keeps it.
#   packaging/image/build.sh [TAG] [--save FILE]
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=dev save=""
while [ $# -gt 0 ]; do
  case "$1" in
    --save) save=${2:?--save needs a file}; shift 2 ;;
    --save=*) save=${1#--save=}; shift ;;
    -*) echo "unknown option $1; usage: packaging/image/build.sh [TAG] [--save FILE]" >&2; exit 2 ;;
    *) tag=$1; shift ;;
  esac
done
engine=${CONTAINER_ENGINE:-$(command -v podman >/dev/null && echo podman || echo docker)}
command -v "$engine" >/dev/null || { echo "neither podman nor docker is installed" >&2; exit 1; }
binary=$(packaging/binary.sh)
context=${CARGO_TARGET_DIR:-target}/image/context
packaging/image/context.sh "$context" amd64="$binary"
format=()
# Podman's default (OCI) image format drops HEALTHCHECK; the docker format keeps it.
[ "$engine" != podman ] || format=(--format docker)
"$engine" build "${format[@]}" --platform linux/amd64 -t "bland-sms-sim:$tag" -f "$context/Containerfile" "$context" >&2
if [ -n "$save" ]; then
  rm -f "$save"
  mkdir -p "$(dirname "$save")"
  if [ "$engine" = docker ]; then
    docker save -o "$save" "bland-sms-sim:$tag"
  else
    case "$save" in
      *.oci.tar) archive=oci-archive ;;
      *) archive=docker-archive ;;
    esac
    podman save --format "$archive" -o "$save" "bland-sms-sim:$tag"
  fi
fi
echo "bland-sms-sim:$tag"
