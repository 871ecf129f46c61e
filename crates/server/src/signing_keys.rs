//! The codec of gatehouse's tokens at start: on the key settings' keys, or on the
//! database's managed keys with the task that keeps them in step.

use anyhow::Context;
use gatehouse_auth::JwtCodec;

use crate::Settings;

/// The codec of gatehouse's tokens: on the key settings' keys, or (`SIGNING_KEYS=managed`)
/// on the database's, made at the first start, kept in step with the other instances and
/// the schedule by a task of its own.
pub(crate) async fn token_codec(
    settings: &Settings,
    db: &sea_orm::DatabaseConnection,
    sealer: &gatehouse_auth::SecretSealer,
) -> anyhow::Result<JwtCodec> {
    let Some(config) = &settings.managed_keys else {
        return JwtCodec::new(settings.jwt.clone()).context("invalid JWT settings");
    };
    let keys = gatehouse_app::keys::ManagedKeys::new(
        gatehouse_persistence::SigningKeyRepository::new(db.clone()),
        sealer.clone(),
        config.clone(),
    );
    let set = keys
        .sync(chrono::Utc::now())
        .await
        .context("SIGNING_KEYS=managed: the signing keys in the database")?;
    let codec = JwtCodec::new(gatehouse_auth::JwtConfig {
        key: set.signing().clone(),
        previous: set.verifying().to_vec(),
        ..settings.jwt.clone()
    })
    .context("SIGNING_KEYS=managed: the current signing key")?;
    tracing::info!(
        kid = set.signing().kid().unwrap_or_default(),
        verifying = set.verifying().len(),
        "signing with managed keys from the database"
    );
    tokio::spawn(keys.keep_in_step(codec.key_ring().clone()));
    Ok(codec)
}
