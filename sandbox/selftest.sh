#!/usr/bin/env bash
# Self-test for sandbox/engine.sh on a real machine (root, Debian 12):
# up (twice, the second must be fast), build + run a tiny image FROM the local
# base, push it to the local registry and pull it back by digest, registry-down,
# down, and up again (restart from a stopped state).
#
# It cleans up what it creates (temp dir, container, images, the pushed
# repository in the registry storage) and puts the engine and registry back
# the way it found them; set SELFTEST_KEEP_ENGINE=1 to leave the engine
# running even if it was stopped before. NOTE: it stops and restarts the
# engine, so do not run it while somebody else is using that engine. It does
# leave a few MB of BuildKit cache behind (`docker builder prune` cannot be
# limited to one build without also pruning other people's cache).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CENV="$ROOT/sandbox/engine.sh"
STATE_DIR="${CONTAINER_STATE_DIR:-/var/tmp/house-price-container}"
# Registry layout of sandbox/engine/registry.py (for removing what we pushed).
REG_CONFIG="$STATE_DIR/registry/config.yml"
REG_REPOS="$STATE_DIR/registry/storage/docker/registry/v2/repositories"
HTTP_PORT="${SELFTEST_HTTP_PORT:-8765}"
SECOND_UP_MAX="${SELFTEST_SECOND_UP_MAX:-15}"  # seconds

ID="cenv-selftest-$$"
IMAGE="$ID:latest"
REPO_NAME="selftest/$ID"
WORK=""
CID=""
PUSHED=0
DOCKERD_BEFORE=0
REGISTRY_BEFORE=0

