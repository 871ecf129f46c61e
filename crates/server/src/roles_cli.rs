//! `gatehouse roles …` and `gatehouse users grant|revoke`: roles for operators, straight
//! against the database, through the same flows (and audit events, `by=cli`) as the
//! admin API.

use gatehouse_app::roles::{
    RoleActor, RoleError, create_role, delete_role, grant_role, revoke_role, role_name,
};
use gatehouse_domain::User;
use gatehouse_persistence::RoleRepository;

use crate::{Settings, cli::RolesAction, database::prepare_database};

/// Runs one role action; prints what was done (`list`: a line per role).
pub async fn run(action: RolesAction, settings: &Settings) -> anyhow::Result<()> {
    let roles = RoleRepository::new(prepare_database(settings).await?);
    let done = match action {
        RolesAction::List => {
            let lines: Vec<String> = roles
                .list()
                .await?
                .into_iter()
                .map(|role| {
                    let line = format!("{}\t{}\t{}", role.name, role.members, role.description);
                    line.trim_end().to_owned()
                })
                .collect();
            if lines.is_empty() {
                "no roles".to_owned()
            } else {
                lines.join("\n")
            }
        }
        RolesAction::Create { name, description } => {
            let cli = RoleActor::CommandLine;
            let role = create_role(&roles, cli, &name, description.as_deref())
                .await
                .map_err(describe)?;
            format!("created role {}", role.name)
        }
        RolesAction::Delete { name } => {
            let name = role_name(&name).map_err(describe)?;
            let members = delete_role(&roles, RoleActor::CommandLine, &name)
                .await
                .map_err(describe)?;
            format!("deleted role {name}; {members} account(s) lost it")
        }
    };
    say(&done);
    Ok(())
}

/// Gives (`grant`) or takes (`revoke`) role `role` of `user`; says what was done.
pub async fn change_holder(
    roles: &RoleRepository,
    user: &User,
    role: &str,
    grant: bool,
) -> anyhow::Result<String> {
    let name = role_name(role).map_err(describe)?;
    let (cli, email) = (RoleActor::CommandLine, &user.email);
    Ok(if grant {
        match grant_role(roles, cli, user.id, &name)
            .await
            .map_err(describe)?
        {
            true => format!("granted {name} to {email}"),
            false => format!("{email} already holds {name}"),
        }
    } else {
        match revoke_role(roles, cli, user.id, &name)
            .await
            .map_err(describe)?
        {
            true => format!("revoked {name} from {email}"),
            false => format!("{email} does not hold {name}"),
        }
    })
}

fn say(done: &str) {
    #[allow(clippy::print_stdout, reason = "the command's result")]
    {
        println!("{done}");
    }
}

/// Refusals in the words an operator expects.
fn describe(error: RoleError) -> anyhow::Error {
    match error {
        RoleError::Invalid(errors) => {
            let reasons: Vec<String> = errors
                .iter()
                .map(|error| format!("{}: {}", error.field, error.reason))
                .collect();
            anyhow::anyhow!("invalid role: {}", reasons.join("; "))
        }
        RoleError::Exists => anyhow::anyhow!("role already exists"),
        RoleError::NotFound => anyhow::anyhow!("no such role"),
        RoleError::UserNotFound => anyhow::anyhow!("no such account"),
        RoleError::Failed(error) => anyhow::Error::new(error),
    }
}
