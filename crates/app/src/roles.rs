//! Roles, made and granted by an administrator (the admin API) or an operator (the
//! command line): the same flows, the same rules, the same audit events, with the
//! administrator as actor (or `by=cli`).
//!
//! A grant or revocation changes no session: tokens already issued keep the roles they
//! carry until they expire, and the next refresh or sign-in carries the new ones (see
//! [`HeldRoles`](gatehouse_domain::HeldRoles)).

use chrono::Utc;
use gatehouse_domain::{
    AuditContext, AuditEventType, NewAuditEvent, Role, RoleName, UserId, ValidationError,
    parse_role_description,
};
use gatehouse_persistence::{RepoError, RoleGrant, RoleRepository};

use crate::error::AppError;

/// Why a role change did nothing.
#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    /// The name or description breaks the rules; each names its field.
    #[error("invalid role")]
    Invalid(Vec<ValidationError>),
    /// A role with this name exists already.
    #[error("role already exists")]
    Exists,
    /// No role has this name.
    #[error("role not found")]
    NotFound,
    /// No account has this id.
    #[error("user not found")]
    UserNotFound,
    /// What the flow stands on failed.
    #[error(transparent)]
    Failed(#[from] AppError),
}

impl From<RepoError> for RoleError {
    fn from(error: RepoError) -> Self {
        match error {
            RepoError::Conflict(gatehouse_domain::Conflict::RoleExists) => Self::Exists,
            other => Self::Failed(other.into()),
        }
    }
}

/// Who changes roles, as their audit events record it.
#[derive(Debug, Clone, Copy)]
pub enum RoleActor<'a> {
    /// An administrator's request; its context names them.
    Admin(&'a AuditContext),
    /// An operator at the command line (`details.by` is `cli`).
    CommandLine,
}

/// A role's name as given, or the refusal naming the field `name`.
pub fn role_name(raw: &str) -> Result<RoleName, RoleError> {
    RoleName::parse(raw).map_err(|error| RoleError::Invalid(vec![error]))
}

/// Makes role `name` with `description` (both as given; every bad field is named).
pub async fn create_role(
    roles: &RoleRepository,
    actor: RoleActor<'_>,
    name: &str,
    description: Option<&str>,
) -> Result<Role, RoleError> {
    let parsed = (RoleName::parse(name), parse_role_description(description));
    let (name, description) = match parsed {
        (Ok(name), Ok(description)) => (name, description),
        (name, description) => {
            let errors = [name.err(), description.err()];
            return Err(RoleError::Invalid(errors.into_iter().flatten().collect()));
        }
    };
    let now = Utc::now();
    let event = event(AuditEventType::RoleCreated, None, actor, &name);
    Ok(roles.create(&name, &description, now, &event).await?)
}

/// Deletes role `name`; its members lose it. Answers how many held it.
pub async fn delete_role(
    roles: &RoleRepository,
    actor: RoleActor<'_>,
    name: &RoleName,
) -> Result<u64, RoleError> {
    let event = event(AuditEventType::RoleDeleted, None, actor, name);
    roles.delete(name, event).await?.ok_or(RoleError::NotFound)
}

/// Gives account `user_id` role `name`; `false` when it held it already (nothing is
/// recorded then).
pub async fn grant_role(
    roles: &RoleRepository,
    actor: RoleActor<'_>,
    user_id: UserId,
    name: &RoleName,
) -> Result<bool, RoleError> {
    let event = event(AuditEventType::RoleGranted, Some(user_id), actor, name);
    match roles.grant(user_id, name, Utc::now(), &event).await? {
        RoleGrant::Granted => Ok(true),
        RoleGrant::AlreadyHeld => Ok(false),
        RoleGrant::NoSuchUser => Err(RoleError::UserNotFound),
        RoleGrant::NoSuchRole => Err(RoleError::NotFound),
    }
}

/// Takes role `name` from account `user_id`; `false` when it did not hold it (nothing is
/// recorded then).
pub async fn revoke_role(
    roles: &RoleRepository,
    actor: RoleActor<'_>,
    user_id: UserId,
    name: &RoleName,
) -> Result<bool, RoleError> {
    let event = event(AuditEventType::RoleRevoked, Some(user_id), actor, name);
    Ok(roles.revoke(user_id, name, &event).await?)
}

fn event(
    kind: AuditEventType,
    user_id: Option<UserId>,
    actor: RoleActor<'_>,
    name: &RoleName,
) -> NewAuditEvent {
    let command_line = AuditContext::default();
    let context = match actor {
        RoleActor::Admin(context) => context,
        RoleActor::CommandLine => &command_line,
    };
    let event = NewAuditEvent::new(kind, user_id, context, Utc::now()).with("role", name.as_str());
    match actor {
        RoleActor::Admin(_) => event,
        RoleActor::CommandLine => event.with("by", "cli"),
    }
}
