//! HTTP endpoints for operators and backends beside Socket.IO: Prometheus metrics.

pub mod metrics;
