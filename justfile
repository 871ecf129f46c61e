# gatehouse tasks. `just --list` shows this menu; install just with `cargo install just`.

set dotenv-load := false

pg_url := env_var_or_default("GATEHOUSE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
mysql_url := env_var_or_default("GATEHOUSE_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306")
compose := "docker compose -f docker/compose.yaml"

# Start the server (SQLite by default; reads .env)
run *ARGS:
    cargo run -- {{ARGS}}

# Start the server and restart it on code changes (cargo-watch or bacon if installed)
dev:
    #!/usr/bin/env bash
    if command -v cargo-watch >/dev/null; then exec cargo watch -x run
    elif command -v bacon >/dev/null; then exec bacon run
    else echo "dev: cargo-watch/bacon not installed (cargo install cargo-watch); running without reload" >&2; exec cargo run
    fi

# Run the whole test suite on SQLite
test *ARGS:
    cargo test {{ARGS}}

# Run the test suite on SQLite and Postgres
test-pg *ARGS:
    GATEHOUSE_TEST_POSTGRES_URL={{pg_url}} cargo test {{ARGS}}

# Run the test suite on SQLite and MySQL/MariaDB
test-mysql *ARGS:
    GATEHOUSE_TEST_MYSQL_URL={{mysql_url}} cargo test {{ARGS}}

# Run what CI runs: fmt, clippy, tests on SQLite, Postgres and MariaDB
ci:
    bash .ci/run

# Check formatting and lints as CI does
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Format the code
fmt:
    cargo fmt --all

# Apply pending migrations to DATABASE_URL
migrate:
    cargo run -- migrate up

# Roll back the newest migration
migrate-down:
    cargo run -- migrate down

# Show which migrations are applied
migrate-status:
    cargo run -- migrate status

# Create a new migration file: just migration add_user_locale
migration NAME:
    bash migration/new.sh {{NAME}}

# Start the Compose Postgres only (for DATABASE_URL=postgres://postgres:postgres@localhost:5432/app)
db-up:
    {{compose}} run -d --name gatehouse-db-dev -p 5432:5432 db

# Stop the Postgres started by db-up
db-down:
    docker rm -f gatehouse-db-dev

# Build the Docker image
docker-build:
    docker build -f docker/Dockerfile -t gatehouse:latest .

# Lint the Dockerfile and validate the Compose file without a Docker engine
docker-check:
    bash docker/check.sh

# Build the runtime image from the release binary and run it (and the Compose stack) for
# real with podman (root; podman, runc, debootstrap)
image-test:
    bash docker/test-image.sh

# Start the Compose stack (app + Postgres) in the background
up:
    {{compose}} up --build -d

# Stop the Compose stack (add -v to drop the database volume: just down -v)
down *ARGS:
    {{compose}} down {{ARGS}}

# Load bench of a release build on Postgres and SQLite beside pgbench's references: one table (needs wrk, pgbench)
bench SECONDS="10":
    bash bench/load.sh {{SECONDS}}

# At-scale bench on Postgres: 1M users, 2M sessions, the starter's 1M rows imported, purge under load, migrations timed (needs wrk, pgbench; ~12 min)
bench-scale SECONDS="10":
    bash bench/scale.sh {{SECONDS}}

# Criterion micro-benchmarks: argon2 and JWT issue/verify
bench-micro:
    cargo bench -p gatehouse-auth

# Fuzz the token parser and the JSON body extractor for SECONDS each (cargo install cargo-fuzz)
fuzz SECONDS="60":
    #!/usr/bin/env bash
    set -euo pipefail
    # cargo fuzz passes -Zsanitizer flags; RUSTC_BOOTSTRAP lets the stable compiler take them.
    for target in token_parsing json_body; do
        RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz -O "$target" -- \
            -max_total_time={{SECONDS}} -max_len=4096
    done

# Run schemathesis against /openapi.json of a release build for SECONDS (installs it into target/)
schemathesis SECONDS="120":
    bash fuzz/schemathesis.sh {{SECONDS}}

# Build the API docs of every crate (open target/doc/gatehouse_auth/index.html)
docs:
    cargo doc --workspace --no-deps

# Generate RS256 and EdDSA key pairs in keys/ (for JWT_ALGORITHM=RS256 or EdDSA)
keys:
    mkdir -p keys
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out keys/rs256-private.pem
    openssl pkey -in keys/rs256-private.pem -pubout -out keys/rs256-public.pem
    openssl genpkey -algorithm ed25519 -out keys/eddsa-private.pem
    openssl pkey -in keys/eddsa-private.pem -pubout -out keys/eddsa-public.pem
    @echo "JWT_ALGORITHM=EdDSA JWT_PRIVATE_KEY_FILE=keys/eddsa-private.pem JWT_PUBLIC_KEY_FILE=keys/eddsa-public.pem"
