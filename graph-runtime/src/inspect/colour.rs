//! The colours of a box by its run's outcome, shared by the DOT text (`dot`) and the
//! SVG picture (`svg`, feature `svg`).

use super::NodeOutcome;

/// The fill of a box with this outcome.
pub(crate) fn fill_of(outcome: Option<NodeOutcome>) -> &'static str {
    match outcome {
        None => "#eef3fb",
        Some(NodeOutcome::Finished) => "#b9e6c3",
        Some(NodeOutcome::Failed) => "#f5a3a3",
        Some(NodeOutcome::Stopped | NodeOutcome::Cancelled) => "#fbcf8e",
        Some(NodeOutcome::Running) => "#a9cdf5",
        Some(NodeOutcome::Pending) => "#f4f4f4",
        Some(NodeOutcome::NeverRan) => "#d6d6d6",
    }
}

/// The border of a box with this outcome (the SVG picture's; DOT has none).
#[cfg_attr(not(feature = "svg"), allow(dead_code))]
pub(crate) fn stroke_of(outcome: Option<NodeOutcome>) -> &'static str {
    match outcome {
        None => "#4a6a94",
        Some(NodeOutcome::Finished) => "#2e7d43",
        Some(NodeOutcome::Failed) => "#b3261e",
        Some(NodeOutcome::Stopped | NodeOutcome::Cancelled) => "#b36b00",
        Some(NodeOutcome::Running) => "#2763a8",
        Some(NodeOutcome::Pending | NodeOutcome::NeverRan) => "#8a8a8a",
    }
}

/// The colour of the `index`-th function of a task stream (a performance report
/// numbers its functions by name): twenty distinct colours (Tableau's 20), in an order
/// that keeps neighbours apart, then again.
#[cfg_attr(not(feature = "dashboard"), allow(dead_code))]
pub(crate) fn function_colour(index: usize) -> &'static str {
    const PALETTE: [&str; 20] = [
        "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7",
        "#9c755f", "#bab0ac", "#a0cbe8", "#ffbe7d", "#8cd17d", "#b6992d", "#499894", "#86bcb6",
        "#d37295", "#fabfd2", "#d4a6c8", "#d7b5a6",
    ];
    PALETTE[index % PALETTE.len()]
}
