//! Walking a `GraphInfo` through `predecessors` and `successors`: each call takes time
//! in the node's degree, not the graph's size (when each call read every edge, walking
//! a 100,000-node chain took seconds in release builds, minutes in debug ones), and
//! gives what the edge list says, in its order. The other methods that follow edges
//! (levels, critical path, the node table, collapsed drawings) run on the same large
//! graphs under the same watchdog.

#[path = "support/watchdog.rs"]
mod watchdog;

use std::time::Duration;

use proptest::prelude::*;
use taskweave::__private::Table;
use taskweave::{DrawOptions, GraphInfo, Label, NodeInfo};

static STEP: Label<'static> = Label::task("step", "tests/inspect_walks.rs:1:1");

/// Nodes of the large graphs: a walk of them through calls that read every edge would
/// read about 10^11 edges, minutes even in a release build.
const LARGE: usize = 1 << 18;

/// Far above the fixed walk of [`LARGE`] nodes in a debug build (well under a second,
/// building the graph included), far below the walk that read every edge per call.
const LIMIT: Duration = Duration::from_secs(30);

/// The info of the graph whose node `i` has the successors `successors[i]` (each list
/// strictly increasing, every successor numbered after its node), read from a node
/// table as `graph!` and `Delayed` infos are.
fn info_of(successors: &[Vec<u32>]) -> GraphInfo {
    let n = successors.len();
    let mut in_degree = vec![0u32; n];
    for &s in successors.iter().flatten() {
        in_degree[s as usize] += 1;
    }
    let mut flat = Vec::new();
    let nodes: Vec<NodeInfo<'_>> = successors
        .iter()
        .enumerate()
        .map(|(i, list)| {
            let first = flat.len() as u32;
            flat.extend_from_slice(list);
            NodeInfo::new(&STEP, in_degree[i], first, list.len() as u32)
        })
        .collect();
    let roots: Vec<u32> = (0..n as u32)
        .filter(|&i| in_degree[i as usize] == 0)
        .collect();
    GraphInfo::from(&Table::from_parts(&nodes, &flat, &roots, 8))
}

/// Every node's predecessors and successors, read off the edge list in one pass, in
/// its order.
fn from_edges(info: &GraphInfo) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
    let mut preds = vec![Vec::new(); info.len()];
    let mut succs = vec![Vec::new(); info.len()];
    for &(a, b) in info.edges() {
        preds[b].push(a);
        succs[a].push(b);
    }
    (preds, succs)
}

/// Walks every node through `predecessors` and `successors`, checks them against the
/// edge list, and walks down from the roots (each node visited once its last
/// predecessor is): every node is reached, in an order that respects the edges.
fn walk_and_check(info: &GraphInfo) {
    let (preds, succs) = from_edges(info);
    for v in 0..info.len() {
        assert_eq!(info.predecessors(v), preds[v], "predecessors of {v}");
        assert_eq!(info.successors(v), succs[v], "successors of {v}");
    }
    let mut waiting: Vec<usize> = (0..info.len())
        .map(|v| info.predecessors(v).len())
        .collect();
    let mut ready: Vec<usize> = info.roots().to_vec();
    let mut visited = 0;
    while let Some(v) = ready.pop() {
        visited += 1;
        for s in info.successors(v) {
            waiting[s] -= 1;
            if waiting[s] == 0 {
                ready.push(s);
            }
        }
    }
    assert_eq!(visited, info.len(), "the walk reaches every node");
}

/// A chain `0 -> 1 -> … -> n-1`.
fn chain(n: usize) -> Vec<Vec<u32>> {
    (0..n)
        .map(|i| {
            if i + 1 < n {
                vec![i as u32 + 1]
            } else {
                vec![]
            }
        })
        .collect()
}

/// A fan: node 0 feeds every node but the last, which they all feed.
fn fan(n: usize) -> Vec<Vec<u32>> {
    let last = n as u32 - 1;
    (0..n)
        .map(|i| match i {
            0 => (1..last).collect(),
            i if i + 1 < n => vec![last],
            _ => vec![],
        })
        .collect()
}

