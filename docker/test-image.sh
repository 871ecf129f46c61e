#!/usr/bin/env bash
# Builds the runtime image from the release binary and runs it for real with podman, then
# the Compose stack (db + app) with podman-compose. No image registry is needed: the base
# images the Dockerfile and compose.yaml name are made here when missing, from Debian's
# packages (debootstrap), under those exact names:
#   debian:bookworm-slim                  a minbase Debian, the stand-ins' base
#   gcr.io/distroless/cc-debian12:nonroot glibc, libgcc, CA certificates, user 65532
#   postgres:16                           Debian's PostgreSQL behind the official image's
#                                         environment (POSTGRES_USER/PASSWORD/DB)
# Checks: non-root, the image's size (< 40 MB), /health from the container, its
# HEALTHCHECK, SQLite data in the declared volume across a restart, a bad setting stops it
# with a one-line error, SIGTERM stops it within the grace period; then Compose up, the
# starter's four requests, `down` (data kept) and `down -v` (data gone).
#
# Usage: bash docker/test-image.sh [path/to/gatehouse]   (default: target/release/gatehouse,
# built with `cargo build --release` when missing). Needs root, podman, podman-compose,
# runc, debootstrap and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

export CONTAINERS_CONF="${CONTAINERS_CONF:-$root/docker/podman/containers.conf}"
export CONTAINERS_STORAGE_CONF="${CONTAINERS_STORAGE_CONF:-$root/docker/podman/storage.conf}"
work=$(mktemp -d)
app=gatehouse-image-test
port=18000
cleanup() {
  podman rm -f "$app" >/dev/null 2>&1 || true
  podman volume rm -f gatehouse-image-test-data >/dev/null 2>&1 || true
  (cd docker && "$root/target/podman-compose-venv/bin/podman-compose" -p gatehouse down -v >/dev/null 2>&1) || true
  # (Anonymous volumes, such as the app's /app/data under Compose, are not removed by
  # podman-compose's `down -v`.)
  podman volume prune -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
step() { echo "image-test: $*"; }
fail() { echo "image-test: FAILED: $*" >&2; exit 1; }

binary=${1:-target/release/gatehouse}
if [ ! -x "$binary" ]; then
  step "building the release binary"
  cargo build --release --locked --bin gatehouse
fi

# --- base images --------------------------------------------------------------------
have_image() { podman image exists "$1"; }
debian_rootfs() {
  if [ ! -d "$work/bookworm" ]; then
    step "debootstrap bookworm (minbase)"
    debootstrap --variant=minbase bookworm "$work/bookworm" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
      || { tail -20 "$work/debootstrap.log"; fail "debootstrap"; }
  fi
}
if ! have_image debian:bookworm-slim; then
  debian_rootfs
  step "importing debian:bookworm-slim"
  tar -C "$work/bookworm" -c . | podman import -q - debian:bookworm-slim >/dev/null
fi
if ! have_image gcr.io/distroless/cc-debian12:nonroot; then
  debian_rootfs
  step "making gcr.io/distroless/cc-debian12:nonroot"
  base=$work/distroless
  mkdir -p "$base"/{etc/ssl/certs,lib/x86_64-linux-gnu,lib64,tmp,home/nonroot,app}
  for lib in libc.so.6 libm.so.6 libgcc_s.so.1 ld-linux-x86-64.so.2; do
    cp -L "$work/bookworm/usr/lib/x86_64-linux-gnu/$lib" "$base/lib/x86_64-linux-gnu/"
  done
  ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$base/lib64/ld-linux-x86-64.so.2"
  cp /etc/ssl/certs/ca-certificates.crt "$base/etc/ssl/certs/"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$base/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$base/etc/group"
  chmod 1777 "$base/tmp"
  chown 65532:65532 "$base/home/nonroot"
  tar -C "$base" -c . | podman import -q --change 'USER 65532:65532' - gcr.io/distroless/cc-debian12:nonroot >/dev/null
fi

# --- the runtime image ----------------------------------------------------------------
step "building gatehouse:latest from $binary"
context=$work/context
mkdir -p "$context/data"
cp "$binary" "$context/gatehouse"
# (docker format: the OCI format has no HEALTHCHECK.)
podman build -q --format docker -f docker/Dockerfile --target prebuilt -t gatehouse:latest "$context" >/dev/null

size=$(podman image inspect gatehouse:latest --format '{{.Size}}')
step "image size: $size bytes ($((size / 1024 / 1024)) MiB)"
# IMAGE_MAX_MB: only to try the script with a debug binary.
max_mb=${IMAGE_MAX_MB:-40}
[ "$size" -lt $((max_mb * 1024 * 1024)) ] || fail "the image is over $max_mb MB"
user=$(podman image inspect gatehouse:latest --format '{{.Config.User}}')
[ "$user" = "65532:65532" ] || fail "the image runs as '$user', not 65532"

wait_healthy() { # url
  for _ in $(seq 1 60); do
    if curl -fsS "$1/health" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  return 1
}

step "run: /health, non-root, HEALTHCHECK"
podman volume create gatehouse-image-test-data >/dev/null
run_app() {
  # (podman schedules periodic health checks with systemd timers and complains, on
  # stderr, on a machine without systemd: its words go to a log. `podman healthcheck
  # run` below runs the command itself.)
  podman run -d --name "$app" -p "127.0.0.1:$port:8000" \
    -v gatehouse-image-test-data:/app/data \
    -e JWT_SECRET_KEY=image-test-secret-image-test-secret-0123 \
    gatehouse:latest >/dev/null 2>>"$work/podman.log"
}
run_app
wait_healthy "http://127.0.0.1:$port" || { podman logs "$app" | tail -20; fail "/health did not answer"; }
uid=$(podman top "$app" huser | tail -n +2 | head -1 | tr -d ' ')
[ "$uid" = "65532" ] || fail "the process runs as '$uid'"
podman healthcheck run "$app" >/dev/null || fail "the HEALTHCHECK command failed"

step "SQLite data in the volume, across a restart"
email="image-$(date +%s)@example.com"
body="{\"email\":\"$email\",\"password\":\"Correct-Horse-42\"}"
curl -fsS -X POST "http://127.0.0.1:$port/auth/register" -H 'content-type: application/json' -d "$body" >/dev/null \
  || fail "register"
mountpoint=$(podman volume inspect gatehouse-image-test-data --format '{{.Mountpoint}}')
[ -s "$mountpoint/app.db" ] || fail "no app.db in the volume ($mountpoint)"
podman restart "$app" >/dev/null 2>>"$work/podman.log"
wait_healthy "http://127.0.0.1:$port" || fail "/health after the restart"
curl -fsS -X POST "http://127.0.0.1:$port/auth/login" -H 'content-type: application/json' -d "$body" >/dev/null \
  || fail "the account did not survive the restart"

step "SIGTERM stops it within the grace period"
start=$(date +%s)
podman stop -t 10 "$app" >/dev/null 2>>"$work/podman.log"
took=$(( $(date +%s) - start ))
code=$(podman inspect "$app" --format '{{.State.ExitCode}}')
[ "$took" -lt 10 ] || fail "stopping took ${took}s (killed at the grace period)"
[ "$code" = "0" ] || fail "exit code $code after SIGTERM"
podman rm "$app" >/dev/null 2>>"$work/podman.log"

step "a bad setting stops it with one line"
set +e
errors=$(podman run --rm --no-healthcheck -e APP_PORT=not-a-port gatehouse:latest 2>&1 >/dev/null)
status=$?
set -e
[ "$status" -ne 0 ] || fail "started with APP_PORT=not-a-port"
[ "$(printf '%s\n' "$errors" | grep -c .)" = "1" ] || fail "more than one line: $errors"
printf '%s\n' "$errors" | grep -q APP_PORT || fail "the error does not name APP_PORT: $errors"
step "  -> $errors"

step "image checks passed"

# --- the Compose stack ------------------------------------------------------------------
# Debian's podman-compose (1.0.3) cannot read compose.yaml's `env_file` with `required:
# false`; a newer one from PyPI can (in a venv under target/, as docker/check.sh does).
compose_venv=target/podman-compose-venv
if [ ! -x "$compose_venv/bin/podman-compose" ]; then
  step "installing podman-compose from PyPI into $compose_venv"
  python3 -m venv "$compose_venv"
  "$compose_venv/bin/pip" install -q "podman-compose==1.6.0"
fi
compose() { (cd docker && "$root/$compose_venv/bin/podman-compose" -p gatehouse "$@") >>"$work/compose.log" 2>&1; }
if ! have_image postgres:16; then
  step "building postgres:16 (Debian's PostgreSQL on the stand-in base)"
  podman build -q --format docker -t postgres:16 docker/test/postgres >/dev/null
fi
api=http://127.0.0.1:8000
step "compose up (db + app)"
compose up -d --no-build || { tail -30 "$work/compose.log"; fail "compose up"; }
# podman 4.3 ignores `condition: service_healthy`: an app up before its database stops,
# and its restart policy starts it again.
wait_healthy "$api" || { podman logs gatehouse_app_1 2>&1 | tail -20; fail "the app did not answer"; }
starter_flow() { # the starter's four requests, for $email
  local body="{\"email\":\"$email\",\"password\":\"Correct-Horse-42\"}"
  curl -fsS -X POST "$api/auth/register" -H 'content-type: application/json' -d "$body" >/dev/null \
    || fail "register"
  login
}
login() {
  local body="{\"email\":\"$email\",\"password\":\"Correct-Horse-42\"}" tokens access refresh
  tokens=$(curl -fsS -X POST "$api/auth/login" -H 'content-type: application/json' -d "$body") \
    || fail "login"
  access=$(printf '%s' "$tokens" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  refresh=$(printf '%s' "$tokens" | python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])')
  curl -fsS -X POST "$api/auth/refresh" -H "Authorization: Bearer $refresh" >/dev/null || fail "refresh"
  curl -fsS "$api/users/me" -H "Authorization: Bearer $access" | grep -q "$email" || fail "/users/me"
}
email="compose-$(date +%s)@example.com"
step "the starter's four requests: register, login, refresh, /users/me"
starter_flow
step "compose down keeps the database; up again, the account is there"
compose down || fail "compose down"
podman volume exists gatehouse_pgdata || fail "down removed the database volume"
compose up -d --no-build || fail "compose up again"
wait_healthy "$api" || fail "the app did not answer after down/up"
login
step "compose down -v drops it"
compose down -v || fail "compose down -v"
if podman volume exists gatehouse_pgdata; then fail "down -v kept the database volume"; fi
step "compose checks passed"
