//! Audit events: what happened to an account, who did it, from where.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::{SessionId, UserId};

macro_rules! event_types {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// The kinds of security-relevant event, named as `docs/API.md` ("Audit events") names them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AuditEventType {
            $($(#[$doc])* $variant,)*
        }

        impl AuditEventType {
            /// Every kind, for metrics labels and filters.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// The name stored and shown: `user.registered`, `login.failed`, …
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// The kind with this name, if there is one.
            pub fn parse(raw: &str) -> Option<Self> {
                match raw {
                    $($name => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

event_types! {
    /// An account was created.
    UserRegistered => "user.registered",
    /// A password login (or the password grant) succeeded.
    LoginSucceeded => "login.succeeded",
    /// A password check failed; `details.reason` says why.
    LoginFailed => "login.failed",
    /// A second factor was asked for.
    MfaChallenged => "mfa.challenged",
    /// A second factor was given.
    MfaSucceeded => "mfa.succeeded",
    /// A second factor was wrong.
    MfaFailed => "mfa.failed",
    /// A spent refresh token came back: the session was revoked.
    RefreshReuseDetected => "refresh.reuse_detected",
    /// Sessions ended; `details.reason` says how.
    SessionEnded => "session.ended",
    /// The account's password was changed by its owner.
    PasswordChanged => "password.changed",
    /// A reset mail was asked for.
    PasswordResetRequested => "password.reset_requested",
    /// The password was set with a reset token.
    PasswordReset => "password.reset",
    /// A verification mail was asked for.
    EmailVerificationRequested => "email.verification_requested",
    /// The address was verified.
    EmailVerified => "email.verified",
    /// TOTP was turned on.
    TotpEnabled => "totp.enabled",
    /// TOTP was turned off.
    TotpDisabled => "totp.disabled",
    /// New recovery codes replaced the old ones.
    RecoveryCodesRenewed => "recovery_codes.renewed",
    /// A recovery code was spent.
    RecoveryCodeUsed => "recovery_code.used",
    /// A passkey was added.
    PasskeyAdded => "passkey.added",
    /// A passkey was removed.
    PasskeyRemoved => "passkey.removed",
    /// Another provider's identity was linked.
    IdentityLinked => "identity.linked",
    /// A linked identity was removed.
    IdentityRemoved => "identity.removed",
    /// An administrator (or the CLI) changed the account; `details.fields` names what.
    UserUpdated => "user.updated",
    /// The account was deleted.
    UserDeleted => "user.deleted",
    /// An administrator removed the account's second factors.
    MfaReset => "mfa.reset",
    /// A request was refused by a rate limit or a back-off.
    RateLimited => "rate_limited",
    /// An app was registered to sign its users in through gatehouse.
    OauthClientCreated => "oauth.client.created",
    /// An app's registration or secret changed; `details.fields` names what.
    OauthClientUpdated => "oauth.client.updated",
    /// An app's registration was deleted.
    OauthClientDeleted => "oauth.client.deleted",
    /// The account let an app have scopes; `details.scope` says which.
    OauthConsentGranted => "oauth.consent.granted",
    /// The account took an app's access away.
    OauthConsentRevoked => "oauth.consent.revoked",
    /// An authorization code was presented again: what it issued is revoked.
    OauthCodeReused => "oauth.code.reused",
    /// A role was made; `details.role` names it.
    RoleCreated => "role.created",
    /// A role was deleted, and its members lost it; `details.members` says how many.
    RoleDeleted => "role.deleted",
    /// The account was given a role; `details.role` names it.
    RoleGranted => "role.granted",
    /// The account lost a role; `details.role` names it.
    RoleRevoked => "role.revoked",
    /// A signing key was made; `details` give its `kid`, `algorithm` and `state`.
    KeyCreated => "key.created",
    /// A signing key began to sign; `details.kid` names it, `details.replaced` the key it
    /// replaced.
    KeyActivated => "key.activated",
    /// A retiring key was removed: every token it signed had expired; `details.kid`.
    KeyRetired => "key.retired",
}

/// Where a request came from, for the events it causes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditContext {
    /// Who acted, when not the account itself: an administrator, or `None` for the CLI
    /// and for the account's owner.
    pub actor_id: Option<UserId>,
    /// The client's address.
    pub ip: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// The request's `X-Request-Id`.
    pub request_id: Option<String>,
}

/// An event about to be stored. `details` never holds a password, hash, token or code:
/// callers put names and reasons there, nothing a secret could be read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened.
    pub event_type: AuditEventType,
    /// The account it concerns, if any (a failed login for an unknown address has none).
    pub user_id: Option<UserId>,
    /// The session involved, if any.
    pub session_id: Option<SessionId>,
    /// Where the request came from.
    pub context: AuditContext,
    /// Names and reasons (`reason`, `email`, `fields`, …).
    pub details: BTreeMap<String, String>,
}

impl NewAuditEvent {
    /// An event of `event_type` about `user_id`, at `at`, from `context`.
    pub fn new(
        event_type: AuditEventType,
        user_id: Option<UserId>,
        context: &AuditContext,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            at,
            event_type,
            user_id,
            session_id: None,
            context: context.clone(),
            details: BTreeMap::new(),
        }
    }

    /// The same event, about session `session_id`.
    pub fn in_session(mut self, session_id: SessionId) -> Self {
        self.session_id = Some(session_id);
        self
    }

    /// The same event with one more detail.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.details.insert(name.to_owned(), value.into());
        self
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Its place in the log: larger is later.
    pub id: i64,
    /// The event as it was recorded.
    pub event: NewAuditEvent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_parses_back_from_its_name() {
        for kind in AuditEventType::ALL {
            assert_eq!(AuditEventType::parse(kind.as_str()), Some(*kind));
        }
        assert_eq!(AuditEventType::ALL.len(), 38);
        assert_eq!(AuditEventType::parse("user.exploded"), None);
    }
}