#[test]
fn walking_a_large_chain_is_linear() {
    watchdog::within(LIMIT, "walking a chain", || {
        let info = info_of(&chain(LARGE));
        walk_and_check(&info);
        assert_eq!(info.depth(), LARGE);
        assert_eq!(info.width(), 1);
        let path = info.critical_path();
        assert!(path.iter().copied().eq(0..LARGE));
    });
}

#[test]
fn walking_a_large_fan_is_linear() {
    watchdog::within(LIMIT, "walking a fan", || {
        let info = info_of(&fan(LARGE));
        walk_and_check(&info);
        assert_eq!(info.predecessors(LARGE - 1).len(), LARGE - 2);
        assert_eq!(info.successors(0).len(), LARGE - 2);
        assert_eq!((info.depth(), info.width()), (3, LARGE - 2));
        assert_eq!(info.critical_path(), vec![0, 1, LARGE - 1]);
    });
}

/// The node table and the collapsed drawing follow edges too: on the same large
/// graphs, under the same watchdog (a few seconds in a debug build, most of it
/// hashing while collapsing).
#[test]
fn node_table_and_collapsed_drawing_of_large_graphs() {
    watchdog::within(LIMIT, "the node table and drawing", || {
        let info = info_of(&chain(LARGE));
        assert_eq!(info.table_text().lines().count(), LARGE);
        // Collapsed, the chain is one box.
        let dot = info.to_dot_with(&DrawOptions::new());
        assert!(
            dot.contains(&format!("a chain of {LARGE} similar nodes")),
            "{dot}"
        );
        let info = info_of(&fan(LARGE));
        assert_eq!(info.table_text().lines().count(), LARGE);
        // Collapsed, the fan's middle is one box.
        let dot = info.to_dot_with(&DrawOptions::new());
        assert!(
            dot.contains(&format!("{} similar nodes", LARGE - 2)),
            "{dot}"
        );
    });
}

/// The walk as the API defines it, one scan of every edge per call.
fn naive_predecessors(info: &GraphInfo, v: usize) -> Vec<usize> {
    info.edges()
        .iter()
        .filter(|e| e.1 == v)
        .map(|e| e.0)
        .collect()
}

fn naive_successors(info: &GraphInfo, v: usize) -> Vec<usize> {
    info.edges()
        .iter()
        .filter(|e| e.0 == v)
        .map(|e| e.1)
        .collect()
}

/// A random graph of up to 40 nodes: each pair `i < j` an edge with some chance.
fn small_graph() -> impl Strategy<Value = Vec<Vec<u32>>> {
    (1usize..40, 0u32..=100).prop_flat_map(|(n, percent)| {
        proptest::collection::vec(0u32..100, n * (n - 1) / 2).prop_map(move |rolls| {
            let mut rolls = rolls.into_iter();
            (0..n)
                .map(|i| {
                    (i as u32 + 1..n as u32)
                        .filter(|_| rolls.next().expect("one roll per pair") < percent)
                        .collect()
                })
                .collect()
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// On random small graphs, both walks give what a scan of every edge gives, in
    /// the same (ascending) order, and nothing past the last node; the edges are
    /// sorted and each once.
    #[test]
    fn walks_equal_a_scan_of_every_edge(successors in small_graph()) {
        let info = info_of(&successors);
        let n = info.len();
        prop_assert!(info.edges().windows(2).all(|w| w[0] < w[1]));
        for v in 0..n + 2 {
            let preds = info.predecessors(v);
            let succs = info.successors(v);
            prop_assert_eq!(&preds, &naive_predecessors(&info, v));
            prop_assert_eq!(&succs, &naive_successors(&info, v));
            prop_assert!(preds.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(succs.windows(2).all(|w| w[0] < w[1]));
        }
        // A clone, and an info whose walks were never used, are equal to it.
        prop_assert_eq!(&info.clone(), &info);
        prop_assert_eq!(&info_of(&successors), &info);
        walk_and_check(&info);
    }
}
