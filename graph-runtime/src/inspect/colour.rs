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

/// The colour of a function's bars in a task stream (a performance report): one of
/// twenty distinct colours (Tableau's 20), chosen by the name's hash, so a name keeps its colour in
/// every report.
#[cfg_attr(not(feature = "dashboard"), allow(dead_code))]
pub(crate) fn function_colour(name: &str) -> &'static str {
    const PALETTE: [&str; 12] = [
        "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f",
        "#5778a4", "#e49444", "#85b6b2", "#a87c9f",
    ];
    // FNV-1a: stable across runs and platforms.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    PALETTE[(hash % PALETTE.len() as u64) as usize]
}
