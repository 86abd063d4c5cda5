#!/usr/bin/env bash
# Rehearse the CI workflow (.github/workflows/ci.yml) on this machine, push included.
#
#   bash scripts/rehearse.sh            (or: make rehearse)
#
# The same steps as the workflow, in the same order, with the same scripts:
#   checkout                   a temporary clean clone of the committed HEAD (actions/checkout);
#                              the image tag is the commit's short sha, as docker/metadata-action
#                              makes it (type=sha,format=short: the first 7 hex digits)
#   container engine           scripts/container_env.sh up, its env, registry-up (a local
#                              registry on 127.0.0.1 stands in for Docker Hub)
#   mlflow server              a real `mlflow server` (sqlite backend, --serve-artifacts,
#                              --workers 1) on a free loopback port, waited for with
#                              scripts/wait_for_http.py exactly as the workflow does
#   dvc repro / dvc metrics    the pipeline against that server, then `dvc metrics show --md`
#   docker build               from a fresh checkout holding the bundle in models/house-price
#                              (the image job's context: checkout + downloaded artifact)
#   run / smoke test           the image on --network host, scripts/smoke_test.py against it,
#                              the container's logs always printed
#   push / pull by digest      both tags pushed to the local registry, the local image removed,
#                              pulled back by digest, run and smoke-tested again
# Everything it started (containers, the MLflow server, the registry if it started it, the images
# it built or pulled, the pushed manifest, the temporary directory) is stopped and removed on exit,
# whatever happens. The Docker engine itself is left running: `scripts/container_env.sh down`
# is the caller's business (.ci/run does it at the end).
#
# Any failure exits non-zero and names the step: `rehearse: FAILED at step 'dvc repro'`.
#
# Environment:
#   REHEARSE_SOURCE=head|worktree  head (default): the committed HEAD, like CI. worktree: the
#                                  working tree's tracked and untracked-but-not-ignored files
#                                  (`git ls-files --cached --others --exclude-standard`),
#                                  committed in the copy; tagged <HEAD short sha>-worktree
#   REHEARSE_KEEP=1                keep the temporary directory (clone, MLflow store, logs)
#   REHEARSE_VENV                  the venv with the pinned requirements (default: <repo>/.venv)
#   DOCKERHUB_USERNAME             namespace of the pushed repository (default: rehearsal)
#   REHEARSE_FAIL_AT=<step>        test hook: fail deliberately at the start of that step
#   REHEARSE_REPRO_TIMEOUT / REHEARSE_BUILD_TIMEOUT / REHEARSE_PUSH_TIMEOUT (seconds)
#   TMPDIR                         where the temporary directory goes (default /tmp)
set -euo pipefail

PROG=rehearse
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
CONTAINER_ENV="$REPO/scripts/container_env.sh"

SOURCE="${REHEARSE_SOURCE:-head}"
KEEP="${REHEARSE_KEEP:-0}"
VENV="${REHEARSE_VENV:-$REPO/.venv}"
FAIL_AT="${REHEARSE_FAIL_AT:-}"
NAMESPACE="${DOCKERHUB_USERNAME:-rehearsal}"
NAMESPACE="${NAMESPACE,,}"  # Docker Hub user names are case-insensitive; repository names are lower case
IMAGE_NAME="house-price-model"
# Bounds (seconds). The workflow gives `dvc repro` 30 minutes and waits 60 s for MLflow and the API.
REPRO_TIMEOUT="${REHEARSE_REPRO_TIMEOUT:-1800}"
BUILD_TIMEOUT="${REHEARSE_BUILD_TIMEOUT:-1800}"
PUSH_TIMEOUT="${REHEARSE_PUSH_TIMEOUT:-600}"
ENGINE_TIMEOUT=1200  # `up` may build the base image (debootstrap) and waits up to 900 s for its lock
MLFLOW_HEALTH_TIMEOUT=60
MLFLOW_API_TIMEOUT=30
SMOKE_HEALTH_TIMEOUT=60
SMOKE_TIMEOUT=600  # the smoke test as a whole (health bound + one bounded request per check)
DOCKER_TIMEOUT=120  # run, rm, rmi, inspect, logs
STOP_TIMEOUT=20  # MLflow server: TERM, then KILL

# --- state (read by the EXIT trap) -----------------------------------------------------------

