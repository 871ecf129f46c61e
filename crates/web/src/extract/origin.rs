//! Where a request comes from, as browsers tell it: what guards the routes that set
//! cookies from credentials (login CSRF), and the pages' forms.

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};

use crate::{error::ApiError, state::AppState};

/// A route that sets cookies from credentials declares this first: in cookie mode it
/// refuses (403) a request that a browser says comes from another site — an `Origin`
/// that is neither this server's nor one of `CORS_ORIGINS` (`null` included), or, with no
/// `Origin`, `Sec-Fetch-Site: cross-site`.
#[derive(Debug)]
pub struct TrustedOrigin;

impl FromRequest for TrustedOrigin {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verdict = match req.app_data::<web::Data<AppState>>() {
            Some(state) if state.options.token_location.cookies => {
                from_trusted_origin(req, &state.options.trusted_origins)
            }
            _ => true,
        };
        std::future::ready(if verdict {
            Ok(Self)
        } else {
            Err(ApiError::Forbidden("Request from another site refused"))
        })
    }
}

pub(crate) fn from_trusted_origin(request: &HttpRequest, trusted: &[String]) -> bool {
    let headers = request.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        return trusted
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(origin));
    }
    headers
        .get("sec-fetch-site")
        .is_none_or(|site| site.as_bytes() != b"cross-site")
}
