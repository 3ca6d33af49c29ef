//! What gets drawn: one box per node, or, for large graphs, one box per group of
//! similar nodes (`inc ×1000`), with edges merged accordingly.

use std::collections::HashMap;

use super::adjacency::Csr;
use super::DrawOptions;
use crate::inspect::info::{GraphInfo, NodeOutcome};

/// One box of a drawing: a node, or a group of similar nodes.
#[derive(Debug, Clone)]
pub(crate) struct DrawNode {
    /// The node ids it stands for, ascending.
    pub(crate) members: Vec<usize>,
    pub(crate) name: String,
    pub(crate) kind: String,
    /// The members' call site, or `None` when they differ.
    pub(crate) call_site: Option<String>,
    pub(crate) outcome: Option<NodeOutcome>,
    /// When the group is a bundle of chains: how many chains, and how long each is.
    pub(crate) chains: Option<(usize, usize)>,
    /// Whether some members depend on others of the box.
    pub(crate) chained: bool,
}

impl DrawNode {
    /// The first line of its label: the name, with `×n` for a group.
    pub(crate) fn title(&self) -> String {
        if self.members.len() == 1 {
            self.name.clone()
        } else {
            format!("{} \u{d7}{}", self.name, self.members.len())
        }
    }

    /// What the group is, in words, for tooltips and DOT: `1000 similar tasks`.
    pub(crate) fn group_note(&self) -> Option<String> {
        match self.chains {
            _ if self.members.len() == 1 => None,
            Some((1, length)) => Some(format!("a chain of {length} similar nodes")),
            Some((count, length)) => Some(format!("{count} chains of {length} similar nodes")),
            None if self.chained => Some(format!(
                "{} nodes of one call site, some using the results of others",
                self.members.len()
            )),
            None => Some(format!("{} similar nodes", self.members.len())),
        }
    }
}

/// The boxes and arrows to draw.
#[derive(Debug, Clone)]
pub(crate) struct Drawing {
    pub(crate) nodes: Vec<DrawNode>,
    /// `(from, to, dependencies it stands for)`, sorted, one per pair of boxes.
    pub(crate) edges: Vec<(usize, usize, usize)>,
    /// Whether any box stands for more than one node (read by the SVG picture only).
    #[cfg_attr(not(feature = "svg"), allow(dead_code))]
    pub(crate) collapsed: bool,
}

/// Past this many boxes, a collapsed drawing groups nodes by call site alone: a
/// picture of more boxes is no longer read (and takes long to lay out).
pub(crate) const MAX_BOXES: usize = 250;

/// More alike siblings than this are one box even in a graph too small to collapse:
/// a row of 24 `leaf` boxes was 4,900 px wide, and read as a chain.
pub(crate) const MAX_ROW: usize = 8;

/// The drawing of `info`: collapsed when it has more nodes than the options allow.
///
/// Collapsing first groups nodes alike in name, call site and shape around them
/// (siblings, parallel chains), then folds chains. When that still leaves more than
/// [`MAX_BOXES`] boxes (a graph whose nodes all differ in shape, such as a long comb),
/// it draws one box per task name and call site, like Dask's high-level graph,
/// failing that, one box per call site, and failing that (every node written at a
/// call site of its own), one box per kind of node.
///
/// A graph too small to collapse still draws each group of more than [`MAX_ROW`]
/// alike siblings as one box, unless collapsing is off (`collapse_above(usize::MAX)`:
/// one box per node).
pub(crate) fn drawing(info: &GraphInfo, options: &DrawOptions) -> Drawing {
    if options.collapse_above == usize::MAX {
        return one_box_per_node(info);
    }
    if info.len() <= options.collapse_above {
        let rows = fold_long_rows(info);
        if layout_size(&rows) <= MAX_LAYOUT {
            return rows;
        }
    }
    let levels = info.levels();
    let folded = fold_chains(&group_siblings(info), &levels);
    if folded.nodes.len() <= MAX_BOXES && layout_size(&folded) <= MAX_LAYOUT {
        return folded;
    }
    for grouping in [Grouping::NameAndSite, Grouping::Site] {
        let grouped = group_by(info, &levels, grouping);
        if grouped.nodes.len() <= MAX_BOXES && layout_size(&grouped) <= MAX_LAYOUT {
            return grouped;
        }
    }
    // Every node its own call site (a graph built in a loop of distinct calls): a box
    // per kind and outcome, a picture of a few boxes rather than a layout of hours.
    group_by(info, &levels, Grouping::Kind)
}

