//! The apps that sign their users in through gatehouse, registered by superusers; the
//! same flow as `gatehouse clients` (`gatehouse_app::clients`). A confidential client's
//! secret is in the answer that made it, and never again.

use actix_web::{HttpResponse, http::header, web};
use gatehouse_app::clients::{
    ClientError, ClientSecret, delete_client, register_client, renew_secret, update_client,
};
use gatehouse_domain::ClientId;

use crate::{
    error::{ApiError, Problem},
    extract::{Audit, JsonBody, Superuser, SuperuserChange},
    oauth::dto::{ClientIn, ClientOut, ClientSecretOut},
    shared_responses::{DatabaseDown, JsonBodyRefused, SuperuserChangeRefused, SuperuserRefused},
    state::AppState,
};

/// The `detail` for an unknown client id.
const NOT_FOUND: &str = "Client not found";

/// Register an app. A confidential client's `client_secret` is in this answer only.
#[utoipa::path(
    post,
    path = "/oauth/clients",
    tag = "oauth",
    security(("bearer" = [])),
    request_body = ClientIn,
    responses(
        (status = 201, description = "Registered (with `client_secret` for a confidential client)", body = ClientOut),
        JsonBodyRefused,
        SuperuserChangeRefused,
        DatabaseDown,
        (status = 422, description = "A field that breaks the rules, each named", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    SuperuserChange(admin): SuperuserChange,
    Audit(context): Audit,
    JsonBody(body): JsonBody<ClientIn>,
) -> Result<HttpResponse, ApiError> {
    let context = admin.as_actor(context);
    let (client, secret) = register_client(&state.oauth_clients, &context, body.over(None))
        .await
        .map_err(refused)?;
    Ok(with_secret(HttpResponse::Created(), client, secret))
}

/// Every registered app, oldest first.
#[utoipa::path(
    get,
    path = "/oauth/clients",
    tag = "oauth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The clients", body = [ClientOut]),
        SuperuserRefused,
        DatabaseDown,
    )
)]
pub async fn list(state: web::Data<AppState>, _admin: Superuser) -> Result<HttpResponse, ApiError> {
    let clients = state.oauth_clients.list().await?;
    Ok(HttpResponse::Ok().json(clients.into_iter().map(ClientOut::from).collect::<Vec<_>>()))
}

/// One registered app.
#[utoipa::path(
    get,
    path = "/oauth/clients/{client_id}",
    tag = "oauth",
    security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client's id")),
    responses(
        (status = 200, description = "The client", body = ClientOut),
        SuperuserRefused,
        DatabaseDown,
        (status = 404, description = "`Client not found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    _admin: Superuser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let stored = state
        .oauth_clients
        .find(&client_id(&id)?)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    Ok(HttpResponse::Ok().json(ClientOut::from(stored.client)))
}

/// Change an app's registration: the fields given replace the current ones, and the
/// whole must still keep the rules. A client made public loses its secret; one made
/// confidential gets a new `client_secret`, in this answer only.
#[utoipa::path(
    patch,
    path = "/oauth/clients/{client_id}",
    tag = "oauth",
    security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client's id")),
    request_body = ClientIn,
    responses(
        (status = 200, description = "The client as changed (with a new `client_secret` when it became confidential)", body = ClientOut),
        JsonBodyRefused,
        SuperuserChangeRefused,
        DatabaseDown,
        (status = 404, description = "`Client not found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field that breaks the rules, each named", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update(
    state: web::Data<AppState>,
    SuperuserChange(admin): SuperuserChange,
    Audit(context): Audit,
    id: web::Path<String>,
    JsonBody(body): JsonBody<ClientIn>,
) -> Result<HttpResponse, ApiError> {
    let id = client_id(&id)?;
    let current = state
        .oauth_clients
        .find(&id)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    let request = body.over(Some(&current.client));
    let context = admin.as_actor(context);
    let (client, secret) = update_client(&state.oauth_clients, &context, &current.client, request)
        .await
        .map_err(refused)?;
    Ok(with_secret(HttpResponse::Ok(), client, secret))
}

/// Delete an app's registration.
#[utoipa::path(
    delete,
    path = "/oauth/clients/{client_id}",
    tag = "oauth",
    security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client's id")),
    responses(
        (status = 204, description = "Deleted"),
        SuperuserChangeRefused,
        DatabaseDown,
        (status = 404, description = "`Client not found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    SuperuserChange(admin): SuperuserChange,
    Audit(context): Audit,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = client_id(&id)?;
    let context = admin.as_actor(context);
    delete_client(&state.oauth_clients, &context, &id)
        .await
        .map_err(refused)?;
    Ok(HttpResponse::NoContent().finish())
}

/// A new secret for a confidential app; the old one stops working at once.
#[utoipa::path(
    post,
    path = "/oauth/clients/{client_id}/secret",
    tag = "oauth",
    security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client's id")),
    responses(
        (status = 200, description = "The new secret, shown this once", body = ClientSecretOut),
        SuperuserChangeRefused,
        DatabaseDown,
        (status = 404, description = "`Client not found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`A public client has no secret`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn new_secret(
    state: web::Data<AppState>,
    SuperuserChange(admin): SuperuserChange,
    Audit(context): Audit,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = client_id(&id)?;
    let context = admin.as_actor(context);
    let secret = renew_secret(&state.oauth_clients, &context, &id)
        .await
        .map_err(refused)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ClientSecretOut {
            client_id: id.as_str().to_owned(),
            client_secret: secret.0,
        }))
}

/// The client as answered, with its new secret when one was made (then never stored by
/// a cache).
fn with_secret(
    mut answer: actix_web::HttpResponseBuilder,
    client: gatehouse_domain::OauthClient,
    secret: Option<ClientSecret>,
) -> HttpResponse {
    let out = ClientOut {
        client_secret: secret.map(|secret| secret.0),
        ..ClientOut::from(client)
    };
    answer
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(out)
}

/// A client id from the path; one that cannot be an id is no client's.
fn client_id(raw: &str) -> Result<ClientId, ApiError> {
    ClientId::parse(raw).ok_or(ApiError::NotFound(NOT_FOUND))
}

pub(crate) fn refused(error: ClientError) -> ApiError {
    match error {
        ClientError::Invalid(errors) => {
            ApiError::Validation(errors.into_iter().map(Into::into).collect())
        }
        ClientError::NotFound => ApiError::NotFound(NOT_FOUND),
        ClientError::NoSecret => ApiError::Conflict("A public client has no secret"),
        ClientError::SecretChanged => ApiError::Conflict("The client's secret changed meanwhile"),
        ClientError::Failed(failed) => failed.into(),
    }
}
