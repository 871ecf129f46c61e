//! `gatehouse import-starter --from URL`: copies the Python starter's accounts in.
//!
//! The starter's `users` table (SQLAlchemy: integer `id`, `email`, `hashed_password`,
//! `is_active`, `created_at`) is read in id order, a batch at a time, so memory stays
//! bounded however large the table, and each batch goes in with one query and one
//! multi-row `INSERT` (see `UserRepository::import_many`). Each account keeps its pwdlib/argon2 hash, so people
//! log in with their old passwords (and are re-hashed at that login when the parameters
//! differ). Running it again adds nothing: an address already here with the same hash
//! counts as already present. Rows that cannot come over are skipped and listed; they
//! never stop the run. Among them, hashes whose argon2 cost is past what a login may
//! spend (see `gatehouse_auth::PasswordHasher::check_stored_cost`): such an account could
//! hold a hashing slot for seconds at every attempt.

use std::{fmt, io::IsTerminal};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use gatehouse_auth::{AuthError, PasswordHasher};
use gatehouse_domain::{Email, NewUser, PasswordHash};
use gatehouse_persistence::{
    DatabaseConfig, DatabaseKind, ImportOutcome, ImportedAccount, UserRepository, connect,
    redact_url,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::{Settings, database::prepare_database};

/// What happened to the starter's rows.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Copied in by this run.
    pub imported: u64,
    /// Already here with the same hash (an earlier run).
    pub already_present: u64,
    /// Not copied (each was reported as it came, with the reason).
    pub skipped: u64,
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "imported {}, already present {}, skipped {}",
            self.imported, self.already_present, self.skipped
        )
    }
}

/// One row of the starter's table.
struct StarterUser {
    id: i64,
    email: String,
    hashed_password: String,
    is_active: bool,
    created_at: Option<DateTime<Utc>>,
}

