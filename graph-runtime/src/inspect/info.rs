//! Inspection: the shape of a graph as plain data, the same for every front end.
//!
//! A [`GraphInfo`] comes from a `graph!` (`job.info()`, from its compile-time node
//! table, without running anything), from a [`Delayed`](crate::Delayed)
//! (`value.info()`), or from futures ([`Future::info`](crate::Future::info),
//! [`futures_info`](crate::futures_info)). Everything else here works on it alike:
//! depth, width and critical path, outcomes of a run ([`GraphInfo::with_outcomes`]),
//! DOT text ([`GraphInfo::to_dot`]) and an SVG picture ([`GraphInfo::visualize`]).

use std::path::Path;
use std::sync::OnceLock;

use crate::engine::observe::TaskOutcome;
use crate::engine::table::Table;
use crate::inspect::adjacency::{starts_of_sorted, Csr};
use crate::inspect::{self, DrawOptions, RunRecord};

/// How a node's run ended, as inspection shows it (and as [`GraphInfo::visualize`]
/// colours it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum NodeOutcome {
    /// It ran and produced its result (green).
    Finished,
    /// It panicked, or (a future) a task it depends on did (red).
    Failed,
    /// It stopped the graph early: a `?` met an error (orange).
    Stopped,
    /// It was cancelled (a future) (orange).
    Cancelled,
    /// It is running now (a future) (blue).
    Running,
    /// It waits for its dependencies or for a thread (a future) (light grey).
    Pending,
    /// The run ended without starting it: a task it depends on failed or stopped
    /// the graph (grey).
    NeverRan,
}

impl NodeOutcome {
    /// A word for it: `finished`, `failed`, `stopped`, `cancelled`, `running`,
    /// `pending`, `never ran`.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeOutcome::Finished => "finished",
            NodeOutcome::Failed => "failed",
            NodeOutcome::Stopped => "stopped",
            NodeOutcome::Cancelled => "cancelled",
            NodeOutcome::Running => "running",
            NodeOutcome::Pending => "pending",
            NodeOutcome::NeverRan => "never ran",
        }
    }
}

/// The outcome a run's [`TaskOutcome`] stands for (a `Retried` attempt: `Running`,
/// since another attempt follows).
impl From<TaskOutcome> for NodeOutcome {
    fn from(outcome: TaskOutcome) -> Self {
        match outcome {
            TaskOutcome::Finished => NodeOutcome::Finished,
            TaskOutcome::Failed => NodeOutcome::Failed,
            TaskOutcome::Stopped => NodeOutcome::Stopped,
            TaskOutcome::Cancelled => NodeOutcome::Cancelled,
            TaskOutcome::Retried => NodeOutcome::Running,
        }
    }
}

impl std::fmt::Display for NodeOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One node as seen by inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// The node's index: its position in the topological order.
    pub id: usize,
    /// The task's name: the function, method or operator it runs.
    pub name: String,
    /// What the node is: `task`, `operator`, `method`, … (see [`NodeInfo::kind`]);
    /// `future` for a future.
    ///
    /// [`NodeInfo::kind`]: crate::NodeInfo::kind
    pub kind: String,
    /// Where it was written, as `file:line:column`.
    pub call_site: String,
    /// How its run ended, when known: after [`GraphInfo::with_outcomes`], and for
    /// futures (their status when the info was taken). `None` for a graph not run.
    pub outcome: Option<NodeOutcome>,
}