/// What the boxes of [`group_by`] are keyed by, besides kind and outcome.
#[derive(Clone, Copy, PartialEq)]
enum Grouping {
    /// Task name and call site, like Dask's high-level graph.
    NameAndSite,
    /// Call site alone.
    Site,
    /// Nothing else: a bound on the boxes whatever the graph.
    Kind,
}

/// The most boxes and bends the layout may place: a few small graphs whose arrows
/// span many levels (a random DAG of 100 nodes reading 4 earlier ones each) made the
/// layout's crossing reduction take minutes; such a graph is drawn collapsed instead.
const MAX_LAYOUT: usize = 600;

/// What laying `drawing` out places: its boxes, and one bend per level an arrow
/// crosses past the next (the layout routes a long arrow through a point per level).
fn layout_size(drawing: &Drawing) -> usize {
    let n = drawing.nodes.len();
    // Each box's level: the longest path of arrows to it (Kahn's order).
    let arrows = || {
        drawing
            .edges
            .iter()
            .filter(|e| e.0 != e.1)
            .map(|&(a, b, _)| (a, b))
    };
    let mut indegree = vec![0u32; n];
    for (_, b) in arrows() {
        indegree[b] += 1;
    }
    let out = Csr::new(n, arrows);
    let mut level = vec![0usize; n];
    let mut ready: Vec<usize> = (0..n).filter(|&v| indegree[v] == 0).collect();
    while let Some(v) = ready.pop() {
        for w in out.row(v).iter().map(|&w| w as usize) {
            level[w] = level[w].max(level[v] + 1);
            indegree[w] -= 1;
            if indegree[w] == 0 {
                ready.push(w);
            }
        }
    }
    let bends: usize = drawing
        .edges
        .iter()
        .map(|&(a, b, _)| level[b].abs_diff(level[a]).saturating_sub(1))
        .sum();
    n + drawing.edges.len() + bends
}

/// One box per kind and outcome, and per call site and name as `grouping` says.
fn group_by(info: &GraphInfo, levels: &[usize], grouping: Grouping) -> Drawing {
    let nodes = info.nodes();
    let mut keys = Interner::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    let mut group_of = vec![0usize; nodes.len()];
    for v in nodes {
        let name = match grouping {
            Grouping::NameAndSite => v.name.as_str(),
            Grouping::Site | Grouping::Kind => "",
        };
        let site = match grouping {
            Grouping::NameAndSite | Grouping::Site => v.call_site.as_str(),
            Grouping::Kind => "",
        };
        let g = keys.id((name, v.kind.as_str(), site, v.outcome)) as usize;
        if g == members.len() {
            members.push(Vec::new());
        }
        members[g].push(v.id);
        group_of[v.id] = g;
    }
    let mut chained = vec![false; members.len()];
    for &(a, b) in info.edges() {
        if group_of[a] == group_of[b] {
            chained[group_of[a]] = true;
        }
    }
    let boxes: Vec<DrawNode> = members
        .into_iter()
        .zip(chained)
        .map(|(members, chained)| {
            let first = &nodes[members[0]];
            let same_name = members.iter().all(|&m| nodes[m].name == first.name);
            let same_site = members
                .iter()
                .all(|&m| nodes[m].call_site == first.call_site);
            DrawNode {
                name: if same_name {
                    first.name.clone()
                } else {
                    format!("{} \u{2026}", first.name)
                },
                kind: first.kind.clone(),
                call_site: same_site.then(|| first.call_site.clone()),
                outcome: first.outcome,
                chains: None,
                chained,
                members,
            }
        })
        .collect();
    sorted(boxes, levels, |g| group_of[g]).with_edges(info.edges().iter().map(|&(a, b)| (a, b, 1)))
}

