//! The observers that come with taskweave: progress bars, the profiler's task stream,
//! `tracing` spans, the performance report and the live dashboard. Each implements the engine's
//! `Observer` hooks, so they watch static graphs, dynamic graphs and futures alike;
//! none imports a front end (the report draws its graphs with inspection's SVG).

#[cfg(feature = "dashboard")]
pub(crate) mod dashboard;
#[cfg(feature = "dashboard")]
pub(crate) mod http;
pub(crate) mod profile;
pub(crate) mod progress;
#[cfg(feature = "dashboard")]
pub(crate) mod report;
pub(crate) mod tasklog;
#[cfg(feature = "tracing")]
pub(crate) mod trace;
