//! Cookie mode (`JWT_TOKEN_LOCATION=cookies` or `headers,cookies`), for browsers.
//!
//! Tokens travel in `HttpOnly` cookies named as AuthX names them, so scripts on the page
//! cannot read them. Because a browser attaches cookies to any request to this site, a
//! request authenticated by a cookie with an unsafe method must also prove it comes from
//! the front end itself: it sends the value of the readable CSRF cookie in `X-CSRF-Token`
//! (double submit). A foreign page can neither read that cookie nor, without a CORS
//! grant, send that header.
//!
//! Routes that *set* cookies from credentials (login, `/auth/token`) have no cookie to
//! check yet, and a form post from a foreign page is a simple request: without
//! [`TrustedOrigin`](crate::extract::TrustedOrigin), such a page could sign its visitor into the attacker's account
//! (login CSRF). Browsers say where a request comes from (`Origin`, or at least
//! `Sec-Fetch-Site`); only this server's own origin and the `CORS_ORIGINS` may set
//! cookies this way. Clients that are not browsers send neither header and pass.

use actix_web::{
    HttpRequest,
    cookie::{Cookie, SameSite, time::Duration as CookieDuration},
    http::header::HeaderName,
};
use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// The access token: sent with every request to the site.
pub const ACCESS_COOKIE: &str = "access_token_cookie";
/// The refresh token: sent only to `/auth/…` (refresh and logout).
pub const REFRESH_COOKIE: &str = "refresh_token_cookie";
/// Readable companion of the access cookie, echoed in [`CSRF_HEADER`].
pub const ACCESS_CSRF_COOKIE: &str = "csrf_access_token";
/// Readable companion of the refresh cookie, echoed in [`CSRF_HEADER`].
pub const REFRESH_CSRF_COOKIE: &str = "csrf_refresh_token";
/// Where a cookie-authenticated unsafe request repeats the CSRF cookie's value.
pub const CSRF_HEADER: HeaderName = HeaderName::from_static("x-csrf-token");

/// Where tokens are read from (`JWT_TOKEN_LOCATION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLocation {
    /// `Authorization: Bearer …`.
    pub headers: bool,
    /// The cookies above; login, token and refresh answers also set them.
    pub cookies: bool,
}

impl TokenLocation {
    /// Headers only: the starter's behaviour and the default.
    pub const HEADERS: Self = Self {
        headers: true,
        cookies: false,
    };

    /// Parses `headers`, `cookies` or both, comma-separated, in any order.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut location = Self {
            headers: false,
            cookies: false,
        };
        for part in raw.split(',').map(str::trim) {
            match part.to_ascii_lowercase().as_str() {
                "headers" => location.headers = true,
                "cookies" => location.cookies = true,
                _ => return None,
            }
        }
        Some(location)
    }
}

/// `scheme://host[:port]` of a URL, as browsers write it in `Origin` (default ports left
/// out, lower case): how `PUBLIC_URL` is compared with a request's `Origin`.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next()?.to_ascii_lowercase();
    let authority = match (scheme.as_str(), authority.rsplit_once(':')) {
        ("http", Some((host, "80"))) | ("https", Some((host, "443"))) => host.to_owned(),
        _ => authority,
    };
    (!authority.is_empty()).then(|| format!("{scheme}://{authority}"))
}

/// Which token a cookie-authenticated request presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CookieToken {
    Access,
    Refresh,
}

impl CookieToken {
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Self::Access => (ACCESS_COOKIE, ACCESS_CSRF_COOKIE),
            Self::Refresh => (REFRESH_COOKIE, REFRESH_CSRF_COOKIE),
        }
    }
}

