//! The pages' static files, embedded in the binary: one stylesheet and the passkey script,
//! each served under a name carrying its hash, so browsers may keep it for a year.

use std::sync::LazyLock;

use actix_web::{HttpResponse, http::header, web};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

const STYLESHEET: &str = include_str!("../../assets/pages.css");
/// The pages' only script: passkey ceremonies (everything else works without it).
const SCRIPT: &str = include_str!("../../assets/passkeys.js");

/// `/assets/<stem>.<hash>.<extension>`: a new file gets a new name, so browsers may keep
/// each one for a year.
fn hashed_path(stem: &str, extension: &str, content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("/assets/{stem}.{hash}.{extension}")
}

pub(super) static STYLESHEET_PATH: LazyLock<String> =
    LazyLock::new(|| hashed_path("pages", "css", STYLESHEET));
pub(super) static SCRIPT_PATH: LazyLock<String> =
    LazyLock::new(|| hashed_path("passkeys", "js", SCRIPT));

/// The stylesheet and the script, each under its current name only.
pub(super) async fn asset(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let path = format!("/assets/{name}");
    let (content_type, body) = if path == *STYLESHEET_PATH {
        ("text/css; charset=utf-8", STYLESHEET)
    } else if path == *SCRIPT_PATH {
        ("text/javascript; charset=utf-8", SCRIPT)
    } else {
        return Err(ApiError::NotFound("Not Found"));
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body))
}
