# gatehouse tasks. `just --list` shows this menu; install just with `cargo install just`.

set dotenv-load := false

pg_url := env_var_or_default("GATEHOUSE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
mysql_url := env_var_or_default("GATEHOUSE_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306")

# Start the server (SQLite by default; reads .env)
run *ARGS:
    cargo run -- {{ARGS}}

# Run the whole test suite on SQLite
test *ARGS:
    cargo test {{ARGS}}

# Run the test suite on SQLite and Postgres
test-pg *ARGS:
    GATEHOUSE_TEST_POSTGRES_URL={{pg_url}} cargo test {{ARGS}}

# Run the test suite on SQLite and MySQL/MariaDB
test-mysql *ARGS:
    GATEHOUSE_TEST_MYSQL_URL={{mysql_url}} cargo test {{ARGS}}

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

# Run what CI runs (starts Postgres/MariaDB if needed)
ci:
    bash .ci/run

# Build the API docs of every crate
docs:
    cargo doc --workspace --no-deps