/// The token in `kind`'s cookie, if the request has one; for unsafe methods only with a
/// matching `X-CSRF-Token` (else 403).
pub(crate) fn token_from_cookie(
    request: &HttpRequest,
    kind: CookieToken,
) -> Result<Option<String>, ApiError> {
    let (token_cookie, csrf_cookie) = kind.names();
    let Some(token) = request.cookie(token_cookie) else {
        return Ok(None);
    };
    if !request.method().is_safe() {
        let expected = request.cookie(csrf_cookie);
        let presented = request.headers().get(&CSRF_HEADER);
        let matches = match (expected, presented) {
            (Some(expected), Some(presented)) => {
                !expected.value().is_empty()
                    && bool::from(expected.value().as_bytes().ct_eq(presented.as_bytes()))
            }
            _ => false,
        };
        if !matches {
            return Err(ApiError::Forbidden("CSRF token missing or invalid"));
        }
    }
    Ok(Some(token.value().to_owned()))
}

/// The four cookies of a token pair: the tokens (`HttpOnly`) and their CSRF companions
/// (readable by the front end), each living as long as its token.
pub(crate) fn token_cookies(
    access_token: &str,
    access_expires_at: DateTime<Utc>,
    refresh_token: &str,
    refresh_expires_at: DateTime<Utc>,
    secure: bool,
) -> [Cookie<'static>; 4] {
    let now = Utc::now();
    let lifetime = |until: DateTime<Utc>| CookieDuration::seconds((until - now).num_seconds());
    [
        cookie(ACCESS_COOKIE, access_token.to_owned(), "/", true, secure)
            .max_age(lifetime(access_expires_at))
            .finish(),
        cookie(ACCESS_CSRF_COOKIE, csrf_value(), "/", false, secure)
            .max_age(lifetime(access_expires_at))
            .finish(),
        cookie(
            REFRESH_COOKIE,
            refresh_token.to_owned(),
            "/auth",
            true,
            secure,
        )
        .max_age(lifetime(refresh_expires_at))
        .finish(),
        cookie(REFRESH_CSRF_COOKIE, csrf_value(), "/", false, secure)
            .max_age(lifetime(refresh_expires_at))
            .finish(),
    ]
}

/// The four cookies, emptied and expired (`Max-Age=0`), for logout.
pub(crate) fn cleared_cookies(secure: bool) -> [Cookie<'static>; 4] {
    [
        (ACCESS_COOKIE, "/", true),
        (ACCESS_CSRF_COOKIE, "/", false),
        (REFRESH_COOKIE, "/auth", true),
        (REFRESH_CSRF_COOKIE, "/", false),
    ]
    .map(|(name, path, http_only)| {
        cookie(name, String::new(), path, http_only, secure)
            .max_age(CookieDuration::ZERO)
            .finish()
    })
}

fn cookie(
    name: &'static str,
    value: String,
    path: &'static str,
    http_only: bool,
    secure: bool,
) -> actix_web::cookie::CookieBuilder<'static> {
    Cookie::build(name, value)
        .path(path)
        .http_only(http_only)
        .secure(secure)
        .same_site(SameSite::Lax)
}

/// 256 random bits, hex: unguessable, and safe in a cookie and a header.
pub(crate) fn csrf_value() -> String {
    rand::random::<[u8; 32]>()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_locations_parse_in_any_order() {
        assert_eq!(
            TokenLocation::parse("headers"),
            Some(TokenLocation::HEADERS)
        );
        let both = Some(TokenLocation {
            headers: true,
            cookies: true,
        });
        assert_eq!(TokenLocation::parse("headers,cookies"), both);
        assert_eq!(TokenLocation::parse(" Cookies , headers "), both);
        assert_eq!(TokenLocation::parse("query"), None);
        assert_eq!(TokenLocation::parse(""), None);
    }

    #[test]
    fn origins_are_written_as_browsers_write_them() {
        let origin = |url: &str| origin_of(url).unwrap();
        assert_eq!(
            origin("https://Auth.Example.com/"),
            "https://auth.example.com"
        );
        assert_eq!(
            origin("https://auth.example.com:443/x"),
            "https://auth.example.com"
        );
        assert_eq!(origin("http://127.0.0.1:8000"), "http://127.0.0.1:8000");
        assert_eq!(origin("http://[::1]:80/"), "http://[::1]");
        assert_eq!(origin_of("no-scheme"), None);
    }
}