/// Boxes sorted by the level of their first member, then by first member, and a
/// function from a node id to its box, ready for [`Pending::with_edges`].
fn sorted(
    boxes: Vec<DrawNode>,
    levels: &[usize],
    group_of: impl Fn(usize) -> usize,
) -> Pending<impl Fn(usize) -> usize> {
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by_key(|&i| (levels[boxes[i].members[0]], boxes[i].members[0]));
    let mut rank = vec![0usize; boxes.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r;
    }
    let mut slots: Vec<Option<DrawNode>> = boxes.into_iter().map(Some).collect();
    let nodes = order
        .iter()
        .map(|&i| slots[i].take().expect("each box once"))
        .collect();
    Pending {
        nodes,
        box_of: move |v| rank[group_of(v)],
    }
}

/// Boxes waiting for their edges.
struct Pending<F> {
    nodes: Vec<DrawNode>,
    box_of: F,
}

impl<F: Fn(usize) -> usize> Pending<F> {
    /// The drawing, with `edges` (between node ids, each standing for some
    /// dependencies) merged into one edge per pair of boxes.
    fn with_edges(self, edges: impl Iterator<Item = (usize, usize, usize)>) -> Drawing {
        let box_of = &self.box_of;
        Drawing {
            edges: merge_edges(edges.map(|(a, b, c)| (box_of(a), box_of(b), c))),
            nodes: self.nodes,
            collapsed: true,
        }
    }
}

fn one_box_per_node(info: &GraphInfo) -> Drawing {
    Drawing {
        nodes: info
            .nodes()
            .iter()
            .map(|n| group_box(info, vec![n.id]))
            .collect(),
        edges: info.edges().iter().map(|&(a, b)| (a, b, 1)).collect(),
        collapsed: false,
    }
}

/// One box per node, but one per group of more than [`MAX_ROW`] alike siblings (see
/// [`sibling_groups`]).
fn fold_long_rows(info: &GraphInfo) -> Drawing {
    let (groups, _) = sibling_groups(info);
    if groups.iter().all(|g| g.len() <= MAX_ROW) {
        return one_box_per_node(info);
    }
    let mut boxes: Vec<DrawNode> = Vec::new();
    let mut box_of = vec![0usize; info.len()];
    for members in groups {
        if members.len() > MAX_ROW {
            for &v in &members {
                box_of[v] = boxes.len();
            }
            boxes.push(group_box(info, members));
        } else {
            for v in members {
                box_of[v] = boxes.len();
                boxes.push(group_box(info, vec![v]));
            }
        }
    }
    sorted(boxes, &info.levels(), |v| box_of[v])
        .with_edges(info.edges().iter().map(|&(a, b)| (a, b, 1)))
}

/// The box of `members`, nodes alike in name, kind, call site and outcome.
fn group_box(info: &GraphInfo, members: Vec<usize>) -> DrawNode {
    let first = &info.nodes()[members[0]];
    DrawNode {
        name: first.name.clone(),
        kind: first.kind.clone(),
        call_site: Some(first.call_site.clone()),
        outcome: first.outcome,
        chains: None,
        chained: false,
        members,
    }
}

/// Interns keys into small numbers.
struct Interner<K> {
    ids: HashMap<K, u32>,
}

impl<K: std::hash::Hash + Eq> Interner<K> {
    fn new() -> Self {
        Interner {
            ids: HashMap::new(),
        }
    }

    fn id(&mut self, key: K) -> u32 {
        let next = self.ids.len() as u32;
        *self.ids.entry(key).or_insert(next)
    }
}

/// One box per group of [`sibling_groups`].
fn group_siblings(info: &GraphInfo) -> Drawing {
    let (groups, group_of) = sibling_groups(info);
    Drawing {
        nodes: groups
            .into_iter()
            .map(|members| group_box(info, members))
            .collect(),
        edges: merge_edges(
            info.edges()
                .iter()
                .map(|&(a, b)| (group_of[a], group_of[b], 1)),
        ),
        collapsed: true,
    }
}