/// A graph's nodes, edges and order: one inspection type for `graph!`, `Delayed<T>`
/// and futures.
///
/// For a `graph!` it is available without running anything: `job.info()`. To colour
/// a picture by how a run went, watch the run with a [`RunRecord`]:
///
/// ```ignore
/// let rec = Arc::new(RunRecord::new());
/// job.compute_with(RunOptions::new().observer(rec.clone()), x);
/// job.info().with_outcomes(&rec).visualize("run.svg")?;
/// ```
///
/// The same with a dynamic graph:
///
/// ```
/// use std::sync::Arc;
/// use graph_runtime::{compute_with, delayed, NodeOutcome, RunOptions, RunRecord};
///
/// let inc = delayed(|x: i64| x + 1);
/// let add = delayed(|a: i64, b: i64| a + b);
/// let (a, b) = (inc.call(1), inc.call(2));
/// let sum = add.call(&a, &b);
/// let info = sum.info();
/// assert_eq!((info.len(), info.depth(), info.width()), (3, 2, 2));
/// assert_eq!(info.critical_path(), vec![0, 2]);
///
/// let rec = Arc::new(RunRecord::new());
/// compute_with(RunOptions::new().observer(rec.clone()), (&sum,))?;
/// let info = sum.info().with_outcomes(&rec);
/// assert!(info.nodes().iter().all(|n| n.outcome == Some(NodeOutcome::Finished)));
/// # #[cfg(feature = "svg")] {
/// let svg = info.to_svg(); // or info.visualize("run.svg")? (feature `svg`)
/// assert!(svg.contains("finished"));
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct GraphInfo {
    nodes: Vec<NodeView>,
    /// Sorted by producer, then consumer, without repeats.
    edges: Vec<(usize, usize)>,
    roots: Vec<usize>,
    run_error: Option<String>,
    /// Made on the first walk: an info that is only drawn or printed never pays for
    /// it.
    adjacency: OnceLock<Adjacency>,
}

/// Each node's edges, both ways, so that a walk reads only the edges it follows.
/// Two `u32` per node and one per edge.
#[derive(Debug, Clone)]
struct Adjacency {
    /// `edges[successors[v]..successors[v + 1]]` are `v`'s outgoing edges: the edges
    /// are sorted by producer, so they need no copy.
    successors: Vec<u32>,
    /// Row `v`: the producers `v` waits for, ascending (read off the sorted edges).
    predecessors: Csr,
}

// By hand: the adjacency is made from the edges on first use, so two infos alike but
// for whether it is made yet are equal, and `Debug` shows what `derive` showed.
impl PartialEq for GraphInfo {
    fn eq(&self, other: &Self) -> bool {
        self.nodes == other.nodes
            && self.edges == other.edges
            && self.roots == other.roots
            && self.run_error == other.run_error
    }
}

impl Eq for GraphInfo {}

impl std::fmt::Debug for GraphInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphInfo")
            .field("nodes", &self.nodes)
            .field("edges", &self.edges)
            .field("roots", &self.roots)
            .field("run_error", &self.run_error)
            .finish()
    }
}

impl From<&Table<'_>> for GraphInfo {
    /// Reads a node table (a static graph's, or a plan's).
    fn from(table: &Table<'_>) -> Self {
        let nodes = table
            .nodes()
            .iter()
            .enumerate()
            .map(|(id, n)| NodeView {
                id,
                name: n.name().to_owned(),
                kind: n.kind().to_owned(),
                call_site: n.call_site().to_owned(),
                outcome: None,
            })
            .collect();
        // Producers in order, each one's successors strictly increasing (the table is
        // checked so): the edges come out sorted, as the adjacency needs.
        let edges: Vec<(usize, usize)> = (0..table.len() as u32)
            .flat_map(|i| {
                table
                    .successors_of(i)
                    .iter()
                    .map(move |&s| (i as usize, s as usize))
            })
            .collect();
        debug_assert!(edges.windows(2).all(|w| w[0] < w[1]));
        let roots = table.roots().iter().map(|&r| r as usize).collect();
        GraphInfo {
            nodes,
            edges,
            roots,
            run_error: None,
            adjacency: OnceLock::new(),
        }
    }
}

