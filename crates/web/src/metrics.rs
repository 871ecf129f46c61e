//! Prometheus metrics: requests by route pattern, method and status with latency
//! histograms (recorded by actix-web-prom's middleware), login outcomes, and the length of
//! the password-hashing queue, the session cache's state and the audit events stored by
//! type (read at scrape time). No user data ever becomes a label:
//! routes are labelled by pattern, unmatched paths by one mask.

use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use gatehouse_app::LoginCounter;
use gatehouse_auth::PasswordHasher;
use gatehouse_persistence::{SessionCache, recorded_audit_events};
use prometheus::{
    Encoder, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder, core::Collector,
    core::Desc, proto::MetricFamily,
};

use crate::error::ApiError;

/// The content type of [`Metrics::render`]'s text.
pub(crate) const TEXT_FORMAT: &str = prometheus::TEXT_FORMAT;

/// Metric names start with this.
pub(crate) const NAMESPACE: &str = "gatehouse";

/// The registry and the application's own metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    http: PrometheusMetrics,
}

impl Metrics {
    /// Builds the registry with the HTTP, login and hashing-queue metrics; `logins` is the
    /// flows' counter of sign-in outcomes.
    pub fn new(
        hasher: PasswordHasher,
        cache: SessionCache,
        logins: &LoginCounter,
    ) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        registry.register(logins.collector())?;
        registry.register(Box::new(HashingQueue::new(hasher)?))?;
        registry.register(Box::new(SessionCacheMetrics::new(cache)?))?;
        registry.register(Box::new(AuditEventCounts::new()?))?;
        let http = PrometheusMetricsBuilder::new(NAMESPACE)
            .registry(registry)
            .mask_unmatched_patterns("UNMATCHED")
            .build()
            .map_err(|e| prometheus::Error::Msg(e.to_string()))?;
        Ok(Self { http })
    }

    /// The middleware that records every request; wrap the whole app with it.
    pub fn middleware(&self) -> PrometheusMetrics {
        self.http.clone()
    }

    pub(crate) fn render(&self) -> Result<String, ApiError> {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.http.registry.gather(), &mut buffer)
            .map_err(|e| ApiError::Internal(Box::new(e)))?;
        String::from_utf8(buffer).map_err(|e| ApiError::Internal(Box::new(e)))
    }
}

/// A gauge read from the hasher when scraped, so the hot path never touches it.
struct HashingQueue {
    hasher: PasswordHasher,
    gauge: IntGauge,
}

impl HashingQueue {
    fn new(hasher: PasswordHasher) -> Result<Self, prometheus::Error> {
        let gauge = IntGauge::with_opts(
            Opts::new(
                "password_hashing_queue_length",
                "Password hashing jobs waiting for a free slot",
            )
            .namespace(NAMESPACE),
        )?;
        Ok(Self { hasher, gauge })
    }
}

impl Collector for HashingQueue {
    fn desc(&self) -> Vec<&Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.gauge
            .set(i64::try_from(self.hasher.queue_len()).unwrap_or(i64::MAX));
        self.gauge.collect()
    }
}

/// The session cache's state, read when scraped.
struct SessionCacheMetrics {
    cache: SessionCache,
    usable: IntGauge,
    entries: IntGauge,
    hits: IntCounter,
}

impl SessionCacheMetrics {
    fn new(cache: SessionCache) -> Result<Self, prometheus::Error> {
        let opts = |name: &str, help: &str| Opts::new(name, help).namespace(NAMESPACE);
        Ok(Self {
            cache,
            usable: IntGauge::with_opts(opts(
                "session_cache_usable",
                "1 while the session cache answers (its invalidation channel works), else 0",
            ))?,
            entries: IntGauge::with_opts(opts(
                "session_cache_entries",
                "Sessions held by the session cache",
            ))?,
            hits: IntCounter::with_opts(opts(
                "session_cache_hits_total",
                "Token checks answered by the session cache without the database",
            ))?,
        })
    }
}

impl Collector for SessionCacheMetrics {
    fn desc(&self) -> Vec<&Desc> {
        [&self.usable, &self.entries]
            .into_iter()
            .flat_map(|gauge| gauge.desc())
            .chain(self.hits.desc())
            .collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.usable.set(i64::from(self.cache.is_usable()));
        self.entries
            .set(i64::try_from(self.cache.len()).unwrap_or(i64::MAX));
        self.hits.reset();
        self.hits.inc_by(self.cache.hits());
        [&self.usable, &self.entries]
            .into_iter()
            .flat_map(|gauge| gauge.collect())
            .chain(self.hits.collect())
            .collect()
    }
}

/// Audit events stored by this process, by type, read when scraped. The label set is the
/// fixed list of event types, so it stays bounded.
struct AuditEventCounts {
    counts: IntCounterVec,
}

impl AuditEventCounts {
    fn new() -> Result<Self, prometheus::Error> {
        let counts = IntCounterVec::new(
            Opts::new(
                "audit_events_total",
                "Audit events stored by this process, by type",
            )
            .namespace(NAMESPACE),
            &["type"],
        )?;
        Ok(Self { counts })
    }
}

impl Collector for AuditEventCounts {
    fn desc(&self) -> Vec<&Desc> {
        self.counts.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        for (kind, count) in recorded_audit_events() {
            let counter = self.counts.with_label_values(&[kind.as_str()]);
            counter.reset();
            counter.inc_by(count);
        }
        self.counts.collect()
    }
}
