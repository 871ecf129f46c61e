//! `gatehouse keys …`: the managed signing keys (`SIGNING_KEYS=managed`) for operators,
//! straight against the database, through the same flows and audit events (`by=cli`) as
//! the server's own schedule. A running server follows within `KEY_CHECK_INTERVAL_S`.

use gatehouse_app::keys::{KeyActor, KeyError, ManagedKeys};
use gatehouse_domain::{KeySchedule, KeyState, ManagedKey};
use gatehouse_persistence::SigningKeyRepository;

use crate::{Settings, cli::KeysAction, database::prepare_database};

/// Runs one key action; prints what was done (`list`: a line per key).
pub async fn run(action: KeysAction, settings: &Settings) -> anyhow::Result<()> {
    let Some(config) = settings.managed_keys.clone() else {
        anyhow::bail!(
            "SIGNING_KEYS is files: the keys are the key files (docs/API.md, \"Rotating the key by hand\"); set SIGNING_KEYS=managed to keep them in the database"
        );
    };
    let schedule = config.schedule;
    let sealer = settings.mfa_previous_key.iter().cloned().fold(
        gatehouse_auth::SecretSealer::new(settings.mfa_key.clone()),
        gatehouse_auth::SecretSealer::with_older_key,
    );
    let repository = SigningKeyRepository::new(prepare_database(settings).await?);
    let keys = ManagedKeys::new(repository, sealer, config);
    let done = match action {
        KeysAction::List => {
            let lines: Vec<String> = keys
                .list()
                .await
                .map_err(describe)?
                .iter()
                .map(|key| line(key, &schedule))
                .collect();
            if lines.is_empty() {
                "no keys yet: the server makes the first at its first start".to_owned()
            } else {
                lines.join("\n")
            }
        }
        KeysAction::Rotate => {
            let key = keys.rotate(KeyActor::CommandLine).await.map_err(describe)?;
            format!(
                "made key {} ({}), next: published now, signs from {}",
                key.kid,
                key.algorithm,
                schedule
                    .activates_at(key.created_at)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )
        }
    };
    #[allow(clippy::print_stdout, reason = "the command's result")]
    {
        println!("{done}");
    }
    Ok(())
}

/// `kid  algorithm  state  created …  and when it signs, signed or goes`, tab-separated.
fn line(key: &ManagedKey, schedule: &KeySchedule) -> String {
    let at = |time: chrono::DateTime<chrono::Utc>| {
        time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let when = match key.state {
        KeyState::Next => format!("signs from {}", at(schedule.activates_at(key.created_at))),
        KeyState::Current => {
            format!(
                "signing since {}",
                at(key.activated_at.unwrap_or(key.created_at))
            )
        }
        KeyState::Retiring => {
            let retired = key.retired_at.unwrap_or(key.created_at);
            format!(
                "retired {}, removed from {}",
                at(retired),
                at(schedule.removed_at(retired))
            )
        }
    };
    format!(
        "{}\t{}\t{}\tcreated {}\t{when}",
        key.kid,
        key.algorithm,
        key.state.as_str(),
        at(key.created_at)
    )
}

fn describe(error: KeyError) -> anyhow::Error {
    match error {
        KeyError::Failed(error) => anyhow::Error::new(error),
        refusal => anyhow::anyhow!("{refusal}"),
    }
}