impl GraphInfo {
    /// A graph of `nodes` (numbered `0..n` in a topological order) and `edges`
    /// (`(producer, consumer)`, every producer numbered before its consumer).
    pub(crate) fn from_parts(nodes: Vec<NodeView>, mut edges: Vec<(usize, usize)>) -> Self {
        edges.sort_unstable();
        edges.dedup();
        debug_assert!(edges.iter().all(|&(a, b)| a < b && b < nodes.len()));
        let mut has_pred = vec![false; nodes.len()];
        for &(_, b) in &edges {
            has_pred[b] = true;
        }
        let roots = (0..nodes.len()).filter(|&i| !has_pred[i]).collect();
        GraphInfo {
            nodes,
            edges,
            roots,
            run_error: None,
            adjacency: OnceLock::new(),
        }
    }

    /// The adjacency, made on first use in time linear in the graph's size.
    fn adjacency(&self) -> &Adjacency {
        self.adjacency.get_or_init(|| {
            let n = self.nodes.len();
            Adjacency {
                successors: starts_of_sorted(n, self.edges.iter().map(|e| e.0)),
                predecessors: Csr::new(n, || self.edges.iter().map(|&(a, b)| (b, a))),
            }
        })
    }

    /// The nodes `node` waits for, ascending, without a `Vec`: for this layer's
    /// own walks (critical path, node table, collapsing).
    pub(crate) fn predecessors_iter(
        &self,
        node: usize,
    ) -> impl ExactSizeIterator<Item = usize> + '_ {
        self.adjacency()
            .predecessors
            .row(node)
            .iter()
            .map(|&p| p as usize)
    }

    /// The nodes that wait for `node`, ascending, without a `Vec`: for this layer's
    /// own walks.
    pub(crate) fn successors_iter(&self, node: usize) -> impl ExactSizeIterator<Item = usize> + '_ {
        let starts = &self.adjacency().successors;
        let edges = match (starts.get(node), starts.get(node + 1)) {
            (Some(&a), Some(&b)) => &self.edges[a as usize..b as usize],
            _ => &[],
        };
        edges.iter().map(|e| e.1)
    }

    /// The nodes, in topological order.
    pub fn nodes(&self) -> &[NodeView] {
        &self.nodes
    }

    /// Every dependency as `(producer, consumer)`, sorted (by producer, then by
    /// consumer), each once.
    pub fn edges(&self) -> &[(usize, usize)] {
        &self.edges
    }

    /// The nodes that wait for nothing.
    pub fn roots(&self) -> &[usize] {
        &self.roots
    }

    /// Node ids in an order where every node comes after the nodes it waits for.
    pub fn topological_order(&self) -> Vec<usize> {
        (0..self.nodes.len()).collect()
    }

    /// The nodes `node` waits for, ascending (as they appear in
    /// [`edges`](Self::edges)); none for an id past the last node.
    ///
    /// Takes time in the number of them: the first call of this or
    /// [`successors`](Self::successors) indexes the edges once, so walking the whole
    /// graph through them takes time linear in its size.
    pub fn predecessors(&self, node: usize) -> Vec<usize> {
        self.predecessors_iter(node).collect()
    }

    /// The nodes that wait for `node`, ascending (as they appear in
    /// [`edges`](Self::edges)); none for an id past the last node.
    ///
    /// Takes time in the number of them, as [`predecessors`](Self::predecessors) does.
    pub fn successors(&self, node: usize) -> Vec<usize> {
        self.successors_iter(node).collect()
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every node's level in the longest-path layering: 0 for a node that waits for
    /// nothing, otherwise one more than the highest level among the nodes it waits
    /// for. Nodes of one level never wait for each other, so they may all run at once.
    pub fn levels(&self) -> Vec<usize> {
        let mut level = vec![0usize; self.nodes.len()];
        // Edges are sorted by producer and every producer comes before its consumer:
        // by the time a producer's edges are read, its own level is final.
        for &(a, b) in &self.edges {
            level[b] = level[b].max(level[a] + 1);
        }
        level
    }

    /// The number of nodes on a longest path (0 for an empty graph): how many tasks
    /// must run one after the other, however many threads there are.
    pub fn depth(&self) -> usize {
        self.levels().into_iter().max().map_or(0, |l| l + 1)
    }

    /// The largest number of nodes on one level of the longest-path layering (see
    /// [`levels`](Self::levels)): how many tasks can run at once, at most.
    pub fn width(&self) -> usize {
        let levels = self.levels();
        let depth = levels.iter().max().map_or(0, |l| l + 1);
        let mut per_level = vec![0usize; depth];
        for l in levels {
            per_level[l] += 1;
        }
        per_level.into_iter().max().unwrap_or(0)
    }

    /// The node ids of a longest path, from a node that waits for nothing to one
    /// that nothing waits for (empty for an empty graph). With unknown task costs,
    /// every node counts one.
    pub fn critical_path(&self) -> Vec<usize> {
        let levels = self.levels();
        let Some((mut node, _)) = levels
            .iter()
            .enumerate()
            .max_by_key(|&(i, &l)| (l, std::cmp::Reverse(i)))
        else {
            return Vec::new();
        };
        let mut path = vec![node];
        while levels[node] > 0 {
            node = self
                .predecessors_iter(node)
                .find(|&p| levels[p] + 1 == levels[node])
                .expect("a node above level 0 has a predecessor one level up");
            path.push(node);
        }
        path.reverse();
        path
    }

    /// The outcome of every node in `record`'s run: the same graph, its nodes
    /// coloured by [`visualize`](Self::visualize). `record` must have watched a run of
    /// this very graph (`job.compute_with(RunOptions::new().observer(rec.clone()), …)`;
    /// for a `Delayed`, `taskweave::compute_with(…, (&value,))`); nodes it never saw
    /// start are [`NodeOutcome::NeverRan`].
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use graph_runtime::{compute_with, delayed, NodeOutcome, RunOptions, RunRecord, Scheduler};
    /// let checked = delayed(|x: i64| { assert!(x >= 0, "negative"); x });
    /// let double = delayed(|x: i64| 2 * x);
    /// let result = double.call(checked.call(-1));
    /// let rec = Arc::new(RunRecord::new());
    /// let options = RunOptions::new().scheduler(Scheduler::Sync).observer(rec.clone());
    /// assert!(compute_with(options, (&result,)).is_err());
    /// let outcomes: Vec<_> = result.info().with_outcomes(&rec).nodes().iter().map(|n| n.outcome).collect();
    /// assert_eq!(outcomes, [Some(NodeOutcome::Failed), Some(NodeOutcome::NeverRan)]);
    /// ```
    ///
    /// # Panics
    /// When `record` watched a run of a graph with another number of nodes, or runs
    /// that overlapped ([`RunRecord::overlapped`]).
    #[must_use = "`with_outcomes` returns the changed info"]
    pub fn with_outcomes(mut self, record: &RunRecord) -> Self {
        assert!(
            !record.overlapped(),
            "taskweave: this RunRecord watched runs that overlapped (computed at the same \
             time), whose events cannot be told apart; give each concurrent run a \
             RunRecord of its own"
        );
        let outcomes = record.outcomes();
        if let Some(outcomes) = outcomes {
            assert_eq!(
                outcomes.len(),
                self.nodes.len(),
                "taskweave: this RunRecord watched a run of {} nodes, but this graph has {}; \
                 record a run of this graph",
                outcomes.len(),
                self.nodes.len()
            );
            for (node, outcome) in self.nodes.iter_mut().zip(outcomes) {
                node.outcome = Some(outcome);
            }
        } else {
            for node in &mut self.nodes {
                node.outcome = Some(NodeOutcome::NeverRan);
            }
        }
        self.run_error = record.error();
        self
    }

    /// The error that ended the recorded run, if one did (see
    /// [`with_outcomes`](Self::with_outcomes)).
    pub fn run_error(&self) -> Option<&str> {
        self.run_error.as_deref()
    }

    /// The graph in Graphviz's DOT language: one box per node, labelled with its
    /// name, kind and call site (filled by outcome, when known), one edge per
    /// dependency, top to bottom. See [`to_dot_with`](Self::to_dot_with) for the
    /// direction and for collapsing large graphs.
    pub fn to_dot(&self) -> String {
        self.to_dot_with(&DrawOptions::new().collapse_above(usize::MAX))
    }

    /// [`to_dot`](Self::to_dot) with options: direction, and whether repeated
    /// siblings are collapsed into one box (as in [`to_svg_with`](Self::to_svg_with)).
    pub fn to_dot_with(&self, options: &DrawOptions) -> String {
        inspect::dot::write(&inspect::collapse::drawing(self, options), options)
    }

    /// The graph as an SVG picture, laid out in pure Rust: one box per node (its
    /// name and call site), an arrow from each task to the tasks that use its result,
    /// top to bottom, never under a box. Boxes are filled by outcome when known, with
    /// a legend. Above 100 nodes, similar siblings are drawn as one box (`inc ×1000`),
    /// and more than 8 of them in any graph; see [`to_svg_with`](Self::to_svg_with).
    ///
    /// Needs the cargo feature `svg` (on by default).
    #[cfg(feature = "svg")]
    pub fn to_svg(&self) -> String {
        self.to_svg_with(&DrawOptions::new())
    }

    /// [`to_svg`](Self::to_svg) with options: direction, when to collapse.
    ///
    /// Needs the cargo feature `svg` (on by default).
    #[cfg(feature = "svg")]
    pub fn to_svg_with(&self, options: &DrawOptions) -> String {
        inspect::svg::render(self, &inspect::collapse::drawing(self, options), options)
    }

    /// Writes the graph to `path` in the format its extension names, as Dask's
    /// `visualize(filename=…)` picks it (the extension's case aside): a path ending in
    /// `.dot` gets the DOT text of [`to_dot`](Self::to_dot) (for Graphviz); one ending
    /// in `.png`, `.pdf`, `.jpeg` or `.jpg`, formats Dask asks Graphviz for and
    /// taskweave does not draw, is refused with an error of kind
    /// [`InvalidInput`](std::io::ErrorKind::InvalidInput), nothing written; any
    /// other path (`.svg`, or none) gets the SVG picture of [`to_svg`](Self::to_svg)
    /// (open it in a browser). The path is written as given: Dask appends `.png` to a
    /// name without an extension, this does not.
    ///
    /// Without the cargo feature `svg` (on by default) a path that would get SVG gets
    /// nothing, and an error of kind [`Unsupported`](std::io::ErrorKind::Unsupported);
    /// a `.dot` path still gets the DOT text.
    pub fn visualize(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        self.visualize_with(path, &DrawOptions::new())
    }

    /// [`visualize`](Self::visualize) with options: the SVG picture of
    /// [`to_svg_with`](Self::to_svg_with), or for a `.dot` path the DOT text of
    /// [`to_dot_with`](Self::to_dot_with); the same formats refused.
    pub fn visualize_with(
        &self,
        path: impl AsRef<Path>,
        options: &DrawOptions,
    ) -> std::io::Result<()> {
        let path = path.as_ref();
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let text = match extension.as_deref() {
            Some("dot") => self.to_dot_with(options),
            Some(raster @ ("png" | "pdf" | "jpeg" | "jpg")) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "cannot write `{}`: taskweave draws SVG (name the file `.svg`) \
                         or DOT (`.dot`), not `.{raster}`, which Dask's `visualize` asks \
                         Graphviz for; for one, write the `.dot` file and run \
                         `dot -T{raster}` on it",
                        path.display()
                    ),
                ))
            }
            _ => self.svg_for_file(options)?,
        };
        std::fs::write(path, text)
    }

    /// The SVG picture, for [`visualize_with`](Self::visualize_with).
    #[cfg(feature = "svg")]
    fn svg_for_file(&self, options: &DrawOptions) -> std::io::Result<String> {
        Ok(self.to_svg_with(options))
    }

    /// Without the feature `svg`: the error [`visualize_with`](Self::visualize_with)
    /// returns.
    #[cfg(not(feature = "svg"))]
    fn svg_for_file(&self, _options: &DrawOptions) -> std::io::Result<String> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "drawing an SVG picture needs taskweave's cargo feature `svg` (on by \
             default); `to_dot()` gives the graph as DOT text without it",
        ))
    }

    /// The node table as text, one node a line: id, name, call site, successors, in
    /// columns as wide as their longest entry.
    pub fn table_text(&self) -> String {
        use std::fmt::Write as _;
        let id = self.nodes.len().saturating_sub(1).to_string().len().max(4);
        let width =
            |f: fn(&NodeView) -> usize| column_width(self.nodes.iter().map(f).max().unwrap_or(0));
        let name = width(|n| printable(&n.name).chars().count()).max(16);
        let site = width(|n| printable(&n.call_site).chars().count()).max(32);
        let mut out = String::new();
        for node in &self.nodes {
            let succ: Vec<String> = self
                .successors_iter(node.id)
                .map(|s| s.to_string())
                .collect();
            let _ = writeln!(
                out,
                "{:>id$}  {:<name$} {:<site$} -> [{}]",
                node.id,
                printable(&node.name),
                printable(&node.call_site),
                succ.join(", ")
            );
        }
        out
    }
}

