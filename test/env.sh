#!/usr/bin/env bash
# Prepares a machine for the integration tests and prints `export` lines for the environment they need.
# Installs what is missing from Debian's packages (docker.io, prometheus, busybox-static, openssl, iproute2,
# docker-compose, chromium); uses a daemon that already answers, otherwise
# starts a throwaway dockerd; builds the local busybox test image (no registry is reachable here).
set -euo pipefail
STATE_DIR=${DOCKHAND_TEST_STATE:-/tmp/dockhand-test-env}
mkdir -p "$STATE_DIR"
log() { echo "[test-env] $*" >&2; }

need_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v prometheus >/dev/null && command -v promtool >/dev/null || missing+=(prometheus)
  [ -x /bin/busybox ] || missing+=(busybox-static)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  command -v ip >/dev/null || missing+=(iproute2)
  # The live page's browser tests drive Debian's Chromium through playwright-core (no browser download).
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  echo "${missing[@]:-}"
}

install_missing() {
  local missing; missing=$(need_packages)
  [ -z "$missing" ] && return 0
  [ "$(id -u)" = 0 ] || { log "missing packages ($missing) and not root: install them yourself"; exit 1; }
  log "installing: $missing"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2
}

daemon_answers() { timeout 5 docker version --format '{{.Server.APIVersion}}' >/dev/null 2>&1; }

start_dockerd() {
  log "starting a throwaway dockerd"
  rm -f /var/run/docker.pid
  setsid dockerd --host unix:///var/run/docker.sock >"$STATE_DIR/dockerd.log" 2>&1 < /dev/null &
  echo $! > "$STATE_DIR/dockerd.pid"
  local deadline=$((SECONDS + 60))
  until daemon_answers; do
    [ $SECONDS -lt $deadline ] || { log "dockerd did not answer within 60 s"; tail -20 "$STATE_DIR/dockerd.log" >&2; exit 1; }
    sleep 0.3
  done
  log "dockerd is up"
}

build_busybox_image() {
  docker image inspect dockhand-test/busybox:latest >/dev/null 2>&1 && return 0
  log "building dockhand-test/busybox:latest from the host's busybox"
  local root; root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/etc"
  cp /bin/busybox "$root/bin/"
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
  tar -C "$root" -c . | docker import -c 'CMD ["/bin/sh"]' - dockhand-test/busybox:latest >/dev/null
  rm -rf "$root"
}

install_missing
if ! daemon_answers; then
  if [ -n "${DOCKER_HOST:-}" ]; then log "DOCKER_HOST=$DOCKER_HOST does not answer"; exit 1; fi
  start_dockerd
fi
build_busybox_image
echo "export DOCKHAND_TEST_IMAGE=dockhand-test/busybox:latest"