T0=0
CURRENT_STEP="preflight"
STEP_NO=0
STEP_T0=0
STEP_TIMES=()
WORK=""
MLFLOW_PID=""
REGISTRY_STARTED=0
ENGINE_READY=0
CONTAINERS=()  # names of containers we ran
LOGS_SHOWN=" "  # containers whose logs were printed
IMAGE_REFS=()  # tags and digest references we created locally
PUSHED_DIGEST=""
REPO_REF=""

now_ms() { date +%s%3N; }
fmt_ms() { printf '%d.%ds' $(($1 / 1000)) $((($1 % 1000) / 100)); }
say() { printf '%s: %s\n' "$PROG" "$*"; }
warn() { printf '%s: WARNING: %s\n' "$PROG" "$*" >&2; }
fail() { printf '%s: %s\n' "$PROG" "$*" >&2; exit 1; }

end_step() {
  if ((STEP_T0)); then
    STEP_TIMES+=("$(printf '%-28s %8s  %s' "$CURRENT_STEP" "$(fmt_ms $(($(now_ms) - STEP_T0)))" "$1")")
    STEP_T0=0
  fi
}

step() {
  end_step ok
  CURRENT_STEP="$1"
  STEP_NO=$((STEP_NO + 1))
  STEP_T0="$(now_ms)"
  printf '\n==> [%d] %s (t+%s)\n' "$STEP_NO" "$CURRENT_STEP" "$(fmt_ms $((STEP_T0 - T0)))"
  if [[ -n "$FAIL_AT" && "$FAIL_AT" == "$CURRENT_STEP" ]]; then
    fail "injected failure (REHEARSE_FAIL_AT='$FAIL_AT')"
  fi
}

# bounded SECONDS CMD...: CMD with a hard bound (TERM, then KILL 10 s later); says so when the
# bound is hit. --foreground keeps CMD in our process group, so that Ctrl-C or a TERM sent to
# the group reaches it too (the EXIT trap then cleans up).
bounded() {
  local secs="$1" rc=0
  shift
  timeout --foreground -k 10 "$secs" "$@" || rc=$?
  if ((rc == 124 || rc == 137)); then
    printf '%s: %s did not finish within %ss\n' "$PROG" "$1" "$secs" >&2
  fi
  return "$rc"
}

free_port() {
  "$VENV/bin/python" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_free() {  # nothing is bound to port $1, on any address
  "$VENV/bin/python" -c 'import socket, sys
s = socket.socket()
try:
    s.bind(("0.0.0.0", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()' "$1"
}

# pids in process group $1, zombies excluded (walks /proc: no procps needed)
group_pids() {
  local stat rest state pgrp
  for stat in /proc/[0-9]*/stat; do
    { read -r rest <"$stat"; } 2>/dev/null || continue
    rest="${rest##*) }"
    read -r state _ pgrp _ <<<"$rest"
    if [[ "$pgrp" == "$1" && "$state" != Z && "$state" != X ]]; then
      stat="${stat#/proc/}"
      printf '%s\n' "${stat%/stat}"
    fi
  done
}

registry_answers() {
  curl -fsS --noproxy '*' -m 5 -o /dev/null "http://$LOCAL_REGISTRY/v2/" 2>/dev/null
}

# Docker-Content-Digest of a manifest in the local registry (tag or digest reference)
registry_digest() {
  curl -fsS --noproxy '*' -m 10 -o /dev/null -D - -I \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    -H 'Accept: application/vnd.oci.image.index.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
    "http://$LOCAL_REGISTRY/v2/$NAMESPACE/$IMAGE_NAME/manifests/$1" \
    | tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }'
}

# verify_pushed DIGEST: the registry serves the manifest under DIGEST and every blob it names
# (config and layers), each with the right sha256 and size. `docker pull` cannot prove that here:
# the engine's build cache still holds the layers after `docker rmi`, so the pull downloads only
# the manifest and the config ("Already exists" for every layer). The engine is shared, so its
# build cache is not pruned; the blobs are downloaded and hashed instead.
verify_pushed() {
  bounded "$PUSH_TIMEOUT" "$VENV/bin/python" - "http://$LOCAL_REGISTRY" "$NAMESPACE/$IMAGE_NAME" "$1" <<'PY'
import hashlib
import json
import sys
import urllib.request

base, name, digest = sys.argv[1:4]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
accept = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
])


def get(path, headers=None):
    request = urllib.request.Request(base + path, headers=headers or {})
    return opener.open(request, timeout=60)


def fail(message):
    print(f"verify: {message}", file=sys.stderr)
    sys.exit(1)


with get(f"/v2/{name}/manifests/{digest}", {"Accept": accept}) as response:
    body = response.read()
if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
    fail(f"the manifest served for {digest} does not hash to it")
manifest = json.loads(body)
blobs = [manifest["config"], *manifest["layers"]]
total = 0
for blob in blobs:
    sha, size = hashlib.sha256(), 0
    with get(f"/v2/{name}/blobs/{blob['digest']}") as response:
        while chunk := response.read(1 << 20):
            sha.update(chunk)
            size += len(chunk)
    if "sha256:" + sha.hexdigest() != blob["digest"] or size != blob["size"]:
        fail(f"blob {blob['digest']} ({blob['size']} bytes) came back as sha256:{sha.hexdigest()} ({size} bytes)")
    total += size
print(f"verify: the registry serves manifest {digest} and its {len(blobs)} blobs "
      f"({total / 1e6:.0f} MB compressed), every sha256 and size checked")
PY
}

