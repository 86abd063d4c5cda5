#!/usr/bin/env bash
# Prepare (and tear down) a private Docker engine, a local Python base image
# and a local registry on a Debian 12 dev/CI machine where no engine runs and
# no public container registry is reachable.
# See /work/shared/container/README.md for the background.
#
# Usage: scripts/container_env.sh up|packages|env|registry-up|registry-down|down|status
#   eval "$(scripts/container_env.sh env)"   # point the docker client at our engine
#   scripts/container_env.sh packages        # the Debian packages only (idempotent): the engine's
#                                            # and monitoring's (prometheus, alertmanager, compose)
#
# Tunables (environment):
#   CONTAINER_STATE_DIR  state dir for everything we run   (/var/tmp/house-price-container)
#   BASE_IMAGE           local base image to build          (local/python:3.11)
#   BASE_SUITE           Debian suite for the base image    (bookworm)
#   DEBIAN_MIRROR        mirror for debootstrap             (from /etc/apt/sources.list.d/debian.sources)
#   REGISTRY_PORT        local registry port on 127.0.0.1   (5055)
#   DOCKERD_START_TIMEOUT / REGISTRY_START_TIMEOUT / STOP_TIMEOUT (seconds)
#
# Everything we start is tracked by pidfiles in the state dir; we never signal
# a process whose pidfile is missing or whose command line is not ours.
set -euo pipefail

# Debian's own tools first (dockerd finds containerd/runc via PATH; /usr/sbin
# is not on a non-login PATH); the caller's PATH is kept for `env` output.
CALLER_PATH="${PATH:-}"
export PATH="/usr/sbin:/usr/bin:/sbin:/bin${CALLER_PATH:+:$CALLER_PATH}"

STATE_DIR="${CONTAINER_STATE_DIR:-/var/tmp/house-price-container}"
BASE_IMAGE="${BASE_IMAGE:-local/python:3.11}"
BASE_SUITE="${BASE_SUITE:-bookworm}"
REGISTRY_PORT="${REGISTRY_PORT:-5055}"
DOCKERD_START_TIMEOUT="${DOCKERD_START_TIMEOUT:-60}"
REGISTRY_START_TIMEOUT="${REGISTRY_START_TIMEOUT:-30}"
STOP_TIMEOUT="${STOP_TIMEOUT:-45}"

DATA_ROOT="$STATE_DIR/data"
EXEC_ROOT="$STATE_DIR/exec"
SOCK="$STATE_DIR/docker.sock"
DOCKERD_PIDFILE="$STATE_DIR/dockerd.pid"
DOCKERD_LAUNCH_PIDFILE="$STATE_DIR/dockerd.launch.pid"
DOCKERD_LOG="$STATE_DIR/dockerd.log"
DOCKERD_CONFIG="$STATE_DIR/daemon.json"
# dockerd's (and so runc's exec) temporary files: in the state dir, never the caller's TMPDIR,
# which may be a directory the caller deletes while the engine still runs.
DOCKERD_TMPDIR="$STATE_DIR/tmp/dockerd"
BIN_DIR="$STATE_DIR/bin"
LOCK_FILE="$STATE_DIR/lock"
REG_DIR="$STATE_DIR/registry"
REG_CONFIG="$REG_DIR/config.yml"
REG_STORAGE="$REG_DIR/storage"
REG_PIDFILE="$REG_DIR/registry.pid"
REG_LOG="$REG_DIR/registry.log"
REG_ADDR="127.0.0.1:$REGISTRY_PORT"

# Debian's client (docker.io 20.10), not the newer /usr/local/bin/docker (28.x):
# that one has no buildx plugin, so it uses the legacy builder, and with
# DOCKER_BUILDKIT=1 it refuses to build at all ("BuildKit is enabled but the
# buildx component is missing"). Debian's client has BuildKit built in.
DOCKER_CLIENT=/usr/bin/docker
DOCKERD_BIN=/usr/sbin/dockerd
REGISTRY_BIN=/usr/bin/docker-registry
# The host's CA bundle: HTTPS from containers goes through the same
# TLS-inspecting egress as the host, so the base image must trust it.
HOST_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
# Where the base image keeps its copy (outside /etc/ssl/certs and
# /usr/local/share/ca-certificates, so update-ca-certificates in a derived
# image cannot drop it).
IMAGE_CA_BUNDLE=/etc/ssl/host-ca-bundle.crt
# Monitoring (make monitor, tests/test_monitoring*.py): Prometheus + promtool, Alertmanager +
# amtool, and docker-compose to validate compose.yaml (`docker-compose config`).
PACKAGES=(docker.io debootstrap docker-registry wrk curl
  prometheus prometheus-alertmanager docker-compose)

