//! The audit log leaving the service: `gatehouse audit export` and the event counts on
//! `/metrics`.

use std::process::Output;

use chrono::Timelike;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, PASSWORD, TestApp, metrics_text, spawn_app};
use gatehouse_persistence::{AuditFilter, AuditRepository};

backend_tests!(
    the_export_writes_each_event_once_as_a_json_line_oldest_first,
    the_export_refuses_a_bad_time_in_one_line,
    metrics_count_events_by_type,
);

impl TestApp {
    fn export(&self, args: &[&str]) -> Output {
        let mut full = vec!["audit", "export"];
        full.extend_from_slice(args);
        self.command(&full, "")
    }
}

/// Every stored event comes out once, oldest first, each line a JSON object with the
/// columns `GET /audit-events` shows; `--since`/`--until` bound it as the route does.
/// More events than one read batch (1000) checks that batches join without a gap or a
/// repeat.
async fn the_export_writes_each_event_once_as_a_json_line_oldest_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _, _) = app.logged_in_user().await;
    app.login(&email, "wrong-password").await;
    let audit = AuditRepository::new(app.db.clone());
    let template = audit
        .list(&AuditFilter::default(), None, 1)
        .await
        .unwrap()
        .0[0]
        .event
        .clone();
    // Whole seconds: MySQL keeps event times to the second.
    let start = (chrono::Utc::now() - chrono::Duration::hours(1))
        .with_nanosecond(0)
        .unwrap();
    for second in 0..1100 {
        let event = gatehouse_domain::NewAuditEvent {
            at: start + chrono::Duration::seconds(second),
            ..template.clone()
        };
        audit.record(&event).await.unwrap();
    }
    let (stored, _) = audit
        .list(&AuditFilter::default(), None, 500)
        .await
        .unwrap();
    let total = audit.count(&AuditFilter::default()).await.unwrap();
    assert_eq!(
        total, 1103,
        "registered, login.succeeded, login.failed and the 1100"
    );

    let output = app.export(&[]);
    assert!(output.status.success(), "{output:?}");
    assert!(
        output.stderr.is_empty(),
        "no progress when stderr is no terminal"
    );
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert_eq!(lines.len() as u64, total);
    let ids: Vec<i64> = lines
        .iter()
        .map(|line| line["id"].as_i64().unwrap())
        .collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "oldest first, no repeat"
    );
    let newest = &lines[lines.len() - 1];
    assert_eq!(newest["id"].as_i64(), Some(stored[0].id));
    for field in [
        "at",
        "type",
        "user_id",
        "actor_id",
        "ip",
        "user_agent",
        "request_id",
        "session_id",
        "details",
    ] {
        assert!(newest.get(field).is_some(), "{field} missing: {newest}");
    }
    assert_eq!(lines[0]["type"], "user.registered");
    assert!(!lines.iter().any(|line| line.to_string().contains(PASSWORD)));

    // The 1100 lie an hour back, 1 s apart: since is inclusive, until exclusive.
    let since = (start + chrono::Duration::seconds(100)).to_rfc3339();
    let until = (start + chrono::Duration::seconds(200)).to_rfc3339();
    let output = app.export(&["--since", &since, "--until", &until]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap().lines().count(),
        100
    );
}

async fn the_export_refuses_a_bad_time_in_one_line(backend: Backend) {
    let app = spawn_app(backend).await;
    let output = app.export(&["--since", "yesterday"]);
    assert!(!output.status.success(), "{output:?}");
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not an RFC 3339 time"), "{stderr}");
}

/// `gatehouse_audit_events_total{type=…}` is exported for every type (the label set is
/// the fixed list of types) and grows with stored events. The counters belong to the
/// process, which other tests share, so only growth is checked.
async fn metrics_count_events_by_type(backend: Backend) {
    let app = spawn_app(backend).await;
    let count = async |kind: &str| -> f64 {
        let text = metrics_text(&app.client, &app.address).await;
        let prefix = format!("gatehouse_audit_events_total{{type=\"{kind}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in {text}"))
    };
    let before = count("login.succeeded").await;
    let (email, _, _) = app.logged_in_user().await;
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);
    assert!(count("login.succeeded").await >= before + 2.0);
    let text = metrics_text(&app.client, &app.address).await;
    let labelled = text
        .lines()
        .filter(|line| line.starts_with("gatehouse_audit_events_total{"))
        .count();
    assert_eq!(
        labelled,
        gatehouse_domain::AuditEventType::ALL.len(),
        "{text}"
    );
}
