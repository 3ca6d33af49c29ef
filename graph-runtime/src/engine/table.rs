//! The node table: what the dispatcher knows about a graph.
//!
//! `graph!` writes one as a `static`, checked while the crate compiles; dynamic graphs
//! build one at run time. Nodes are numbered in a topological order (every edge goes
//! from a lower to a higher index), which is also the synchronous scheduler's order.

/// What a node is called, what it is and where it was written: one per place in the
/// code that builds nodes, shared by every node built there, so that a node's entry in
/// a [`Table`] holds one pointer rather than three strings.
///
/// `graph!` writes its labels as `static`s; a dynamic graph interns one per distinct
/// label the first time a place builds a node (a program has as many as it has places
/// that build nodes). Comparing two labels' addresses is a cheap first test of
/// equality (equal addresses are equal labels; the converse need not hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Label<'a> {
    /// The task's name: the function, method or operator it runs.
    pub name: &'a str,
    /// What the node is: `task` (a function), `operator`, `method`, `field`, `index`,
    /// `constructor`, `collection`, `try`, `map`, `split`, `value` (a constant made a
    /// node), `future`, `graph`, ….
    pub kind: &'a str,
    /// Where the node was written, as `file:line:column`.
    pub call_site: &'a str,
    /// Which copy of an unrolled loop's body made the node (`i = 3`; `i = 1, j = 2`
    /// in nested loops), or empty: the loop's nodes are written at one call site, and
    /// an error names the iteration (see [`NodeInfo::task_name`]).
    pub copy: &'a str,
}

impl<'a> Label<'a> {
    /// A label of any kind.
    pub const fn new(name: &'a str, kind: &'a str, call_site: &'a str) -> Self {
        Label {
            name,
            kind,
            call_site,
            copy: "",
        }
    }

    /// A task's label (kind `task`).
    pub const fn task(name: &'a str, call_site: &'a str) -> Self {
        Label::new(name, "task", call_site)
    }

    /// The label of a node made by copy `copy` of an unrolled loop's body (see
    /// [`Label::copy`]).
    pub const fn in_copy(self, copy: &'a str) -> Self {
        Label { copy, ..self }
    }
}

/// One node: a task, an operator, a method call, … of a graph.
///
/// 24 bytes on 64-bit targets: its [`Label`] by reference, and where its edges are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeInfo<'a> {
    /// Its name, kind and call site (shared by the nodes built at one place).
    pub label: &'a Label<'a>,
    /// How many nodes it waits for.
    pub in_degree: u32,
    /// Where its successors start in [`Table::successors`].
    pub first_successor: u32,
    /// How many successors it has.
    pub successor_count: u32,
}

impl<'a> NodeInfo<'a> {
    /// A node entry (used by the generated tables, whose labels are `static`s:
    /// `NodeInfo::new(&const { Label::task("load", "src/main.rs:9:13") }, 0, 0, 1)`).
    pub const fn new(
        label: &'a Label<'a>,
        in_degree: u32,
        first_successor: u32,
        successor_count: u32,
    ) -> Self {
        NodeInfo {
            label,
            in_degree,
            first_successor,
            successor_count,
        }
    }

    /// The task's name: the function, method or operator it runs.
    #[inline]
    pub fn name(&self) -> &'a str {
        self.label.name
    }

    /// What the node is (see [`Label::kind`]).
    #[inline]
    pub fn kind(&self) -> &'a str {
        self.label.kind
    }

    /// Where the node was written, as `file:line:column`.
    #[inline]
    pub fn call_site(&self) -> &'a str {
        self.label.call_site
    }

    /// Which copy of an unrolled loop's body made it (`i = 3`), or empty (see
    /// [`Label::copy`]).
    #[inline]
    pub fn copy(&self) -> &'a str {
        self.label.copy
    }

    /// The name its errors give it: its [`name`](Self::name), and the copy of an
    /// unrolled loop's body that made it (`check (i = 3)`), if any. Made only for an
    /// error, so a run allocates nothing for it.
    pub fn task_name(&self) -> std::borrow::Cow<'a, str> {
        match self.label.copy {
            "" => std::borrow::Cow::Borrowed(self.label.name),
            copy => std::borrow::Cow::Owned(format!("{} ({copy})", self.label.name)),
        }
    }
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<NodeInfo<'static>>() == 24);

/// A graph's nodes and edges in compressed form: successors of every node in one flat
/// array, the nodes with no predecessors listed apart.
#[derive(Debug, Clone, Copy)]
pub struct Table<'a> {
    nodes: &'a [NodeInfo<'a>],
    successors: &'a [u32],
    roots: &'a [u32],
    width: u32,
}

