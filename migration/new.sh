#!/usr/bin/env bash
# Creates migration/src/m<timestamp>_<name>.rs from a template and registers it in the
# Migrator (lib.rs). Usage: bash migration/new.sh add_user_locale
set -euo pipefail
cd "$(dirname "$0")"
name=${1:?usage: new.sh NAME (snake_case)}
[[ $name =~ ^[a-z][a-z0-9_]*$ ]] || { echo "migration name must be snake_case: $name" >&2; exit 1; }
module="m$(date -u +%Y%m%d_%H%M%S)_$name"
file="src/$module.rs"
cat >"$file" <<RUST
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Schema builder only (no raw SQL), so it runs on SQLite, Postgres and MySQL.
        let _ = manager;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let _ = manager;
        Ok(())
    }
}
RUST
# Register: module declaration after the last one, and the migration at the list's end.
last_mod=$(grep -n '^mod m' src/lib.rs | tail -1 | cut -d: -f1)
sed -i "${last_mod}a mod $module;" src/lib.rs
last_box=$(grep -n 'Box::new(m' src/lib.rs | tail -1 | cut -d: -f1)
sed -i "${last_box}a \            Box::new($module::Migration)," src/lib.rs
echo "created migration/$file and registered it in migration/src/lib.rs"
