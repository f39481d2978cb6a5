//! The outbox: store, sender and delivery policy.

pub mod policy;
