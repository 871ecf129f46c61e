//! The audit log for administrators: every security-relevant event, filtered and paged.

use actix_web::{HttpResponse, web};

use crate::{
    error::ApiError,
    extract::Superuser,
    shared_responses::{DatabaseDown, SuperuserRefused},
    state::AppState,
};

pub mod dto;

use dto::{AuditEventOut, AuditPage, AuditQuery};

/// The audit log, newest first, filtered by account, kind and time, a page at a time.
#[utoipa::path(
    get,
    path = "/audit-events",
    tag = "admin",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of events, newest first", body = AuditPage),
        SuperuserRefused,
        DatabaseDown,
        (status = 422, description = "A bad filter, `limit` outside 1–500, or a cursor this service did not give", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_audit_events(
    state: web::Data<AppState>,
    _admin: Superuser,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.parse()?;
    let (events, next) = state
        .audit
        .list(&page.filter, page.before, page.limit)
        .await?;
    Ok(HttpResponse::Ok().json(AuditPage {
        items: events.into_iter().map(AuditEventOut::from).collect(),
        next_cursor: next.map(|id| id.to_string()),
    }))
}
