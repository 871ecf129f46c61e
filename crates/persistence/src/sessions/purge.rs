//! Housekeeping of ended sessions, a batch at a time.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, prelude::Uuid,
};

use super::SessionRepository;
use crate::{RepoError, entity::session};

/// How many sessions one purge statement deletes. Each `DELETE` holds its row locks (on
/// SQLite, the database's write lock) only while it runs, so requests beside a purge of a
/// million sessions wait at most for one batch, never for the whole purge.
pub const PURGE_BATCH: u64 = 250;

/// What a purge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Sessions deleted.
    pub deleted: u64,
    /// `DELETE` statements run.
    pub batches: u64,
    /// The longest of them: how long the purge held any lock at once.
    pub longest_delete: Duration,
    /// All of them together (over `batches`: the typical one).
    pub deleting: Duration,
}

impl SessionRepository {
    /// Deletes sessions that ended before `ended_before`: expired then, or revoked then.
    /// Recently ended ones stay a while, for the user's and the operator's records.
    /// Returns how many were deleted.
    pub async fn purge(&self, ended_before: DateTime<Utc>) -> Result<u64, RepoError> {
        Ok(self
            .purge_in_batches(ended_before, PURGE_BATCH)
            .await?
            .deleted)
    }

    /// [`purge`](Self::purge) `batch` sessions at a time, reporting how it went. The ended
    /// sessions are found through the `expires_at` and `revoked_at` indexes in order, each
    /// batch starting where the last ended (so no batch reads past the rows before it),
    /// and the `DELETE` checks again that each one ended (one renewed meanwhile stays).
    pub async fn purge_in_batches(
        &self,
        ended_before: DateTime<Utc>,
        batch: u64,
    ) -> Result<PurgeReport, RepoError> {
        let batch = batch.max(1);
        let ended = Condition::any()
            .add(session::Column::ExpiresAt.lt(ended_before))
            .add(session::Column::RevokedAt.lt(ended_before));
        let mut report = PurgeReport::default();
        for column in [session::Column::ExpiresAt, session::Column::RevokedAt] {
            let mut from: Option<DateTime<Utc>> = None;
            loop {
                let mut find = session::Entity::find()
                    .select_only()
                    .column(session::Column::Id)
                    .column(column)
                    .filter(column.lt(ended_before));
                if let Some(from) = from {
                    find = find.filter(column.gte(from));
                }
                let found: Vec<(Uuid, Option<DateTime<Utc>>)> = find
                    .order_by_asc(column)
                    .limit(batch)
                    .into_tuple()
                    .all(&self.db)
                    .await?;
                let Some(&(_, last)) = found.last() else {
                    break;
                };
                let full = found.len() as u64 == batch;
                let started = Instant::now();
                let deleted = session::Entity::delete_many()
                    .filter(session::Column::Id.is_in(found.into_iter().map(|(id, _)| id)))
                    .filter(ended.clone())
                    .exec(&self.db)
                    .await?
                    .rows_affected;
                let took = started.elapsed();
                report.longest_delete = report.longest_delete.max(took);
                report.deleting += took;
                report.batches += 1;
                report.deleted += deleted;
                // Nothing deleted from a full batch: another instance is purging the same
                // rows, or they were all renewed; the rest waits for the next run rather
                // than this loop finding the same rows again.
                if !full || deleted == 0 {
                    break;
                }
                from = last;
            }
        }
        Ok(report)
    }
}