log() { printf '[container_env] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Our docker client talking to our engine only (never the default socket).
dk() { DOCKER_HOST="unix://$SOCK" DOCKER_BUILDKIT=1 "$DOCKER_CLIENT" "$@"; }
# `docker info` with a bound of its own (a wedged daemon can hang the client).
engine_answers() { DOCKER_HOST="unix://$SOCK" timeout 10 "$DOCKER_CLIENT" info >/dev/null 2>&1; }

# Serialise up/down/registry-* between concurrent callers (tests, CI,
# rehearsal). Background daemons are started with fd 9 closed, otherwise they
# would hold the lock forever.
take_lock() {
  mkdir -p "$STATE_DIR"
  exec 9>"$LOCK_FILE"
  flock -w 900 9 || die "timed out waiting for $LOCK_FILE"
}

# --- process helpers (pidfile based) -----------------------------------------

read_pid() {  # print the pid in file $1 if it holds one
  local pid
  [[ -s "$1" ]] || return 1
  pid="$(head -n1 "$1" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  printf '%s\n' "$pid"
}

pid_alive() {  # running and not a zombie (orphans may not be reaped here)
  local state
  [[ -r "/proc/$1/stat" ]] || return 1
  state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)"
  [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# pid $1 is alive and its command line contains $2 (guards against pid reuse
# and against ever signalling somebody else's process).
pid_is_ours() {
  local cmd
  pid_alive "$1" || return 1
  # (No `| grep -q` here: with pipefail an early grep exit can fail the pipe.)
  cmd="$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true)"
  [[ "$cmd" == *"$2"* ]]
}

# launch_bg PIDFILE LOG CMD...: start CMD as a daemon. setsid: own session, so
# the caller's Ctrl-C / process-group kill does not take it down; the tiny sh
# records the real pid (it execs CMD); fd 9 (our lock) is closed so the daemon
# does not hold the lock forever.
launch_bg() {
  local pidfile="$1" logfile="$2"
  shift 2
  # shellcheck disable=SC2016  # $$ / $1 / $@ are for the inner sh
  setsid -f sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$pidfile" "$@" \
    </dev/null >>"$logfile" 2>&1 9>&-
}

stop_pid() {  # stop_pid PID NAME: TERM, bounded wait, then KILL
  local pid="$1" name="$2" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < STOP_TIMEOUT * 4; i++)); do
    pid_alive "$pid" || { log "$name (pid $pid) stopped"; return 0; }
    sleep 0.25
  done
  log "$name (pid $pid) did not exit within ${STOP_TIMEOUT}s, sending KILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do
    pid_alive "$pid" || return 0
    sleep 0.25
  done
  die "$name (pid $pid) survived SIGKILL"
}

dockerd_pid() {  # pid of *our* dockerd, if running
  local pid
  pid="$(read_pid "$DOCKERD_PIDFILE")" || return 1
  pid_is_ours "$pid" "$SOCK" || return 1
  printf '%s\n' "$pid"
}

registry_pid() {  # pid of *our* registry, if running
  local pid
  pid="$(read_pid "$REG_PIDFILE")" || return 1
  pid_is_ours "$pid" "$REG_CONFIG" || return 1
  printf '%s\n' "$pid"
}

# --- packages ----------------------------------------------------------------

pkg_installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null || true)" == ii* ]]
}