impl<'a> Table<'a> {
    /// Builds a table and checks it: every successor list is strictly increasing and
    /// points forward (so the graph has no cycle and the numbering is topological),
    /// the lists tile `successors`, every in-degree matches its incoming edges, and
    /// `roots` lists exactly the nodes of in-degree 0, in order.
    ///
    /// In a `static` (as `graph!` writes it) the check runs at compile time, and a
    /// table the dispatcher could not run is a compile error. `width` is the largest
    /// number of nodes that can run at once as far as the caller knows (1 lets a
    /// graph run on the calling thread); it is capped by the node count.
    ///
    /// # Panics
    /// When the table is inconsistent (at compile time in a `static`).
    pub const fn new<const N: usize>(
        nodes: &'a [NodeInfo<'a>; N],
        successors: &'a [u32],
        roots: &'a [u32],
        width: u32,
    ) -> Self {
        let mut incoming = [0u32; N];
        check(nodes, successors, roots, &mut incoming);
        let width = if width as usize > N { N as u32 } else { width };
        Table {
            nodes,
            successors,
            roots,
            width,
        }
    }

    /// [`Table::new`] for a table built at run time (dynamic graphs), checked the same way.
    ///
    /// # Panics
    /// When the table is inconsistent.
    pub fn from_parts(
        nodes: &'a [NodeInfo<'a>],
        successors: &'a [u32],
        roots: &'a [u32],
        width: u32,
    ) -> Self {
        check(nodes, successors, roots, &mut vec![0; nodes.len()]);
        Table {
            nodes,
            successors,
            roots,
            width: width.min(nodes.len() as u32),
        }
    }

    /// A table the caller has already checked (a dynamic plan, checked when made).
    pub(crate) fn trusted(
        nodes: &'a [NodeInfo<'a>],
        successors: &'a [u32],
        roots: &'a [u32],
        width: u32,
    ) -> Self {
        Table {
            nodes,
            successors,
            roots,
            width: width.min(nodes.len() as u32),
        }
    }

    /// The nodes, in topological order.
    pub fn nodes(&self) -> &'a [NodeInfo<'a>] {
        self.nodes
    }

    /// The successors of `node`.
    #[inline]
    pub fn successors_of(&self, node: u32) -> &'a [u32] {
        let n = &self.nodes[node as usize];
        let start = n.first_successor as usize;
        &self.successors[start..start + n.successor_count as usize]
    }

    /// Every successor list, one after the other.
    pub fn successors(&self) -> &'a [u32] {
        self.successors
    }

    /// The nodes with no predecessors.
    pub fn roots(&self) -> &'a [u32] {
        self.roots
    }

    /// How many nodes can run at once, as known when the table was built (1: none in
    /// parallel, the graph runs on the calling thread).
    pub fn width(&self) -> u32 {
        self.width
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

use crate::engine::sync::{Counter, Ordering};

/// What the dispatcher reads of a graph: a [`Table`], or a [`Compact`] one whose
/// [`NodeInfo`]s are made only when an observer or an error asks for them.
pub(crate) trait Edges: Sync {
    /// The number of nodes.
    fn len(&self) -> usize;
    /// Whether the graph runs one node at a time (its [`Table::width`] is at most 1): a
    /// chain, which the dispatcher runs in order on the calling thread.
    fn sequential(&self) -> bool;
    /// The nodes with no predecessors, in increasing order.
    fn roots(&self) -> &[u32];
    /// Sets each node's counter to how many nodes it waits for.
    fn set_pending<C: Counter>(&self, pending: &[C]);
    /// The successors of `node`, in increasing order.
    fn successors_of(&self, node: u32) -> &[u32];
    /// The whole table, names and call sites included: for observers and errors.
    fn table(&self) -> Table<'_>;
}

impl Edges for Table<'_> {
    #[inline]
    fn len(&self) -> usize {
        self.nodes.len()
    }
    #[inline]
    fn sequential(&self) -> bool {
        self.width <= 1
    }
    #[inline]
    fn roots(&self) -> &[u32] {
        self.roots
    }
    fn set_pending<C: Counter>(&self, pending: &[C]) {
        for (count, node) in pending.iter().zip(self.nodes) {
            count.store(node.in_degree, Ordering::Relaxed);
        }
    }
    #[inline]
    fn successors_of(&self, node: u32) -> &[u32] {
        Table::successors_of(self, node)
    }
    fn table(&self) -> Table<'_> {
        *self
    }
}

