//! The inspection layer: [`GraphInfo`] (`info`), recording a run's outcomes
//! ([`RunRecord`], `record`), collapsing large graphs (`collapse`), writing DOT and
//! SVG (`dot`, `svg`; the latter with the cargo feature `svg`) with [`DrawOptions`],
//! in the colours of `colour`; compressed adjacency lists for walking them
//! (`adjacency`).
//!
//! Nothing here recurses in a graph's size, nor scans every edge or node once per
//! node: this layer's own passes are linear in the nodes and edges, or `n log n` where
//! they sort. (layout-rs's layout of an SVG picture is not: hence the collapsing.)
//!
//! Every front end hands a [`GraphInfo`] to this layer (`Graph::info`, `Delayed::info`,
//! `futures_info`); nothing here knows whether it came from `graph!`, a `Delayed` or
//! futures, and no module here imports a front end.

mod adjacency;
pub(crate) mod collapse;
pub(crate) mod colour;
pub(crate) mod dot;
pub(crate) mod info;
mod record;
#[cfg(feature = "svg")]
pub(crate) mod svg;

pub use info::{GraphInfo, NodeOutcome, NodeView};
pub use record::{FutureRecord, RunRecord};

/// Which way a drawing runs: the direction data flows in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Inputs at the top, results at the bottom (Graphviz's `rankdir=TB`).
    #[default]
    TopToBottom,
    /// Inputs on the left, results on the right (Graphviz's `rankdir=LR`).
    LeftToRight,
}

/// How [`GraphInfo::to_svg_with`] and [`GraphInfo::to_dot_with`] draw a graph.
///
/// ```
/// use graph_runtime::{Direction, DrawOptions};
/// let options = DrawOptions::new()
///     .direction(Direction::LeftToRight)
///     .collapse_above(50);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawOptions {
    pub(crate) direction: Direction,
    pub(crate) collapse_above: usize,
    pub(crate) title: Option<String>,
}

impl Default for DrawOptions {
    fn default() -> Self {
        DrawOptions {
            direction: Direction::TopToBottom,
            collapse_above: 100,
            title: None,
        }
    }
}

impl DrawOptions {
    /// Top to bottom; graphs of more than 100 nodes collapsed, and in smaller ones
    /// more than 8 alike siblings.
    #[must_use = "builder methods return the changed builder"]
    pub fn new() -> Self {
        DrawOptions::default()
    }

    /// Which way the arrows run.
    #[must_use = "builder methods return the changed builder"]
    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }

    /// Collapses similar nodes when the graph has more than `nodes` nodes (default
    /// 100): nodes with the same name, kind, call site and outcome, whose inputs and
    /// consumers are alike, become one box such as `inc ×1000`, and a chain of such
    /// boxes becomes one box. A graph of at most `nodes` nodes still draws more than 8
    /// such nodes as one box (`leaf ×24`, not a row thousands of pixels wide). `0`
    /// always collapses, `usize::MAX` never does (one box per node).
    ///
    /// A collapsed picture that would still hold more than 250 boxes, or too many
    /// arrows to lay out quickly, is drawn with one box per task name and call site;
    /// failing that, per call site; and failing that (every node written at a place of
    /// its own), one box per kind and outcome: drawing never takes longer than a small
    /// picture does.
    ///
    /// A picture that is not collapsed (`nodes` at least the graph's size) has a box
    /// for every node, and its layout takes time that grows about with the cube of the
    /// boxes: about a second for 1,000 nodes, 8 s for 2,000, minutes for 10,000 (a
    /// chain, release build). Draw large graphs collapsed, or read them as a table
    /// ([`GraphInfo::table_text`](crate::GraphInfo::table_text)) or as DOT.
    #[must_use = "builder methods return the changed builder"]
    pub fn collapse_above(mut self, nodes: usize) -> Self {
        self.collapse_above = nodes;
        self
    }

    /// A title drawn above the graph (default: the number of tasks).
    #[must_use = "builder methods return the changed builder"]
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }
}
