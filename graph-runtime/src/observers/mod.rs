//! The observers that come with taskweave: progress bars, the profiler's task stream
//! and `tracing` spans. Each implements the engine's `Observer` hooks, so they watch
//! static graphs, dynamic graphs and futures alike; none imports a front end.

pub(crate) mod profile;
pub(crate) mod progress;
#[cfg(feature = "tracing")]
pub(crate) mod trace;