image_exists() { bounded "$DOCKER_TIMEOUT" docker image inspect "$1" >/dev/null 2>&1; }

show_logs() {  # the container's logs, once (the workflow's "Container logs" step, if: always())
  local name="$1"
  [[ "$LOGS_SHOWN" == *" $name "* ]] && return 0
  LOGS_SHOWN+="$name "
  printf -- '--- logs of container %s ---\n' "$name"
  bounded "$DOCKER_TIMEOUT" docker logs "$name" 2>&1 || printf '(no logs: container %s absent)\n' "$name"
  printf -- '--- end of logs of %s ---\n' "$name"
}

# run_api NAME IMAGE: start the API container; sets API_PORT and RUN_T0
run_api() {
  local name="$1" image="$2" env_list port_args=()
  env_list="$(bounded "$DOCKER_TIMEOUT" docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$image")"
  if grep -q '^PORT=' <<<"$env_list"; then
    API_PORT="$(free_port)"
    port_args=(-e "PORT=$API_PORT")
    say "the image reads PORT: serving on free port $API_PORT"
  else
    API_PORT=8000
    port_free "$API_PORT" || fail "the image has no PORT setting and port $API_PORT is in use"
    say "the image has no PORT setting: serving on $API_PORT (checked free)"
  fi
  # Only loopback: on --network host the server's bind address is the host's. If the image lets
  # the address be chosen (a HOST variable), choose 127.0.0.1.
  if grep -qE '^HOST=|\$\{?HOST([^A-Za-z0-9_]|$)' <<<"$env_list"$'\n'"$(bounded "$DOCKER_TIMEOUT" \
    docker image inspect -f '{{json .Config.Entrypoint}} {{json .Config.Cmd}}' "$image")"; then
    port_args+=(-e "HOST=127.0.0.1")
    say "the image reads HOST: binding 127.0.0.1"
  else
    warn "the image has no HOST setting: on --network host its server listens on every interface of this machine while it runs"
  fi
  CONTAINERS+=("$name")
  RUN_T0="$(now_ms)"
  # --network host: the engine runs without a bridge (see scripts/container_env.sh), so -p maps
  # nothing; the workflow's -p 127.0.0.1:8000:8000 becomes the host's network here.
  bounded "$DOCKER_TIMEOUT" docker run -d --name "$name" --network host \
    --label "house-price.rehearsal=$RUN_ID" "${port_args[@]}" "$image" >/dev/null
  say "started container $name from $image"
}

