use gatehouse_domain::{Email, PasswordHash, User, UserId};
use sea_orm::entity::prelude::*;

use crate::RepoError;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub email: String,
    pub hashed_password: String,
    pub is_active: bool,
    pub is_verified: bool,
    pub is_superuser: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The user handle of the account's passkeys (base64url), made with the first one.
    pub passkey_handle: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::session::Entity")]
    Session,
}

impl Related<super::session::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Session.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

/// The account a row holds; an address that no longer parses is a corrupt row.
pub(crate) fn to_domain(row: Model) -> Result<User, RepoError> {
    let email = Email::parse(&row.email)
        .map_err(|e| RepoError::Corrupt(format!("user {}: {e}", row.id)))?;
    Ok(User {
        id: UserId::from_uuid(row.id),
        email,
        password_hash: PasswordHash::new(row.hashed_password),
        is_active: row.is_active,
        is_verified: row.is_verified,
        is_superuser: row.is_superuser,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}
