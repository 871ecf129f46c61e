//! CORS for public clients (single-page apps): the token, userinfo and revocation
//! endpoints answer a browser's cross-origin request when its `Origin` is the origin of a
//! redirect URI of a registered public client, and its preflight likewise. Confidential
//! clients call from servers, which need no CORS.

use actix_web::{
    HttpRequest, HttpResponse,
    http::header::{self, HeaderValue},
    web,
};
use gatehouse_domain::ClientType;

use crate::{pages::redirect_origin, state::AppState};

/// The request's `Origin`, when it is a redirect origin of a public client.
pub(crate) async fn public_client_origin(
    state: &AppState,
    request: &HttpRequest,
) -> Option<String> {
    let origin = request
        .headers()
        .get(header::ORIGIN)?
        .to_str()
        .ok()?
        .to_owned();
    let clients = match state.oauth_clients.list().await {
        Ok(clients) => clients,
        Err(error) => {
            tracing::warn!(error = %crate::error::error_chain(&error), "clients not read for CORS");
            return None;
        }
    };
    clients
        .iter()
        .filter(|client| client.settings.client_type == ClientType::Public)
        .flat_map(|client| client.settings.redirect_uris.iter())
        .filter_map(|uri| redirect_origin(uri.as_str()))
        .any(|allowed| allowed == origin)
        .then_some(origin)
}

/// `response` readable by `origin` (when there is one).
pub(crate) fn allow(mut response: HttpResponse, origin: Option<&str>) -> HttpResponse {
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(value) = origin.and_then(|origin| HeaderValue::from_str(origin).ok()) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("WWW-Authenticate, Retry-After"),
        );
    }
    response
}

/// `OPTIONS` on the three endpoints: the preflight of a public client's page.
pub async fn preflight(state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    let Some(origin) = public_client_origin(&state, &request).await else {
        return HttpResponse::NoContent().finish();
    };
    let mut response = HttpResponse::NoContent();
    response
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Authorization, Content-Type",
        ))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
        .insert_header((header::VARY, "Origin"));
    response.finish()
}