/// Groups nodes that look alike from both ends: same name, kind, call site and
/// outcome, inputs that look alike (recursively, from the roots down), and
/// consumers that look alike (recursively, from the sinks up). Exact: classes are
/// interned, not hashed, so no two different shapes share a box.
///
/// Returns the groups (each ascending, in order of their first node) and each
/// node's group.
fn sibling_groups(info: &GraphInfo) -> (Vec<Vec<usize>>, Vec<usize>) {
    let n = info.len();
    let nodes = info.nodes();
    let mut labels = Interner::new();
    let label: Vec<u32> = nodes
        .iter()
        .map(|v| {
            labels.id((
                v.name.as_str(),
                v.kind.as_str(),
                v.call_site.as_str(),
                v.outcome,
            ))
        })
        .collect();
    // Each node's class is read off its neighbours' in one pass in (reverse)
    // topological order: no recursion, each edge read once.
    let classes = |order: &mut dyn Iterator<Item = usize>, up: bool| {
        let mut interner = Interner::new();
        let mut class = vec![0u32; n];
        for v in order {
            let mut around: Vec<u32> = if up {
                info.successors_iter(v).map(|s| class[s]).collect()
            } else {
                info.predecessors_iter(v).map(|p| class[p]).collect()
            };
            around.sort_unstable();
            around.dedup();
            class[v] = interner.id((label[v], around));
        }
        class
    };
    let down = classes(&mut (0..n), false);
    let up = classes(&mut (0..n).rev(), true);
    let mut groups = Interner::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    let mut group_of = vec![0usize; n];
    for v in 0..n {
        let g = groups.id((down[v], up[v])) as usize;
        if g == members.len() {
            members.push(Vec::new());
        }
        members[g].push(v);
        group_of[v] = g;
    }
    (members, group_of)
}

/// One edge per pair of boxes, counting the dependencies it stands for.
fn merge_edges(edges: impl Iterator<Item = (usize, usize, usize)>) -> Vec<(usize, usize, usize)> {
    let mut counts: HashMap<(usize, usize), usize> = HashMap::new();
    for (a, b, c) in edges {
        if a != b {
            *counts.entry((a, b)).or_insert(0) += c;
        }
    }
    let mut edges: Vec<_> = counts.into_iter().map(|((a, b), c)| (a, b, c)).collect();
    edges.sort_unstable();
    edges
}