# smoke NAME: the workflow's smoke test, then its "Container logs" and "Stop the container"
# steps (always); sets HEALTHY_MS (docker run -> /health 200)
smoke() {
  local name="$1" rc=0 t_smoke health_s log="$WORK/smoke-$1.log"
  t_smoke="$(now_ms)"
  bounded "$SMOKE_TIMEOUT" "$VENV/bin/python" "$CLONE/scripts/smoke_test.py" \
    "http://127.0.0.1:$API_PORT" --timeout "$SMOKE_HEALTH_TIMEOUT" 2>&1 | tee "$log" || rc=$?
  show_logs "$name"
  bounded "$DOCKER_TIMEOUT" docker rm -f "$name" >/dev/null 2>&1 || warn "could not remove container $name"
  if ((rc != 0)); then
    return "$rc"
  fi
  health_s="$(sed -n 's/^\[health\] 200 after \([0-9.]*\)s.*/\1/p' "$log" | head -n1)"
  HEALTHY_MS=$((t_smoke - RUN_T0 + $(awk -v s="${health_s:-0}" 'BEGIN { printf "%d", s * 1000 }')))
  say "healthy $(fmt_ms "$HEALTHY_MS") after docker run"
}

stop_mlflow() {
  local pid="$MLFLOW_PID" i
  [[ -n "$pid" ]] || return 0
  if [[ -z "$(group_pids "$pid")" ]]; then
    wait "$pid" 2>/dev/null || true
    MLFLOW_PID=""
    return 0
  fi
  say "stopping the MLflow server (process group $pid)"
  kill -TERM -- "-$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 4; i++)); do
    [[ -z "$(group_pids "$pid")" ]] && break
    sleep 0.25
  done
  if [[ -n "$(group_pids "$pid")" ]]; then
    warn "the MLflow server did not stop within ${STOP_TIMEOUT}s: KILL"
    kill -KILL -- "-$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
      [[ -z "$(group_pids "$pid")" ]] && break
      sleep 0.25
    done
  fi
  wait "$pid" 2>/dev/null || true
  if [[ -n "$(group_pids "$pid")" ]]; then
    warn "processes of the MLflow server survived: $(group_pids "$pid" | tr '\n' ' ')"
    return 1
  fi
  MLFLOW_PID=""
}

# --- cleanup: the EXIT trap ------------------------------------------------------------------

cleanup() {
  local problems=0 name ref
  if ((ENGINE_READY)); then
    for name in "${CONTAINERS[@]}"; do
      if bounded "$DOCKER_TIMEOUT" docker container inspect "$name" >/dev/null 2>&1; then
        show_logs "$name"
        bounded "$DOCKER_TIMEOUT" docker rm -f "$name" >/dev/null || {
          warn "could not remove container $name"
          problems=1
        }
      fi
    done
  fi
  if [[ -n "$MLFLOW_PID" ]]; then
    if ((STATUS != 0)) && [[ "$CURRENT_STEP" == "mlflow server" || "$CURRENT_STEP" == "dvc repro" ]] \
      && [[ -s "$WORK/mlflow/server.log" ]]; then
      printf -- '--- last lines of the MLflow server log ---\n'
      tail -n 30 "$WORK/mlflow/server.log" || true
      printf -- '--- end of the MLflow server log ---\n'
    fi
    stop_mlflow || problems=1
  fi
  if ((ENGINE_READY)); then
    for ref in "${IMAGE_REFS[@]}"; do
      if image_exists "$ref"; then
        bounded "$DOCKER_TIMEOUT" docker rmi "$ref" >/dev/null || {
          warn "could not remove image $ref"
          problems=1
        }
      fi
    done
    if [[ -n "$PUSHED_DIGEST" && "$KEEP" != 1 ]] && registry_answers; then
      # Deleting the manifest (by digest) drops both tags from the local registry; the
      # registry's blobs stay until its garbage collection, like any registry's.
      curl -fsS --noproxy '*' -m 30 -o /dev/null -X DELETE \
        "http://$LOCAL_REGISTRY/v2/$NAMESPACE/$IMAGE_NAME/manifests/$PUSHED_DIGEST" \
        || warn "could not delete $REPO_REF@$PUSHED_DIGEST from the local registry"
    fi
  fi
  if ((REGISTRY_STARTED)); then
    bash "$CONTAINER_ENV" registry-down || {
      warn "registry-down failed"
      problems=1
    }
  fi
  if [[ -n "$WORK" && -d "$WORK" ]]; then
    if [[ "$KEEP" == 1 ]]; then
      say "REHEARSE_KEEP=1: kept $WORK"
    else
      rm -rf --one-file-system "$WORK" || {
        warn "could not remove $WORK"
        problems=1
      }
    fi
  fi
  return "$problems"
}

