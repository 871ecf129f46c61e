//! Accounts brought from another system, a batch per statement.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use gatehouse_domain::{Conflict, NewUser, PasswordHash};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::{UserRepository, insert_user};
use crate::{RepoError, entity::user};

/// The most accounts one `INSERT` carries: 8 bound parameters each, within SQLite's limit
/// of 32,766 a statement (Postgres and MySQL allow 65,535). Larger batches are split.
const MAX_ROWS_PER_STATEMENT: usize = 4_000;

/// How often an insert is tried again when the account it clashed with is gone by the
/// time it is looked up (deleted in between, each time).
const CLASH_VANISHED_TRIES: u32 = 3;

/// One account brought from another system, with its own active flag and creation time.
#[derive(Debug, Clone)]
pub struct ImportedAccount {
    /// The account (its password hash is kept as it is).
    pub new: NewUser,
    /// Whether it may sign in.
    pub is_active: bool,
    /// When the other system created it.
    pub created_at: DateTime<Utc>,
}

/// What became of one [`ImportedAccount`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Inserted now.
    Inserted,
    /// Not inserted: its address was here already (or earlier in the same batch), with
    /// this password hash. The caller tells a second run (same hash) from a clash.
    Present(PasswordHash),
}

impl UserRepository {
    /// Inserts `accounts`, keeping their flags and creation times, and says for each, in
    /// order, whether it went in or its address was taken. One query finds the addresses
    /// already here, one `INSERT` adds the rest (per `MAX_ROWS_PER_STATEMENT`): a batch
    /// of four thousand costs two round trips, not eight thousand. Should someone take one of the addresses
    /// between the two (a registration during the import), the batch falls back to one
    /// insert per account, each conflict decided by the unique index as at registration.
    pub async fn import_many(
        &self,
        accounts: Vec<ImportedAccount>,
    ) -> Result<Vec<ImportOutcome>, RepoError> {
        let mut outcomes = Vec::with_capacity(accounts.len());
        let mut accounts = accounts.into_iter().peekable();
        while accounts.peek().is_some() {
            let chunk = accounts.by_ref().take(MAX_ROWS_PER_STATEMENT).collect();
            outcomes.extend(self.import_chunk(chunk).await?);
        }
        Ok(outcomes)
    }

    /// [`import_many`](Self::import_many) of at most [`MAX_ROWS_PER_STATEMENT`] accounts.
    async fn import_chunk(
        &self,
        accounts: Vec<ImportedAccount>,
    ) -> Result<Vec<ImportOutcome>, RepoError> {
        let mut taken = self
            .password_hashes_of(accounts.iter().map(|a| a.new.email.as_str().to_owned()))
            .await?;
        let mut outcomes = Vec::with_capacity(accounts.len());
        let mut fresh = Vec::new();
        // The rows that repeat an address of an earlier row of this batch, by position:
        // what they are reported as depends on how that row fares.
        let mut repeats: Vec<(usize, String)> = Vec::new();
        let mut first_here = HashSet::new();
        for (position, account) in accounts.into_iter().enumerate() {
            let email = account.new.email.as_str();
            if let Some(hash) = taken.get(email) {
                if first_here.contains(email) {
                    repeats.push((position, email.to_owned()));
                }
                outcomes.push(ImportOutcome::Present(hash.clone()));
            } else {
                first_here.insert(email.to_owned());
                // A later row with the same address finds this one.
                taken.insert(email.to_owned(), account.new.password_hash.clone());
                outcomes.push(ImportOutcome::Inserted);
                fresh.push(account);
            }
        }
        if fresh.is_empty() {
            return Ok(outcomes);
        }
        let rows = fresh.iter().map(|account| user::ActiveModel {
            id: Set(account.new.id.as_uuid()),
            email: Set(account.new.email.as_str().to_owned()),
            hashed_password: Set(account.new.password_hash.as_str().to_owned()),
            is_active: Set(account.is_active),
            is_verified: Set(false),
            is_superuser: Set(account.new.is_superuser),
            created_at: Set(account.created_at),
            updated_at: Set(account.created_at),
            ..Default::default()
        });
        match user::Entity::insert_many(rows)
            .exec_without_returning(&self.db)
            .await
            .map_err(|e| RepoError::unique_as(e, Conflict::EmailTaken))
        {
            Ok(_) => Ok(outcomes),
            Err(RepoError::Conflict(Conflict::EmailTaken)) => {
                self.import_one_by_one(fresh, outcomes, repeats).await
            }
            Err(other) => Err(other),
        }
    }

    /// The slow path of [`import_many`](Self::import_many): `fresh` (the accounts its
    /// `outcomes` marked inserted, in order) one at a time. An address taken meanwhile is
    /// reported with the stored hash, and so are the `repeats` of it later in the batch (a
    /// second spelling must read as a clash with what is stored, not as this import's
    /// own row). A clash that is gone by the time it is looked up (the racing account was
    /// deleted) leaves the address free: the insert is tried again.
    async fn import_one_by_one(
        &self,
        fresh: Vec<ImportedAccount>,
        mut outcomes: Vec<ImportOutcome>,
        repeats: Vec<(usize, String)>,
    ) -> Result<Vec<ImportOutcome>, RepoError> {
        let mut stored_now: HashMap<String, PasswordHash> = HashMap::new();
        let mut marked_inserted = outcomes
            .iter_mut()
            .filter(|outcome| **outcome == ImportOutcome::Inserted);
        for account in fresh {
            let email = account.new.email.clone();
            let mut tries = 0;
            let outcome = loop {
                let inserted = insert_user(
                    &self.db,
                    account.new.clone(),
                    account.is_active,
                    account.created_at,
                )
                .await;
                match inserted {
                    Ok(_) => break ImportOutcome::Inserted,
                    Err(RepoError::Conflict(Conflict::EmailTaken)) => {
                        match self.find_by_email(&email).await? {
                            Some(stored) => break ImportOutcome::Present(stored.password_hash),
                            None if tries < CLASH_VANISHED_TRIES => tries += 1,
                            None => {
                                return Err(RepoError::Corrupt(format!(
                                    "{email} is taken but cannot be found"
                                )));
                            }
                        }
                    }
                    Err(other) => return Err(other),
                }
            };
            let hash = match &outcome {
                ImportOutcome::Inserted => account.new.password_hash.clone(),
                ImportOutcome::Present(stored) => stored.clone(),
            };
            stored_now.insert(email.as_str().to_owned(), hash);
            if let Some(slot) = marked_inserted.next() {
                *slot = outcome;
            }
        }
        for (position, email) in repeats {
            if let (Some(slot), Some(hash)) = (outcomes.get_mut(position), stored_now.get(&email)) {
                *slot = ImportOutcome::Present(hash.clone());
            }
        }
        Ok(outcomes)
    }

    /// The stored password hash of each of `emails` that is here.
    async fn password_hashes_of(
        &self,
        emails: impl Iterator<Item = String>,
    ) -> Result<HashMap<String, PasswordHash>, RepoError> {
        let rows: Vec<(String, String)> = user::Entity::find()
            .select_only()
            .column(user::Column::Email)
            .column(user::Column::HashedPassword)
            .filter(user::Column::Email.is_in(emails))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(email, hash)| (email, PasswordHash::new(hash)))
            .collect())
    }
}
