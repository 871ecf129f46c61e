//! `/docs`, the Swagger UI, and `/openapi.json`, the document it shows. The UI's files are
//! compiled into the binary (only those the page loads: see `build.rs`), so it works
//! offline; the document is rendered once at start.

use std::io::Read;

use actix_web::{
    HttpRequest, HttpResponse,
    http::header::{self, CacheControl, CacheDirective},
    web,
};

use crate::{error::ApiError, openapi::openapi};

/// A file of Swagger UI's distribution, as `build.rs` left it in `OUT_DIR`.
macro_rules! swagger_file {
    ($name:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/swagger-ui/", $name)).as_slice()
    };
}

/// Points the UI at our document; the distribution's own initializer shows the pet store.
const INITIALIZER: &str = r##"window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout"
  });
};
"##;

/// What `/docs/{file}` serves: name, content type, bytes (gzipped when the name in
/// `swagger_file!` ends in `.gz`, see [`GZIPPED`]). `index.html` is also `/docs/`.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        swagger_file!("index.html"),
    ),
    (
        "index.css",
        "text/css; charset=utf-8",
        swagger_file!("index.css"),
    ),
    (
        "swagger-ui.css",
        "text/css; charset=utf-8",
        swagger_file!("swagger-ui.css.gz"),
    ),
    (
        "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        swagger_file!("swagger-ui-bundle.js.gz"),
    ),
    (
        "swagger-ui-standalone-preset.js",
        "text/javascript; charset=utf-8",
        swagger_file!("swagger-ui-standalone-preset.js.gz"),
    ),
    (
        "swagger-initializer.js",
        "text/javascript; charset=utf-8",
        INITIALIZER.as_bytes(),
    ),
    (
        "favicon-16x16.png",
        "image/png",
        swagger_file!("favicon-16x16.png"),
    ),
    (
        "favicon-32x32.png",
        "image/png",
        swagger_file!("favicon-32x32.png"),
    ),
    (
        "oauth2-redirect.html",
        "text/html; charset=utf-8",
        swagger_file!("oauth2-redirect.html"),
    ),
];

/// Routes for `/docs`, `/docs/…` and `/openapi.json`, with the document titled
/// `app_name`. Render once and clone the result into each worker.
#[derive(Clone)]
pub struct Docs {
    document: web::Bytes,
}

impl Docs {
    /// Renders the OpenAPI document.
    pub fn new(app_name: &str) -> Result<Self, serde_json::Error> {
        let document = serde_json::to_vec(&openapi(app_name))?;
        Ok(Self {
            document: document.into(),
        })
    }

    /// Registers the routes.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        let document = self.document.clone();
        cfg.route(
            "/openapi.json",
            web::get().to(move || {
                let document = document.clone();
                async move {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(document)
                }
            }),
        )
        .route(
            "/docs",
            web::get().to(|| async {
                HttpResponse::PermanentRedirect()
                    .insert_header((header::LOCATION, "/docs/"))
                    .finish()
            }),
        )
        .route(
            "/docs/",
            web::get().to(|request: HttpRequest| async move { file("index.html", &request) }),
        )
        .route(
            "/docs/{file}",
            web::get().to(|name: web::Path<String>, request: HttpRequest| async move {
                file(&name, &request)
            }),
        );
    }
}

/// The files `build.rs` stored gzipped.
const GZIPPED: &[&str] = &[
    "swagger-ui.css",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
];

fn file(name: &str, request: &HttpRequest) -> Result<HttpResponse, ApiError> {
    let Some((_, content_type, bytes)) = FILES.iter().find(|(file, _, _)| *file == name) else {
        return Err(ApiError::NotFound("Not Found"));
    };
    let mut response = HttpResponse::Ok();
    response
        .content_type(*content_type)
        // The files change only with the binary; an hour spares reloading them.
        .insert_header(CacheControl(vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(3600),
        ]));
    if !GZIPPED.contains(&name) {
        return Ok(response.body(*bytes));
    }
    response.insert_header((header::VARY, "Accept-Encoding"));
    if accepts_gzip(request) {
        return Ok(response
            .insert_header((header::CONTENT_ENCODING, "gzip"))
            .body(*bytes));
    }
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(*bytes)
        .read_to_end(&mut plain)
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok(response.body(plain))
}

/// Whether `Accept-Encoding` names gzip (or `*`) without refusing it (`q=0`).
fn accepts_gzip(request: &HttpRequest) -> bool {
    request
        .headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|param| {
                param
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}