/// Runs the import and prints the summary and every skipped row.
pub async fn run(from: &str, batch_size: u32, settings: &Settings) -> anyhow::Result<()> {
    let source = DatabaseConfig {
        url: from.trim().to_owned(),
        max_connections: 1,
        min_connections: 0,
        acquire_timeout: settings.database.acquire_timeout,
    };
    if source.kind() != Some(DatabaseKind::Postgres) {
        bail!("--from must be the starter's Postgres URL (postgres:// or postgresql+asyncpg://)");
    }
    let source_db = connect(source).await.with_context(|| {
        format!(
            "cannot connect to the starter's database at {}",
            redact_url(from)
        )
    })?;
    let target = UserRepository::new(prepare_database(settings).await?);
    // Only its cost check is used: nothing is hashed.
    let hasher = PasswordHasher::new(settings.hasher.clone())?;
    let started = std::time::Instant::now();
    #[allow(clippy::print_stdout, reason = "the command's report")]
    let summary = import(
        &source_db,
        &target,
        &hasher,
        batch_size.max(1),
        |email, reason| {
            println!("skipped {email}: {reason}");
        },
    )
    .await?;
    #[allow(clippy::print_stdout, reason = "the command's report")]
    {
        println!("{summary} in {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// Copies every row of the starter's `users` table from `source` into `target`, telling
/// `report_skip` the address and the reason of every row it cannot copy, as it goes (so
/// nothing accumulates, whatever the table's size).
pub async fn import(
    source: &impl ConnectionTrait,
    target: &UserRepository,
    hasher: &PasswordHasher,
    batch_size: u32,
    mut report_skip: impl FnMut(&str, &str),
) -> anyhow::Result<ImportSummary> {
    let total = count(source).await?;
    let progress = progress_bar(total);
    let mut summary = ImportSummary::default();
    let mut after_id = i64::MIN;
    loop {
        let batch = read_batch(source, after_id, batch_size).await?;
        let Some(last) = batch.last() else { break };
        after_id = last.id;
        let mut accounts = Vec::with_capacity(batch.len());
        let mut checked = Vec::with_capacity(batch.len());
        for row in &batch {
            match account_of(hasher, row) {
                Ok(account) => {
                    checked.push((row, Some(account.new.password_hash.clone())));
                    accounts.push(account);
                }
                Err(reason) => {
                    summary.skipped += 1;
                    progress.suspend(|| report_skip(&row.email, &reason));
                    checked.push((row, None));
                }
            }
        }
        let mut outcomes = target.import_many(accounts).await?.into_iter();
        for (row, hash) in checked {
            let Some(hash) = hash else { continue };
            match outcomes
                .next()
                .context("an imported account without an outcome")?
            {
                ImportOutcome::Inserted => summary.imported += 1,
                ImportOutcome::Present(stored) if stored == hash => summary.already_present += 1,
                ImportOutcome::Present(_) => {
                    summary.skipped += 1;
                    progress.suspend(|| {
                        report_skip(
                            &row.email,
                            "email already registered here with another password",
                        );
                    });
                }
            }
        }
        progress.inc(batch.len() as u64);
    }
    progress.finish_and_clear();
    Ok(summary)
}

/// The account a starter row becomes, or why it cannot come over.
fn account_of(hasher: &PasswordHasher, row: &StarterUser) -> Result<ImportedAccount, String> {
    let email = Email::parse(&row.email).map_err(|e| format!("invalid email ({})", e.reason))?;
    if !row.hashed_password.starts_with("$argon2") {
        return Err("not an argon2 password hash".into());
    }
    let hash = PasswordHash::new(row.hashed_password.clone());
    match hasher.check_stored_cost(&hash) {
        Ok(()) => {}
        Err(AuthError::HashTooCostly(reason)) => {
            return Err(format!("argon2 cost above the limit ({reason})"));
        }
        Err(_) => return Err("unreadable argon2 password hash".into()),
    }
    Ok(ImportedAccount {
        new: NewUser::new(email, hash),
        is_active: row.is_active,
        created_at: row.created_at.unwrap_or_else(Utc::now),
    })
}

async fn count(source: &impl ConnectionTrait) -> anyhow::Result<u64> {
    let row = source
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT COUNT(*)::int8 AS n FROM users",
        ))
        .await
        .context("cannot read the starter's users table")?
        .context("COUNT(*) returned no row")?;
    let n: i64 = row.try_get("", "n")?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The next `limit` rows after `after_id`, through the primary key's index: comparison
/// and order are on the column itself, not on the output column `id` (its cast), which
/// made every batch read and sort the rest of the table. `created_at` is read as seconds since the epoch, which is right whether
/// SQLAlchemy made it with or without a time zone.
async fn read_batch(
    source: &impl ConnectionTrait,
    after_id: i64,
    limit: u32,
) -> anyhow::Result<Vec<StarterUser>> {
    let rows = source
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id::int8 AS id, email::text AS email, hashed_password::text AS hashed_password, \
             COALESCE(is_active, true) AS is_active, \
             EXTRACT(EPOCH FROM created_at)::float8 AS created_at \
             FROM users WHERE users.id > $1 ORDER BY users.id LIMIT $2",
            [after_id.into(), i64::from(limit).into()],
        ))
        .await
        .context("cannot read the starter's users table")?;
    rows.into_iter()
        .map(|row| {
            let epoch: Option<f64> = row.try_get("", "created_at")?;
            Ok(StarterUser {
                id: row.try_get("", "id")?,
                email: row.try_get("", "email")?,
                hashed_password: row.try_get("", "hashed_password")?,
                is_active: row.try_get("", "is_active")?,
                created_at: epoch.and_then(from_epoch),
            })
        })
        .collect()
}

fn from_epoch(seconds: f64) -> Option<DateTime<Utc>> {
    if !seconds.is_finite() {
        return None;
    }
    #[allow(
        clippy::cast_possible_truncation,
        reason = "whole seconds and microseconds of a timestamp"
    )]
    let (whole, micros) = (
        seconds.floor() as i64,
        ((seconds.fract()) * 1e6).round() as u32,
    );
    DateTime::from_timestamp(whole, micros.min(999_999) * 1000)
}

/// A bar on standard error when it is a terminal; nothing otherwise (logs, pipes).
fn progress_bar(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} accounts ({eta} left)") {
        bar.set_style(style);
    }
    bar
}
