//! Liveness and readiness, for orchestrators and load balancers.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{error::ApiError, openapi::responses::DatabaseDown, state::AppState};

/// Liveness and readiness answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusOut {
    /// `ok`, or `unavailable` when a dependency is down.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// 200 while the process runs.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations", responses((status = 200, description = "Alive", body = StatusOut)))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(StatusOut { status: "ok" })
}

/// 200 when the database answers, else 503.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = StatusOut),
        DatabaseDown,
    )
)]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    gatehouse_persistence::ping(&state.db).await?;
    Ok(HttpResponse::Ok().json(StatusOut { status: "ok" }))
}
