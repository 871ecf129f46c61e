#!/usr/bin/env bash
# The at-scale bench behind docs/PERFORMANCE.md ("At scale") (`just bench-scale`): a
# Postgres database with 1,000,000 users and 2,000,000 sessions made with SQL, a starter
# table of 1,000,000 rows, and in one run:
#   - each migration's time on the large tables, with a write probe (a session INSERT every
#     50 ms, as a login makes) recording how long any write waited meanwhile;
#   - `import-starter` of the starter's rows: rows/s;
#   - GET /users/me over 200,000 distinct sessions (the session cache holds 10,000) against
#     `pgbench -S` on a table of the same size (2,000,000 rows);
#   - POST /auth/refresh against a one-row UPDATE on that table;
#   - `sessions purge` of 1,000,000 expired sessions while /users/me runs: its batches,
#     its longest DELETE, /users/me p99 beside it;
#   - memory per cached session (two servers, cache on and off, after the same requests)
#     and peak RSS.
# Needs wrk, pgbench and psql, and a Postgres at BENCH_POSTGRES_URL (default: the local
# one). Usage: bash bench/scale.sh [seconds per load run]; SCALE_USERS, SCALE_SESSIONS,
# SCALE_STARTER_ROWS and SCALE_DISTINCT_SESSIONS make it smaller for a quick try.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
port=${BENCH_PORT:-18081}
base="http://127.0.0.1:$port"
pg_admin=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
pg_server=${pg_admin%/*}
users=${SCALE_USERS:-1000000}
sessions=${SCALE_SESSIONS:-2000000}
starter_rows=${SCALE_STARTER_ROWS:-1000000}
distinct=${SCALE_DISTINCT_SESSIONS:-200000}
db=gatehouse_scale
starter_db=gatehouse_scale_starter
pgbench_db=gatehouse_scale_pgbench
db_url="$pg_server/$db"
export JWT_SECRET_KEY='benchmark-secret-of-at-least-32-bytes!!'
# No housekeeping at the servers' start: the purge is measured on its own, below.
export RATE_LIMIT_ENABLED=false PURGE_INTERVAL_MIN=0 RUST_LOG=${BENCH_RUST_LOG:-info} APP_PORT=$port DATABASE_URL=$db_url
# The starter's own hash format (pwdlib), from the vectors its libraries made.
starter_hash=$(grep -v '^#' crates/auth/tests/fixtures/argon2-vectors.txt | grep -m1 . | cut -f2)

for tool in wrk pgbench psql curl; do
  command -v "$tool" >/dev/null || { echo "bench-scale: $tool is not installed" >&2; exit 1; }
done
started_at=$(date +%s)
# BENCH_PROFILE=image-test (thin LTO) builds faster for a trial; the figures in docs/PERFORMANCE.md
# come from release.
profile=${BENCH_PROFILE:-release}
cargo build --profile "$profile" --locked --bin gatehouse
cargo build --profile "$profile" --locked -p gatehouse-auth --example mint_tokens
binary=target/$profile/gatehouse
mint=target/$profile/examples/mint_tokens
work=$(mktemp -d)
server=
drop_databases() {
  psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
    -c "DROP DATABASE IF EXISTS $starter_db WITH (FORCE)" \
    -c "DROP DATABASE IF EXISTS $pgbench_db WITH (FORCE)" >/dev/null 2>&1
}
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  rm -f "$work/probe-on"
  # SCALE_KEEP=1 keeps the databases and the tokens, for profiling by hand.
  if [ "${SCALE_KEEP:-}" = 1 ]; then echo "kept: $db, tokens in $work/tokens" >&2; return; fi
  drop_databases || true
  rm -rf "$work"
}
trap cleanup EXIT
rows=()
row() { rows+=("$(printf '%-52s %10s %9s %9s %s' "$@")"); }
note() { printf '[%4ds] %s\n' "$(($(date +%s) - started_at))" "$*" >&2; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

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
# CPU time so far (clock ticks): of one process, of every Postgres process, of the whole
# machine (every core; user, nice, system, irq, softirq, steal).
ticks_of() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
postgres_ticks() {
  local sum=0 pid
  for pid in $(pgrep -x postgres); do sum=$((sum + $(ticks_of "$pid"))); done
  echo "$sum"
}
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
per_request_us() { # ticks requests → µs
  awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.0f", t * 1e6 / hz / n}'
}
rss_mib() { awk -v k="$2" '$1 == k":" {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

start_server() { # log-name [VAR=value ...]
  local log=$1; shift
  env "$@" "$binary" >"$work/$log.log" 2>&1 &
  server=$!
  until curl -fs "$base/health" >/dev/null 2>&1; do
    kill -0 "$server" 2>/dev/null || { cat "$work/$log.log" >&2; exit 1; }
    sleep 0.05
  done
}
stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; server=; }

# --- the data ------------------------------------------------------------------------------
drop_databases
psql -q "$pg_admin" -c "CREATE DATABASE $db" -c "CREATE DATABASE $starter_db" \
  -c "CREATE DATABASE $pgbench_db" >/dev/null
note "schema up to the sessions table, then $users users and $sessions sessions"
"$binary" migrate up --steps 2 >/dev/null 2>&1
t0=$(date +%s%N)
# Ids as random-looking as real ones (md5 of a counter); every other session expired 60
# days ago (past the 30-day retention: the purge's million), the rest open for a week.
psql -q -v ON_ERROR_STOP=1 -v users="$users" -v sessions="$sessions" -v hash="$starter_hash" "$db_url" <<'SQL'
INSERT INTO users (id, email, hashed_password, is_active, is_verified, is_superuser, created_at, updated_at)
SELECT md5('u' || i)::uuid, 'user' || i || '@scale.test', :'hash', true, true, false,
       now() - interval '90 days', now() - interval '90 days'
FROM generate_series(1, :users) AS i;
INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, revoked_at,
                      latest_refresh_generation, highest_used_generation, user_agent, ip)
SELECT md5('s' || j)::uuid, md5('u' || ((j - 1) % :users + 1))::uuid,
       now() - CASE WHEN j % 2 = 0 THEN interval '67 days' ELSE interval '1 hour' END,
       now() - CASE WHEN j % 2 = 0 THEN interval '61 days' ELSE interval '1 hour' END,
       now() + CASE WHEN j % 2 = 0 THEN interval '-60 days' ELSE interval '7 days' END,
       NULL, 0, 0, 'Mozilla/5.0 (X11; Linux x86_64) bench', '192.0.2.1'
FROM generate_series(1, :sessions) AS j;
VACUUM ANALYZE users;
VACUUM ANALYZE sessions;
SQL
data_ms=$(ms_since "$t0")
note "data made in $data_ms ms; the starter's table of $starter_rows rows"
psql -q -v ON_ERROR_STOP=1 -v rows="$starter_rows" -v hash="$starter_hash" "$pg_server/$starter_db" <<'SQL'
CREATE TABLE users (
    id SERIAL NOT NULL,
    email VARCHAR(255) NOT NULL,
    hashed_password VARCHAR(255) NOT NULL,
    is_active BOOLEAN NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_users_email ON users (email);
INSERT INTO users (email, hashed_password, is_active, created_at)
SELECT 'starter' || i || '@example.com', :'hash', i % 50 <> 0, now() - (i || ' seconds')::interval
FROM generate_series(1, :rows) AS i;
VACUUM ANALYZE users;
SQL

# --- migrations on the large tables, beside a write probe ------------------------------------
note "the remaining migrations, one at a time"
touch "$work/probe-on"
(
  echo '\timing on'
  while [ -e "$work/probe-on" ]; do
    echo "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, latest_refresh_generation, highest_used_generation) VALUES (gen_random_uuid(), md5('u1')::uuid, now(), now(), now() + interval '7 days', 0, 0);"
    sleep 0.05
  done
) | psql -qX "$db_url" >"$work/probe.log" 2>&1 &
probe=$!
sleep 0.5
t0=$(date +%s%N)
RUST_LOG=sea_orm_migration=info "$binary" migrate up >"$work/migrations.log" 2>&1
migrations_ms=$(ms_since "$t0")
# Each migration's time from the migrator's own log lines (start, applied).
mapfile -t migration_rows < <(awk '
  function at(stamp) { split(substr(stamp, 12, 15), t, ":"); return t[1] * 3600 + t[2] * 60 + t[3] }
  /Applying migration / { name = $NF; gsub("\047", "", name); started = at($1) }
  /has been applied/ { printf "  %-52s %8.0f ms\n", name, (at($1) - started) * 1000 }' "$work/migrations.log")
slowest_migration=$(printf '%s\n' "${migration_rows[@]}" | awk '$2 > max {max = $2} END {print max + 0}')
sleep 0.5
rm -f "$work/probe-on"
wait "$probe" || true
probe_max=$(awk '/^Time:/ {if ($2 > max) max = $2} END {printf "%.0f", max}' "$work/probe.log")
probe_count=$(grep -c '^Time:' "$work/probe.log" || true)
row "migrations 3–$(( ${#migration_rows[@]} + 2 )) on the large tables" "" "" "" \
  "all ${migrations_ms} ms, slowest ${slowest_migration} ms; longest wait of ${probe_count} session INSERTs beside them ${probe_max} ms (target ≤ 1000 ms)"
psql -q "$db_url" -c "VACUUM ANALYZE sessions" >/dev/null

# --- import-starter ---------------------------------------------------------------------------
note "import-starter of $starter_rows rows"
t0=$(date +%s%N)
"$binary" import-starter --from "$pg_server/$starter_db" >"$work/import.log" 2>"$work/import.err" &
importer=$!
import_peak=0
while kill -0 "$importer" 2>/dev/null; do
  rss=$(awk '$1 == "VmRSS:" {print $2}' "/proc/$importer/status" 2>/dev/null || true)
  ((${rss:-0} > import_peak)) && import_peak=$rss
  sleep 0.2
done
wait "$importer"
import_ms=$(ms_since "$t0")
import_summary=$(tail -1 "$work/import.log")
again_summary=$("$binary" import-starter --from "$pg_server/$starter_db" 2>/dev/null | tail -1)
# What autovacuum would otherwise do during the load runs below.
psql -q "$db_url" -c "VACUUM ANALYZE users" >/dev/null
row "import-starter, $starter_rows rows" \
  "$(awk -v n="$starter_rows" -v ms="$import_ms" 'BEGIN {printf "%.0f", n * 1000 / ms}')" "" "" \
  "rows/s (target ≥ 20,000); peak RSS $((import_peak / 1024)) MiB; \"$import_summary\"; again: \"$again_summary\""

# --- the database's references on a table of the sessions' size -------------------------------
note "pgbench references on $sessions rows"
pgbench -q -i -s $((sessions / 100000)) "$pg_server/$pgbench_db" >/dev/null 2>&1
printf '\\set aid random(1, %d)\nUPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;\n' \
  "$sessions" >"$work/update.sql"
pgbench_tps() { pgbench -n -j 2 -T "$duration" "$@" "$pg_server/$pgbench_db" 2>/dev/null | awk '/^tps/ {printf "%.0f", $3}'; }
m0=$(machine_ticks)
ref_select=$(pgbench_tps -S -c 16)
select_machine_us=$(per_request_us $(($(machine_ticks) - m0)) $((ref_select * duration)))
ref_update=$(pgbench_tps -f "$work/update.sql" -c 16)
row "pgbench -S on $sessions rows, 16 conn" "$ref_select" "" "" "CPU µs/transaction: machine $select_machine_us"
row "pgbench one-row UPDATE on $sessions rows, 16 conn" "$ref_update" "" "" ""

# --- tokens for sessions that exist -------------------------------------------------------------
note "tokens for $distinct open sessions"
export TOKENS_DIR="$work/tokens"
mkdir -p "$TOKENS_DIR"
psql -qAt -F ' ' "$db_url" -c "SELECT user_id, id FROM sessions WHERE expires_at > now() + interval '1 day' LIMIT $((distinct + 18))" |
  "$mint" >"$work/tokens/all.txt"
head -n "$distinct" "$work/tokens/all.txt" | cut -d' ' -f1 | awk -v dir="$work/tokens" '{print > (dir "/me-" (NR % 2) ".txt")}'
# Refresh: one session per connection (2 threads × 8) and one more per thread, which wrk's
# check of the script spends.
tail -n 18 "$work/tokens/all.txt" | cut -d' ' -f2 | awk -v dir="$work/tokens" '{print > (dir "/" (NR % 2) ".txt")}'

# --- the server over the large tables -----------------------------------------------------------
note "GET /users/me over $distinct sessions, refresh, purge"
start_server main
wrk -t2 -c16 -d"${duration}s" --latency -s bench/me_many.lua "$base" >/dev/null # warm-up
s0=$(ticks_of "$server"); p0=$(postgres_ticks); m0=$(machine_ticks)
wrk -t2 -c16 -d"${duration}s" --latency -s bench/me_many.lua "$base" >"$work/me"
read -r me_rps me_p50 me_p99 me_bad me_total <<<"$(wrk_figures "$work/me")"
me_cpu="server $(per_request_us $(($(ticks_of "$server") - s0)) "$me_total"), Postgres $(per_request_us $(($(postgres_ticks) - p0)) "$me_total"), machine $(per_request_us $(($(machine_ticks) - m0)) "$me_total")"
row "GET /users/me, $distinct sessions, 16 conn" "$me_rps" "$me_p50" "$me_p99" \
  "$(awk -v a="$me_rps" -v b="$ref_select" 'BEGIN {printf "%.0f%% of pgbench -S (target ≥ 50%%)", 100 * a / b}'); CPU µs/request: $me_cpu; non-2xx $me_bad"
wrk -t2 -c16 -d"${duration}s" --latency -s bench/refresh.lua "$base/auth/refresh" >"$work/refresh"
read -r rf_rps rf_p50 rf_p99 rf_bad _ <<<"$(wrk_figures "$work/refresh")"
row "POST /auth/refresh, $sessions-row table, 16 conn" "$rf_rps" "$rf_p50" "$rf_p99" \
  "$(awk -v a="$rf_rps" -v b="$ref_update" 'BEGIN {printf "%.0f%% of the one-row UPDATE (small tables: 42–51%%)", 100 * a / b}'); non-2xx $rf_bad"

# The purge beside /users/me: the same load as above, starting once the purge is under way.
ended=$(psql -qAt "$db_url" -c "SELECT count(*) FROM sessions WHERE expires_at < now() - interval '30 days'")
t0=$(date +%s%N)
"$binary" sessions purge >"$work/purge.log" 2>"$work/purge.err" &
purger=$!
sleep 1
wrk -t2 -c16 -d"${duration}s" --latency -s bench/me_many.lua "$base" >"$work/me-purge"
purge_running=yes; kill -0 "$purger" 2>/dev/null || purge_running="no (the window includes quiet time)"
wait "$purger"
purge_ms=$(ms_since "$t0")
read -r pu_rps pu_p50 pu_p99 pu_bad _ <<<"$(wrk_figures "$work/me-purge")"
purge_line=$(tail -1 "$work/purge.log")
longest=$(sed -nE 's/.*longest delete ([0-9]+) ms.*/\1/p' <<<"$purge_line")
left=$(psql -qAt "$db_url" -c "SELECT count(*) FROM sessions WHERE expires_at < now() - interval '30 days'")
row "GET /users/me during the purge" "$pu_rps" "$pu_p50" "$pu_p99" \
  "$(awk -v a="$pu_p99" -v b="$me_p99" 'BEGIN {printf "p99 %.2f× the %.2f ms without it (target ≤ 2×)", a / b, b}'); purge still running at the end: $purge_running; non-2xx $pu_bad"
row "sessions purge of $ended ended sessions" \
  "$(awk -v n="$ended" -v ms="$purge_ms" 'BEGIN {printf "%.0f", n * 1000 / ms}')" "" "" \
  "sessions/s; longest DELETE ${longest} ms (target ≤ 100 ms); $left ended left; \"$purge_line\""
main_peak=$(rss_mib "$server" VmHWM)
stop_server

# --- memory per cached session: the same requests with the cache on and off ---------------------
note "memory per cached session"
cache_rss() { # capacity → "RSS-MiB requests" after the same load (each thread sends its
  # tokens in order, so a run of fewer requests than tokens meets each session once)
  start_server "cache-$1" SESSION_CACHE_SIZE="$1"
  sleep 1 # the first heartbeat turns the cache on
  wrk -t2 -c16 -d"${duration}s" -s bench/me_many.lua "$base" >"$work/cache-$1"
  echo "$(rss_mib "$server" VmRSS) $(wrk_figures "$work/cache-$1" | cut -d' ' -f5)"
  stop_server
}
read -r rss_off _ <<<"$(cache_rss 0)"
read -r rss_on cached <<<"$(cache_rss "$distinct")"
((cached > distinct)) && cached=$distinct
row "memory per cached session" \
  "$(awk -v on="$rss_on" -v off="$rss_off" -v n="$cached" 'BEGIN {printf "%.0f", (on - off) * 1048576 / n}')" "" "" \
  "bytes (target ≤ 512): RSS ${rss_on} MiB with $cached sessions cached, ${rss_off} MiB with the cache off; peak RSS of the main run ${main_peak} MiB"

echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo); Postgres $(psql -qAt "$pg_admin" -c 'SHOW server_version'); ${duration}s per load run; wrk, the server and Postgres on one machine"
echo "build profile: $profile; data: $users users and $sessions sessions made in ${data_ms} ms; whole run $(($(date +%s) - started_at)) s"
printf '%-52s %10s %9s %9s %s\n' "" "per s" "p50 ms" "p99 ms" "vs target"
printf '%s\n' "${rows[@]}"
echo "each migration (write probe running):"
printf '%s\n' "${migration_rows[@]}"
