#!/usr/bin/env bash
# The load bench behind docs/PERFORMANCE.md ("Performance"): builds the release binary, measures the
# database's own references (pgbench -S and a one-row UPDATE by primary key) and then
# gatehouse on Postgres and on SQLite with rate limits off, and prints one table with
# req/s, p50/p99, the ratios against the targets, successful logins per second under a
# login flood against the argon2 limit, peak RSS, start-up time and binary size.
# Needs wrk and pgbench (apt-get install wrk postgresql; pgbench ships with the server) and a Postgres at
# BENCH_POSTGRES_URL (default: the local one, as in CI).
# Usage: bash bench/load.sh [seconds per run]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
port=${BENCH_PORT:-18080}
base="http://127.0.0.1:$port"
pg_admin=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
pg_server=${pg_admin%/*}
# Connection parameters for every benchmarked connection, pgbench's and gatehouse's alike,
# e.g. BENCH_POSTGRES_PARAMS='?sslmode=disable' (default: none, so TLS where it is offered).
pg_params=${BENCH_POSTGRES_PARAMS:-}
bench_db=gatehouse_bench
pgbench_db=gatehouse_bench_pgbench
password='YourStrongPassw0rd!'

for tool in wrk pgbench psql curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is not installed" >&2; exit 1; }
done
cargo build --release --locked --bin gatehouse
binary=target/release/gatehouse
work=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $bench_db WITH (FORCE)" \
    -c "DROP DATABASE IF EXISTS $pgbench_db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
rows=()
row() { rows+=("$(printf '%-44s %10s %9s %9s %s' "$@")"); }

# wrk's "Requests/sec" and its 50%/99% latencies in ms.
wrk_figures() { # file → "rps p50 p99 non-2xx total"
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx/ { bad = $NF }
    / requests in / { total = $1 }
    END { printf "%.0f %.2f %.2f %s %s\n", rps, p50, p99, bad + 0, total + 0 }' "$1"
}

# CPU time so far (clock ticks) of one process, and of every Postgres process together.
ticks_of() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
postgres_ticks() {
  local sum=0 pid
  for pid in $(pgrep -x postgres); do sum=$((sum + $(ticks_of "$pid"))); done
  echo "$sum"
}
# The whole machine's busy time (every core): user, nice, system, irq, softirq, steal.
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
clock_ticks=$(getconf CLK_TCK)
# "server N µs + Postgres M µs CPU per request" from tick counts taken around a run.
cpu_per_request() { # server_ticks postgres_ticks machine_ticks requests
  awk -v s="$1" -v p="$2" -v m="$3" -v n="$4" -v hz="$clock_ticks" \
    'BEGIN {printf "CPU µs/request: server %.0f, Postgres %.0f, machine %.0f", s * 1e6 / hz / n, p * 1e6 / hz / n, m * 1e6 / hz / n}'
}

# --- the database's own references ---------------------------------------------------
psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $pgbench_db WITH (FORCE)" -c "CREATE DATABASE $pgbench_db" >/dev/null
pgbench -q -i -s 10 "$pg_server/$pgbench_db" >/dev/null 2>&1
printf '\\set aid random(1, 1000000)\nUPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;\n' >"$work/update.sql"
# "tps machine-µs-per-transaction"
pgbench_tps() {
  local m0 out; m0=$(machine_ticks)
  out=$(pgbench -n -j 2 -T "$duration" "$@" "$pg_server/$pgbench_db$pg_params" 2>/dev/null)
  awk -v m="$(( $(machine_ticks) - m0 ))" -v hz="$clock_ticks" \
    '/^number of transactions actually processed/ {n = $NF} /^tps/ {tps = $3}
     END {printf "%.0f %.0f", tps, m * 1e6 / hz / n}' <<<"$out"
}
read -r ref_select_16 cpu_select_16 <<<"$(pgbench_tps -S -c 16)"
read -r ref_select_64 cpu_select_64 <<<"$(pgbench_tps -S -c 64)"
read -r ref_update_16 cpu_update_16 <<<"$(pgbench_tps -f "$work/update.sql" -c 16)"
row "pgbench -S (PK select), 16 conn" "$ref_select_16" "" "" "CPU µs/transaction: machine $cpu_select_16"
row "pgbench -S (PK select), 64 conn" "$ref_select_64" "" "" "CPU µs/transaction: machine $cpu_select_64"
row "pgbench one-row UPDATE by PK, 16 conn" "$ref_update_16" "" "" "CPU µs/transaction: machine $cpu_update_16"

cat >"$work/login.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"email":"bench@example.com","password":"$password"}'
wrk.headers["Content-Type"] = "application/json"
LUA

# --- gatehouse --------------------------------------------------------------------------
run_gatehouse() { # backend database_url
  local backend=$1 url=$2
  RUST_LOG=${BENCH_RUST_LOG:-info} APP_PORT=$port DATABASE_URL="$url" RATE_LIMIT_ENABLED=false \
    JWT_SECRET_KEY=benchmark-secret-of-at-least-32-bytes!! "$binary" migrate up >/dev/null 2>&1
  local started; started=$(date +%s%N)
  RUST_LOG=${BENCH_RUST_LOG:-info} APP_PORT=$port DATABASE_URL="$url" RATE_LIMIT_ENABLED=false \
    JWT_SECRET_KEY=benchmark-secret-of-at-least-32-bytes!! "$binary" >"$work/server-$backend.log" 2>&1 &
  server=$!
  until curl -fs "$base/health" >/dev/null 2>&1; do sleep 0.005; done
  local startup_ms=$(( ($(date +%s%N) - started) / 1000000 ))

  local credentials="{\"email\":\"bench@example.com\",\"password\":\"$password\"}"
  curl -fs -X POST "$base/auth/register" -H 'Content-Type: application/json' -d "$credentials" >/dev/null
  login() { curl -fs -X POST "$base/auth/login" -H 'Content-Type: application/json' -d "$credentials"; }
  local access; access=$(login | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  # One session per refresh connection (2 threads × 8), and one more per thread: wrk calls
  # request() once to check the script, and that token is never sent.
  mkdir -p "$work/tokens"
  for thread in 0 1; do
    : >"$work/tokens/$thread.txt"
    for _ in $(seq 1 9); do
      { login | sed -E 's/.*"refresh_token":"([^"]+)".*/\1/'; echo; } >>"$work/tokens/$thread.txt"
    done
  done

  local me16 me64 refresh16 me_flood
  local s0 p0 m0 me16_cpu refresh_cpu
  s0=$(ticks_of "$server"); p0=$(postgres_ticks); m0=$(machine_ticks)
  wrk -t2 -c16 -d"${duration}s" --latency -H "Authorization: Bearer $access" "$base/users/me" >"$work/me16"
  me16_cpu="$(( $(ticks_of "$server") - s0 )) $(( $(postgres_ticks) - p0 )) $(( $(machine_ticks) - m0 ))"
  wrk -t2 -c64 -d"${duration}s" --latency -H "Authorization: Bearer $access" "$base/users/me" >"$work/me64"
  s0=$(ticks_of "$server"); p0=$(postgres_ticks); m0=$(machine_ticks)
  TOKENS_DIR="$work/tokens" wrk -t2 -c16 -d"${duration}s" --latency -s bench/refresh.lua "$base/auth/refresh" >"$work/refresh16"
  refresh_cpu="$(( $(ticks_of "$server") - s0 )) $(( $(postgres_ticks) - p0 )) $(( $(machine_ticks) - m0 ))"
  # The flood's reference: the same wrk settings (one thread, 16 connections) without it.
  wrk -t1 -c16 -d"${duration}s" --latency -H "Authorization: Bearer $access" "$base/users/me" >"$work/me-quiet"
  wrk -t1 -c16 -d"$((duration + 2))s" -s "$work/login.lua" "$base/auth/login" >"$work/flood" &
  local flood=$!
  sleep 1
  wrk -t1 -c16 -d"${duration}s" --latency -H "Authorization: Bearer $access" "$base/users/me" >"$work/me-flood"
  wait "$flood"
  local me16_total rf_total
  read -r me16_rps me16_p50 me16_p99 me16_bad me16_total <<<"$(wrk_figures "$work/me16")"
  read -r me64_rps me64_p50 me64_p99 me64_bad _ <<<"$(wrk_figures "$work/me64")"
  read -r rf_rps rf_p50 rf_p99 rf_bad rf_total <<<"$(wrk_figures "$work/refresh16")"
  read -r fl_rps fl_p50 fl_p99 fl_bad _ <<<"$(wrk_figures "$work/me-flood")"
  read -r _ _ quiet_p99 quiet_bad _ <<<"$(wrk_figures "$work/me-quiet")"
  # The flood's answers: 200 for the logins the hashing pool took, 503 for the rest.
  local lg_rps lg_refused lg_total lg_ok
  read -r lg_rps _ _ lg_refused lg_total <<<"$(wrk_figures "$work/flood")"
  lg_ok=$(awk -v t="$lg_total" -v r="$lg_refused" -v d="$((duration + 2))" 'BEGIN {printf "%.1f", (t - r) / d}')
  # The argon2 limit: how many logins a second the hashing slots allow, from one client
  # logging in alone (its hash is nearly all of a login's time) and one slot per core.
  local single_total single_rps single_ms hash_limit single_seconds=$((duration / 2 + 1))
  wrk -t1 -c1 -d"${single_seconds}s" -s "$work/login.lua" "$base/auth/login" >"$work/login-single"
  read -r _ _ _ _ single_total <<<"$(wrk_figures "$work/login-single")"
  single_rps=$(awk -v t="$single_total" -v d="$single_seconds" 'BEGIN {printf "%.2f", t / d}')
  single_ms=$(awk -v r="$single_rps" 'BEGIN {printf "%.0f", 1000 / r}')
  hash_limit=$(awk -v c="$(nproc)" -v r="$single_rps" 'BEGIN {printf "%.1f", c * r}')
  # A login flood alone: 16 clients logging in as fast as they can. Waiting for a hashing
  # slot is served, not shed, so nearly every login should succeed at the argon2 limit.
  wrk -t2 -c16 -d"${duration}s" -s "$work/login.lua" "$base/auth/login" >"$work/login-flood"
  local lf_total lf_refused lf_ok
  read -r _ _ _ lf_refused lf_total <<<"$(wrk_figures "$work/login-flood")"
  lf_ok=$(awk -v t="$lf_total" -v r="$lf_refused" -v d="$duration" 'BEGIN {printf "%.1f", (t - r) / d}')
  local peak; peak=$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$server/status")
  kill "$server"; wait "$server" 2>/dev/null || true; server=

  local bad=$((me16_bad + me64_bad + rf_bad + fl_bad + quiet_bad))
  row "$backend: GET /users/me, 16 conn" "$me16_rps" "$me16_p50" "$me16_p99" \
    "$( [ "$backend" = postgres ] && awk -v a="$me16_rps" -v b="$ref_select_16" 'BEGIN {printf "%.0f%% of pgbench -S (target 50%%); ", 100 * a / b}')$(cpu_per_request $me16_cpu "$me16_total")"
  row "$backend: GET /users/me, 64 conn" "$me64_rps" "$me64_p50" "$me64_p99" \
    "$( [ "$backend" = postgres ] && awk -v a="$me64_rps" -v b="$ref_select_64" 'BEGIN {printf "%.0f%% of pgbench -S (target 50%%); ", 100 * a / b}')p99 target 5 ms"
  row "$backend: POST /auth/refresh (rotation), 16 conn" "$rf_rps" "$rf_p50" "$rf_p99" \
    "$( [ "$backend" = postgres ] && awk -v a="$rf_rps" -v b="$ref_update_16" 'BEGIN {printf "%.0f%% of pgbench UPDATE (target 50%%); ", 100 * a / b}')$(cpu_per_request $refresh_cpu "$rf_total")"
  row "$backend: GET /users/me during a login flood" "$fl_rps" "$fl_p50" "$fl_p99" \
    "$(awk -v a="$fl_p99" -v b="$quiet_p99" 'BEGIN {printf "p99 %.1f× the %.2f ms without the flood (target ≤ 3×)", a / b, b}'); logins ${lg_ok}/s ok, ${lg_refused} refused 503"
  row "$backend: POST /auth/login flood, 16 conn" "$lf_ok" "" "" \
    "$(awk -v a="$lf_ok" -v b="$hash_limit" -v ms="$single_ms" -v r="$lf_refused" 'BEGIN {printf "successful logins/s: %.0f%% of the argon2 limit %.1f/s (%d ms a login × %d cores; target ≥ 90%%); %d refused", 100 * a / b, b, ms, '"$(nproc)"', r}')"
  row "$backend: peak RSS ${peak} MiB, start-up ${startup_ms} ms, non-2xx ${bad}" "" "" "" \
    "targets: RSS ≤ 64 MiB + $(nproc) hashing slots × 64 MiB = $((64 + $(nproc) * 64)) MiB, start-up < 200 ms"
}

psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $bench_db WITH (FORCE)" -c "CREATE DATABASE $bench_db" >/dev/null
run_gatehouse postgres "$pg_server/$bench_db$pg_params"
run_gatehouse sqlite "sqlite://$work/bench.db?mode=rwc"

size_mb=$(awk -v b="$(stat -c %s "$binary")" 'BEGIN {printf "%.1f", b / 1000000}')
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo); ${duration}s per run; wrk and the server on one machine"
echo "release binary: ${size_mb} MB (target < 25 MB); log level ${BENCH_RUST_LOG:-info}; Postgres connection parameters: ${pg_params:-none}"
printf '%-44s %10s %9s %9s %s\n' "" "req/s" "p50 ms" "p99 ms" "vs target"
printf '%s\n' "${rows[@]}"
