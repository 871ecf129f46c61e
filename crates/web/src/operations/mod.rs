//! What operators and orchestrators use: liveness, readiness, and the Prometheus
//! metrics (their registry and collectors in [`crate::metrics`]).

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{error::ApiError, shared_responses::DatabaseDown, state::AppState};

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

/// Prometheus text exposition of every metric.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain; version=0.0.4"))
)]
pub async fn scrape_metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let body = state.metrics.render()?;
    Ok(HttpResponse::Ok()
        .content_type(crate::metrics::TEXT_FORMAT)
        .body(body))
}
