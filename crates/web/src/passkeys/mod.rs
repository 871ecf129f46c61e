//! Passkeys (WebAuthn): adding, listing, renaming and removing them here; signing in with
//! one in [`sign_in`], and as a login's second step in `mfa::second_step`. Every ceremony
//! is stored (any instance finishes what another began), serves one purpose and account,
//! lives 5 minutes and is taken once.

pub mod dto;
pub mod sign_in;

use actix_web::{HttpResponse, http::header, web};
use gatehouse_app::{
    account::passkeys::{add_passkey, begin_registration, remove_passkey, rename_passkey},
    passkeys::open_ceremony,
};
use gatehouse_auth::Ceremony;
use gatehouse_domain::{CeremonyId, CeremonyPurpose, PasskeyId, UserId};

use crate::{
    error::{ApiError, Problem},
    extract::{AuthenticatedUser, ClientContext, FreshUser, IpThrottled, JsonBody},
    passkeys::dto::{CeremonyOut, PasskeyOut, PasskeyRegisterIn, PasskeyRenameIn},
    shared_responses::{BearerRefused, DatabaseDown, JsonBodyRefused, NetworkLimited},
    state::AppState,
};

/// Options to add a passkey to the caller's account: a discoverable credential with
/// user verification, none of the caller's passkeys.
#[utoipa::path(
    post,
    path = "/auth/passkeys/register/options",
    tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "For `navigator.credentials.create()`", body = CeremonyOut),
        BearerRefused,
        NetworkLimited,
        DatabaseDown,
        (status = 403, description = "`Fresh token required`, `Stronger authentication required` (an account with a second factor needs aal2), `Email not verified`, or `Inactive user`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn register_options(
    _: IpThrottled,
    state: web::Data<AppState>,
    FreshUser(caller): FreshUser,
) -> Result<HttpResponse, ApiError> {
    registration_options(&state, &caller).await
}

/// Opens a registration ceremony for `caller` and answers its options (shared with the
/// account page's script).
pub(crate) async fn registration_options(
    state: &AppState,
    caller: &AuthenticatedUser,
) -> Result<HttpResponse, ApiError> {
    let (user, email) = (caller.user.id, caller.user.email.as_str());
    Ok(ceremony_answer(
        begin_registration(state, user, email).await?,
    ))
}

/// Adds the passkey the browser made from the options. The caller's other sessions that
/// were opened without a second factor end (they are weaker than the account now needs).
#[utoipa::path(
    post,
    path = "/auth/passkeys/register",
    tag = "passkeys",
    security(("bearer" = [])),
    request_body = PasskeyRegisterIn,
    responses(
        (status = 201, description = "Added", body = PasskeyOut),
        JsonBodyRefused,
        BearerRefused,
        DatabaseDown,
        (status = 400, description = "`Invalid or expired challenge` (unknown, used, expired, or not this account's registration)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`Passkey verification failed` (origin, RP id, challenge, type, user verification…)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`Fresh token required`, `Stronger authentication required`, `Email not verified`, or `Inactive user`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`Passkey already registered`, or `Too many passkeys: remove one first` (20 per account)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing `challenge_id` or `credential`, a credential of the wrong shape, or a bad `name`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn register(
    state: web::Data<AppState>,
    FreshUser(caller): FreshUser,
    ClientContext(client): ClientContext,
    JsonBody(body): JsonBody<PasskeyRegisterIn>,
) -> Result<HttpResponse, ApiError> {
    let (challenge, credential, name) = body.parse()?;
    let caller = caller.caller();
    let added = add_passkey(&state, &client, caller, challenge, credential, name).await?;
    Ok(HttpResponse::Created().json(PasskeyOut::from(added)))
}

/// The caller's passkeys, oldest first.
#[utoipa::path(
    get,
    path = "/auth/passkeys",
    tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's passkeys", body = [PasskeyOut]),
        BearerRefused,
        DatabaseDown,
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    caller: AuthenticatedUser,
) -> Result<HttpResponse, ApiError> {
    let passkeys = state.passkeys.list(caller.user.id).await?;
    Ok(HttpResponse::Ok().json(
        passkeys
            .into_iter()
            .map(PasskeyOut::from)
            .collect::<Vec<_>>(),
    ))
}

/// Renames one of the caller's passkeys.
#[utoipa::path(
    patch,
    path = "/auth/passkeys/{id}",
    tag = "passkeys",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The passkey's id")),
    request_body = PasskeyRenameIn,
    responses(
        (status = 200, description = "Renamed", body = PasskeyOut),
        JsonBodyRefused,
        BearerRefused,
        DatabaseDown,
        (status = 404, description = "`Passkey not found` (none of the caller's)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad `id` or `name`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn rename(
    state: web::Data<AppState>,
    caller: AuthenticatedUser,
    id: web::Path<String>,
    JsonBody(body): JsonBody<PasskeyRenameIn>,
) -> Result<HttpResponse, ApiError> {
    let id = passkey_id(&id)?;
    let name = body.parse()?;
    let renamed = rename_passkey(&state, caller.user.id, id, &name).await?;
    Ok(HttpResponse::Ok().json(PasskeyOut::from(renamed)))
}

/// Removes one of the caller's passkeys and ends the caller's other sessions (whoever
/// holds the passkey may have signed in with it); with no second factor left, the
/// recovery codes go too. Needs a fresh aal2 token.
#[utoipa::path(
    delete,
    path = "/auth/passkeys/{id}",
    tag = "passkeys",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The passkey's id")),
    responses(
        (status = 204, description = "Removed"),
        BearerRefused,
        DatabaseDown,
        (status = 403, description = "`Fresh token required`, `Stronger authentication required`, or `Inactive user`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`Passkey not found` (none of the caller's)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An `id` that is not a UUID", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn remove(
    state: web::Data<AppState>,
    FreshUser(caller): FreshUser,
    ClientContext(client): ClientContext,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = passkey_id(&id)?;
    remove_passkey(&state, &client, caller.caller(), id).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub(crate) fn passkey_id(raw: &str) -> Result<PasskeyId, ApiError> {
    PasskeyId::parse(raw).ok_or_else(|| ApiError::field("id", "must be a UUID"))
}

/// Stores `ceremony` and answers its options: the browser's next step.
pub(crate) async fn begin(
    state: &AppState,
    purpose: CeremonyPurpose,
    user: Option<UserId>,
    ceremony: Ceremony,
) -> Result<HttpResponse, ApiError> {
    Ok(ceremony_answer(
        open_ceremony(state, purpose, user, ceremony).await?,
    ))
}

/// The answer that carries a stored ceremony's options, never to be cached.
fn ceremony_answer((id, mut options): (CeremonyId, serde_json::Value)) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(CeremonyOut {
            challenge_id: id.as_uuid(),
            public_key: options["publicKey"].take(),
        })
}
