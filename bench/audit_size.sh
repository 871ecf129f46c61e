#!/usr/bin/env bash
# How large the audit log gets: stores ROWS login.succeeded events shaped like real ones
# (account, session, IPv4 address, a 111-character browser User-Agent, a UUID request id,
# empty details) in a fresh Postgres database migrated by gatehouse, and prints the
# table's size with its indexes, in all and per event.
#   bash bench/audit_size.sh [ROWS]     (default 1000000; needs psql and a Postgres at
#   GATEHOUSE_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres)
set -euo pipefail
rows="${1:-1000000}"
admin_url="${GATEHOUSE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
db="gatehouse_audit_size_$$"
url="${admin_url%/*}/$db"
psql -q "$admin_url" -c "CREATE DATABASE $db"
trap 'psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
DATABASE_URL="$url" RUST_LOG=off cargo run -q -p gatehouse -- migrate up >/dev/null
psql -q "$url" <<SQL
INSERT INTO audit_events (at, type, user_id, actor_id, ip, user_agent, request_id, session_id, details)
SELECT now() - (n || ' seconds')::interval, 'login.succeeded', gen_random_uuid(), NULL,
       '203.0.' || (n % 256) || '.' || (n / 256 % 256),
       'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
       gen_random_uuid()::text, gen_random_uuid(), '{}'
FROM generate_series(1, $rows) AS n;
VACUUM ANALYZE audit_events;
SQL
psql -At "$url" -c "SELECT 'events: ' || count(*) || E'\ntable + indexes: ' ||
    pg_size_pretty(pg_total_relation_size('audit_events')) || E'\nbytes per event: ' ||
    pg_total_relation_size('audit_events') / count(*) FROM audit_events"