ensure_packages() {
  local missing=() p added_policy=0
  for p in "${PACKAGES[@]}"; do
    pkg_installed "$p" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "installing: ${missing[*]}"
  # Without systemd, maintainer scripts would start the *system* dockerd /
  # registry / prometheus / alertmanager through /etc/init.d (prometheus would
  # then hold :9090); a policy-rc.d that says 101 forbids that. We
  # only add (and later remove) one if the machine has none.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    added_policy=1
    # shellcheck disable=SC2064  # expand now: remove exactly what we added
    trap "rm -f /usr/sbin/policy-rc.d" EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  # No recommends: they pull needrestart/apparmor/git we do not want here.
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if ((added_policy)); then
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  fi
}

# --- dockerd -----------------------------------------------------------------

start_dockerd() {
  local deadline launch_pid
  deadline=$((SECONDS + DOCKERD_START_TIMEOUT))
  if dockerd_pid >/dev/null; then
    # Ours is running; it must also answer (bounded), else say where to look.
    while ((SECONDS < deadline)); do
      engine_answers && return 0
      sleep 0.5
    done
    die "our dockerd runs but does not answer 'docker info'; see $DOCKERD_LOG (or '$0 down')"
  fi
  # dockerd 20.10 silently attaches to a system containerd if its socket
  # exists, which would mean driving a daemon we did not start: refuse.
  if [[ -S /run/containerd/containerd.sock ]]; then
    die "a system containerd is running (/run/containerd/containerd.sock); our dockerd would use it. Stop it first."
  fi
  # Unix socket paths are limited to 107 bytes; containerd's is the longest.
  if ((${#EXEC_ROOT} + 35 > 107)); then
    die "CONTAINER_STATE_DIR '$STATE_DIR' is too long for unix socket paths (keep it under ~65 chars)"
  fi
  mkdir -p "$DATA_ROOT" "$EXEC_ROOT" "$BIN_DIR" "$DOCKERD_TMPDIR"
  clear_stale_pidfiles
  # Own (empty) config file so a system /etc/docker/daemon.json cannot change us.
  [[ -f "$DOCKERD_CONFIG" ]] || printf '{}\n' >"$DOCKERD_CONFIG"
  log "starting dockerd (log: $DOCKERD_LOG)"
  # The launch pidfile lets us spot an early death (dockerd writes its own
  # --pidfile only later, and refuses to start if that file names a live pid).
  # Bridge/iptables/forwarding off: no traffic except host networking
  # (loopback and the package registries).
  launch_bg "$DOCKERD_LAUNCH_PIDFILE" "$DOCKERD_LOG" \
    env PATH=/usr/sbin:/usr/bin:/sbin:/bin TMPDIR="$DOCKERD_TMPDIR" "$DOCKERD_BIN" \
    --config-file "$DOCKERD_CONFIG" \
    --data-root "$DATA_ROOT" \
    --exec-root "$EXEC_ROOT" \
    --pidfile "$DOCKERD_PIDFILE" \
    -H "unix://$SOCK" \
    --bridge=none --iptables=false --ip6tables=false \
    --ip-forward=false --ip-masq=false
  deadline=$((SECONDS + DOCKERD_START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if engine_answers; then
      log "dockerd is up ($(dk version -f '{{.Server.Version}}' 2>/dev/null))"
      return 0
    fi
    if launch_pid="$(read_pid "$DOCKERD_LAUNCH_PIDFILE")" && ! pid_alive "$launch_pid"; then
      tail -n 20 "$DOCKERD_LOG" >&2 || true
      reap_leftovers  # e.g. the data root it had already bind-mounted
      die "dockerd exited during startup; see $DOCKERD_LOG"
    fi
    sleep 0.5
  done
  tail -n 20 "$DOCKERD_LOG" >&2 || true
  # Do not leave a hung engine behind.
  if launch_pid="$(read_pid "$DOCKERD_LAUNCH_PIDFILE")" && pid_is_ours "$launch_pid" "$SOCK"; then
    stop_pid "$launch_pid" dockerd
  fi
  reap_leftovers
  die "dockerd did not answer 'docker info' within ${DOCKERD_START_TIMEOUT}s; see $DOCKERD_LOG"
}

# --- base image ----------------------------------------------------------------

debian_mirror() {
  local m
  if [[ -n "${DEBIAN_MIRROR:-}" ]]; then
    printf '%s\n' "$DEBIAN_MIRROR"; return
  fi
  # deb822: first URI of the stanza whose Suites contain the suite itself
  # (not bookworm-security / -updates only).
  if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
    m="$(awk -v suite="$BASE_SUITE" '
      function flush() { if (hit && uri != "" && !done) { print uri; done = 1 } hit = 0; uri = "" }
      /^[[:space:]]*$/ { flush(); next }
      /^URIs:/   { uri = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) hit = 1 }
      END { flush() }' /etc/apt/sources.list.d/debian.sources)"
    [[ -n "$m" ]] && { printf '%s\n' "$m"; return; }
  fi
  m="$(awk -v suite="$BASE_SUITE" '$1 == "deb" && $3 == suite { print $2; exit }' \
    /etc/apt/sources.list 2>/dev/null || true)"
  printf '%s\n' "${m:-http://deb.debian.org/debian}"
}

ca_sha() { sha256sum "$HOST_CA_BUNDLE" | cut -c1-64; }

base_image_current() {
  local label
  label="$(dk image inspect -f '{{index .Config.Labels "house-price.host-ca-sha256"}}' \
    "$BASE_IMAGE" 2>/dev/null)" || return 1
  # Rebuild if the host CA bundle changed (e.g. a new inspection CA).
  [[ "$label" == "$(ca_sha)" ]]
}

mounts_under() {  # mount points below prefix $1, deepest first
  findmnt -rn -o TARGET | awk -v p="$1" 'index($0, p) == 1' | sort -r
}

cleanup_rootfs() {  # never rm -rf through a still-mounted /proc or /sys
  local dir="$1" m
  [[ -n "$dir" && -d "$dir" ]] || return 0
  while read -r m; do
    if [[ -n "$m" ]]; then umount -l "$m" 2>/dev/null || true; fi
  done < <(mounts_under "$dir/")
  rm -rf --one-file-system "$dir"
}

build_base_image() {
  local mirror tmp rootfs t0
  if base_image_current; then
    return 0
  fi
  [[ -r "$HOST_CA_BUNDLE" ]] || die "missing host CA bundle $HOST_CA_BUNDLE"
  mirror="$(debian_mirror)"
  log "building $BASE_IMAGE with debootstrap ($BASE_SUITE from $mirror), takes 1-3 min"
  mkdir -p "$STATE_DIR/tmp"
  tmp="$(mktemp -d "$STATE_DIR/tmp/rootfs.XXXXXX")"
  # shellcheck disable=SC2064  # expand now: the temp dir is fixed
  trap "cleanup_rootfs '$tmp'" EXIT
  rootfs="$tmp/rootfs"
  t0=$SECONDS
  if ! debootstrap --variant=minbase \
      --include=python3,python3-venv,python3-pip,ca-certificates \
      "$BASE_SUITE" "$rootfs" "$mirror" >"$STATE_DIR/debootstrap.log" 2>&1; then
    tail -n 20 "$STATE_DIR/debootstrap.log" >&2 || true
    die "debootstrap failed; see $STATE_DIR/debootstrap.log"
  fi
  log "debootstrap done in $((SECONDS - t0))s, importing"
  t0=$SECONDS
  # python:3.11-slim has `python` (and `pip`) on PATH; Debian has python3 only.
  ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
  # python:3.11-slim is not PEP 668 "externally managed", so a Dockerfile may
  # `pip install` without a venv; make the local stand-in behave the same.
  rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
  # Trust the TLS-inspecting egress: the host bundle, both as the system
  # default and as a stable copy that PIP_CERT / SSL_CERT_FILE point at.
  cp "$HOST_CA_BUNDLE" "$rootfs$IMAGE_CA_BUNDLE"
  cp "$HOST_CA_BUNDLE" "$rootfs/etc/ssl/certs/ca-certificates.crt"
  # Slim the image like the official one: no package caches or lists.
  rm -rf "${rootfs:?}"/var/cache/apt/archives/*.deb "${rootfs:?}"/var/lib/apt/lists/* \
    "${rootfs:?}"/var/log/*.log "${rootfs:?}"/tmp/* "${rootfs:?}"/dev/*
  tar -C "$rootfs" --numeric-owner -cf - . | dk import \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV LANG=C.UTF-8" \
    --change "ENV PIP_CERT=$IMAGE_CA_BUNDLE" \
    --change "ENV SSL_CERT_FILE=$IMAGE_CA_BUNDLE" \
    --change "ENV REQUESTS_CA_BUNDLE=$IMAGE_CA_BUNDLE" \
    --change "LABEL house-price.host-ca-sha256=$(ca_sha)" \
    --change 'CMD ["python3"]' \
    --message "debootstrap $BASE_SUITE minbase + python3 (scripts/container_env.sh)" \
    - "$BASE_IMAGE" >/dev/null
  cleanup_rootfs "$tmp"
  trap - EXIT
  log "imported in $((SECONDS - t0))s; built $BASE_IMAGE ($(dk run --rm --network host "$BASE_IMAGE" python --version 2>&1))"
}

# --- registry ------------------------------------------------------------------

write_registry_config() {
  mkdir -p "$REG_STORAGE"
  cat >"$REG_CONFIG.tmp" <<EOF
# Written by scripts/container_env.sh; loopback only, plain HTTP.
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $REG_STORAGE
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $REG_ADDR
  headers:
    X-Content-Type-Options: [nosniff]
EOF
  mv "$REG_CONFIG.tmp" "$REG_CONFIG"
}

registry_answers() { curl -fsS --noproxy '*' -m 2 -o /dev/null "http://$REG_ADDR/v2/" 2>/dev/null; }

registry_up() {
  local deadline pid
  [[ -x "$REGISTRY_BIN" ]] || die "$REGISTRY_BIN missing; run '$0 up' first"
  if registry_pid >/dev/null && registry_answers; then
    log "registry already running on $REG_ADDR"
    return 0
  fi
  if registry_answers; then
    die "something we did not start already answers on $REG_ADDR; set REGISTRY_PORT"
  fi
  if pid="$(registry_pid)"; then  # ours but not answering: restart it
    stop_pid "$pid" registry
  fi
  rm -f "$REG_PIDFILE"
  write_registry_config
  launch_bg "$REG_PIDFILE" "$REG_LOG" "$REGISTRY_BIN" serve "$REG_CONFIG"
  deadline=$((SECONDS + REGISTRY_START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if registry_answers; then
      log "registry is up on http://$REG_ADDR (log: $REG_LOG)"
      return 0
    fi
    if pid="$(read_pid "$REG_PIDFILE")" && ! pid_alive "$pid"; then
      break
    fi
    sleep 0.25
  done
  tail -n 20 "$REG_LOG" >&2 || true
  if pid="$(registry_pid)"; then stop_pid "$pid" registry; fi
  die "registry did not answer on http://$REG_ADDR/v2/ within ${REGISTRY_START_TIMEOUT}s; see $REG_LOG"
}

registry_down() {
  local pid
  if pid="$(registry_pid)"; then
    stop_pid "$pid" registry
  else
    log "registry not running (ours)"
  fi
  rm -f "$REG_PIDFILE"
}

# --- teardown --------------------------------------------------------------------

unmount_leftovers() {
  local m
  while read -r m; do
    [[ -n "$m" ]] || continue
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
  done < <(mounts_under "$STATE_DIR/")
}

# Stale state of a dead (crashed / SIGKILLed) dockerd of ours. Its containerd
# gets SIGKILL when dockerd dies but lingers as a zombie for a while (PID 1
# here reaps orphans lazily); a new dockerd does kill -0 on containerd.pid,
# sees the zombie as "still running" and waits for it until it gives up
# ("timeout waiting for containerd to start"). So: stop a live orphan, and
# drop the pidfiles. Shims of surviving containers are left alone: the new
# containerd reconnects to them and dockerd then stops those containers.
clear_stale_pidfiles() {
  local cpid
  if cpid="$(read_pid "$EXEC_ROOT/containerd/containerd.pid")" \
      && pid_is_ours "$cpid" "$EXEC_ROOT/containerd"; then
    stop_pid "$cpid" containerd
  fi
  rm -f "$EXEC_ROOT/containerd/containerd.pid" \
    "$DOCKERD_PIDFILE" "$DOCKERD_LAUNCH_PIDFILE" "$SOCK"
}

# After `down` stopped dockerd: whatever outlived it (only if dockerd had to
# be killed): containers, their shims, mounts.
reap_leftovers() {
  local runc_root="$EXEC_ROOT/runtime-runc/moby" id spid
  clear_stale_pidfiles
  if [[ -d "$runc_root" ]] && command -v runc >/dev/null; then
    while read -r id; do
      [[ -n "$id" ]] || continue
      log "force-removing leftover container $id"
      runc --root "$runc_root" delete --force "$id" >/dev/null 2>&1 || true
    done < <(runc --root "$runc_root" list -q 2>/dev/null || true)
  fi
  # Only shims naming our containerd socket. (Walk /proc: procps/pgrep is
  # not guaranteed on a fresh machine.)
  for spid in /proc/[0-9]*; do
    spid="${spid#/proc/}"
    if pid_is_ours "$spid" "-address $EXEC_ROOT/containerd/containerd.sock"; then
      stop_pid "$spid" containerd-shim
    fi
  done
  # netns bind mounts under the exec root, the data root's bind mount onto
  # itself, overlays of containers.
  unmount_leftovers
}

down() {
  local pid
  registry_down
  if pid="$(dockerd_pid)"; then
    stop_pid "$pid" dockerd
  else
    log "dockerd not running (ours)"
  fi
  reap_leftovers
}

# --- env / status ------------------------------------------------------------------

print_env() {
  # BuildKit: verified with Debian's docker.io 20.10 client + engine here
  # (`docker build --network host` works, builds from the local base image
  # without contacting a registry). Do not use a `# syntax=` line in
  # Dockerfiles: that would pull a frontend image from Docker Hub.
  printf 'export DOCKER_HOST=%q\n' "unix://$SOCK"
  printf 'export DOCKER_BUILDKIT=1\n'
  printf 'unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH\n'
  # $BIN_DIR/docker -> /usr/bin/docker, ahead of /usr/local/bin/docker.
  case ":$CALLER_PATH:" in
    *":$BIN_DIR:"*) ;;
    *) printf 'export PATH=%q\n' "$BIN_DIR:$CALLER_PATH" ;;
  esac
  printf 'export BASE_IMAGE=%q\n' "$BASE_IMAGE"
  printf 'export LOCAL_REGISTRY=%q\n' "$REG_ADDR"
}

ensure_client_link() {
  mkdir -p "$BIN_DIR"
  [[ "$(readlink "$BIN_DIR/docker" 2>/dev/null)" == "$DOCKER_CLIENT" ]] \
    || ln -sfn "$DOCKER_CLIENT" "$BIN_DIR/docker"
}

status() {
  local pid
  echo "state dir:  $STATE_DIR"
  if pid="$(dockerd_pid)"; then
    echo "dockerd:    running (pid $pid, unix://$SOCK, engine $(dk version -f '{{.Server.Version}}' 2>/dev/null || echo '?'))"
    if dk image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
      echo "base image: $BASE_IMAGE present ($(dk image inspect -f '{{.Size}}' "$BASE_IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
    else
      echo "base image: $BASE_IMAGE absent"
    fi
    echo "containers: $(dk ps -q | wc -l) running"
  else
    echo "dockerd:    stopped"
  fi
  if pid="$(registry_pid)"; then
    echo "registry:   running (pid $pid, http://$REG_ADDR)"
  else
    echo "registry:   stopped"
  fi
}

main() {
  [[ $# -eq 1 ]] || die "usage: $0 up|packages|env|registry-up|registry-down|down|status"
  case "$1" in
    packages)
      [[ $EUID -eq 0 ]] || die "must run as root (apt)"
      take_lock
      ensure_packages
      ;;
    up)
      [[ $EUID -eq 0 ]] || die "must run as root (apt, dockerd, debootstrap)"
      take_lock
      ensure_packages
      ensure_client_link
      start_dockerd
      build_base_image
      ;;
    env) print_env ;;
    registry-up) take_lock; registry_up ;;
    registry-down) take_lock; registry_down ;;
    down) take_lock; down ;;
    status) status ;;
    *) die "unknown subcommand '$1' (up|packages|env|registry-up|registry-down|down|status)" ;;
  esac
}

main "$@"
