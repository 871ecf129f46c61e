//! What a route may need beyond a valid access token: a login straight from its
//! credentials ([`FreshUser`]) that used the account's second factor if it has one, a
//! verified address before a way in is added, a superuser's rights ([`Superuser`]), and a
//! superuser's own second factor to change accounts ([`SuperuserChange`]).

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures_util::future::LocalBoxFuture;
use gatehouse_domain::{Aal, UserId};

use super::AuthenticatedUser;
use crate::{error::ApiError, state::AppState};

/// An [`AuthenticatedUser`] whose access token came straight from a login, not from a
/// refresh, and — for an account with a second factor — from a login that used it
/// (`aal2`): what sensitive actions (changing the password, managing factors) require, so
/// a stolen refresh token or password alone cannot take over the account.
#[derive(Debug, Clone)]
pub struct FreshUser(pub AuthenticatedUser);

impl FromRequest for FreshUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let authenticated = AuthenticatedUser::from_request(req, payload);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let caller = authenticated.await?;
            let state =
                state.ok_or_else(|| ApiError::Internal("application state missing".into()))?;
            fresh_sign_in(&state, &caller, "Fresh token required").await?;
            Ok(Self(caller))
        })
    }
}

/// Why the pages refuse a change to how one signs in from a sign-in too old for it.
pub(crate) const SIGN_IN_AGAIN: &str = "Sign in again to change how you sign in";

/// The one freshness rule, for the API's [`FreshUser`] and the pages' changes to how one
/// signs in: the caller's token came straight from a sign-in (not a refresh) and is
/// within its lifetime (a page session lasts days; its handle's lifetime still tells when
/// it signed in), and, for an account with a second factor, that sign-in used it. Else
/// 403 with `stale` (or `Stronger authentication required`). A session left open on a
/// shared computer, or a stolen cookie or refresh token, cannot change the account.
pub(crate) async fn fresh_sign_in(
    state: &AppState,
    caller: &AuthenticatedUser,
    stale: &'static str,
) -> Result<(), ApiError> {
    if !caller.claims.fresh || caller.claims.expires_at <= chrono::Utc::now() {
        return Err(ApiError::Forbidden(stale));
    }
    require_account_assurance(state, caller).await
}

/// 403 `Stronger authentication required` when the caller's login skipped a second factor
/// the account has (one set up after it).
pub(crate) async fn require_account_assurance(
    state: &AppState,
    caller: &AuthenticatedUser,
) -> Result<(), ApiError> {
    // Only an aal1 token costs this read.
    if caller.claims.aal != Aal::Aal2 && state.mfa.factors(caller.user.id).await?.any() {
        return Err(ApiError::Forbidden("Stronger authentication required"));
    }
    Ok(())
}

/// 403 `Email not verified` unless the account's address is verified, as the database
/// says now (not a cached copy): adding a way in (an authenticator app, a passkey, an
/// identity) to an address nobody proved could prepare the account for its taker before
/// its owner signs up.
pub(crate) async fn require_verified_address(
    state: &AppState,
    user_id: UserId,
) -> Result<(), ApiError> {
    Ok(gatehouse_app::account::require_verified_address(state, user_id).await?)
}

/// An [`AuthenticatedUser`] who is a superuser: what the admin routes require
/// (403 `Not enough privileges` otherwise).
#[derive(Debug, Clone)]
pub struct Superuser(pub AuthenticatedUser);

impl FromRequest for Superuser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let superuser = |caller: &AuthenticatedUser| caller.user.is_superuser;
        authenticated_and(req, payload, superuser, "Not enough privileges", Self)
    }
}

/// A [`Superuser`] changing an account (`PATCH`/`DELETE /users/{id}`,
/// `DELETE /users/{id}/mfa`): when the administrator's own account has a second factor,
/// the token's login must have used it (403 `Stronger authentication required`), so a
/// stolen administrator's password alone changes no one's account.
#[derive(Debug, Clone)]
pub struct SuperuserChange(pub AuthenticatedUser);

impl FromRequest for SuperuserChange {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let superuser = Superuser::from_request(req, payload);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let Superuser(admin) = superuser.await?;
            let state =
                state.ok_or_else(|| ApiError::Internal("application state missing".into()))?;
            require_account_assurance(&state, &admin).await?;
            Ok(Self(admin))
        })
    }
}

/// An [`AuthenticatedUser`] who also passes `allowed`, else 403 with `refusal`.
fn authenticated_and<T: 'static>(
    req: &HttpRequest,
    payload: &mut Payload,
    allowed: fn(&AuthenticatedUser) -> bool,
    refusal: &'static str,
    wrap: fn(AuthenticatedUser) -> T,
) -> LocalBoxFuture<'static, Result<T, ApiError>> {
    let authenticated = AuthenticatedUser::from_request(req, payload);
    Box::pin(async move {
        let caller = authenticated.await?;
        if !allowed(&caller) {
            return Err(ApiError::Forbidden(refusal));
        }
        Ok(wrap(caller))
    })
}
