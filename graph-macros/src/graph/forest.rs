//! Whether a graph is an in-forest, which `expand` then writes as nested joins instead
//! of a node table for the dispatcher (see the runtime's `engine::tree`).
//!
//! A graph qualifies when every node's one value is read at most once (by one node or
//! by the graph's result) and no node has a `?`: then each node's value goes to one
//! place, and the nodes form trees whose roots are the nodes nothing reads. Nested
//! joins grow the stack and rustc's nesting with their depth, so a graph whose joins
//! would nest deeper than [`MAX_NESTING`] (a comb such as `acc = add(acc, f(i))`
//! repeated) stays on the dispatcher; a chain of single-input nodes is straight-line
//! code and nests nothing. Every join is code of its own in the user's crate, so a
//! graph of more than [`MAX_JOINS`] joins (a node over hundreds of node values) stays
//! on the dispatcher as well, whose code is shared.

use super::ir::{Graph, OutPat};

/// Joins nested deeper than this leave the graph to the dispatcher.
const MAX_NESTING: usize = 24;
/// More joins than this leave the graph to the dispatcher.
const MAX_JOINS: usize = 128;

/// The nodes as trees: who reads whom.
pub(crate) struct Forest {
    /// Each node's inputs from other nodes, in the order it reads them.
    pub(crate) children: Vec<Vec<usize>>,
    /// The nodes whose value no node reads, in program order.
    pub(crate) roots: Vec<usize>,
}

/// The graph's forest, if it is one whose joins nest at most [`MAX_NESTING`] deep and
/// number at most [`MAX_JOINS`].
/// `uses` counts each value's readers (nodes and the result).
pub(crate) fn forest(graph: &Graph, uses: &[u32]) -> Option<Forest> {
    let n = graph.nodes.len();
    if n == 0 {
        return None;
    }
    for node in &graph.nodes {
        if node.question.is_some() || matches!(node.out, OutPat::Tuple(_)) {
            return None;
        }
    }
    if graph
        .values
        .iter()
        .zip(uses)
        .any(|(v, &uses)| v.node != usize::MAX && uses > 1)
    {
        return None;
    }
    let mut children = vec![Vec::new(); n];
    let mut read = vec![false; n];
    for (i, node) in graph.nodes.iter().enumerate() {
        for operand in node.op.operands() {
            operand.for_each_value(&mut |v| {
                let producer = graph.values[v].node;
                if producer < n {
                    children[i].push(producer);
                    read[producer] = true;
                }
            });
        }
    }
    // Nodes come in a topological order, so a node's children come before it: one pass
    // computes every subtree's nesting.
    let mut nesting = vec![0usize; n];
    for i in 0..n {
        let deepest = children[i].iter().map(|&c| nesting[c]).max().unwrap_or(0);
        nesting[i] = deepest + join_levels(children[i].len());
        if nesting[i] > MAX_NESTING {
            return None;
        }
    }
    let roots: Vec<usize> = (0..n).filter(|&i| !read[i]).collect();
    // A node over k inputs joins k - 1 times, and so do k roots.
    let joins: usize = children
        .iter()
        .map(|c| c.len().saturating_sub(1))
        .sum::<usize>()
        + roots.len().saturating_sub(1);
    if joins > MAX_JOINS {
        return None;
    }
    if join_levels(roots.len()) + roots.iter().map(|&r| nesting[r]).max().unwrap_or(0) > MAX_NESTING
    {
        return None;
    }
    Some(Forest { children, roots })
}

/// How deep a balanced join of `branches` nests: none for one branch.
pub(crate) fn join_levels(branches: usize) -> usize {
    let mut levels = 0;
    while (1usize << levels) < branches {
        levels += 1;
    }
    levels
}
