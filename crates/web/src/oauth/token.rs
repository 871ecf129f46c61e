//! The provider's endpoints for clients: token, revocation, introspection (forms,
//! answered in OAuth's error format, RFC 6749 §5.2) and userinfo (a Bearer token).

use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
    web,
};
use gatehouse_app::provider::{
    OauthError,
    resource::{self, ResourceError},
    token::{ClientCredentials, TokenAnswer, TokenRequest},
};
use serde_json::{Value, json};

use crate::{
    extract::{ClientContext, IpThrottled},
    state::AppState,
};

/// The largest form an OAuth endpoint reads.
pub(crate) const MAX_FORM_BYTES: usize = 16 * 1024;

/// A form's fields, each once; a repeated one (or a body that is no form) is
/// `invalid_request` (RFC 6749 §3.2).
struct OauthForm(Vec<(String, String)>);

impl OauthForm {
    fn read(request: &HttpRequest, body: &[u8]) -> Result<Self, OauthError> {
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|mime| {
                mime.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(OauthError::InvalidRequest(
                "The body must be application/x-www-form-urlencoded",
            ));
        }
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
        for (index, (name, _)) in pairs.iter().enumerate() {
            if pairs[..index].iter().any(|(earlier, _)| earlier == name) {
                return Err(OauthError::InvalidRequest("A parameter is repeated"));
            }
        }
        Ok(Self(pairs))
    }

    fn take(&mut self, name: &str) -> Option<String> {
        let index = self.0.iter().position(|(field, _)| field == name)?;
        let (_, value) = self.0.remove(index);
        (!value.is_empty()).then_some(value)
    }

    /// The client's authentication: HTTP Basic (id and secret each form-urlencoded,
    /// RFC 6749 §2.3.1) or the form's `client_id` and `client_secret`, not both.
    fn credentials(&mut self, request: &HttpRequest) -> Result<ClientCredentials, OauthError> {
        let form_id = self.take("client_id");
        let form_secret = self.take("client_secret");
        let Some(authorization) = request.headers().get(header::AUTHORIZATION) else {
            return Ok(ClientCredentials {
                client_id: form_id,
                secret: form_secret,
                basic: false,
            });
        };
        let invalid = OauthError::InvalidClient { basic: true };
        let encoded = authorization
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Basic "))
            .ok_or(invalid)?;
        if form_secret.is_some() {
            return Err(OauthError::InvalidRequest(
                "Use one way of client authentication",
            ));
        }
        let (id, secret) = basic_pair(encoded).ok_or(OauthError::InvalidClient { basic: true })?;
        if form_id.as_ref().is_some_and(|form_id| *form_id != id) {
            return Err(OauthError::InvalidRequest("client_id does not match"));
        }
        Ok(ClientCredentials {
            client_id: Some(id),
            secret: Some(secret),
            basic: true,
        })
    }
}

/// Revocation's and introspection's form: the client's authentication and the `token`.
fn token_form(
    request: &HttpRequest,
    body: &[u8],
) -> Result<(ClientCredentials, String), OauthError> {
    let mut form = OauthForm::read(request, body)?;
    let credentials = form.credentials(request)?;
    let token = form
        .take("token")
        .ok_or(OauthError::InvalidRequest("token is missing"))?;
    Ok((credentials, token))
}