/// A table as a dynamic graph lays it out: where each node's successors start, and
/// one entry more where the last node's end (4 bytes per node, where a [`NodeInfo`]
/// takes 24); in-degrees are counted from the successor lists when a run starts. What
/// observers and errors read ([`NodeInfo`]s) comes from `table`, which its owner makes
/// when first asked (a run without observers and without failures never asks).
#[derive(Clone, Copy)]
pub(crate) struct Compact<'a> {
    /// One entry per node, then `successors.len()`.
    pub(crate) starts: &'a [u32],
    pub(crate) successors: &'a [u32],
    pub(crate) roots: &'a [u32],
    /// Whether the graph is a chain (see [`Edges::sequential`]): known without its
    /// width, which its owner computes only when asked.
    pub(crate) sequential: bool,
    /// The same graph as a [`Table`].
    pub(crate) table: &'a (dyn Fn() -> Table<'a> + Sync),
}

impl Edges for Compact<'_> {
    #[inline]
    fn len(&self) -> usize {
        self.starts.len() - 1
    }
    #[inline]
    fn sequential(&self) -> bool {
        self.sequential
    }
    #[inline]
    fn roots(&self) -> &[u32] {
        self.roots
    }
    fn set_pending<C: Counter>(&self, pending: &[C]) {
        for count in pending {
            count.store(0, Ordering::Relaxed);
        }
        // Before the run starts, on one thread: a load and a store, not an atomic
        // read-modify-write, per edge.
        for &s in self.successors {
            let count = &pending[s as usize];
            count.store(count.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
    }
    #[inline]
    fn successors_of(&self, node: u32) -> &[u32] {
        let start = self.starts[node as usize] as usize;
        let end = self.starts[node as usize + 1] as usize;
        &self.successors[start..end]
    }
    fn table(&self) -> Table<'_> {
        (self.table)()
    }
}

/// The checks of [`Table::new`]; `incoming` is scratch space of one counter per node.
const fn check(nodes: &[NodeInfo<'_>], successors: &[u32], roots: &[u32], incoming: &mut [u32]) {
    let n = nodes.len();
    let mut next = 0u32;
    let mut i = 0;
    while i < n {
        let node = &nodes[i];
        assert!(
            node.first_successor == next,
            "successor lists must tile the successor array"
        );
        let end = node.first_successor as usize + node.successor_count as usize;
        assert!(end <= successors.len(), "successor list out of range");
        let mut j = node.first_successor as usize;
        let mut last = i as u32;
        while j < end {
            let s = successors[j];
            assert!(
                s > last,
                "successors must point forward, in increasing order"
            );
            assert!((s as usize) < n, "successor out of range");
            incoming[s as usize] += 1;
            last = s;
            j += 1;
        }
        next = end as u32;
        i += 1;
    }
    assert!(
        next as usize == successors.len(),
        "unused successor entries"
    );
    let mut r = 0;
    let mut i = 0;
    while i < n {
        assert!(
            incoming[i] == nodes[i].in_degree,
            "in-degree does not match the edges"
        );
        if nodes[i].in_degree == 0 {
            assert!(
                r < roots.len() && roots[r] as usize == i,
                "roots must list the nodes of in-degree 0"
            );
            r += 1;
        }
        i += 1;
    }
    assert!(r == roots.len(), "roots must list the nodes of in-degree 0");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diamond_is_accepted() {
        // 0 -> 1, 0 -> 2, 1 -> 3, 2 -> 3
        static NODES: [NodeInfo<'static>; 4] = [
            NodeInfo::new(&const { Label::task("a", "x:1:1") }, 0, 0, 2),
            NodeInfo::new(&const { Label::task("b", "x:2:1") }, 1, 2, 1),
            NodeInfo::new(&const { Label::task("c", "x:3:1") }, 1, 3, 1),
            NodeInfo::new(&const { Label::task("d", "x:4:1") }, 2, 4, 0),
        ];
        static T: Table<'static> = Table::new(&NODES, &[1, 2, 3, 3], &[0], 2);
        assert_eq!(T.successors_of(0), &[1, 2]);
        assert_eq!(T.successors_of(3), &[] as &[u32]);
        assert_eq!(T.roots(), &[0]);
        assert_eq!(T.width(), 2);
    }

    #[test]
    #[should_panic(expected = "in-degree")]
    fn wrong_in_degree_is_refused() {
        let nodes = [
            NodeInfo::new(&const { Label::task("a", "") }, 0, 0, 1),
            NodeInfo::new(&const { Label::task("b", "") }, 2, 1, 0),
        ];
        let _ = Table::new(&nodes, &[1], &[0], 1);
    }

    #[test]
    #[should_panic(expected = "forward")]
    fn backward_edge_is_refused() {
        let nodes = [
            NodeInfo::new(&const { Label::task("a", "") }, 1, 0, 0),
            NodeInfo::new(&const { Label::task("b", "") }, 0, 0, 1),
        ];
        let _ = Table::new(&nodes, &[0], &[1], 1);
    }
}
