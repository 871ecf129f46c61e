//! `/admin/audit`: the audit log, newest first, 50 a page, filtered by account (its
//! address or id), type and time (UTC), as `GET /audit-events` reads it.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use chrono::{DateTime, NaiveDateTime, Utc};
use gatehouse_domain::{AuditEvent, AuditEventType, Email, UserId};
use gatehouse_persistence::AuditFilter;
use serde::Deserialize;

use super::admin_user;
use crate::{
    pages::{Frame, PageContext, encode, error_page},
    state::AppState,
};

/// Events on a page.
const EVENTS_PER_PAGE: u64 = 50;

/// How a time filter is typed (`datetime-local`), read as UTC; RFC 3339 is taken too.
const MINUTE: &str = "%Y-%m-%dT%H:%M";

/// The filters, as typed, and where the page starts.
#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    user: String,
    #[serde(default, rename = "type")]
    event_type: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    /// The last event of the previous page (`Older events`).
    #[serde(default)]
    before: Option<String>,
}

/// One event as the page shows it.
struct EventLine {
    at: String,
    kind: &'static str,
    /// The account: (id, its address while it exists).
    user: Option<(String, Option<String>)>,
    /// Who did it, when not the account itself: an administrator's address (or id), or
    /// the command line.
    by: Option<String>,
    ip: Option<String>,
    details: String,
}

#[derive(Template)]
#[template(path = "pages/admin_audit.html")]
struct AuditPage {
    page: Frame,
    user: String,
    since: String,
    until: String,
    /// Every type, and whether it is the one chosen.
    kinds: Vec<(&'static str, bool)>,
    events: Vec<EventLine>,
    /// `Older events`, when there are.
    older: Option<String>,
    /// Back to the newest, when this page is not the first.
    newest: Option<String>,
}

/// `GET /admin/audit`.
pub async fn events(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<AuditQuery>,
) -> HttpResponse {
    if let Err(answer) = admin_user(&state, &request).await {
        return answer;
    }
    let query = query.into_inner();
    let context = PageContext::new(&state, &request, "Audit");
    let (filter, problems) = match filter_of(&state, &query).await {
        Ok(parsed) => parsed,
        Err(error) => return error_page(&state, &request, &error.into()),
    };
    let before = query
        .before
        .as_deref()
        .and_then(|raw| raw.trim().parse::<i64>().ok());
    let (found, next) = if problems.is_empty() {
        match state.audit.list(&filter, before, EVENTS_PER_PAGE).await {
            Ok(found) => found,
            Err(error) => return error_page(&state, &request, &error.into()),
        }
    } else {
        (Vec::new(), None)
    };
    let mut people: Vec<UserId> = found
        .iter()
        .flat_map(|event| [event.event.user_id, event.event.context.actor_id])
        .flatten()
        .collect();
    people.sort_unstable_by_key(|id| id.as_uuid());
    people.dedup();
    let emails = match state.users.emails_of(&people).await {
        Ok(emails) => emails,
        Err(error) => return error_page(&state, &request, &error.into()),
    };
    let events = found
        .into_iter()
        .map(|AuditEvent { event, .. }| {
            let by_cli = event.details.get("by").is_some_and(|by| by == "cli");
            EventLine {
                at: event.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                kind: event.event_type.as_str(),
                user: event
                    .user_id
                    .map(|id| (id.to_string(), emails.get(&id).cloned())),
                by: match event.context.actor_id {
                    Some(actor) => Some(
                        emails
                            .get(&actor)
                            .cloned()
                            .unwrap_or_else(|| actor.to_string()),
                    ),
                    None if by_cli => Some("the command line".to_owned()),
                    None => None,
                },
                ip: event.context.ip,
                details: event
                    .details
                    .iter()
                    .map(|(name, value)| format!("{name}={value}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            }
        })
        .collect();
    let filters = filters_query(&query);
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let context = if problems.is_empty() {
        context
    } else {
        context.with_problem(problems.join(" "))
    };
    let (page, cookie) = context.into_parts();
    PageContext::render(
        cookie,
        &state,
        status,
        &AuditPage {
            page,
            kinds: AuditEventType::ALL
                .iter()
                .map(|kind| (kind.as_str(), kind.as_str() == query.event_type.trim()))
                .collect(),
            events,
            older: next.map(|id| format!("/admin/audit?{filters}before={id}")),
            newest: before.map(|_| format!("/admin/audit?{filters}")),
            user: query.user,
            since: query.since,
            until: query.until,
        },
    )
}

/// The filters of `query`, and what is wrong with them (one sentence each).
async fn filter_of(
    state: &AppState,
    query: &AuditQuery,
) -> Result<(AuditFilter, Vec<&'static str>), gatehouse_persistence::RepoError> {
    let mut problems = Vec::new();
    let mut filter = AuditFilter::default();
    let user = query.user.trim();
    if !user.is_empty() {
        if let Some(id) = UserId::parse(user) {
            filter.user_id = Some(id);
        } else if let Ok(email) = Email::parse(user) {
            match state.users.find_by_email(&email).await? {
                Some(found) => filter.user_id = Some(found.id),
                None => problems.push(
                    "No account has this email (it may have been deleted: search by its id).",
                ),
            }
        } else {
            problems.push("The account must be an email or an account id.");
        }
    }
    let kind = query.event_type.trim();
    if !kind.is_empty() {
        match AuditEventType::parse(kind) {
            Some(kind) => filter.event_type = Some(kind),
            None => problems.push("There is no event of this type."),
        }
    }
    for (raw, slot, problem) in [
        (
            &query.since,
            &mut filter.since,
            "From must be a date and time.",
        ),
        (
            &query.until,
            &mut filter.until,
            "Until must be a date and time.",
        ),
    ] {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        match moment(raw) {
            Some(at) => *slot = Some(at),
            None => problems.push(problem),
        }
    }
    Ok((filter, problems))
}

/// A moment typed as `datetime-local` gives it (UTC), or as RFC 3339; in the years 1 to
/// 9999, which every database stores (chrono reads any number of digits).
fn moment(raw: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(raw, MINUTE)
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S"))
        .map(|at| at.and_utc())
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(raw)
                .ok()
                .map(|at| at.with_timezone(&Utc))
        })
        .filter(|at| (1..=9999).contains(&chrono::Datelike::year(at)))
}

/// The filters as a query string's start (`name=value&` each), for the paging links.
fn filters_query(query: &AuditQuery) -> String {
    [
        ("user", &query.user),
        ("type", &query.event_type),
        ("since", &query.since),
        ("until", &query.until),
    ]
    .into_iter()
    .filter(|(_, value)| !value.trim().is_empty())
    .map(|(name, value)| format!("{name}={}&", encode(value.trim())))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_are_read_as_typed_or_as_rfc_3339() {
        let at = moment("2026-12-07T14:05").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-12-07T14:05:00+00:00");
        assert_eq!(
            moment("2026-12-07T14:05:30Z").unwrap().timestamp() - at.timestamp(),
            30
        );
        assert_eq!(moment("2026-12-07T15:05:00+01:00"), Some(at));
        assert_eq!(moment("yesterday"), None);
        assert_eq!(moment("-5000-01-01T00:00"), None);
        assert_eq!(moment("+20000-01-01T00:00"), None);
        assert!(moment("9999-12-31T23:59").is_some());
    }
}
