//! Where a page's forms may send the browser beyond this site: an OpenID Provider
//! client's registered redirect URI, added to the page's `form-action` (browsers check
//! every redirect of a form's navigation against it).

use actix_web::{HttpResponse, http::header};

use crate::state::AppState;

/// When `return_to` continues an authorization request of the OpenID Provider, a form of
/// this page may end, after its redirects, at that request's redirect URI: browsers check
/// each redirect of a form's navigation against `form-action`, so that URI's origin joins
/// the page's policy — only when the client exists and registered that exact URI.
pub(crate) async fn allow_authorization_redirect(
    state: &AppState,
    mut response: HttpResponse,
    return_to: &str,
) -> HttpResponse {
    let Some(query) = return_to.strip_prefix("/oauth/authorize?") else {
        return response;
    };
    if !response
        .headers()
        .contains_key(header::CONTENT_SECURITY_POLICY)
    {
        return response;
    }
    let parameters = gatehouse_domain::AuthorizationParameters::from_pairs(
        url::form_urlencoded::parse(query.as_bytes()).into_owned(),
    );
    if let Ok(target) = gatehouse_app::provider::authorize::target(state, &parameters).await
        && let Some(origin) = redirect_origin(&target.redirect_uri)
    {
        allow_form_target(&mut response, &origin);
    }
    response
}

/// The origin of a registered redirect URI as a policy source: scheme, host (a name or
/// an address, never a wildcard) and port.
pub(crate) fn redirect_origin(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    match url.host()? {
        url::Host::Domain(name)
            if name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') => {}
        url::Host::Domain(_) => return None,
        url::Host::Ipv4(_) | url::Host::Ipv6(_) => {}
    }
    Some(url.origin().ascii_serialization())
}

/// Adds `origin` to the `form-action` of `response`'s policy.
pub(crate) fn allow_form_target(response: &mut HttpResponse, origin: &str) {
    let headers = response.headers_mut();
    let widened = headers
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|policy| policy.to_str().ok())
        .map(|policy| {
            policy.replacen(
                "form-action 'self'",
                &format!("form-action 'self' {origin}"),
                1,
            )
        })
        .and_then(|policy| header::HeaderValue::from_str(&policy).ok());
    if let Some(policy) = widened {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
}
