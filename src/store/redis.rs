//! Redis-backed store (in progress).
