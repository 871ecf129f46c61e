#!/usr/bin/env bash
# Schemathesis against the running server's own /openapi.json: generated requests for
# every operation, checked for 5xx answers, undocumented statuses, content types, headers
# and response schemas. Starts a release build on SQLite in a temporary directory with a
# superuser's token, so the authenticated and admin routes are exercised too.
# Usage: bash fuzz/schemathesis.sh [seconds]   (installs schemathesis into target/)
set -euo pipefail
cd "$(dirname "$0")/.."
max_time=${1:-120}
port=${SCHEMATHESIS_PORT:-18090}
base="http://127.0.0.1:$port"
version=4.32.5
venv=target/schemathesis-venv

if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$version"
fi
cargo build --release --locked --bin gatehouse
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

export APP_PORT=$port DATABASE_URL="sqlite://$work/app.db?mode=rwc" RUST_LOG=warn \
  JWT_SECRET_KEY=schemathesis-secret-of-at-least-32-bytes RATE_LIMIT_ENABLED=false \
  ARGON2_MEMORY_KIB=1024 ARGON2_ITERATIONS=1 ARGON2_PARALLELISM=1 HASHING_MAX_WAIT_S=60 \
  MAIL_TRANSPORT="file:$work/mail"
./target/release/gatehouse migrate up >/dev/null
password='YourStrongPassw0rd!'
echo "$password" | ./target/release/gatehouse users create --email admin@example.com --superuser >/dev/null
./target/release/gatehouse >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -fs "$base/health" >/dev/null && break; sleep 0.1; done
access=$(curl -fs -X POST "$base/auth/login" -H 'Content-Type: application/json' \
  -d "{\"email\":\"admin@example.com\",\"password\":\"$password\"}" \
  | sed -E 's/.*"access_token":"([^"]+)".*/\1/')

# Every check but `positive_data_acceptance`: the schema cannot say which strings are
# strong passwords or live one-time tokens, so schema-valid bodies are rightly refused
# there. Logouts run last, on their own: they end the session the token belongs to.
st() {
  "$venv/bin/st" run "$base/openapi.json" --checks all --exclude-checks positive_data_acceptance \
    --header "Authorization: Bearer $access" "$@"
}
status=0
st --max-time "$max_time" --exclude-path-regex '^/auth/logout' "${@:2}" || status=$?
st --max-time 20 --include-path-regex '^/auth/logout' "${@:2}" || status=$?
if grep -q "panicked" "$work/server.log"; then
  echo "schemathesis: the server panicked:" >&2
  grep -A5 "panicked" "$work/server.log" >&2
  status=1
fi
exit "$status"