/// `text` as a terminal should print it in a table: control characters escaped
/// (`\u{1b}`, `\n`), so that a task name cannot recolour the terminal, move its
/// cursor or break a row.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A text column's width for entries of up to `longest` characters: the most that
/// `format!`'s padding takes (a width past `u16::MAX` panics in it); a longer entry
/// overflows its column.
pub(crate) fn column_width(longest: usize) -> usize {
    longest.min(usize::from(u16::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: usize) -> NodeView {
        NodeView {
            id,
            name: "n".to_owned(),
            kind: "future".to_owned(),
            call_site: "src/a.rs:1:1".to_owned(),
            outcome: None,
        }
    }

    /// Control characters of a name are escaped in the text table (an escape sequence
    /// printed raw recoloured the terminal; a newline broke the row).
    #[test]
    fn the_text_table_escapes_control_characters() {
        let mut named = node(0);
        named.name = "red\u{1b}[31m\nrow".to_owned();
        let info = GraphInfo::from_parts(vec![named], Vec::new());
        let table = info.table_text();
        assert!(!table.contains('\u{1b}'), "{table:?}");
        assert_eq!(table.lines().count(), 1, "{table:?}");
        assert!(table.contains("red\\u{1b}[31m\\nrow"), "{table:?}");
        assert_eq!(printable("plain ünïcode"), "plain ünïcode");
    }

    /// `from_parts` (futures, the report) takes edges in any order, repeated: the
    /// walks still give what a scan of the sorted edges gives, ascending.
    #[test]
    fn walks_of_unsorted_repeated_edges_equal_a_scan() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as usize
        };
        for _ in 0..200 {
            let n = 1 + next() % 30;
            let edges: Vec<(usize, usize)> = (0..next() % (2 * n * n))
                .filter_map(|_| {
                    let (a, b) = (next() % n, next() % n);
                    (a < b).then_some((a, b))
                })
                .collect();
            let info = GraphInfo::from_parts((0..n).map(node).collect(), edges);
            for v in 0..n + 1 {
                let scan_in: Vec<usize> = info
                    .edges
                    .iter()
                    .filter(|e| e.1 == v)
                    .map(|e| e.0)
                    .collect();
                let scan_out: Vec<usize> = info
                    .edges
                    .iter()
                    .filter(|e| e.0 == v)
                    .map(|e| e.1)
                    .collect();
                assert_eq!(info.predecessors(v), scan_in);
                assert_eq!(info.successors(v), scan_out);
                assert!(scan_in.windows(2).all(|w| w[0] < w[1]));
            }
            let roots: Vec<usize> = (0..n)
                .filter(|&v| info.predecessors(v).is_empty())
                .collect();
            assert_eq!(info.roots(), roots);
        }
    }
}