/// The id and secret of an HTTP Basic value, each form-urldecoded.
fn basic_pair(encoded: &str) -> Option<(String, String)> {
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |part: &str| -> String {
        url::form_urlencoded::parse(format!("x={part}").as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

/// `POST /oauth/token`.
#[utoipa::path(
    post,
    path = "/oauth/token",
    tag = "openid-provider",
    request_body(content = super::dto::OauthTokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Tokens (`Cache-Control: no-store`)", body = super::dto::OauthTokenOut),
        (status = 400, description = "invalid_request, invalid_grant, unauthorized_client, unsupported_grant_type, invalid_scope", body = super::dto::OauthErrorOut),
        (status = 401, description = "invalid_client (`WWW-Authenticate: Basic` when Basic was used)", body = super::dto::OauthErrorOut),
        (status = 429, description = "slow_down after failed client authentications, or the network's budget spent; `Retry-After`"),
    )
)]
pub async fn token(
    _: IpThrottled,
    state: web::Data<AppState>,
    request: HttpRequest,
    ClientContext(client): ClientContext,
    body: web::Bytes,
) -> HttpResponse {
    let answer = async {
        let mut form = OauthForm::read(&request, &body)?;
        let credentials = form.credentials(&request)?;
        let token_request = TokenRequest {
            grant_type: form.take("grant_type"),
            code: form.take("code"),
            redirect_uri: form.take("redirect_uri"),
            code_verifier: form.take("code_verifier"),
            refresh_token: form.take("refresh_token"),
            scope: form.take("scope"),
        };
        gatehouse_app::provider::token::token(&state, &client, credentials, token_request).await
    };
    let response = match answer.await {
        Ok(answer) => no_store(HttpResponse::Ok()).json(token_json(answer)),
        Err(error) => oauth_error(&error),
    };
    let origin = super::cors::public_client_origin(&state, &request).await;
    super::cors::allow(response, origin.as_deref())
}

fn token_json(answer: TokenAnswer) -> Value {
    let mut body = json!({
        "access_token": answer.access_token,
        "token_type": "Bearer",
        "expires_in": answer.expires_in,
        "scope": answer.scope.to_string(),
    });
    if let Some(id_token) = answer.id_token {
        body["id_token"] = Value::String(id_token);
    }
    if let Some(refresh_token) = answer.refresh_token {
        body["refresh_token"] = Value::String(refresh_token);
    }
    body
}

/// `POST /oauth/revoke` (RFC 7009): 200 whether or not the token was known.
#[utoipa::path(
    post,
    path = "/oauth/revoke",
    tag = "openid-provider",
    request_body(content = super::dto::OauthTokenIn, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked with its grant, or unknown, or not the caller's"),
        (status = 400, description = "invalid_request", body = super::dto::OauthErrorOut),
        (status = 401, description = "invalid_client", body = super::dto::OauthErrorOut),
    )
)]
pub async fn revoke(
    _: IpThrottled,
    state: web::Data<AppState>,
    request: HttpRequest,
    ClientContext(client): ClientContext,
    body: web::Bytes,
) -> HttpResponse {
    let answer = async {
        let (credentials, token) = token_form(&request, &body)?;
        resource::revoke(&state, &client, &credentials, &token).await
    };
    let response = match answer.await {
        Ok(()) => no_store(HttpResponse::Ok()).finish(),
        Err(error) => oauth_error(&error),
    };
    let origin = super::cors::public_client_origin(&state, &request).await;
    super::cors::allow(response, origin.as_deref())
}

/// `POST /oauth/introspect` (RFC 7662), for confidential clients.
#[utoipa::path(
    post,
    path = "/oauth/introspect",
    tag = "openid-provider",
    request_body(content = super::dto::OauthTokenIn, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "`{\"active\": false}`, or the live token's claims", body = super::dto::IntrospectionOut),
        (status = 400, description = "invalid_request", body = super::dto::OauthErrorOut),
        (status = 401, description = "invalid_client (or a public client)", body = super::dto::OauthErrorOut),
    )
)]
pub async fn introspect(
    _: IpThrottled,
    state: web::Data<AppState>,
    request: HttpRequest,
    ClientContext(client): ClientContext,
    body: web::Bytes,
) -> HttpResponse {
    let answer = async {
        let (credentials, token) = token_form(&request, &body)?;
        resource::introspect(&state, &client, &credentials, &token).await
    };
    match answer.await {
        Ok(None) => no_store(HttpResponse::Ok()).json(json!({ "active": false })),
        Ok(Some(live)) => no_store(HttpResponse::Ok()).json(json!({
            "active": true,
            "scope": live.scope,
            "client_id": live.client_id,
            "sub": live.sub,
            "exp": live.exp,
            "iat": live.iat,
            "iss": live.iss,
            "token_type": live.token_type,
        })),
        Err(error) => oauth_error(&error),
    }
}