/// Folds chains of alike boxes (each the only consumer of the one before, which is
/// its only input) into one box: a chain of 1000 `inc` becomes `inc ×1000`.
fn fold_chains(drawing: &Drawing, levels: &[usize]) -> Drawing {
    let n = drawing.nodes.len();
    let mut indegree = vec![0u32; n];
    for &(_, b, _) in &drawing.edges {
        indegree[b] += 1;
    }
    let succs = Csr::new(n, || drawing.edges.iter().map(|&(a, b, _)| (a, b)));
    let alike = |a: &DrawNode, b: &DrawNode| {
        a.name == b.name
            && a.kind == b.kind
            && a.outcome == b.outcome
            && a.members.len() == b.members.len()
    };
    // `next[a] = b` when b continues a's chain.
    let next: Vec<Option<usize>> = (0..n)
        .map(|a| match *succs.row(a) {
            [b] if indegree[b as usize] == 1
                && alike(&drawing.nodes[a], &drawing.nodes[b as usize]) =>
            {
                Some(b as usize)
            }
            _ => None,
        })
        .collect();
    let mut continues = vec![false; n];
    for b in next.iter().flatten() {
        continues[*b] = true;
    }
    let mut folded_into = vec![usize::MAX; n];
    let mut nodes: Vec<DrawNode> = Vec::new();
    for (head, _) in continues.iter().enumerate().filter(|(_, &c)| !c) {
        let mut chain = vec![head];
        while let Some(b) = next[*chain.last().expect("not empty")] {
            chain.push(b);
        }
        let index = nodes.len();
        let mut node = drawing.nodes[head].clone();
        if chain.len() >= 3 {
            let per_link = node.members.len();
            node.members = chain
                .iter()
                .flat_map(|&g| drawing.nodes[g].members.iter().copied())
                .collect();
            node.members.sort_unstable();
            if chain
                .iter()
                .any(|&g| drawing.nodes[g].call_site != node.call_site)
            {
                node.call_site = None;
            }
            node.chains = Some((per_link, chain.len()));
            node.chained = true;
            for &g in &chain {
                folded_into[g] = index;
            }
        } else {
            for &g in &chain {
                folded_into[g] = nodes.len() + (g != head) as usize;
            }
            if let [_, second] = chain[..] {
                nodes.push(node);
                node = drawing.nodes[second].clone();
            }
        }
        nodes.push(node);
    }
    // A chain's first box has the lowest level of the chain: sorting by it keeps
    // the boxes in a topological order.
    sorted(nodes, levels, |g| folded_into[g]).with_edges(drawing.edges.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::info::NodeView;

    /// `n` nodes, each named and written at a place of its own (a graph built by a
    /// loop of distinct calls), each reading 4 earlier ones at random, with outcomes
    /// of a failed run.
    fn distinct_sites(n: usize) -> GraphInfo {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as usize
        };
        let nodes = (0..n)
            .map(|id| NodeView {
                id,
                name: format!("t{id}"),
                kind: "task".to_owned(),
                call_site: format!("src/build.rs:{}:9", 10 + id),
                outcome: Some([NodeOutcome::Finished, NodeOutcome::Failed][id % 2]),
            })
            .collect();
        let edges = (1..n)
            .flat_map(|b| (0..4).map(move |_| b))
            .map(|b| (next() % b, b))
            .collect();
        GraphInfo::from_parts(nodes, edges)
    }

    /// Grouping by name and site, then by site, leaves a box per node: the last
    /// grouping, by kind and outcome, is taken, rather than a layout of every node
    /// (201 such nodes took minutes to draw).
    #[test]
    fn a_graph_of_distinct_call_sites_is_drawn_as_a_few_boxes() {
        for n in [101, 201, 2_001] {
            let info = distinct_sites(n);
            let drawing = drawing(&info, &DrawOptions::new());
            assert!(
                drawing.nodes.len() <= MAX_BOXES,
                "{n}: {} boxes",
                drawing.nodes.len()
            );
            assert!(
                layout_size(&drawing) <= MAX_LAYOUT,
                "{n}: {}",
                layout_size(&drawing)
            );
            // Nothing lost: every node in one box, the boxes by kind and outcome.
            let mut members: Vec<usize> = drawing
                .nodes
                .iter()
                .flat_map(|b| b.members.clone())
                .collect();
            members.sort_unstable();
            assert_eq!(members, (0..n).collect::<Vec<_>>());
            assert_eq!(drawing.nodes.len(), 2, "{n}: finished and failed tasks");
            for b in &drawing.nodes {
                assert_eq!(b.call_site, None, "the sites differ");
                assert!(b
                    .members
                    .iter()
                    .all(|&m| info.nodes()[m].outcome == b.outcome));
            }
        }
        // A graph of a few distinct sites still gets a box per site.
        let info = distinct_sites(40);
        let drawing = drawing(&info, &DrawOptions::new().collapse_above(10));
        assert!(drawing.nodes.len() > 2, "{} boxes", drawing.nodes.len());
    }

    /// The SVG picture of such a graph is drawn at once (its layout used to take
    /// minutes, in `to_svg`, a performance report's `finish` and the dashboard's page).
    #[cfg(feature = "svg")]
    #[test]
    fn a_graph_of_distinct_call_sites_is_pictured_at_once() {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let info = distinct_sites(501);
            let options = DrawOptions::new();
            let svg = super::super::svg::render(&info, &drawing(&info, &options), &options);
            let _ = done.send(svg);
        });
        let svg = finished
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("drawn within a minute (it took more than ten)");
        assert!(svg.contains("<svg") && svg.contains("t1 \u{2026}"), "{svg}");
    }
}
