//! `gatehouse users …`: account management for operators, straight against the database
//! with the server's own settings, rules and hasher.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};
use chrono::Utc;
use gatehouse_auth::PasswordHasher;
use gatehouse_domain::{
    AuditContext, AuditEventType, Conflict, Email, NewAuditEvent, NewUser, Password, User,
    UserUpdate,
};
use gatehouse_persistence::{MfaRepository, RepoError, RoleRepository, UserRepository};

use crate::{Settings, cli::UsersAction, database::prepare_database, roles_cli::change_holder};

/// Runs one account action; prints one line saying what was done.
pub async fn run(action: UsersAction, settings: &Settings) -> anyhow::Result<()> {
    let db = prepare_database(settings).await?;
    let db_for_mfa = db.clone();
    let roles = RoleRepository::new(db.clone());
    let users = UserRepository::new(db);
    let now = Utc::now();
    let done = match action {
        UsersAction::Create { email, superuser } => {
            let email = Email::parse(&email)?;
            let password = Password::parse_new(read_password()?, "password", Some(&email))?;
            let hash = hasher(settings)?.hash(password).await?;
            let new = NewUser {
                is_superuser: superuser,
                ..NewUser::new(email, hash)
            };
            let event = NewAuditEvent::new(
                AuditEventType::UserRegistered,
                None,
                &AuditContext::default(),
                now,
            )
            .with("by", "cli");
            let user = users
                .create_recorded(new, now, event)
                .await
                .map_err(describe)?;
            let role = if superuser { "superuser" } else { "user" };
            format!("created {role} {} ({})", user.email, user.id)
        }
        UsersAction::SetPassword { email } => {
            let user = existing(&users, &email).await?;
            let password = Password::parse_new(read_password()?, "password", Some(&user.email))?;
            let hash = hasher(settings)?.hash(password).await?;
            // The command acts for an operator: no account of the service is the actor.
            let event = NewAuditEvent::new(
                AuditEventType::UserUpdated,
                Some(user.id),
                &AuditContext::default(),
                now,
            )
            .with("fields", "password")
            .with("by", "cli");
            let ended = users
                .change_password(user.id, &hash, None, now, &event)
                .await?
                .unwrap_or_default();
            format!("password set for {}; {ended} session(s) ended", user.email)
        }
        UsersAction::Deactivate { email } => {
            let user = existing(&users, &email).await?;
            let update = UserUpdate {
                is_active: Some(false),
                ..UserUpdate::default()
            };
            // Its sessions end, and the event is recorded, in the same transaction.
            let event = NewAuditEvent::new(
                AuditEventType::UserUpdated,
                Some(user.id),
                &AuditContext::default(),
                now,
            )
            .with("by", "cli");
            users
                .update_as_admin_recorded(user.id, update, now, Some(&event))
                .await
                .map_err(describe)?;
            format!("deactivated {}; its sessions ended", user.email)
        }
        UsersAction::ResetMfa { email } => {
            let user = existing(&users, &email).await?;
            let event = NewAuditEvent::new(
                AuditEventType::MfaReset,
                Some(user.id),
                &AuditContext::default(),
                now,
            )
            .with("by", "cli");
            let ended = MfaRepository::new(db_for_mfa)
                .reset(user.id, now, &event)
                .await?;
            format!(
                "second factors removed from {}; {ended} session(s) ended",
                user.email
            )
        }
        UsersAction::Grant { email, role } => {
            let user = existing(&users, &email).await?;
            change_holder(&roles, &user, &role, true).await?
        }
        UsersAction::Revoke { email, role } => {
            let user = existing(&users, &email).await?;
            change_holder(&roles, &user, &role, false).await?
        }
    };
    #[allow(clippy::print_stdout, reason = "the command's result")]
    {
        println!("{done}");
    }
    Ok(())
}

async fn existing(users: &UserRepository, email: &str) -> anyhow::Result<User> {
    let email = Email::parse(email)?;
    match users.find_by_email(&email).await? {
        Some(user) => Ok(user),
        None => bail!("no account has the email {email}"),
    }
}

fn hasher(settings: &Settings) -> anyhow::Result<PasswordHasher> {
    PasswordHasher::new(settings.hasher.clone()).context("invalid ARGON2_* settings")
}

/// Conflicts in the words an operator expects.
fn describe(err: RepoError) -> anyhow::Error {
    match err {
        RepoError::Conflict(Conflict::EmailTaken) => anyhow::anyhow!("email already registered"),
        RepoError::Conflict(Conflict::LastSuperuser) => {
            anyhow::anyhow!("cannot deactivate the last active superuser")
        }
        other => other.into(),
    }
}

/// The first line of standard input; on a terminal, asked for without echo.
fn read_password() -> anyhow::Result<String> {
    let line = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password: ").context("cannot read the password")?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line
    };
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!("no password given: write it as the first line of standard input");
    }
    Ok(password)
}
