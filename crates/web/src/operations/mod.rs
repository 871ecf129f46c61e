//! What operators and orchestrators use: liveness, readiness, metrics.

pub mod health;
pub mod metrics;
