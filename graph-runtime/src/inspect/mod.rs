//! The inspection layer behind [`GraphInfo`]: recording a run's outcomes, collapsing
//! large graphs, writing DOT and SVG, and reading the graph of a set of futures.
//!
//! Every front end hands a [`GraphInfo`] to this layer; nothing here knows whether it
//! came from `graph!`, a `Delayed` or futures.

pub(crate) mod collapse;
pub(crate) mod dot;
mod futures;
mod record;
pub(crate) mod svg;

use std::path::Path;

pub use futures::{futures_info, AnyFuture, FutureRef};
pub use record::{FutureRecord, RunRecord};

use crate::dynamic::{Delayed, Parents};
use crate::info::GraphInfo;

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

impl<F, Args> crate::Graph<F, Args> {
    /// Writes the graph as an SVG picture to `path`, without running it: the same as
    /// `self.info().visualize(path)` (see [`GraphInfo::visualize`]).
    pub fn visualize(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        self.info().visualize(path)
    }
}

impl<T> crate::Delayed<T> {
    /// Writes the graph computing this value would run as an SVG picture to `path`:
    /// the same as `self.info().visualize(path)` (see [`GraphInfo::visualize`]).
    pub fn visualize(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        self.info().visualize(path)
    }
}

impl<T: Send + Sync + 'static> crate::Future<T> {
    /// This future and every future it depends on, directly or not, with each one's
    /// [`Status`](crate::Status) as its outcome. See [`futures_info`] for several.
    pub fn info(&self) -> GraphInfo {
        futures_info(&[self])
    }

    /// Writes [`info`](Self::info) as an SVG picture to `path`.
    pub fn visualize(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        self.info().visualize(path)
    }
}

/// Values of dynamic graphs inspected together (Dask's `visualize(a, b)`): a
/// `&Delayed<T>`, a tuple of up to eight `&Delayed`s of any types, or a slice or `Vec`
/// of `Delayed<T>`. See [`info`] and [`visualize`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a set of `Delayed` values to inspect",
    label = "expected `&a`, a tuple `(&a, &b, …)` or a slice of `Delayed`s",
    note = "pass the values by reference: `taskweave::visualize((&a, &b), \"graph.svg\")`"
)]
pub trait Inspected {
    /// Adds the values' nodes to `nodes`, in order.
    #[doc(hidden)]
    fn add_nodes(&self, nodes: &mut Parents);
}

impl<T> Inspected for &Delayed<T> {
    fn add_nodes(&self, nodes: &mut Parents) {
        nodes.nodes.push(self.node.clone());
    }
}

impl<T> Inspected for &[Delayed<T>] {
    fn add_nodes(&self, nodes: &mut Parents) {
        for value in self.iter() {
            nodes.nodes.push(value.node.clone());
        }
    }
}

impl<T> Inspected for &Vec<Delayed<T>> {
    fn add_nodes(&self, nodes: &mut Parents) {
        self.as_slice().add_nodes(nodes);
    }
}

macro_rules! inspected_tuple {
    ($($ty:ident $i:tt),*) => {
        impl<$($ty),*> Inspected for ($(&Delayed<$ty>,)*) {
            fn add_nodes(&self, nodes: &mut Parents) {
                $(nodes.nodes.push(self.$i.node.clone());)*
            }
        }
    };
}

inspected_tuple!(A 0);
inspected_tuple!(A 0, B 1);
inspected_tuple!(A 0, B 1, C 2);
inspected_tuple!(A 0, B 1, C 2, D 3);
inspected_tuple!(A 0, B 1, C 2, D 3, E 4);
inspected_tuple!(A 0, B 1, C 2, D 3, E 4, F 5);
inspected_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
inspected_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

/// The graph that computing several values together (`compute((&a, &b))`) would run,
/// without running it: their shared intermediates once, every output marked.
///
/// ```
/// use graph_runtime::{delayed, info};
/// let a = delayed(|x: u64| x + 1).call(1);
/// let b = delayed(|x: u64| x * 2).call(&a);
/// let c = delayed(|x: u64| x * 3).call(&a);
/// assert_eq!(info((&b, &c)).len(), 3);
/// ```
pub fn info(values: impl Inspected) -> GraphInfo {
    let mut nodes = Parents::new();
    values.add_nodes(&mut nodes);
    crate::dynamic::info_of(nodes.nodes.as_slice())
}

/// Writes the graph of several values (see [`info`]) as one SVG picture to `path`:
/// `taskweave::visualize((&a, &b), "graph.svg")`.
pub fn visualize(values: impl Inspected, path: impl AsRef<Path>) -> std::io::Result<()> {
    info(values).visualize(path)
}
