//! `gatehouse audit export`: the audit log as JSON lines on stdout, oldest first, read in
//! batches so memory stays the same however large the log is.

use std::io::{IsTerminal, Write};

use anyhow::Context;
use chrono::{DateTime, Utc};
use gatehouse_persistence::{AuditFilter, AuditRepository};
use gatehouse_web::audit::dto::AuditEventOut;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::{Settings, database::prepare_database};

/// Events read per query.
const BATCH: u64 = 1000;

/// Writes every event from `since` (inclusive) until `until` (exclusive) to stdout.
pub async fn run(
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    settings: &Settings,
) -> anyhow::Result<()> {
    let db = prepare_database(settings).await?;
    let audit = AuditRepository::new(db);
    let filter = AuditFilter {
        since,
        until,
        ..AuditFilter::default()
    };
    // Counting costs a scan; only a person watching a terminal needs the total.
    let progress = if std::io::stderr().is_terminal() {
        progress_bar(audit.count(&filter).await.context("cannot count events")?)
    } else {
        ProgressBar::hidden()
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut after = None;
    let mut written = 0_u64;
    loop {
        let batch = audit
            .list_oldest_first(&filter, after, BATCH)
            .await
            .context("cannot read audit events")?;
        let Some(last) = batch.last() else { break };
        after = Some(last.id);
        for event in batch {
            match write_line(&mut out, &AuditEventOut::from(event)) {
                Ok(()) => written += 1,
                // `| head` closed the pipe: the reader has what it wanted.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                Err(e) => return Err(e).context("cannot write to stdout"),
            }
        }
        match out.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            flushed => flushed.context("cannot write to stdout")?,
        }
        progress.set_position(written);
    }
    progress.finish();
    Ok(())
}

fn write_line(out: &mut impl Write, event: &AuditEventOut) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, event)?;
    out.write_all(b"\n")
}

/// A bar on stderr when it is a terminal; nothing otherwise (so a pipe gets only JSON).
fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} events ({eta} left)") {
        bar.set_style(style);
    }
    bar
}
