#!/usr/bin/env bash
# `make image`: build the CPU image (the Dockerfile's default target) as $IMAGE with podman (or docker).
#
# The base image is the standard docker.io/library/debian:bookworm-slim. Where it is neither in the local
# image store nor can be pulled (no registry reachable), podman gets it from tools/container/local-base.sh
# (debootstrap from apt's own mirror) and builds with --pull=never. Where pip's TLS trust store is a CA bundle
# of this machine (PIP_CERT, else pip's global.cert setting), podman mounts it read-only into the build
# and passes its path as the PIP_CERT build argument; the Dockerfile itself needs neither.
set -euo pipefail
cd "$(dirname "$0")/../.."

IMAGE=${IMAGE:-localhost/flashtts:latest}
CONTAINER=${CONTAINER:-podman}            # the command, with its global flags (Makefile: CONTAINER)
BASE=docker.io/library/debian:bookworm-slim
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)
args=(--format docker --build-arg "VERSION=$VERSION")   # docker format: OCI images have no HEALTHCHECK
[ "${NETWORK_HOST:-1}" = 1 ] && args+=(--network host)

if ! $CONTAINER image inspect "$BASE" >/dev/null 2>&1 && ! $CONTAINER pull -q "$BASE" >/dev/null 2>&1; then
  case "$CONTAINER" in
    podman*) PODMAN="$CONTAINER" BASE="$BASE" bash tools/container/local-base.sh ;;
    *) echo "build-image: cannot pull $BASE; the local-base recipe (tools/container/local-base.sh) needs podman" >&2
       exit 1 ;;
  esac
fi
args+=(--pull=never)

ca=${PIP_CERT:-$(python3 -m pip config list 2>/dev/null | sed -n "s/^global\.cert='\(.*\)'$/\1/p" | head -1)}
if [ -n "$ca" ] && [ -f "$ca" ]; then
  case "$CONTAINER" in
    podman*) args+=(--volume "$(readlink -f "$ca"):/run/flashtts-build-ca.pem:ro"
                    --build-arg PIP_CERT=/run/flashtts-build-ca.pem) ;;
    *) echo "build-image: pip here trusts $ca; docker builds cannot mount it (pip in the build uses its own)" >&2 ;;
  esac
fi

started=$(date +%s)
$CONTAINER build "${args[@]}" ${BUILD_ARGS:-} -t "$IMAGE" .
echo "build-image: $IMAGE built in $(( $(date +%s) - started )) s;" \
     "$($CONTAINER image inspect "$IMAGE" --format '{{.Size}}' | awk '{ printf "%.0f MB", $1 / 1e6 }')" >&2