on_exit() {
  STATUS=$?
  set +e
  trap - EXIT INT TERM
  local failed_step="$CURRENT_STEP"
  if ((STATUS != 0)); then
    end_step "FAILED (exit $STATUS)"
    say "step '$failed_step' failed (exit $STATUS); cleaning up" >&2
  else
    end_step ok
  fi
  printf '\n==> cleanup (t+%s)\n' "$(fmt_ms $(($(now_ms) - T0)))"
  if ! cleanup; then
    if ((STATUS == 0)); then
      STATUS=1
      failed_step="cleanup"
    fi
    warn "cleanup left something behind (see above)"
  fi
  if ((STATUS != 0)); then
    printf '\nsteps\n' >&2
    printf '  %s\n' "${STEP_TIMES[@]}" >&2
    printf '\n%s: FAILED at step %s (exit %d) after %s\n' \
      "$PROG" "'$failed_step'" "$STATUS" "$(fmt_ms $(($(now_ms) - T0)))" >&2
  else
    printf '\n%s: OK in %s, everything it started stopped and removed\n' \
      "$PROG" "$(fmt_ms $(($(now_ms) - T0)))"
  fi
  exit "$STATUS"
}

# --- the rehearsal ---------------------------------------------------------------------------

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,/^set -euo pipefail/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
  exit 0
fi
[[ $# -eq 0 ]] || fail "no arguments expected (see --help); got: $*"

STATUS=0
T0="$(now_ms)"
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "preflight"
case "$SOURCE" in
  head | worktree) ;;
  *) fail "REHEARSE_SOURCE must be 'head' or 'worktree', got '$SOURCE'" ;;
esac
[[ "$NAMESPACE" =~ ^[a-z0-9]+([._-][a-z0-9]+)*$ ]] || fail "DOCKERHUB_USERNAME '$NAMESPACE' is not a valid repository namespace"
[[ -x "$VENV/bin/python" && -x "$VENV/bin/dvc" && -x "$VENV/bin/mlflow" ]] \
  || fail "no venv with dvc and mlflow at $VENV (run 'make install', or set REHEARSE_VENV)"
for tool in git curl timeout setsid tar awk; do
  command -v "$tool" >/dev/null || fail "'$tool' is not installed"
done
git -C "$REPO" rev-parse --verify -q HEAD >/dev/null || fail "$REPO has no commit"
# A fresh runner: no tracking server or DVC settings inherited from this shell.
while read -r var; do
  unset "$var"
done < <(compgen -e | grep -E '^(MLFLOW|DVC)_' || true)
export MLFLOW_DISABLE_TELEMETRY=true DVC_NO_ANALYTICS=1 PYTHONUNBUFFERED=1
# Only loopback traffic: never send it through a proxy.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rehearse.XXXXXX")"
RUN_ID="${WORK##*/}"
# Whatever the tools leave in their temporary directory (MLflow's db_init_lock-*, ...) goes too.
mkdir "$WORK/tmp"
export TMPDIR="$WORK/tmp"
CLONE="$WORK/repo"
say "run $RUN_ID, working in $WORK"

step "checkout"
SHA="$(git -C "$REPO" rev-parse HEAD)"
if [[ "$SOURCE" == head ]]; then
  # Like actions/checkout: the committed tree only, nothing from the working tree.
  git clone --quiet --no-checkout "$REPO" "$CLONE"
  git -C "$CLONE" checkout --quiet --detach "$SHA"
  TAG="${SHA:0:7}"
  say "clean clone of HEAD $SHA ($(git -C "$REPO" log -1 --format=%s "$SHA"))"
else
  mkdir -p "$CLONE"
  git -C "$REPO" ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do
        if [[ -e "$REPO/$f" || -L "$REPO/$f" ]]; then printf '%s\0' "$f"; fi
      done \
    | tar -C "$REPO" --null --no-recursion -T - -cf - | tar -C "$CLONE" -xf -
  git -C "$CLONE" init -q -b main
  git -C "$CLONE" add -A -f
  git -C "$CLONE" -c user.name=rehearse -c user.email=rehearse@localhost \
    commit -q --no-verify -m "rehearsal: working tree on top of $SHA"
  TAG="${SHA:0:7}-worktree"
  say "REHEARSE_SOURCE=worktree: $(git -C "$CLONE" ls-files | wc -l) files of the working tree on top of HEAD $SHA"
