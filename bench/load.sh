#!/usr/bin/env bash
# Load bench against a release build: starts gatehouse on SQLite in a temporary
# directory, then drives it with wrk and reports requests/s, latency and the server's
# peak memory. Needs wrk (apt-get install wrk). Usage: bash bench/load.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
port=${BENCH_PORT:-18080}
base="http://127.0.0.1:$port"

command -v wrk >/dev/null || { echo "bench: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release --locked --bin gatehouse
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

# Rate limits off: the bench measures the server, not the limiter (a login flood from one
# IP would otherwise be answered 429 after ten).
APP_PORT=$port DATABASE_URL="sqlite://$work/app.db?mode=rwc" RUST_LOG=warn \
  JWT_SECRET_KEY=benchmark-secret-of-at-least-32-bytes!! RATE_LIMIT_ENABLED=false \
  ./target/release/gatehouse >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -fs "$base/health" >/dev/null && break; sleep 0.1; done

credentials='{"email":"bench@example.com","password":"YourStrongPassw0rd!"}'
curl -fs -X POST "$base/auth/register" -H 'Content-Type: application/json' -d "$credentials" >/dev/null
access=$(curl -fs -X POST "$base/auth/login" -H 'Content-Type: application/json' -d "$credentials" \
  | sed -E 's/.*"access_token":"([^"]+)".*/\1/')

cat >"$work/login.lua" <<LUA
wrk.method = "POST"
wrk.body = '$credentials'
wrk.headers["Content-Type"] = "application/json"
LUA

rss() { awk '/VmHWM/ {print $2 " KiB"}' "/proc/$server/status"; }
echo "== machine: $(nproc) cores; server: release build, SQLite, default argon2 (m=64 MiB, t=3, p=4)"
echo "== GET /users/me (token verification + 2 indexed reads), 2 threads, 64 connections, ${duration}s"
wrk -t2 -c64 -d"${duration}s" --latency -H "Authorization: Bearer $access" "$base/users/me" \
  | grep -E "Requests/sec|Latency|50%|99%|requests in|Non-2xx"
echo "== POST /auth/login (argon2 verify + session insert), 2 threads, 16 connections, ${duration}s"
wrk -t2 -c16 -d"${duration}s" --latency -s "$work/login.lua" "$base/auth/login" \
  | grep -E "Requests/sec|Latency|50%|99%|requests in|Non-2xx"
echo "== GET /health while logins saturate the hashing pool (does hashing stall other requests?)"
wrk -t1 -c16 -d"${duration}s" -s "$work/login.lua" "$base/auth/login" >/dev/null &
flood=$!
sleep 1
wrk -t1 -c8 -d"$((duration > 3 ? duration - 2 : 1))s" --latency "$base/health" \
  | grep -E "Requests/sec|Latency|50%|99%"
wait "$flood"
echo "== server peak resident memory: $(rss)"
