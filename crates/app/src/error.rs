//! What can fail in a flow that is nobody's refusal: the database, the hasher, a passkey
//! or provider library, a sealed secret that does not open.

use std::error::Error as StdError;

use gatehouse_auth::{AuthError, MfaError, OidcError, PasskeyError};
use gatehouse_persistence::RepoError;

/// A failure of what a flow stands on; the HTTP layer decides what the client learns.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The database refused or did not answer (or a uniqueness rule held).
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// Hashing or token issue failed (or the hashing queue is full).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A WebAuthn ceremony could not start or finish.
    #[error(transparent)]
    Passkey(#[from] PasskeyError),
    /// Another provider could not be reached, or refused.
    #[error(transparent)]
    Provider(#[from] OidcError),
    /// A stored second factor could not be opened (a missing or wrong key).
    #[error(transparent)]
    Sealed(#[from] MfaError),
}

/// `error: cause: cause…` on one line, for logs and fatal errors. A cause whose text the
/// previous message already includes is skipped (database errors tend to repeat their
/// source in their own message).
pub fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut previous = text.clone();
    let mut source = err.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !previous.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        previous = message;
        source = cause.source();
    }
    text.replace('\n', " ")
}