fi
COMMIT="$(git -C "$CLONE" rev-parse HEAD)"
missing=()
for f in Dockerfile .github/workflows/ci.yml scripts/wait_for_http.py scripts/smoke_test.py \
  dvc.yaml requirements.txt; do
  [[ -f "$CLONE/$f" ]] || missing+=("$f")
done
if ((${#missing[@]})); then
  if [[ "$SOURCE" == head ]]; then
    fail "committed HEAD ${SHA:0:7} lacks: ${missing[*]} (commit them, or rehearse the working tree with REHEARSE_SOURCE=worktree)"
  fi
  fail "the working tree lacks: ${missing[*]}"
fi
say "image tags: :$TAG and :latest"

step "container engine"
bounded "$ENGINE_TIMEOUT" bash "$CONTAINER_ENV" up
env_script="$(bash "$CONTAINER_ENV" env)"
eval "$env_script"
say "docker client $(command -v docker), DOCKER_HOST=$DOCKER_HOST, BASE_IMAGE=$BASE_IMAGE, LOCAL_REGISTRY=$LOCAL_REGISTRY"
bounded "$DOCKER_TIMEOUT" docker version -f 'engine {{.Server.Version}}' >/dev/null
ENGINE_READY=1
image_exists "$BASE_IMAGE" || fail "base image $BASE_IMAGE is missing after 'container_env.sh up'"
if registry_answers; then
  say "the local registry already runs on $LOCAL_REGISTRY (left running at the end)"
else
  bash "$CONTAINER_ENV" registry-up
  REGISTRY_STARTED=1
fi
registry_answers || fail "the local registry does not answer on http://$LOCAL_REGISTRY/v2/"
REPO_REF="$LOCAL_REGISTRY/$NAMESPACE/$IMAGE_NAME"
IMAGE_SHA_TAG="$REPO_REF:$TAG"
IMAGE_LATEST_TAG="$REPO_REF:latest"

step "mlflow server"
# The workflow runs the official image ghcr.io/mlflow/mlflow:v<pin>. No container registry can be
# reached from here, so that image cannot be pulled: the rehearsal runs the same version's
# `mlflow server` from the venv instead, with the same options (sqlite backend, served
# artifacts, one worker, the Host headers it accepts), on a free loopback port.
pin_image="$(grep -oE 'ghcr\.io/mlflow/mlflow:v[0-9][0-9A-Za-z.+-]*' "$CLONE/.github/workflows/ci.yml" | head -n1 || true)"
[[ -n "$pin_image" ]] || fail "no ghcr.io/mlflow/mlflow:v<version> image in .github/workflows/ci.yml"
pin="${pin_image##*:v}"
venv_mlflow="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("mlflow"))')"
req_mlflow="$(sed -n 's/^mlflow==\([^[:space:];#]*\).*/\1/p' "$CLONE/requirements.txt" | head -n1)"
say "workflow image $pin_image, requirements.txt mlflow==${req_mlflow:-?}, venv mlflow $venv_mlflow"
[[ "$venv_mlflow" == "$pin" ]] || fail "the venv's mlflow $venv_mlflow is not the workflow's $pin_image"
[[ "$req_mlflow" == "$pin" ]] || fail "requirements.txt pins mlflow==${req_mlflow:-nothing}, the workflow runs $pin_image"
mkdir -p "$WORK/mlflow"
MLFLOW_PORT="$(free_port)"
MLFLOW_URL="http://127.0.0.1:$MLFLOW_PORT"
# setsid: the server (and its uvicorn/job-runner children) in a process group of its own,
# whose id is $!, so that it can be stopped as a whole, by that id.
(cd "$WORK/mlflow" && exec setsid "$VENV/bin/mlflow" server \
  --host 127.0.0.1 --port "$MLFLOW_PORT" \
  --backend-store-uri "sqlite:///$WORK/mlflow/mlflow.db" \
  --serve-artifacts --artifacts-destination "$WORK/mlflow/artifacts" \
  --allowed-hosts "127.0.0.1,127.0.0.1:$MLFLOW_PORT,localhost,localhost:$MLFLOW_PORT" \
  --workers 1) </dev/null >"$WORK/mlflow/server.log" 2>&1 &
MLFLOW_PID=$!
say "mlflow server pid $MLFLOW_PID on $MLFLOW_URL (log: $WORK/mlflow/server.log)"
# The workflow's "Wait for MLflow" step, verbatim but for the port.
"$VENV/bin/python" "$CLONE/scripts/wait_for_http.py" "$MLFLOW_URL/health" --timeout "$MLFLOW_HEALTH_TIMEOUT"
"$VENV/bin/python" "$CLONE/scripts/wait_for_http.py" \
  "$MLFLOW_URL/api/2.0/mlflow/experiments/search?max_results=1" --timeout "$MLFLOW_API_TIMEOUT"
# (A background job of a shell without job control is no group leader, so setsid does not fork:
# $! is the server itself. Checked, since the cleanup relies on it.)
[[ -n "$(group_pids "$MLFLOW_PID")" ]] \
  || fail "no process group $MLFLOW_PID: the MLflow server answering is not the one started here"

step "dvc repro"
# The stage commands call `python`: the venv's, importing the package from the clone (the venv
# holds an editable install of $REPO/src; PYTHONPATH puts the clone's src ahead of it).
pkg_file="$(cd "$CLONE" && PYTHONPATH="$CLONE/src" "$VENV/bin/python" -c 'import house_price; print(house_price.__file__)')"
[[ "$pkg_file" == "$CLONE/src/"* ]] || fail "the stages would import house_price from $pkg_file, not from the clone"
(
  cd "$CLONE"
  export MLFLOW_TRACKING_URI="$MLFLOW_URL" PYTHONPATH="$CLONE/src" PATH="$VENV/bin:$PATH"
  bounded "$REPRO_TIMEOUT" "$VENV/bin/dvc" repro
)

# Informational (CI does not check it): which outputs came out different from the committed lock.
git -C "$CLONE" show HEAD:dvc.lock >"$WORK/dvc.lock.committed" 2>/dev/null || : >"$WORK/dvc.lock.committed"
"$VENV/bin/python" - "$WORK/dvc.lock.committed" "$CLONE/dvc.lock" <<'PY' || true
import sys
import yaml

def outs(path):
    lock = yaml.safe_load(open(path)) or {}
    return {o["path"]: o.get("md5") for st in lock.get("stages", {}).values() for o in st.get("outs", [])}

old, new = outs(sys.argv[1]), outs(sys.argv[2])
differ = sorted(p for p in new if old.get(p) != new[p])
same = len(new) - len(differ)
if differ:
    print(f"rehearse: {same} outputs reproduced the committed dvc.lock bit for bit; differ: {', '.join(differ)}")
else:
    print(f"rehearse: all {same} outputs reproduced the committed dvc.lock bit for bit")
PY

step "dvc metrics"
(cd "$CLONE" && bounded 300 "$VENV/bin/dvc" metrics show --md) | tee "$WORK/metrics.md"
if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then cat "$WORK/metrics.md" >>"$GITHUB_STEP_SUMMARY"; fi
[[ -d "$CLONE/models/house-price" && -n "$(ls -A "$CLONE/models/house-price")" ]] \
  || fail "no model bundle in models/house-price after dvc repro"

step "docker build"
# The image job's context: a fresh checkout of the same commit plus the downloaded bundle.
CONTEXT="$WORK/image-context"
git clone --quiet --no-checkout "$CLONE" "$CONTEXT"
git -C "$CONTEXT" checkout --quiet --detach "$COMMIT"
mkdir -p "$CONTEXT/models"
cp -a "$CLONE/models/house-price" "$CONTEXT/models/house-price"
IMAGE_REFS+=("$IMAGE_SHA_TAG" "$IMAGE_LATEST_TAG")
bounded "$BUILD_TIMEOUT" docker build --progress plain --network host \
  --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  --label "org.opencontainers.image.source=file://$REPO" \
  --label "org.opencontainers.image.revision=$SHA" \
  --iidfile "$WORK/image.id" \
  -t "$IMAGE_SHA_TAG" -t "$IMAGE_LATEST_TAG" "$CONTEXT"
IMAGE_ID="$(cat "$WORK/image.id")"
IMAGE_SIZE="$(bounded "$DOCKER_TIMEOUT" docker image inspect -f '{{.Size}}' "$IMAGE_ID")"
say "built $IMAGE_ID ($((IMAGE_SIZE / 1000000)) MB) as $IMAGE_SHA_TAG and :latest"

step "run (built image)"
run_api "rehearse-api-built-$RUN_ID" "$IMAGE_SHA_TAG"

step "smoke test (built image)"
smoke "rehearse-api-built-$RUN_ID"
HEALTHY_BUILT_MS="$HEALTHY_MS"

step "push"
for ref in "$IMAGE_SHA_TAG" "$IMAGE_LATEST_TAG"; do
  bounded "$PUSH_TIMEOUT" docker push "$ref"
done
PUSHED_DIGEST="$(bounded "$DOCKER_TIMEOUT" docker image inspect \
  -f '{{range .RepoDigests}}{{println .}}{{end}}' "$IMAGE_ID" | sed -n "s|^$REPO_REF@||p" | head -n1)"
[[ "$PUSHED_DIGEST" =~ ^sha256:[0-9a-f]{64}$ ]] || fail "no pushed digest for $REPO_REF in the image's RepoDigests"
for tag in "$TAG" latest; do
  remote="$(registry_digest "$tag")"
  [[ "$remote" == "$PUSHED_DIGEST" ]] \
    || fail "the registry serves ${remote:-nothing} for :$tag, expected $PUSHED_DIGEST"
done
say "pushed :$TAG and :latest, both $PUSHED_DIGEST (checked against the registry)"
verify_pushed "$PUSHED_DIGEST"

step "pull by digest"
IMAGE_DIGEST_REF="$REPO_REF@$PUSHED_DIGEST"
bounded "$DOCKER_TIMEOUT" docker rmi "$IMAGE_SHA_TAG" "$IMAGE_LATEST_TAG" >/dev/null
if image_exists "$IMAGE_ID"; then
  warn "image $IMAGE_ID is still present under other names; the pull reuses it"
else
  say "removed the local image $IMAGE_ID"
fi
IMAGE_REFS+=("$IMAGE_DIGEST_REF")
bounded "$PUSH_TIMEOUT" docker pull "$IMAGE_DIGEST_REF"
PULLED_ID="$(bounded "$DOCKER_TIMEOUT" docker image inspect -f '{{.Id}}' "$IMAGE_DIGEST_REF")"
[[ "$PULLED_ID" == "$IMAGE_ID" ]] || fail "pulled image $PULLED_ID is not the built image $IMAGE_ID"
say "pulled $IMAGE_DIGEST_REF: image $PULLED_ID, the one that was built"

step "run (pulled image)"
run_api "rehearse-api-pulled-$RUN_ID" "$IMAGE_DIGEST_REF"

step "smoke test (pulled image)"
smoke "rehearse-api-pulled-$RUN_ID"
HEALTHY_PULLED_MS="$HEALTHY_MS"

end_step ok
CURRENT_STEP="summary"
printf '\n==> summary (t+%s)\n' "$(fmt_ms $(($(now_ms) - T0)))"
if [[ "$SOURCE" == head ]]; then
  printf '  source         committed HEAD %s\n' "$SHA"
else
  printf '  source         working tree on top of HEAD %s (copy commit %s)\n' "$SHA" "$COMMIT"
fi
printf '  image          %s (and :latest), pushed and pulled back\n' "$IMAGE_SHA_TAG"
printf '  digest         %s\n' "$PUSHED_DIGEST"
printf '  image id       %s\n' "$IMAGE_ID"
printf '  image size     %d MB (%s bytes)\n' $((IMAGE_SIZE / 1000000)) "$IMAGE_SIZE"
printf '  healthy after  %s (built image), %s (pulled image), from docker run\n' \
  "$(fmt_ms "$HEALTHY_BUILT_MS")" "$(fmt_ms "$HEALTHY_PULLED_MS")"
printf '  mlflow         %s (venv) for %s\n' "$venv_mlflow" "$pin_image"
printf '  metrics        %s\n' "$("$VENV/bin/python" -c 'import json, sys
m = json.load(open(sys.argv[1]))
print(", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in m.items()))' \
  "$CLONE/metrics.json" 2>/dev/null || echo "see the dvc metrics step")"
printf '  steps\n'
printf '    %s\n' "${STEP_TIMES[@]}"
printf '  total          %s (before cleanup)\n' "$(fmt_ms $(($(now_ms) - T0)))"