say() { printf '[selftest] %s\n' "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

running() {  # running dockerd|registry, from our own status output
  # (Captured first: `status | grep -q` would SIGPIPE status under pipefail.)
  local out
  out="$("$CENV" status 2>/dev/null || true)"
  grep -Eq "^$1: +running" <<<"$out"
}

timed() {  # timed LABEL CMD...: run, report wall time
  local label="$1" t0 rc=0
  shift
  t0=$(date +%s.%N)
  "$@" || rc=$?
  TIMED_SECONDS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  say "$label: ${TIMED_SECONDS}s (rc=$rc)"
  return "$rc"
}

wait_http() {  # wait_http URL SECONDS
  local i
  for ((i = 0; i < $2 * 4; i++)); do
    curl -fsS --noproxy '*' -m 2 -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.25
  done
  return 1
}

drop_pushed_repo() {
  # Blobs may only be garbage-collected while the registry is stopped.
  ((PUSHED)) || return 0
  if running registry; then "$CENV" registry-down || true; fi
  rm -rf "${REG_REPOS:?}/selftest/$ID"
  rmdir "$REG_REPOS/selftest" 2>/dev/null || true
  if [[ -f "$REG_CONFIG" ]]; then
    timeout 120 docker-registry garbage-collect "$REG_CONFIG" >/dev/null 2>&1 \
      || say "warning: registry garbage-collect failed"
  fi
  PUSHED=0
}

cleanup() {
  local rc=$?
  set +e
  if running dockerd; then
    [[ -n "$CID" ]] && docker rm -f "$CID" >/dev/null 2>&1
    # All tags and digest references of the test image.
    docker images --format '{{.Repository}}:{{.Tag}}' | grep -F "$ID" \
      | xargs -r docker rmi -f >/dev/null 2>&1
    docker images --digests --format '{{.Repository}}@{{.Digest}}' | grep -F "$ID" \
      | xargs -r docker rmi -f >/dev/null 2>&1
  fi
  drop_pushed_repo
  if ((REGISTRY_BEFORE)); then
    "$CENV" registry-up || say "warning: could not restart the registry"
  elif running registry; then
    "$CENV" registry-down
  fi
  if ((!DOCKERD_BEFORE)) && [[ "${SELFTEST_KEEP_ENGINE:-0}" != 1 ]]; then
    "$CENV" down
  fi
  [[ -n "$WORK" ]] && rm -rf "$WORK"
  if ((rc == 0)); then say "PASS"; else say "FAILED (rc=$rc)"; fi
}

main() {
  [[ $EUID -eq 0 ]] || fail "run as root"
  # status needs no packages; it tells us what to restore at the end.
  running dockerd && DOCKERD_BEFORE=1
  running registry && REGISTRY_BEFORE=1
  # Before anything else: every docker call below must go to *our* engine.
  eval "$("$CENV" env)"
  trap cleanup EXIT
  WORK="$(mktemp -d)"

  timed "first up" "$CENV" up || fail "up failed"
  timed "second up" "$CENV" up || fail "second up failed"
  awk -v t="$TIMED_SECONDS" -v m="$SECOND_UP_MAX" 'BEGIN { exit !(t <= m) }' \
    || fail "second up took ${TIMED_SECONDS}s (> ${SECOND_UP_MAX}s): not idempotent?"

  [[ "$(command -v docker)" == "$STATE_DIR/bin/docker" ]] || fail "docker on PATH is $(command -v docker)"
  [[ "${DOCKER_BUILDKIT:-}" == 1 ]] || fail "DOCKER_BUILDKIT not set"
  timeout 20 docker info >/dev/null || fail "docker info"
  docker image inspect "$BASE_IMAGE" >/dev/null || fail "base image $BASE_IMAGE missing"

  if curl -fsS --noproxy '*' -m 2 -o /dev/null "http://127.0.0.1:$HTTP_PORT/" 2>/dev/null; then
    fail "port $HTTP_PORT is already in use; set SELFTEST_HTTP_PORT"
  fi
  cat >"$WORK/Dockerfile" <<EOF
ARG BASE_IMAGE=python:3.11-slim
FROM \${BASE_IMAGE}
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir six
CMD ["/opt/venv/bin/python", "-m", "http.server", "$HTTP_PORT"]
EOF
  timed "test image build (BuildKit)" timeout 600 docker build -q --no-cache --network host \
    --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$IMAGE" "$WORK" >/dev/null || fail "docker build"

  CID="$(docker run -d --network host "$IMAGE")"
  wait_http "http://127.0.0.1:$HTTP_PORT/" 30 || { docker logs "$CID" >&2 || true; fail "container did not serve on :$HTTP_PORT"; }
  say "container answered on 127.0.0.1:$HTTP_PORT"
  docker rm -f "$CID" >/dev/null
  CID=""

  timed "registry-up" "$CENV" registry-up || fail "registry-up"
  local remote="$LOCAL_REGISTRY/$REPO_NAME:1" digest_ref
  docker tag "$IMAGE" "$remote"
  PUSHED=1
  timed "push" timeout 300 docker push "$remote" >/dev/null || fail "push to $LOCAL_REGISTRY (plain HTTP)"
  digest_ref="$(docker image inspect -f '{{range .RepoDigests}}{{println .}}{{end}}' "$remote" \
    | grep -F "$LOCAL_REGISTRY/$REPO_NAME@" | head -n1)"
  [[ -n "$digest_ref" ]] || fail "no repo digest after push"
  # The registry itself serves the manifest by digest (plain HTTP, loopback).
  curl -fsS --noproxy '*' -m 10 -o /dev/null -I \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$LOCAL_REGISTRY/v2/$REPO_NAME/manifests/${digest_ref#*@}" \
    || fail "registry does not serve the manifest by digest"
  # Remove every local reference to the image. (Its layers may stay: they are
  # shared with the base image and the BuildKit cache, so the pull fetches the
  # manifest and config by digest and reuses them.)
  docker rmi "$remote" "$IMAGE" >/dev/null
  docker image inspect "$digest_ref" >/dev/null 2>&1 && fail "image still present locally"
  timed "pull by digest" timeout 300 docker pull -q "$digest_ref" >/dev/null || fail "pull $digest_ref"
  [[ "$(docker run --rm --network host "$digest_ref" /opt/venv/bin/python -c 'import six; print("ok")')" == ok ]] \
    || fail "pulled image does not work"
  docker rmi "$digest_ref" >/dev/null
  say "push/pull by digest via $LOCAL_REGISTRY ok ($digest_ref)"

  "$CENV" registry-down
  wait_http "http://$LOCAL_REGISTRY/v2/" 1 && fail "registry still answers after registry-down"
  drop_pushed_repo

  timed "down" "$CENV" down || fail "down"
  running dockerd && fail "dockerd still running after down"
  local left
  left="$(findmnt -rn -o TARGET | awk -v p="$STATE_DIR/" 'index($0, p) == 1')"
  [[ -z "$left" ]] || fail "mounts left under $STATE_DIR: $(tr '\n' ' ' <<<"$left")"
  "$CENV" down >/dev/null 2>&1 || fail "second down (nothing running) failed"
  timed "up after down" "$CENV" up || fail "up after down"
  timeout 20 docker info >/dev/null || fail "docker info after restart"
  docker image inspect "$BASE_IMAGE" >/dev/null || fail "base image lost across restart"
}

main "$@"
