//! HTTP endpoints for operators and backends beside Socket.IO: Prometheus metrics and the
//! publish API.

pub mod metrics;
pub mod rooms;
