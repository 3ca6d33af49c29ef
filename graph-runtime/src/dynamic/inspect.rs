//! Inspecting dynamic graphs without running them: [`Delayed::visualize`], and the
//! graph of several values together ([`info`], [`visualize`], what they accept:
//! [`Inspected`]). The drawing itself is the inspection layer's ([`GraphInfo`]).

use std::path::Path;

use super::{Delayed, Parents};
use crate::inspect::GraphInfo;

impl<T> Delayed<T> {
    /// Writes the graph computing this value would run as an SVG picture to `path`
    /// (DOT text for a `.dot` path): the same as `self.info().visualize(path)` (see
    /// [`GraphInfo::visualize`], which says which formats).
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
    super::info_of(nodes.nodes.as_slice())
}

/// Writes the graph of several values (see [`info`]) as one SVG picture to `path`:
/// `taskweave::visualize((&a, &b), "graph.svg")` (DOT text for a `.dot` path; see
/// [`GraphInfo::visualize`]).
pub fn visualize(values: impl Inspected, path: impl AsRef<Path>) -> std::io::Result<()> {
    info(values).visualize(path)
}
