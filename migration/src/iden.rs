//! Table and column names.

use sea_orm_migration::prelude::*;

/// The `users` table.
#[derive(DeriveIden)]
pub enum Users {
    Table,
    Id,
    Email,
    HashedPassword,
    IsActive,
    IsVerified,
    IsSuperuser,
    CreatedAt,
    UpdatedAt,
    /// The user handle of the account's passkeys (migration 18).
    PasskeyHandle,
}

/// The `sessions` table: one row per login.
#[derive(DeriveIden)]
pub enum Sessions {
    Table,
    Id,
    UserId,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
    RevokedAt,
    LatestRefreshGeneration,
    HighestUsedGeneration,
    RotatedAt,
    UserAgent,
    Ip,
    Aal,
    Amr,
}

/// The `one_time_tokens` table: single-use tokens for mails, stored as hashes.
#[derive(DeriveIden)]
pub enum OneTimeTokens {
    Table,
    Id,
    UserId,
    Purpose,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    /// What the token is about (migration 17): the way in a "this wasn't me" link undoes.
    Subject,
}

/// The `login_throttles` table: failed logins per email, for the back-off.
#[derive(DeriveIden)]
pub enum LoginThrottles {
    Table,
    Email,
    /// The client network (`192.0.2.1`, `2001:db8::/64`), or `*` for all of them.
    Network,
    Failures,
    BlockedUntil,
    UpdatedAt,
}

/// The `mail_cooldowns` table: when the last account mail went to each address.
#[derive(DeriveIden)]
pub enum MailCooldowns {
    Table,
    Email,
    SentAt,
}

/// The `audit_events` table: the audit log.
#[derive(DeriveIden)]
pub enum AuditEvents {
    Table,
    Id,
    At,
    Type,
    UserId,
    ActorId,
    Ip,
    UserAgent,
    RequestId,
    SessionId,
    Details,
}

/// The `totp_authenticators` table: one per account at most, confirmed or being set up.
#[derive(DeriveIden)]
pub enum TotpAuthenticators {
    Table,
    UserId,
    KeyId,
    SealedSecret,
    ConfirmedAt,
    LastUsedStep,
    CreatedAt,
}

/// The `recovery_codes` table: hashes of an account's current recovery codes.
#[derive(DeriveIden)]
pub enum RecoveryCodes {
    Table,
    Id,
    UserId,
    CodeHash,
    UsedAt,
    CreatedAt,
}

/// The `mfa_challenges` table: logins waiting for their second step.
#[derive(DeriveIden)]
pub enum MfaChallenges {
    Table,
    Id,
    UserId,
    TokenHash,
    FailedAttempts,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    FirstMethod,
}

/// The `passkeys` table: each account's registered WebAuthn credentials.
#[derive(DeriveIden)]
pub enum Passkeys {
    Table,
    Id,
    UserId,
    CredentialIdHash,
    Name,
    Credential,
    Version,
    PossiblyClonedAt,
    CreatedAt,
    LastUsedAt,
}

/// The `passkey_ceremonies` table: registrations and sign-ins begun and not yet finished.
#[derive(DeriveIden)]
pub enum PasskeyCeremonies {
    Table,
    Id,
    Purpose,
    UserId,
    State,
    CreatedAt,
    ExpiresAt,
}

/// The `identities` table: accounts' identities at other OpenID Providers.
#[derive(DeriveIden)]
pub enum Identities {
    Table,
    Id,
    UserId,
    Provider,
    Issuer,
    Subject,
    Email,
    Vouched,
    CreatedAt,
}

/// The `federated_logins` table: sign-ins (and links) sent to a provider and not back yet.
#[derive(DeriveIden)]
pub enum FederatedLogins {
    Table,
    Id,
    Provider,
    BrowserHash,
    Nonce,
    PkceVerifier,
    ReturnTo,
    LinkUserId,
    LinkSessionId,
    CreatedAt,
    ExpiresAt,
}

/// The `oauth_clients` table: the apps gatehouse is the OpenID Provider for.
#[derive(DeriveIden)]
pub enum OauthClients {
    Table,
    Id,
    Name,
    ClientType,
    FirstParty,
    RedirectUris,
    PostLogoutRedirectUris,
    GrantTypes,
    SecretHash,
    CreatedAt,
    UpdatedAt,
}

/// The `oauth_consents` table: which scopes each account let each client have.
#[derive(DeriveIden)]
pub enum OauthConsents {
    Table,
    UserId,
    ClientId,
    Scopes,
    GrantedAt,
}

/// The `oauth_grants` table: what one authorization let a client have, and until when.
#[derive(DeriveIden)]
pub enum OauthGrants {
    Table,
    Id,
    ClientId,
    UserId,
    SessionId,
    Scopes,
    AuthTime,
    Amr,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

/// The `oauth_codes` table: authorization codes, by the SHA-256 of the code.
#[derive(DeriveIden)]
pub enum OauthCodes {
    Table,
    Hash,
    ClientId,
    UserId,
    SessionId,
    RedirectUri,
    CodeChallenge,
    Nonce,
    Scopes,
    AuthTime,
    Amr,
    ExpiresAt,
    UsedAt,
    GrantId,
}

/// The `oauth_refresh_tokens` table: every refresh token a grant handed out, by its
/// SHA-256, and whether it was used (rotated away).
#[derive(DeriveIden)]
pub enum OauthRefreshTokens {
    Table,
    Hash,
    GrantId,
    ExpiresAt,
    UsedAt,
}

/// The `roles` table: the roles a superuser made, by name.
#[derive(DeriveIden)]
pub enum Roles {
    Table,
    Name,
    Description,
    CreatedAt,
}

/// The `user_roles` table: which account holds which role.
#[derive(DeriveIden)]
pub enum UserRoles {
    Table,
    UserId,
    RoleName,
    GrantedAt,
}

/// The `signing_keys` table: managed signing keys, their private halves sealed.
#[derive(DeriveIden)]
pub enum SigningKeys {
    Table,
    Kid,
    Algorithm,
    State,
    Slot,
    PublicJwk,
    SealKeyId,
    SealedPrivateKey,
    CreatedAt,
    ActivatedAt,
    RetiredAt,
}