/// `GET` or `POST /oauth/userinfo`: a client's access token with `openid`.
#[utoipa::path(
    method(get, post),
    path = "/oauth/userinfo",
    tag = "openid-provider",
    responses(
        (status = 200, description = "The user's claims, by the token's scopes", body = super::dto::UserInfoOut),
        (status = 401, description = "No token, or not a live client access token: `WWW-Authenticate: Bearer error=\"invalid_token\"`"),
        (status = 403, description = "No `openid` scope: `insufficient_scope`"),
    )
)]
pub async fn userinfo(state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    let response = userinfo_answer(&state, &request).await;
    let origin = super::cors::public_client_origin(&state, &request).await;
    super::cors::allow(response, origin.as_deref())
}

async fn userinfo_answer(state: &AppState, request: &HttpRequest) -> HttpResponse {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(bearer) = bearer else {
        return no_store(HttpResponse::Unauthorized())
            .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
            .finish();
    };
    match resource::userinfo(state, bearer).await {
        Ok(info) => {
            let mut body = json!({ "sub": info.sub });
            if let Some((email, verified)) = info.email {
                body["email"] = Value::String(email);
                body["email_verified"] = Value::Bool(verified);
            }
            if let Some(name) = info.preferred_username {
                body["preferred_username"] = Value::String(name);
            }
            if let Some(roles) = info.roles {
                body["roles"] = json!(roles.names());
            }
            no_store(HttpResponse::Ok()).json(body)
        }
        Err(ResourceError::InvalidToken) => bearer_error(StatusCode::UNAUTHORIZED, "invalid_token"),
        Err(ResourceError::InsufficientScope) => {
            bearer_error(StatusCode::FORBIDDEN, "insufficient_scope")
        }
        // As every JSON route: 503 with Retry-After while the database is out, a problem
        // document either way (it was a bare 500).
        Err(ResourceError::Failed(error)) => {
            actix_web::ResponseError::error_response(&crate::error::ApiError::from(error))
        }
    }
}

fn bearer_error(status: StatusCode, code: &str) -> HttpResponse {
    no_store(HttpResponse::build(status))
        .insert_header((header::WWW_AUTHENTICATE, format!("Bearer error=\"{code}\"")))
        .json(json!({ "error": code }))
}

fn no_store(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    builder
}

/// Seconds to wait, when `error` is the database being out or the hashing queue full:
/// then the answer is 503, as on every other route, not 500.
fn unavailable_for(error: &OauthError) -> Option<u64> {
    use gatehouse_app::AppError;
    match error {
        OauthError::Failed(AppError::Repo(gatehouse_persistence::RepoError::Unavailable(_))) => {
            Some(1)
        }
        OauthError::Failed(AppError::Auth(gatehouse_auth::AuthError::Busy { expected_wait })) => {
            Some((expected_wait.as_secs() + u64::from(expected_wait.subsec_nanos() > 0)).max(1))
        }
        _ => None,
    }
}

/// An OAuth error answer: 400 for the request's faults, 401 `invalid_client` (with a
/// Basic challenge when Basic was used), 429 while backed off, 503
/// `temporarily_unavailable` (with `Retry-After`) while the database is out or the hashing
/// queue is full (RFC 6749 names that code for the authorization endpoint; the token
/// endpoint's list has no such case).
pub(crate) fn oauth_error(error: &OauthError) -> HttpResponse {
    let unavailable = unavailable_for(error);
    if let Some(seconds) = unavailable {
        let mut response = no_store(HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE));
        response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        if let OauthError::Failed(cause) = error {
            tracing::warn!(error = %gatehouse_app::error_chain(cause), "oauth endpoint unavailable");
        }
        return response.json(json!({
            "error": "temporarily_unavailable",
            "error_description": "The service is unavailable for a moment; retry later",
        }));
    }
    let status = match error {
        OauthError::InvalidClient { .. } => StatusCode::UNAUTHORIZED,
        OauthError::BackedOff { .. } => StatusCode::TOO_MANY_REQUESTS,
        OauthError::Failed(cause) => {
            tracing::error!(error = %gatehouse_app::error_chain(cause), "oauth endpoint failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response = no_store(HttpResponse::build(status));
    match error {
        OauthError::InvalidClient { basic: true } => {
            response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"gatehouse\""));
        }
        OauthError::BackedOff { retry_after } => {
            response.insert_header((
                header::RETRY_AFTER,
                retry_after.as_secs().max(1).to_string(),
            ));
        }
        _ => {}
    }
    response.json(json!({
        "error": error.code(),
        "error_description": error.description(),
    }))
}
