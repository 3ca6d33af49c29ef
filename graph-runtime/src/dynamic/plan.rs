//! Laying a dynamic graph out for one run: the reachable nodes in topological order,
//! their inputs, a node table, one typed slot each; then the dispatcher runs it.

use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Instant;

use super::arena::Slots;
use super::args::AwaitedTask;
use super::{
    reuse, Arena, ArenaBuilder, Borrowed, Delayed, Env, Mark, Node, NodeRef, Parents, RunFn, SPLIT,
};
use crate::engine::dispatch::{dispatch_compact, RunEnd, TellLater};
use crate::engine::error::TaskError;
use crate::engine::observe::Observer;
use crate::engine::options::RunOptions;
use crate::engine::options::Scheduler;
use crate::engine::sync::Claim;
use crate::engine::table::{Compact, Label, NodeInfo, Table};
use crate::inspect::GraphInfo;

/// Node addresses and pure keys are already well spread, so rustc's multiply-rotate
/// hash does (SipHash would cost more than the rest of laying a node out).
type FastMap<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;

/// Plans being made right now, on any thread.
static PLANNING: AtomicUsize = AtomicUsize::new(0);
/// Distinguishes one plan's marks from another's.
static NEXT_PLAN: AtomicU64 = AtomicU64::new(1);

/// The numbers given to nodes while a plan is made. When no other plan is being made,
/// they are written into the nodes themselves (no hashing); otherwise into a map.
enum Visited {
    Marks { plan: u64, _exclusive: Exclusive },
    Map(FastMap<usize, u32>),
}

/// Held while a plan writes marks into nodes.
struct Exclusive;

impl Drop for Exclusive {
    fn drop(&mut self) {
        PLANNING.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Visited {
    fn new() -> Self {
        if PLANNING.fetch_add(1, Ordering::AcqRel) == 0 {
            let exclusive = Exclusive;
            let plan = NEXT_PLAN.fetch_add(1, Ordering::Relaxed);
            // A mark holds plan numbers below 2^32: the 4,294,967,296th plan of a
            // process and those after it number their nodes in a map.
            if plan <= Mark::MAX_PLAN {
                return Visited::Marks {
                    plan,
                    _exclusive: exclusive,
                };
            }
        } else {
            PLANNING.fetch_sub(1, Ordering::AcqRel);
        }
        Visited::Map(FastMap::default())
    }

    fn get(&self, node: &Node) -> Option<u32> {
        match self {
            Visited::Marks { plan, .. } => node.meta().mark.get(*plan),
            Visited::Map(map) => map
                .get(&(node as *const Node as *const () as usize))
                .copied(),
        }
    }

    fn set(&mut self, node: &Node, index: u32) {
        match self {
            Visited::Marks { plan, .. } => node.meta().mark.set(*plan, index),
            Visited::Map(map) => {
                map.insert(node as *const Node as *const () as usize, index);
            }
        }
    }
}

/// The nodes reachable from some outputs, numbered in topological order.
pub(crate) struct Plan {
    /// The plan's vectors (nodes, inputs, the node table); given back for the next plan
    /// when it drops (see [`reuse`]).
    kept: PlanBuffers,
    /// Whether the nodes can only run one at a time (a chain: see [`Plan::width`]),
    /// which a run needs to know; the width itself only inspection, observers and the
    /// tiny-task warning ask for.
    sequential: bool,
    /// The widest level of longest paths (see [`Plan::width`]), made on first use.
    width: OnceLock<u32>,
    /// Every node's result slot: its kind and where it goes in a run's arena.
    slots: Slots,
    /// Each output: its node index, and whether this is the node's last request
    /// (the same node may be requested more than once; see [`Outputs`]).
    outputs: Vec<OutputRead>,
    /// Whether some output is not its node's last request: whether a run's reads
    /// clone (see [`Outputs::clone_ahead`]).
    repeated: bool,
    /// The node table's entries, with their labels: made when first asked (by an
    /// observer, inspection, a failure or a cluster), since a plain run reads only
    /// the compact edges. Dropped before `custom_names`, whose names it borrows.
    labelled: OnceLock<Labelled>,
    /// The nodes named with `named`: their indices and names. Never changed once the
    /// plan is made.
    custom_names: Vec<(usize, Arc<str>)>,
    /// The futures its tasks read, in the order of the nodes (a future read by several
    /// nodes, or twice by one, is here as often): empty for most graphs.
    awaited: Vec<AwaitedTask>,
    /// What keeps `nodes` alive (dropped last): the outputs' handles, kept when the
    /// plan is made ([`Plan::new`]); or, for a plan that borrows them for one
    /// [`compute`], kept only if its run goes on after the call returns (see
    /// [`Plan::borrowing`]).
    kept_outputs: OnceLock<Vec<NodeRef>>,
}

/// A plan's node table in full, as observers and inspection read it.
struct Labelled {
    /// One entry per node. Their labels are the nodes' interned ones (`'static`) or
    /// those of `custom_labels` (dropped after them).
    infos: Vec<NodeInfo<'static>>,
    /// The labels of nodes named with `named`, which `infos` borrow, borrowing the
    /// plan's names in turn. Never changed once made.
    _custom_labels: Vec<Label<'static>>,
}

/// A plan's vectors, one entry per node (`inputs` and `successors`: per edge).
#[derive(Default)]
struct PlanBuffers {
    /// The nodes, borrowed from the graph that the plan's outputs keep alive (its own
    /// handles, or a compute's, lent for as long as the plan is used): each
    /// node holds its parents' `Arc`s and gives them up only when it is dropped itself,
    /// so every node reachable from an output lives as long as the plan, and none is
    /// changed while shared (`Node` is used through `&self`). No reference count per
    /// node.
    nodes: Vec<Borrowed<'static>>,
    /// Which of `runs` runs each node's body: read with `nodes` when a node runs, so
    /// that running it reads nothing of the node but its body (see [`RunFn`]). A byte
    /// rather than the function itself: 1 byte per node, not 8.
    bodies: Vec<u8>,
    /// [`RUNS`] functions: the distinct ones of the nodes' bodies, in the order the
    /// walk met them, the first 255 of them; [`RunFn::OWN`] after them, which
    /// `bodies` gives the others (a graph of more kinds of task). As many as a byte
    /// numbers, so that a run reads one without a bounds check.
    runs: Vec<RunFn>,
    /// Every node's inputs (node indices, in argument order), one list after another.
    inputs: Vec<u32>,
    input_start: Vec<u32>,
    successors: Vec<u32>,
    /// Where each node's successors start, and one entry more where the last node's
    /// end: what the dispatcher reads of a node, 4 bytes where a table's entry takes 24
    /// (see [`Compact`]).
    starts: Vec<u32>,
    roots: Vec<u32>,
}

// SAFETY: `nodes` point to `Node`s, which are `Send + Sync`, kept alive by the plan's
// outputs while it holds them (see `nodes`); the plan hands out only shared
// references to them, and kept buffers are empty (`Buffers::clear`).
unsafe impl Send for PlanBuffers {}
// SAFETY: as for `Send`.
unsafe impl Sync for PlanBuffers {}

impl reuse::Buffers for PlanBuffers {
    fn bytes(&self) -> usize {
        reuse::bytes_of(&self.nodes)
            + reuse::bytes_of(&self.bodies)
            + reuse::bytes_of(&self.runs)
            + reuse::bytes_of(&self.inputs)
            + reuse::bytes_of(&self.input_start)
            + reuse::bytes_of(&self.successors)
            + reuse::bytes_of(&self.starts)
            + reuse::bytes_of(&self.roots)
    }
    fn clear(&mut self) {
        self.nodes.clear();
        self.bodies.clear();
        self.runs.clear();
        self.inputs.clear();
        self.input_start.clear();
        self.successors.clear();
        self.starts.clear();
        self.roots.clear();
    }
}

/// What only laying a plan out needs: the walk's stack and two counters per node.
#[derive(Default)]
struct Scratch {
    /// The walk's stack of `(node, its parents not yet visited)`, lent as references
    /// while a plan is made (see [`reuse::recast`]).
    stack: Vec<(*const NodeRef, [*const NodeRef; 2])>,
    first: Vec<u32>,
    second: Vec<u32>,
}

// SAFETY: kept only empty (`Buffers::clear`): no pointer in it is ever read again.
unsafe impl Send for Scratch {}

impl reuse::Buffers for Scratch {
    fn bytes(&self) -> usize {
        reuse::bytes_of(&self.stack) + reuse::bytes_of(&self.first) + reuse::bytes_of(&self.second)
    }
    fn clear(&mut self) {
        self.stack.clear();
        self.first.clear();
        self.second.clear();
    }
}

/// The length of `PlanBuffers::runs`.
const RUNS: usize = 1 << u8::BITS;

/// In `PlanBuffers::bodies`: the node's body function is not numbered (a graph of more
/// than 255 kinds of task), and is read from the node ([`RunFn::OWN`]).
const OWN_RUN: u8 = u8::MAX;

static KEPT_PLAN: reuse::Kept<PlanBuffers> = reuse::Kept::new();
/// At most 1 MiB (the scratch of about 130,000 nodes): a kept scratch is still held
/// while the plan it served allocates its arena, the peak of a compute; larger graphs
/// make theirs afresh (a few ns per node), which keeps that peak as it was.
static KEPT_SCRATCH: reuse::Kept<Scratch> = reuse::Kept::at_most(1 << 20);

impl Drop for Plan {
    fn drop(&mut self) {
        KEPT_PLAN.give(std::mem::take(&mut self.kept));
    }
}

impl Plan {
    /// Lays out everything `outputs` depend on, and keeps them (and so every node it
    /// lays out) alive. Pure nodes with equal keys are one.
    pub(crate) fn new(kept_outputs: Vec<NodeRef>) -> Plan {
        // SAFETY: the plan keeps the handles it borrows (moving the vector moves no
        // handle: the walk borrowed them in its buffer).
        let plan = unsafe { Plan::borrowing(&kept_outputs) };
        plan.keep_outputs(move || kept_outputs);
        plan
    }

    /// Keeps handles of the plan's outputs (`outputs()` gives them, taken once), so
    /// that the plan keeps its nodes alive from now on, whoever else holds them.
    pub(crate) fn keep_outputs(&self, outputs: impl FnOnce() -> Vec<NodeRef>) {
        self.kept_outputs.get_or_init(outputs);
    }

    /// Lays out everything `outputs` depend on without taking a handle of any: a
    /// `compute` of a thousand outputs changes no count (two atomic operations per
    /// output, and a second visit to every output node when the plan drops).
    ///
    /// # Safety
    /// `outputs` must stay alive as long as the plan is used or dropped, unless
    /// [`keep_outputs`](Self::keep_outputs) is called with handles of the same outputs
    /// first (while they are still alive).
    pub(crate) unsafe fn borrowing(outputs: &[NodeRef]) -> Plan {
        let mut index = Visited::new();
        let mut pure: FastMap<u64, u32> = FastMap::default();
        let PlanBuffers {
            mut nodes,
            mut bodies,
            mut runs,
            mut inputs,
            mut input_start,
            mut successors,
            mut starts,
            mut roots,
        } = KEPT_PLAN.take();
        let Scratch {
            stack,
            first: mut last_reader,
            second: spare,
        } = KEPT_SCRATCH.take();
        let mut stack: Vec<(&NodeRef, std::slice::Iter<'_, NodeRef>)> = reuse::recast(stack);
        // A pure node's key, with the name that keys it if it was named after it was
        // built (`Delayed::named`): twins named differently are nodes of their own.
        // Not a split's parts: a part takes its element out of the split node, which
        // twins share, so twin parts are one node however named (two, and the second
        // found its element gone).
        let pure_key = |n: &Node| {
            let meta = n.meta();
            let key = Some(meta.key).filter(|k| k >> 63 == 1)?;
            if meta.label.kind == SPLIT {
                return Some(key);
            }
            Some(meta.key_name().map_or(key, |name| named_key(key, name)))
        };
        let mut custom_names: Vec<(usize, Arc<str>)> = Vec::new();
        let mut awaited: Vec<AwaitedTask> = Vec::new();
        let mut slots = ArenaBuilder::new();
        // Each body function's number in `runs`, the last one met at hand (a graph
        // has a few, and builds most of its nodes in runs of one).
        let mut run_numbers: FastMap<usize, u8> = FastMap::default();
        let mut last_run: Option<(usize, u8)> = None;
        let mut numbered = 0u8;
        runs.clear();
        runs.resize(RUNS, RunFn::OWN);
        const PENDING: u32 = u32::MAX;
        let mut chain = true;
        // Iterative depth-first post-order over borrowed nodes (the outputs keep them
        // alive): a chain of a million nodes needs no stack, and no reference counting
        // happens per edge. A node's entry is made when it is numbered, its parents'
        // successor counts as its edges are met, so one walk makes the table but for
        // where each successor list starts.
        for out in outputs {
            if index.get(out).is_some() {
                continue;
            }
            index.set(out, PENDING);
            // Each frame keeps its node's parents still to visit: the list is read
            // once per node, not once per parent.
            stack.push((out, out.parents().iter()));
            while let Some((node, parents)) = stack.last_mut() {
                let node: &NodeRef = node;
                if let Some(parent) = parents.next() {
                    if index.get(parent).is_none() {
                        match pure_key(parent).and_then(|k| pure.get(&k)) {
                            Some(&same) => index.set(parent, same),
                            None => {
                                index.set(parent, PENDING);
                                stack.push((parent, parent.parents().iter()));
                            }
                        }
                    }
                    continue;
                }
                stack.pop();
                let i = nodes.len() as u32;
                if let Some(key) = pure_key(node) {
                    // A pure twin may have been laid out since this one was pushed.
                    if let Some(&same) = pure.get(&key) {
                        index.set(node, same);
                        continue;
                    }
                    pure.insert(key, i);
                }
                index.set(node, i);
                input_start.push(inputs.len() as u32);
                let number_of =
                    |parent: &NodeRef| index.get(parent).expect("parents are numbered first");
                // A parent read twice is one edge. Its successor count (until the walk
                // ends, see below) goes up once per reading node.
                // And whether every node so far reads the one numbered before it.
                match node.parents() {
                    [] => {
                        roots.push(i);
                        chain &= i == 0;
                    }
                    [a] => {
                        let a = number_of(a);
                        inputs.push(a);
                        starts[a as usize] += 1;
                        chain &= a + 1 == i;
                    }
                    [a, b] => {
                        let (a, b) = (number_of(a), number_of(b));
                        inputs.extend_from_slice(&[a, b]);
                        starts[a as usize] += 1;
                        if b != a {
                            starts[b as usize] += 1;
                        }
                        chain &= a + 1 == i || b + 1 == i;
                    }
                    parents => {
                        // `last_reader` remembers which node counted a parent last
                        // (linear in the inputs, however many); only nodes of three
                        // or more parents keep it, so it covers the nodes before
                        // this one only when one does.
                        if last_reader.len() < i as usize {
                            last_reader.resize(i as usize, u32::MAX);
                        }
                        let mut reads_previous = false;
                        for parent in parents {
                            let p = number_of(parent);
                            inputs.push(p);
                            reads_previous |= p + 1 == i;
                            if last_reader[p as usize] != i {
                                last_reader[p as usize] = i;
                                starts[p as usize] += 1;
                            }
                        }
                        chain &= reads_previous;
                    }
                }
                if let Some((name, reads)) = node.meta().rare_parts() {
                    if let Some(name) = name {
                        custom_names.push((i as usize, name));
                    }
                    awaited.extend_from_slice(reads);
                }
                starts.push(0);
                // Its result slot and its body's function, while the node is at hand.
                node.borrowed().add_slot(&mut slots);
                let run = node.borrowed().run_fn();
                let body = match last_run {
                    Some((address, body)) if address == run.address() => body,
                    _ => {
                        let body = *run_numbers.entry(run.address()).or_insert_with(|| {
                            if numbered == OWN_RUN {
                                return OWN_RUN;
                            }
                            runs[usize::from(numbered)] = run;
                            numbered += 1;
                            numbered - 1
                        });
                        last_run = Some((run.address(), body));
                        body
                    }
                };
                bodies.push(body);
                // SAFETY: see `PlanBuffers::nodes`: the plan's outputs keep every node
                // it lays out alive for as long as it holds them.
                nodes.push(unsafe { node.borrowed().forever() });
            }
        }
        let n = nodes.len();
        input_start.push(inputs.len() as u32);
        drop(pure);
        drop(run_numbers);
        // Where each successor list starts; then the lists, filled in increasing node
        // order so that every list comes out sorted.
        let mut total = 0u32;
        for start in &mut starts {
            let count = std::mem::replace(start, total);
            total += count;
        }
        starts.push(total);
        successors.resize(total as usize, 0);
        // The node count is known now: the vectors that grew while the walk found the
        // nodes give back what doubling left over (up to half of them) before the
        // arena and the counters are allocated, the peak of a compute.
        reuse::fit(&mut nodes);
        reuse::fit(&mut bodies);
        reuse::fit(&mut inputs);
        reuse::fit(&mut input_start);
        reuse::fit(&mut starts);
        reuse::fit(&mut roots);
        reuse::fit(&mut successors);
        let mut fill = last_reader;
        fill.clear();
        fill.extend_from_slice(&starts[..n]);
        // Appends `s` to `p`'s list, `fill[p]` its end so far.
        fn append(successors: &mut [u32], fill: &mut [u32], p: u32, s: u32) {
            successors[fill[p as usize] as usize] = s;
            fill[p as usize] += 1;
        }
        for s in 0..n {
            let (a, b) = (input_start[s] as usize, input_start[s + 1] as usize);
            // A parent read twice is one edge (as the walk counted them).
            match inputs[a..b] {
                [] => {}
                [p] => append(&mut successors, &mut fill, p, s as u32),
                [p, q] => {
                    append(&mut successors, &mut fill, p, s as u32);
                    if q != p {
                        append(&mut successors, &mut fill, q, s as u32);
                    }
                }
                ref parents => {
                    for &p in parents {
                        let at = fill[p as usize];
                        // Read before: its list already ends with `s`.
                        if at > starts[p as usize] && successors[at as usize - 1] == s as u32 {
                            continue;
                        }
                        append(&mut successors, &mut fill, p, s as u32);
                    }
                }
            }
        }
        // A node requested more than once (the same `Delayed` twice, or pure twins) is
        // one node read once per request: copies for all but its last request.
        let mut repeated = false;
        let mut requested_later = spare;
        requested_later.clear();
        requested_later.resize(n, 0);
        let mut outputs: Vec<OutputRead> = outputs
            .iter()
            .rev()
            .map(|o| {
                let index = index.get(o).expect("outputs are numbered");
                let last = std::mem::replace(&mut requested_later[index as usize], 1) == 0;
                repeated |= !last;
                OutputRead { index, last }
            })
            .collect();
        outputs.reverse();
        drop(index);
        // One node at a time (a width of at most 1) exactly when the topological order
        // is the only one: when each node reads the one numbered just before it (a
        // path through every node), as the walk found, rather than by the width's
        // pass over every edge.
        let sequential = chain;
        KEPT_SCRATCH.give(Scratch {
            stack: reuse::recast(stack),
            first: fill,
            second: requested_later,
        });
        let plan = Plan {
            kept: PlanBuffers {
                nodes,
                bodies,
                runs,
                inputs,
                input_start,
                successors,
                starts,
                roots,
            },
            sequential,
            width: OnceLock::new(),
            outputs,
            repeated,
            slots: slots.finish(),
            labelled: OnceLock::new(),
            custom_names,
            awaited,
            kept_outputs: OnceLock::new(),
        };
        // Consistent by construction; checked all the same in debug builds (the whole
        // test suite), before any run trusts it, on entries made for the check alone
        // (the plan makes its own only when asked).
        // The chain test is checked against the width counted in full (not through
        // `width`, which takes a chain's from the test itself); not kept, so that the
        // suite's runs make it lazily, as release builds do.
        if cfg!(debug_assertions) {
            let infos = plan.make_infos();
            let width =
                plan.count_width(&infos.iter().map(|_| AtomicU32::new(0)).collect::<Vec<_>>());
            Table::from_parts(&infos, &plan.kept.successors, &plan.kept.roots, width);
            assert_eq!(plan.sequential, width <= 1, "a chain has a width of 1");
        }
        plan
    }

    /// The widest level of the graph's longest paths (a node's level: the most nodes on
    /// a path to it), which bounds how many nodes can run at once; made on first use.
    fn width(&self) -> u32 {
        if let Some(&width) = self.width.get() {
            return width;
        }
        let scratch = if self.sequential {
            Vec::new()
        } else {
            self.kept.nodes.iter().map(|_| AtomicU32::new(0)).collect()
        };
        self.width_with(&scratch)
    }

    /// [`width`](Self::width), made (if it is not yet) with `level` as scratch: a run's
    /// pending counters once it has ended, so that the tiny-task warning allocates no
    /// counter per node at a compute's peak. A chain's is known without counting.
    fn width_with(&self, level: &[AtomicU32]) -> u32 {
        *self.width.get_or_init(|| {
            if self.sequential {
                self.kept.nodes.len().min(1) as u32
            } else {
                self.count_width(level)
            }
        })
    }

    /// Counts the width level by level, in `level` (one counter per node, overwritten).
    fn count_width(&self, level: &[AtomicU32]) -> u32 {
        let (starts, successors) = (&self.kept.starts, &self.kept.successors);
        for l in level {
            l.store(0, Ordering::Relaxed);
        }
        // Nodes per level, as deep as the levels go.
        let mut per_level: Vec<u32> = Vec::new();
        for (i, at) in level.iter().enumerate() {
            let at = at.load(Ordering::Relaxed);
            if per_level.len() <= at as usize {
                per_level.resize(at as usize + 1, 0);
            }
            per_level[at as usize] += 1;
            let (a, b) = (starts[i] as usize, starts[i + 1] as usize);
            for &s in &successors[a..b] {
                let next = &level[s as usize];
                next.store(next.load(Ordering::Relaxed).max(at + 1), Ordering::Relaxed);
            }
        }
        per_level.iter().copied().max().unwrap_or(0)
    }

    /// The node table's entries, each with its node's interned label.
    fn make_infos(&self) -> Vec<NodeInfo<'static>> {
        let starts = &self.kept.starts;
        let mut infos: Vec<NodeInfo<'static>> = self
            .kept
            .nodes
            .iter()
            .zip(starts.windows(2))
            .map(|(node, start)| NodeInfo::new(node.meta().label, 0, start[0], start[1] - start[0]))
            .collect();
        for &s in &self.kept.successors {
            infos[s as usize].in_degree += 1;
        }
        infos
    }

    /// The node table in full, made on first use.
    fn labelled(&self) -> &Labelled {
        self.labelled.get_or_init(|| {
            let mut infos = self.make_infos();
            // A node named with `named` gets a label of its own; the others point to
            // the label interned for their site. Made in full before any entry borrows
            // one, and never changed after (the entries borrow from the list's buffer).
            let custom_labels: Vec<Label<'static>> = self
                .custom_names
                .iter()
                .map(|&(i, ref custom)| {
                    // SAFETY: the `str` lives in the `Arc`'s allocation, which does not
                    // move and stays alive while `custom_names` holds the `Arc`: as long
                    // as the plan, which never changes the list once made, and drops
                    // `labelled` (every borrower of the name) before it.
                    let name = unsafe { &*(&**custom as *const str) };
                    Label {
                        name,
                        ..*infos[i].label
                    }
                })
                .collect();
            for (&(i, _), label) in self.custom_names.iter().zip(&custom_labels) {
                // SAFETY: the label lives in `custom_labels`' buffer, which `Labelled`
                // keeps unchanged (never pushed to, so never moved) and drops after
                // `infos`; the plan lends `infos` only for as long as it is borrowed.
                infos[i].label = unsafe { &*(label as *const Label<'static>) };
            }
            Labelled {
                infos,
                _custom_labels: custom_labels,
            }
        })
    }
    /// The nodes laid out, parents before children (pure twins once).
    #[cfg_attr(not(feature = "hyperqueue"), allow(dead_code))]
    pub(crate) fn nodes(&self) -> impl ExactSizeIterator<Item = Borrowed<'_>> + '_ {
        (0..self.kept.nodes.len()).map(|i| self.node(i))
    }

    /// Node `i`.
    #[inline]
    fn node(&self, i: usize) -> Borrowed<'_> {
        // Kept alive by the outputs as long as the plan (see `PlanBuffers::nodes`).
        self.kept.nodes[i]
    }

    /// Node `i`'s inputs (indices into [`nodes`](Self::nodes)), in argument order.
    #[cfg_attr(not(feature = "hyperqueue"), allow(dead_code))]
    pub(crate) fn inputs_of(&self, i: usize) -> &[u32] {
        &self.kept.inputs[self.kept.input_start[i] as usize..self.kept.input_start[i + 1] as usize]
    }

    /// The node table's entries, borrowed for no longer than the plan (made on
    /// first use).
    fn node_infos(&self) -> &[NodeInfo<'_>] {
        &self.labelled().infos
    }

    /// The plan's node table (checked when the plan was made): what observers and
    /// errors of a run read (here, or a cluster's), made on first use.
    pub(crate) fn table(&self) -> Table<'_> {
        Table::trusted(
            self.node_infos(),
            &self.kept.successors,
            &self.kept.roots,
            self.width(),
        )
    }

    /// The laid-out graph for inspection.
    pub(crate) fn info(&self) -> GraphInfo {
        let table = Table::from_parts(
            self.node_infos(),
            &self.kept.successors,
            &self.kept.roots,
            self.width(),
        );
        GraphInfo::from(&table)
    }

    /// One empty slot per node, for as many reads as its result has (`uses`: one
    /// counter per node, overwritten).
    fn slots(&self, uses: &mut [AtomicU32]) -> Arena {
        // The reads of each result: one per input that names it, and one per request.
        // Counted here rather than kept in the plan: the counters are the run's
        // pending counters, which the dispatcher sets before it reads them.
        for count in uses.iter_mut() {
            *count.get_mut() = 0;
        }
        for &p in &self.kept.inputs {
            *uses[p as usize].get_mut() += 1;
        }
        for output in &self.outputs {
            *uses[output.index as usize].get_mut() += 1;
        }
        self.slots.arena(uses)
    }

    /// Runs the graph once: every node's result goes to its slot in `slots`. With
    /// `told_later`, the end of a run that did not fail is left to the caller to tell
    /// its observers (see `TellLater`).
    fn run(
        &self,
        slots: &Arena,
        pending: &[AtomicU32],
        options: &RunOptions,
        told_later: Option<TellLater<'_>>,
    ) -> Result<(), TaskError> {
        // Checked once, when the plan was made; the full table only if someone asks.
        let table = || self.table();
        let compact = Compact {
            starts: &self.kept.starts,
            successors: &self.kept.successors,
            roots: &self.kept.roots,
            sequential: self.sequential,
            table: &table,
        };
        let runs: &[RunFn; RUNS] = self.kept.runs[..]
            .try_into()
            .expect("a plan keeps a function for every number");
        let run = |i: u32| {
            let (a, b) = (
                self.kept.input_start[i as usize] as usize,
                self.kept.input_start[i as usize + 1] as usize,
            );
            let env = Env {
                slots,
                inputs: &self.kept.inputs[a..b],
                me: i,
            };
            let run = runs[usize::from(self.kept.bodies[i as usize])];
            // SAFETY: `runs` holds the function of each body met, and `bodies` the
            // number of node `i`'s (made together in the walk), or one of
            // `RunFn::OWN`, which runs any node.
            unsafe { self.node(i as usize).run_with(run, &env) }
        };
        // Long dynamic runs get a progress bar on a terminal (decided in one place).
        let automatic = crate::observers::progress::automatic(options);
        let started = Instant::now();
        let mut told_later = told_later;
        let later = told_later.as_mut().map(|later| TellLater {
            stopped_only: later.stopped_only,
            observer: &mut *later.observer,
        });
        dispatch_compact(
            &compact,
            pending,
            &run,
            automatic.as_ref().unwrap_or(options),
            later,
        )?;
        // A panic of the warning's handler (`on_warning`) unwinds out of the compute;
        // the observers the run left to its caller hear first that it unwound, as they
        // do of any panic outside its tasks (they waited for an end that never came).
        let warned = panic::catch_unwind(AssertUnwindSafe(|| {
            self.warn_if_tiny(options, pending, started)
        }));
        if let Err(payload) = warned {
            if let Some(observer) = told_later.and_then(|later| later.observer.take()) {
                let table = self.table();
                drop(RunEnd::new(Some(observer), table.nodes()));
            }
            panic::resume_unwind(payload);
        }
        Ok(())
    }

    /// Warns of a graph of many tiny tasks, once per call site, after a run that
    /// began at `started` (`pending`: the run's counters, scratch now).
    fn warn_if_tiny(&self, options: &RunOptions, pending: &[AtomicU32], started: Instant) {
        if let Some(&OutputRead { index: output, .. }) = self.outputs.first() {
            let threads = || match options.effective_scheduler() {
                Scheduler::Sync => 1,
                Scheduler::Threads => {
                    rayon::current_num_threads().min(self.width_with(pending) as usize)
                }
            };
            let meta = self.kept.nodes[output as usize].meta();
            let custom = meta.custom_name();
            let label = Label {
                name: custom.as_deref().unwrap_or(meta.label.name),
                ..*meta.label
            };
            let output = NodeInfo::new(&label, 0, 0, 0);
            let tasks = self.kept.nodes.len();
            crate::engine::warn::tiny_tasks(&output, tasks, started.elapsed(), threads);
        }
    }
}

/// A dynamic graph laid out once, to be computed many times: the arena (slots and
/// counters) is reused, so a compute allocates nothing per task.
///
/// When a task fails while others run beside it, the compute returns the error at
/// once: the running tasks see [`cancelled()`](crate::cancelled) turn true, no new
/// task starts, and what they hold is freed when they end (the run owns its storage;
/// the next compute gets fresh slots). A compute called from a thread of rayon's pool,
/// or with the synchronous scheduler, runs on the calling thread and returns when every
/// started task has ended; so does one with an observer (its own, or a performance
/// report's), whose observers have then been told the whole run.
#[must_use = "a prepared graph does nothing until computed: call `.compute()`"]
pub struct Prepared<V> {
    run: Arc<Storage>,
    read: fn(&mut Reads<'_>) -> V,
    /// Makes the clones `read` hands out first (see [`Outputs::clone_ahead`]).
    clone_ahead: fn(&mut Reads<'_>),
    /// The lengths of the slices nested in the outputs (see [`OutputPart`]): empty
    /// unless a tuple holds a slice.
    lengths: Box<[u32]>,
}

/// What a run of a plan works in: shared with the run, so that a compute can return
/// a failure while tasks of its run still use it.
struct Storage {
    plan: Arc<Plan>,
    slots: Arena,
    pending: Vec<AtomicU32>,
}

impl Storage {
    /// Empty slots and counters for `plan`.
    fn new(plan: Arc<Plan>) -> Arc<Storage> {
        let mut pending = KEPT_PENDING.take();
        pending.extend((0..plan.kept.nodes.len()).map(|_| AtomicU32::new(0)));
        Arc::new(Storage {
            slots: plan.slots(&mut pending),
            pending,
            plan,
        })
    }

    /// Runs the plan once. A parallel run entered from outside rayon's pool runs as a
    /// job of the pool while this thread waits, so that it can return the first
    /// failure at once (see [`Prepared`]); any other runs here. So does one that no
    /// worker would start: while every worker waits for a future, none takes a job
    /// queued from outside (see `engine::sync::WaitingForFuture`), and this thread runs
    /// the graph itself rather than wait for them (it may be what they wait for),
    /// offering the pool half of the work at each fork (see `run_here`); a job already
    /// queued is taken back when that happens. A run that someone
    /// observes (its own observer, or an active performance report) returns once it
    /// has ended instead: its observers have been told the whole run by then (one
    /// returned early had its record still running, and the next run was counted as
    /// overlapping it).
    ///
    /// The end of a run that did not fail is left to the caller to tell its observers,
    /// its observer put in `observer` (see `TellLater`): only where it runs here.
    fn run(
        self: &Arc<Self>,
        options: RunOptions,
        observer: &mut Option<Arc<dyn Observer>>,
    ) -> Result<(), TaskError> {
        // A task reading a future waits for it on the worker that runs it, which may be
        // waiting in a join of the very run that future's task needs (a futures task
        // computing a graph): each would wait for the other. So from outside the pool
        // the futures go first, waited for here, as `Client::compute` waits for them;
        // a run with a stop condition asks it meanwhile, and starts once it says stop,
        // to stop at once.
        let threads = options.effective_scheduler() == Scheduler::Threads;
        if threads && !self.plan.awaited.is_empty() && !crate::engine::sync::in_pool() {
            if let Some(wait) = AWAIT_READS.get() {
                wait(&self.plan.awaited, options.stop.as_deref());
            }
        }
        let observed = options.observer.is_some() || crate::engine::observe::ambient_active();
        let detach = !self.plan.sequential
            && !observed
            && options.effective_scheduler() == Scheduler::Threads
            && !crate::engine::sync::in_pool();
        if !detach {
            let later = TellLater {
                stopped_only: false,
                observer,
            };
            return self
                .plan
                .run(&self.slots, &self.pending, &options, Some(later));
        }
        if crate::engine::sync::workers_all_waiting() {
            return self.run_here(options);
        }
        // Its client, if any, is this thread's: the run goes on on another.
        let options = options.with_current_client();
        let end = Arc::new(End::new());
        let here = options.clone();
        let mut options = options;
        // The task this thread runs, if any, lent to the run for its stop condition (a
        // following run's), and taken back before this returns: after a failure, the
        // tasks beside it still run.
        let lent = options
            .stop
            .is_some()
            .then(crate::engine::observe::Lent::here)
            .flatten();
        options.caller = crate::engine::observe::Caller::Lent(lent.clone());
        let tell = end.clone();
        options.on_failure = Some(Arc::new(move |error| {
            tell.finish(Err(Ended::Failed(error)))
        }));
        let (run, told) = (self.clone(), end.clone());
        rayon::spawn(move || {
            if !told.start() {
                // Taken back by the caller, which has run the graph itself. What the job
                // holds may be the last of it (see below).
                crate::engine::error::discard_panic(|| drop((options, run)));
                return;
            }
            let result = panic::catch_unwind(AssertUnwindSafe(|| {
                // The caller's client, or none: not that of a task this thread may be
                // inside (it may have taken this job while it waits).
                let _client = crate::engine::owner::OwnerScope::enter(
                    options
                        .client
                        .as_ref()
                        .map(crate::engine::owner::OwnerRef::erased),
                );
                run.plan.run(&run.slots, &run.pending, &options, None)
            }));
            // The hook's handle first, so the run holds nothing of the caller's. After
            // a failure the caller has gone on, and these may be the last handles of its
            // stop condition: a capture's `Drop` that panics has no one to report to
            // here either, and aborted the process in rayon's job (as the storage's
            // below would).
            crate::engine::error::discard_panic(|| drop(options));
            // Then the storage, before the caller is told: a caller still waiting holds
            // it too, so it is freed by the caller, at once and on its thread (and its
            // buffers are kept for the next plan: see `reuse`); after a failure the
            // caller has gone on, and whatever the tasks left behind is freed here: a
            // value's or a closure's `Drop` that panics then has no one to report to,
            // and would abort the process in rayon's job, so its panic is discarded.
            crate::engine::error::discard_panic(|| drop(run));
            told.finish(match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => Err(Ended::Failed(error)),
                Err(payload) => Err(Ended::Panicked(payload)),
            });
        });
        let ended = wait_for(&end, self.plan.kept.nodes.len() <= END_SPIN_NODES);
        if let Some(lent) = lent {
            lent.take_back();
        }
        match ended {
            None => self.run_here(here),
            Some(Ok(())) => Ok(()),
            Some(Err(Ended::Failed(error))) => Err(error),
            Some(Err(Ended::Panicked(payload))) => panic::resume_unwind(payload),
        }
    }

    /// Runs the plan on this thread, taken back from the pool (see
    /// [`run`](Self::run)): its joins are offered to the pool as it goes, for a worker
    /// free again (see `engine::sync::run_taken_back`).
    fn run_here(&self, options: RunOptions) -> Result<(), TaskError> {
        crate::engine::sync::run_taken_back(None, || {
            self.plan.run(&self.slots, &self.pending, &options, None)
        })
    }
}

/// The futures front end's wait for the futures a graph reads, however they end (see
/// `Storage::run`): set when a client is built, before which no future exists.
static AWAIT_READS: OnceLock<AwaitReads> = OnceLock::new();

/// The wait for the futures a graph reads, asking the run's stop condition meanwhile
/// when it has one (see `futures::args::await_reads`).
type AwaitReads = fn(&[AwaitedTask], Option<&(dyn Fn() -> bool + Send + Sync)>);

/// Sets [`AWAIT_READS`].
pub(crate) fn set_await_reads(wait: AwaitReads) {
    let _ = AWAIT_READS.set(wait);
}

/// The pending counters of the last run dropped (see [`reuse`]).
static KEPT_PENDING: reuse::Kept<Vec<AtomicU32>> = reuse::Kept::new();

impl Drop for Storage {
    fn drop(&mut self) {
        KEPT_PENDING.give(std::mem::take(&mut self.pending));
    }
}

/// How a detached run ended, as its caller learns it: the first word wins (an early
/// failure, then the run's own end, which repeats it); and who runs it (see
/// [`Claim`]).
type End = Claim<Result<(), Ended>>;

/// How long a caller polls for the end of a small graph's run before it sleeps (see
/// [`spin_rounds`](crate::engine::sync::spin_rounds)): tens of µs, about what waking a
/// sleeping thread costs on a virtual machine.
const END_SPIN_ROUNDS: u32 = 4096;

/// The most nodes of a graph whose caller polls for its run's end (see [`wait_for`]):
/// with trivial tasks such a run ends within the poll, and the caller's wake-up after
/// it would cost as much again (`dynamic_phases parallel 1000`, from outside the pool:
/// the run 60-74 -> 33-35 ns per node). A larger graph's run outlasts the poll, which
/// would only take a core from its workers meanwhile (a 10^4-node wavefront's run:
/// 1.13-1.54x slower on two cores with the poll).
const END_SPIN_NODES: usize = 4096;

enum Ended {
    Failed(TaskError),
    /// The run itself panicked (its bookkeeping, or reading a result): resumed by the caller.
    Panicked(Box<dyn std::any::Any + Send>),
}

/// A pure key with the name that keys its node (see `Plan::borrowing`).
fn named_key(key: u64, name: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    name.hash(&mut hasher);
    hasher.finish() | (1 << 63)
}

/// Waits for the run's first word, polling for it a while first when the run is
/// `short` (see [`END_SPIN_NODES`]); `None` when the job had not started while every
/// worker waited for a future, and is taken back: the caller runs the graph.
fn wait_for(end: &End, short: bool) -> Option<Result<(), Ended>> {
    if short {
        crate::engine::sync::spin_rounds(&|| end.said(), None, END_SPIN_ROUNDS);
    }
    end.wait(crate::engine::sync::workers_all_waiting)
}

impl<V> Prepared<V> {
    /// `plan` with fresh slots, its outputs read by `read` (with the lengths of the
    /// slices nested in them).
    fn of(
        plan: Plan,
        read: fn(&mut Reads<'_>) -> V,
        clone_ahead: fn(&mut Reads<'_>),
        lengths: Vec<u32>,
    ) -> Self {
        Prepared {
            run: Storage::new(Arc::new(plan)),
            read,
            clone_ahead,
            lengths: lengths.into_boxed_slice(),
        }
    }

    /// Runs the graph on rayon's pool.
    ///
    /// # Panics
    /// When a task panics, with a message naming the task and its call site.
    #[track_caller]
    pub fn compute(&mut self) -> V {
        // As `try_compute_with`, the values read from the run's slot into this return
        // place.
        let mut options = Some(RunOptions::new());
        crate::engine::sync::value_with_room_for_run::<V, _>(|| {
            self.run_here(options.take().expect("run once"))
        })
    }

    /// Runs the graph with a scheduler; a task's panic comes back as a [`TaskError`].
    pub fn try_compute_with(&mut self, options: impl Into<RunOptions>) -> Result<V, TaskError> {
        // The values pass through the run's frames by value.
        let mut options = Some(options.into());
        crate::engine::sync::with_room_for_run::<V, _>(|| {
            self.run_here(options.take().expect("run once"))
        })
    }

    /// [`try_compute_with`](Self::try_compute_with), in frames of its own (see
    /// `with_room`).
    fn run_here(&mut self, options: RunOptions) -> Result<V, TaskError> {
        let mut guard = ResetUnlessDone {
            prepared: self,
            done: false,
        };
        let run = &guard.prepared.run;
        let (read, clone_ahead) = (guard.prepared.read, guard.prepared.clone_ahead);
        let lengths = &guard.prepared.lengths;
        let mut observer = None;
        let ran = run.run(options, &mut observer);
        // A value requested more than once is cloned after the run: its `Clone`'s panic
        // is that node's error, as it would be in a reader's task. Every clone is made
        // before any value is handed out (one that panicked while `read` built the
        // outputs unwound through the values read before it, and a `Drop` of one that
        // panicked then aborted the process), and the run's observers hear its end
        // after the clones, before the reads: a `Clone` that panics fails the run they
        // hear of (they heard success before), and a panic of their own leaves every
        // value in its slot, each dropped by itself.
        let table = observer.as_ref().map(|_| run.plan.table());
        let end = RunEnd::new(observer, table.as_ref().map_or(&[], |table| table.nodes()));
        let reads = |clones| Reads {
            slots: &run.slots,
            outputs: run.plan.outputs.iter(),
            lengths: lengths.iter(),
            at: 0,
            clones,
        };
        let clone_failed = |payload: Box<dyn std::any::Any + Send>| {
            match payload.downcast::<CloneFailed>() {
                Ok(failed) => {
                    let info = &run.plan.table().nodes()[failed.index as usize];
                    TaskError::from_panic(info.name(), info.call_site(), failed.payload)
                }
                // Not a clone's: the guard resets the slots.
                Err(other) => panic::resume_unwind(other),
            }
        };
        let cloned = ran.and_then(|()| {
            let mut ahead = reads(Clones::default());
            if run.plan.repeated {
                let made = panic::catch_unwind(AssertUnwindSafe(|| clone_ahead(&mut ahead)));
                // The clones made are dropped one by one (see `Clones`).
                made.map_err(clone_failed)?;
                ahead.clones.0.reverse();
            }
            Ok(ahead.clones)
        });
        let ran = end.tell_result(cloned).and_then(|clones| {
            let mut reads = reads(clones);
            panic::catch_unwind(AssertUnwindSafe(|| read(&mut reads))).map_err(clone_failed)
        });
        match ran {
            Ok(values) => {
                guard.done = true;
                Ok(values)
            }
            Err(error) => {
                // Reset here, before the error becomes the return value. Dropping the
                // values the failure left unread may panic (a value's `Drop`): that
                // panic, which the hook has printed, gives way to the failure, which
                // came first (later ones while it unwinds are discarded as well).
                guard.done = true;
                let old = guard.prepared.reset();
                crate::engine::error::discard_panic(|| drop(old));
                Err(error)
            }
        }
    }

    /// Fresh slots and counters; the old ones are returned, to be freed once no run
    /// uses them.
    fn reset(&mut self) -> Arc<Storage> {
        let fresh = Storage::new(self.run.plan.clone());
        std::mem::replace(&mut self.run, fresh)
    }

    /// The laid-out graph.
    pub fn info(&self) -> GraphInfo {
        self.run.plan.info()
    }

    /// The number of nodes after merging pure duplicates.
    pub fn len(&self) -> usize {
        self.run.plan.kept.nodes.len()
    }

    /// Whether the graph has no node.
    pub fn is_empty(&self) -> bool {
        self.run.plan.kept.nodes.is_empty()
    }

    /// The futures the graph's tasks read, in the order the plan met them, one per
    /// read (`Client::compute` starts the graph once they have ended).
    pub(crate) fn awaited(&self) -> &[AwaitedTask] {
        &self.run.plan.awaited
    }
}

/// Gives a [`Prepared`] fresh slots when a run unwinds (a panic of its bookkeeping, or one
/// while reading the outputs); a task's error resets them in `try_compute_with`.
/// Results of the tasks that did run are still in their slots, and the next run would
/// find them "filled twice". The pending counters need no reset: the dispatcher sets
/// them from the in-degrees at the start of every threaded run, and the synchronous
/// scheduler does not read them.
struct ResetUnlessDone<'p, V> {
    prepared: &'p mut Prepared<V>,
    done: bool,
}

impl<V> Drop for ResetUnlessDone<'_, V> {
    fn drop(&mut self) {
        if !self.done {
            // While a panic unwinds: a `Drop` panic of the old values is discarded.
            drop(self.prepared.reset());
        }
    }
}

/// Lays out what `outputs` depend on once, for [`Prepared::compute`] to run many times.
/// As with [`compute`], a value may be requested more than once (see [`Outputs`]).
pub fn prepare<O: Outputs>(outputs: O) -> Prepared<O::Values> {
    prepare_any(outputs)
}

/// [`prepare`] of one value or several (what `Client::compute` takes).
pub(crate) fn prepare_any<O: ToCompute>(outputs: O) -> Prepared<O::Values> {
    // The handles collected for the outputs are the ones the plan keeps: no count of
    // each is taken and given back again.
    let lengths = outputs.lengths();
    Prepared::of(
        Plan::new(outputs.nodes().nodes.into_vec()),
        O::read,
        O::clone_ahead,
        lengths,
    )
}

/// Several values to compute in one run: a tuple of 2 to 8 [`OutputPart`]s
/// (`&Delayed<T>`s, slices, `Vec`s, arrays and tuples of them, nested: Dask's
/// `compute(a, [b, c])`), a slice (or `&Vec`) of `Delayed<T>`, `(&a,)`, or a
/// one-element tuple of a slice, `Vec` or array of parts (`(&parts,)`). One value alone
/// is `d.compute()`.
///
/// The same value may be requested more than once: the same `Delayed` twice, or two
/// equal calls of a pure function (one node). Each request gets its own value, as in
/// Dask: the last request of a node takes its result, earlier ones get clones. So every
/// output of a tuple of two or more, or of a slice, must be [`Clone`] (see
/// [`Output`]); a one-element tuple `(&a,)` and [`Delayed::compute`] take any result.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a set of values to compute: several values go in one tuple of references, `(&a, &b)`, or a slice",
    label = "not a tuple of `&Delayed`s, nor a slice of `Delayed`s",
    note = "`taskweave::compute((&a, &b))` computes several values in one run (sharing what they have in common); one value alone is `a.compute()`"
)]
pub trait Outputs {
    /// What the run returns: a tuple of values, or a `Vec`.
    type Values;
    #[doc(hidden)]
    fn nodes(&self) -> Parents;
    /// The lengths of the slices nested in the outputs, in the order `read` meets
    /// them (see [`OutputPart`]).
    #[doc(hidden)]
    fn lengths(&self) -> Vec<u32> {
        Vec::new()
    }
    #[doc(hidden)]
    fn read(reads: &mut Reads<'_>) -> Self::Values;
    /// Makes, before `read`, the clones it hands out, in the order it meets their
    /// requests, so that a `Clone` that panics fails the compute while no value is
    /// out of its slot yet. Nothing for outputs that clone nothing (one request).
    #[doc(hidden)]
    fn clone_ahead(_reads: &mut Reads<'_>) {}
    /// The outputs' nodes, borrowed, where they lie side by side (a slice's): a
    /// `compute` lays them out without taking a handle of each.
    #[doc(hidden)]
    fn lend(&self) -> Option<Lent<'_>> {
        None
    }
}

/// Output nodes lent to a compute, as they lie (see [`Outputs::lend`]).
#[doc(hidden)]
pub struct Lent<'a>(&'a [NodeRef]);

impl std::fmt::Debug for Lent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lent")
            .field("nodes", &self.0.len())
            .finish()
    }
}

/// One requested output: its node, and whether no later request reads the same node.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct OutputRead {
    index: u32,
    last: bool,
}

/// The values of a run that has ended, read in the order they were requested: the
/// slots, the requests, and the lengths of the slices nested in the outputs.
#[doc(hidden)]
pub struct Reads<'a> {
    slots: &'a Arena,
    outputs: std::slice::Iter<'a, OutputRead>,
    lengths: std::slice::Iter<'a, u32>,
    /// How many requests were read so far.
    at: usize,
    /// The clones made ahead (see [`Outputs::clone_ahead`]).
    clones: Clones,
}

/// The clones of requested values made ahead (see [`Outputs::clone_ahead`]), each
/// with its request's number: in request order while they are made, in reverse while
/// they are read. Those left are dropped one by one, a panic of one's `Drop`
/// discarded: dropped as one, a second such panic would come while the first unwinds,
/// and abort the process.
#[derive(Default)]
struct Clones(Vec<(usize, Box<dyn std::any::Any + Send>)>);

impl Drop for Clones {
    fn drop(&mut self) {
        for (_, clone) in self.0.drain(..) {
            crate::engine::error::discard_panic(|| drop(clone));
        }
    }
}

impl Reads<'_> {
    /// The next request's request.
    #[inline]
    fn request(&mut self) -> OutputRead {
        self.at += 1;
        match self.outputs.next() {
            Some(&output) => output,
            // The plan has one request per node the outputs gave, in their order.
            None => panic!("taskweave: bug: more outputs read than requested"),
        }
    }

    /// The next request's value: a clone (made ahead, if it was), or the value itself
    /// at its last request.
    #[inline]
    fn next<T: Clone + 'static>(&mut self) -> T {
        let output = self.request();
        if self.clones.0.last().is_some_and(|(at, _)| *at == self.at) {
            if let Some((_, clone)) = self.clones.0.pop() {
                match clone.downcast::<T>() {
                    Ok(clone) => return *clone,
                    Err(_) => panic!("taskweave: bug: a clone made ahead of another type"),
                }
            }
        }
        read_output(self.slots, output)
    }

    /// Makes the next request's clone ahead, if it is not its node's last (see
    /// [`Outputs::clone_ahead`]); a panic of its `Clone` unwinds as `CloneFailed`.
    fn clone_next<T: Clone + Send + 'static>(&mut self) {
        let output = self.request();
        if !output.last {
            let clone: T = read_output(self.slots, output);
            self.clones.0.push((self.at, Box::new(clone)));
        }
    }

    /// The next nested slice's length.
    fn length(&mut self) -> usize {
        match self.lengths.next() {
            Some(&length) => length as usize,
            None => panic!("taskweave: bug: a slice of outputs without its length"),
        }
    }
}

impl std::fmt::Debug for Reads<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reads")
            .field("left", &self.outputs.len())
            .finish_non_exhaustive()
    }
}

/// A value computed together with others (`compute((&a, &b))`, `compute(&parts)`):
/// `Clone`, since one compute may request the same value more than once and each
/// request returns it. A `Clone` that panics is the error of the value's task, with
/// its name and call site, as when a task's reader clones it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `Clone`, so it cannot be one of several values computed together",
    label = "one of the requested values",
    note = "one compute may request a value more than once (the same `Delayed` twice, or two equal pure calls), and each request gets its own copy",
    note = "compute it alone with `.compute()`, wrap it in `std::sync::Arc`, or implement `Clone`"
)]
pub trait Output: Clone + Send + Sync + 'static {}
// Not recommended in errors: a missing `Clone` is reported as the missing `Output`,
// with the message above.
#[diagnostic::do_not_recommend]
impl<T: Clone + Send + Sync + 'static> Output for T {}

/// The only request of a node's value: moved out of its slot.
fn take_output<T: 'static>(slots: &Arena, output: OutputRead) -> T {
    // SAFETY: outputs are read by the run's caller once the run has ended (every task
    // ran and released its uses), one after another: no other thread touches a slot.
    match unsafe { slots.slot::<T>(output.index).take_last_alone() } {
        Some(value) => value,
        // The plan counts one use per request, and a single output is its node's
        // only request: its value is there, read by nobody else, once every task ran.
        None => panic!("taskweave: bug: a computed output is missing from its slot"),
    }
}

/// A requested value's `Clone` that panicked (see [`read_output`]): the node, and the
/// panic's payload, for the error [`Prepared::try_compute_with`] returns.
struct CloneFailed {
    index: u32,
    payload: Box<dyn std::any::Any + Send>,
}

/// One request of a node's value: a clone while later requests of the same node
/// remain, the value itself for the last.
fn read_output<T: Clone + 'static>(slots: &Arena, output: OutputRead) -> T {
    if output.last {
        return take_output(slots, output);
    }
    let slot = slots.slot::<T>(output.index);
    let shared = slot.shared();
    let lent = crate::engine::slot::Lend::lend(&shared);
    let value = panic::catch_unwind(AssertUnwindSafe(|| lent.clone())).unwrap_or_else(|payload| {
        panic::resume_unwind(Box::new(CloneFailed {
            index: output.index,
            payload,
        }))
    });
    // Releases this request's use; the last request then finds only its own.
    drop(shared);
    value
}

/// What [`Client::compute`](crate::Client::compute) takes: one `Delayed<T>` or
/// `&Delayed<T>`, whose future holds the value itself (`client.compute(&total)`, or
/// `client.compute(total)` as Dask writes it), or any [`Outputs`], whose
/// future holds their tuple or `Vec`.
///
/// `taskweave::compute` takes [`Outputs`] only, so that `compute(&a, &b)` (two
/// arguments) is an error that says to pass one tuple, not a call that computes `a`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be computed by `client.compute`: it takes one `Delayed` (or `&Delayed`), a tuple of references, `(&a, &b)`, or a slice",
    label = "not a `Delayed`, a tuple of `&Delayed`s, nor a slice of `Delayed`s"
)]
pub trait ToCompute {
    /// What the run returns: the value, a tuple of values, or a `Vec`.
    type Values;
    #[doc(hidden)]
    fn nodes(&self) -> Parents;
    #[doc(hidden)]
    fn lengths(&self) -> Vec<u32>;
    #[doc(hidden)]
    fn read(reads: &mut Reads<'_>) -> Self::Values;
    /// As [`Outputs::clone_ahead`].
    #[doc(hidden)]
    fn clone_ahead(_reads: &mut Reads<'_>) {}
}

impl<O: Outputs> ToCompute for O {
    type Values = O::Values;
    fn nodes(&self) -> Parents {
        Outputs::nodes(self)
    }
    fn lengths(&self) -> Vec<u32> {
        Outputs::lengths(self)
    }
    fn read(reads: &mut Reads<'_>) -> Self::Values {
        O::read(reads)
    }
    fn clone_ahead(reads: &mut Reads<'_>) {
        O::clone_ahead(reads);
    }
}

/// One value, as itself rather than a one-element tuple: `client.compute(&total)`.
impl<A: Send + Sync + 'static> ToCompute for &Delayed<A> {
    type Values = A;
    fn nodes(&self) -> Parents {
        let mut parents = Parents::new();
        parents.nodes.push(self.node.clone());
        parents
    }
    fn lengths(&self) -> Vec<u32> {
        Vec::new()
    }
    fn read(reads: &mut Reads<'_>) -> Self::Values {
        let output = reads.request();
        take_output::<A>(reads.slots, output)
    }
}

/// One value, given by value as Dask's `client.compute(total)` is written: the same as
/// `client.compute(&total)` (the run holds its own handle of the node either way).
impl<A: Send + Sync + 'static> ToCompute for Delayed<A> {
    type Values = A;
    fn nodes(&self) -> Parents {
        ToCompute::nodes(&self)
    }
    fn lengths(&self) -> Vec<u32> {
        Vec::new()
    }
    fn read(reads: &mut Reads<'_>) -> Self::Values {
        <&Delayed<A> as ToCompute>::read(reads)
    }
}

/// The name a run of `outputs` goes by: its one output's, `compute` for several.
pub(crate) fn outputs_name<O: ToCompute>(outputs: &O) -> String {
    match outputs.nodes().nodes.as_slice() {
        [one] => match one.meta().custom_name() {
            Some(custom) => custom.to_string(),
            None => one.meta().label.name.to_owned(),
        },
        _ => "compute".to_owned(),
    }
}

impl<A: Send + Sync + 'static> Outputs for (&Delayed<A>,) {
    type Values = (A,);
    fn nodes(&self) -> Parents {
        let mut parents = Parents::new();
        parents.nodes.push(self.0.node.clone());
        parents
    }
    fn read(reads: &mut Reads<'_>) -> Self::Values {
        let output = reads.request();
        (take_output::<A>(reads.slots, output),)
    }
    fn lend(&self) -> Option<Lent<'_>> {
        Some(Lent(std::slice::from_ref(&self.0.node)))
    }
}

/// One part of a tuple of values computed together (Dask's `compute(a, [b, c], (d,
/// [e]))`): a `&Delayed<T>` (its value), a slice, `Vec` or array of parts (their values
/// in a `Vec` or array), or a tuple of 2 to 8 parts, nested as deep as wanted:
/// `let (total, parts) = taskweave::compute((&total, &parts));`. What the parts share
/// runs once, and a node requested in several places gets a clone in each but the last,
/// so every value must be [`Output`] (`Clone`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be one of several values computed together",
    label = "not a `&Delayed`, a slice, `Vec` or array of them, nor a tuple of those",
    note = "a tuple of values to compute holds `&Delayed`s, slices or `Vec`s of `Delayed`s, and tuples of those: `compute((&a, &parts, (&b, &c)))`",
    note = "a value that is already there needs no compute: keep it beside the result, or make it a node with `Delayed::value(v)`"
)]
pub trait OutputPart {
    /// The part's value(s), in the part's shape.
    type Value;
    /// The part's nodes, as [`persist`] returns them holding their values.
    type Persisted;
    /// Pushes the part's nodes, in order.
    #[doc(hidden)]
    fn push_nodes(&self, parents: &mut Parents);
    /// Pushes the lengths of the slices in the part, in the order `read` meets them.
    #[doc(hidden)]
    fn push_lengths(&self, lengths: &mut Vec<u32>);
    /// Reads the part's values after the run.
    #[doc(hidden)]
    fn read(reads: &mut Reads<'_>) -> Self::Value;
    /// Makes the clones `read` hands out first (see [`Outputs::clone_ahead`]).
    #[doc(hidden)]
    fn clone_ahead(reads: &mut Reads<'_>);
    /// The part's nodes holding `values` (see [`persist`]).
    #[doc(hidden)]
    fn hold(&self, values: Self::Value) -> Self::Persisted;
}

impl<T: Output> OutputPart for Delayed<T> {
    type Value = T;
    type Persisted = Delayed<T>;
    fn push_nodes(&self, parents: &mut Parents) {
        parents.nodes.push(self.node.clone());
    }
    fn push_lengths(&self, _: &mut Vec<u32>) {}
    fn read(reads: &mut Reads<'_>) -> T {
        reads.next()
    }
    fn clone_ahead(reads: &mut Reads<'_>) {
        reads.clone_next::<T>();
    }
    fn hold(&self, value: T) -> Delayed<T> {
        self.holding(value)
    }
}

#[diagnostic::do_not_recommend]
impl<P: OutputPart + ?Sized> OutputPart for &P {
    type Value = P::Value;
    type Persisted = P::Persisted;
    fn push_nodes(&self, parents: &mut Parents) {
        (**self).push_nodes(parents);
    }
    fn push_lengths(&self, lengths: &mut Vec<u32>) {
        (**self).push_lengths(lengths);
    }
    fn read(reads: &mut Reads<'_>) -> P::Value {
        P::read(reads)
    }
    fn clone_ahead(reads: &mut Reads<'_>) {
        P::clone_ahead(reads);
    }
    fn hold(&self, values: P::Value) -> P::Persisted {
        (**self).hold(values)
    }
}

impl<P: OutputPart> OutputPart for [P] {
    type Value = Vec<P::Value>;
    type Persisted = Vec<P::Persisted>;
    fn push_nodes(&self, parents: &mut Parents) {
        for part in self {
            part.push_nodes(parents);
        }
    }
    fn push_lengths(&self, lengths: &mut Vec<u32>) {
        // A plan numbers its nodes in `u32`, and so a slice's requests.
        lengths.push(u32::try_from(self.len()).expect("at most 2^32 outputs in a slice"));
        for part in self {
            part.push_lengths(lengths);
        }
    }
    fn read(reads: &mut Reads<'_>) -> Vec<P::Value> {
        let length = reads.length();
        (0..length).map(|_| P::read(reads)).collect()
    }
    fn clone_ahead(reads: &mut Reads<'_>) {
        let length = reads.length();
        (0..length).for_each(|_| P::clone_ahead(reads));
    }
    fn hold(&self, values: Vec<P::Value>) -> Vec<P::Persisted> {
        self.iter().zip(values).map(|(p, v)| p.hold(v)).collect()
    }
}

impl<P: OutputPart> OutputPart for Vec<P> {
    type Value = Vec<P::Value>;
    type Persisted = Vec<P::Persisted>;
    fn push_nodes(&self, parents: &mut Parents) {
        self.as_slice().push_nodes(parents);
    }
    fn push_lengths(&self, lengths: &mut Vec<u32>) {
        self.as_slice().push_lengths(lengths);
    }
    fn read(reads: &mut Reads<'_>) -> Vec<P::Value> {
        <[P]>::read(reads)
    }
    fn clone_ahead(reads: &mut Reads<'_>) {
        <[P]>::clone_ahead(reads);
    }
    fn hold(&self, values: Vec<P::Value>) -> Vec<P::Persisted> {
        self.as_slice().hold(values)
    }
}

impl<P: OutputPart, const N: usize> OutputPart for [P; N] {
    type Value = [P::Value; N];
    type Persisted = [P::Persisted; N];
    fn push_nodes(&self, parents: &mut Parents) {
        for part in self {
            part.push_nodes(parents);
        }
    }
    fn push_lengths(&self, lengths: &mut Vec<u32>) {
        for part in self {
            part.push_lengths(lengths);
        }
    }
    fn read(reads: &mut Reads<'_>) -> [P::Value; N] {
        std::array::from_fn(|_| P::read(reads))
    }
    fn clone_ahead(reads: &mut Reads<'_>) {
        (0..N).for_each(|_| P::clone_ahead(reads));
    }
    fn hold(&self, values: [P::Value; N]) -> [P::Persisted; N] {
        let mut values = values.into_iter();
        std::array::from_fn(|i| {
            let Some(value) = values.next() else {
                unreachable!("an array of {N} values")
            };
            self[i].hold(value)
        })
    }
}

/// Tuples of 2 to 8 parts: as parts nested in a tuple, and as the outputs of a
/// compute or a persist.
macro_rules! outputs_tuple {
    ($($ty:ident $v:ident $i:tt),*) => {
        impl<$($ty: OutputPart),*> OutputPart for ($($ty,)*) {
            type Value = ($($ty::Value,)*);
            type Persisted = ($($ty::Persisted,)*);
            fn push_nodes(&self, parents: &mut Parents) {
                $(self.$i.push_nodes(parents);)*
            }
            fn push_lengths(&self, lengths: &mut Vec<u32>) {
                $(self.$i.push_lengths(lengths);)*
            }
            fn read(reads: &mut Reads<'_>) -> Self::Value {
                // In order: a tuple's fields are evaluated left to right.
                ($($ty::read(reads),)*)
            }
            fn clone_ahead(reads: &mut Reads<'_>) {
                $($ty::clone_ahead(reads);)*
            }
            fn hold(&self, ($($v,)*): Self::Value) -> Self::Persisted {
                ($(self.$i.hold($v),)*)
            }
        }

        impl<$($ty: OutputPart),*> Outputs for ($($ty,)*) {
            type Values = ($($ty::Value,)*);
            fn nodes(&self) -> Parents {
                let mut parents = Parents::new();
                self.push_nodes(&mut parents);
                parents
            }
            fn lengths(&self) -> Vec<u32> {
                let mut lengths = Vec::new();
                self.push_lengths(&mut lengths);
                lengths
            }
            fn read(reads: &mut Reads<'_>) -> Self::Values {
                <Self as OutputPart>::read(reads)
            }
            fn clone_ahead(reads: &mut Reads<'_>) {
                <Self as OutputPart>::clone_ahead(reads);
            }
        }

        impl<$($ty: OutputPart),*> Persist for ($($ty,)*)
        where
            Self: Copy,
        {
            type Persisted = ($($ty::Persisted,)*);
            type Run = Self;
            fn run(self) -> Self {
                self
            }
            fn hold(self, values: ($($ty::Value,)*)) -> Self::Persisted {
                OutputPart::hold(&self, values)
            }
        }
    };
}

/// One-element tuples of a collection of parts (`compute((&parts,))`): as the same
/// collection in a longer tuple. (A generic `(P,)` would overlap `(&Delayed<A>,)`, which
/// takes any result, `Clone` or not.)
macro_rules! outputs_one_collection {
    ($([$($generics:tt)*] $part:ty;)*) => {$(
        impl<$($generics)*> Outputs for ($part,) {
            type Values = (<$part as OutputPart>::Value,);
            fn nodes(&self) -> Parents {
                let mut parents = Parents::new();
                self.0.push_nodes(&mut parents);
                parents
            }
            fn lengths(&self) -> Vec<u32> {
                let mut lengths = Vec::new();
                self.0.push_lengths(&mut lengths);
                lengths
            }
            fn read(reads: &mut Reads<'_>) -> Self::Values {
                (<$part as OutputPart>::read(reads),)
            }
            fn clone_ahead(reads: &mut Reads<'_>) {
                <$part as OutputPart>::clone_ahead(reads);
            }
        }
    )*};
}

outputs_one_collection! {
    ['a, P: OutputPart] &'a [P];
    ['a, P: OutputPart] &'a Vec<P>;
    [P: OutputPart] Vec<P>;
    ['a, P: OutputPart, const N: usize] &'a [P; N];
    [P: OutputPart, const N: usize] [P; N];
}

/// One-element tuples of a borrowed collection to persist (`persist((&parts,))`).
macro_rules! persist_one_collection {
    ($([$($generics:tt)*] $part:ty;)*) => {$(
        impl<$($generics)*> Persist for ($part,) {
            type Persisted = (<$part as OutputPart>::Persisted,);
            type Run = Self;
            fn run(self) -> Self {
                self
            }
            fn hold(self, (value,): <Self as Outputs>::Values) -> Self::Persisted {
                (self.0.hold(value),)
            }
        }
    )*};
}

persist_one_collection! {
    ['a, P: OutputPart] &'a [P];
    ['a, P: OutputPart] &'a Vec<P>;
    ['a, P: OutputPart, const N: usize] &'a [P; N];
}

outputs_tuple!(A a 0, B b 1);
outputs_tuple!(A a 0, B b 1, C c 2);
outputs_tuple!(A a 0, B b 1, C c 2, D d 3);
outputs_tuple!(A a 0, B b 1, C c 2, D d 3, E e 4);
outputs_tuple!(A a 0, B b 1, C c 2, D d 3, E e 4, F f 5);
outputs_tuple!(A a 0, B b 1, C c 2, D d 3, E e 4, F f 5, G g 6);
outputs_tuple!(A a 0, B b 1, C c 2, D d 3, E e 4, F f 5, G g 6, H h 7);

impl<T: Output> Outputs for &[Delayed<T>] {
    type Values = Vec<T>;
    fn nodes(&self) -> Parents {
        let mut parents = Parents::new();
        for d in self.iter() {
            parents.nodes.push(d.node.clone());
        }
        parents
    }
    fn lend(&self) -> Option<Lent<'_>> {
        Some(Lent(Delayed::nodes_of(self)))
    }
    fn read(reads: &mut Reads<'_>) -> Vec<T> {
        (0..reads.outputs.len())
            .map(|_| reads.next::<T>())
            .collect()
    }
    fn clone_ahead(reads: &mut Reads<'_>) {
        (0..reads.outputs.len()).for_each(|_| reads.clone_next::<T>());
    }
}

/// A `Vec` of nodes, as its slice: `compute(&parts)`.
impl<T: Output> Outputs for &Vec<Delayed<T>> {
    type Values = Vec<T>;
    fn nodes(&self) -> Parents {
        Outputs::nodes(&self.as_slice())
    }
    fn read(reads: &mut Reads<'_>) -> Vec<T> {
        <&[Delayed<T>] as Outputs>::read(reads)
    }
    fn clone_ahead(reads: &mut Reads<'_>) {
        <&[Delayed<T>] as Outputs>::clone_ahead(reads);
    }
    fn lend(&self) -> Option<Lent<'_>> {
        Some(Lent(Delayed::nodes_of(self)))
    }
}

/// Values to [`persist`] together: `&Delayed<T>`, a tuple of [`OutputPart`]s (nested
/// as [`compute`] takes them), or a slice or `&Vec` of nodes. Their values are computed
/// in one run (what they share runs once) and each is returned as a node holding its
/// value, in the same shape.
pub trait Persist: Copy {
    /// The held nodes: a `Delayed`, a tuple of them, or a `Vec`.
    type Persisted;
    /// What runs: these values as [`Outputs`].
    #[doc(hidden)]
    type Run: Outputs;
    #[doc(hidden)]
    fn run(self) -> Self::Run;
    #[doc(hidden)]
    fn hold(self, values: <Self::Run as Outputs>::Values) -> Self::Persisted;
}

impl<'d, A: Output> Persist for &'d Delayed<A> {
    type Persisted = Delayed<A>;
    type Run = (&'d Delayed<A>,);
    fn run(self) -> Self::Run {
        (self,)
    }
    fn hold(self, (value,): (A,)) -> Delayed<A> {
        self.holding(value)
    }
}

impl<A: Output> Persist for (&Delayed<A>,) {
    type Persisted = (Delayed<A>,);
    type Run = Self;
    fn run(self) -> Self {
        self
    }
    fn hold(self, (a,): (A,)) -> (Delayed<A>,) {
        (self.0.holding(a),)
    }
}

impl<T: Output> Persist for &[Delayed<T>] {
    type Persisted = Vec<Delayed<T>>;
    type Run = Self;
    fn run(self) -> Self {
        self
    }
    fn hold(self, values: Vec<T>) -> Vec<Delayed<T>> {
        self.iter().zip(values).map(|(d, v)| d.holding(v)).collect()
    }
}

/// A `Vec` of nodes, as its slice: `persist(&parts)`, as `compute(&parts)`.
impl<'v, T: Output> Persist for &'v Vec<Delayed<T>> {
    type Persisted = Vec<Delayed<T>>;
    type Run = &'v [Delayed<T>];
    fn run(self) -> &'v [Delayed<T>] {
        self.as_slice()
    }
    fn hold(self, values: Vec<T>) -> Vec<Delayed<T>> {
        <&[Delayed<T>] as Persist>::hold(self.as_slice(), values)
    }
}

/// Computes several values now, in one run, and returns nodes holding them (Dask's
/// `dask.persist(a, b)`): later graphs that use them read the held values instead of
/// running their tasks again, and what the values share ran once.
///
/// ```
/// use graph_runtime::{delayed, persist};
/// let base = delayed(|x: i64| x * 10).call(4);
/// let (a, b) = (&base + 1, &base + 2);
/// let (a, b) = persist((&a, &b));
/// assert_eq!((&a + &b).compute(), 41 + 42);
/// ```
///
/// # Panics
/// When a task panics, with a message naming the task and its call site.
#[track_caller]
pub fn persist<P: Persist>(outputs: P) -> P::Persisted {
    match persist_with(RunOptions::new(), outputs) {
        Ok(held) => held,
        Err(error) => error.resume(),
    }
}

/// [`persist`] with a scheduler; a task's panic comes back as a [`TaskError`] (Dask's
/// `persist` raises the task's exception, which the caller may catch), and nothing is
/// held then.
pub fn persist_with<P: Persist>(
    options: impl Into<RunOptions>,
    outputs: P,
) -> Result<P::Persisted, TaskError> {
    // The values are computed and held in stack room for them (see
    // `Delayed::persist`); only the nodes come out.
    let mut options = Some(options.into());
    crate::engine::sync::with_room_for_run::<<P::Run as Outputs>::Values, _>(|| {
        let options = options.take().expect("run once");
        compute_with(options, outputs.run()).map(|values| outputs.hold(values))
    })
}

/// Computes several values in one run on rayon's pool; intermediates they share run
/// once: `let (s, p) = taskweave::compute((&sum, &peak));`. A tuple's parts may be
/// slices, `Vec`s, arrays and tuples of `Delayed`s, nested, returned in the same shape
/// (`compute((&total, &parts))` gives `(T, Vec<U>)`; see [`OutputPart`]).
///
/// A value may be requested more than once (`compute((&a, &a))`, or two equal pure
/// calls): each request returns it, cloned for all but the last, so the outputs of a
/// tuple of two or more, or of a slice, must be `Clone` (see [`Outputs`]).
///
/// # Panics
/// When a task panics, with a message naming the task and its call site.
#[track_caller]
pub fn compute<O: Outputs>(outputs: O) -> O::Values {
    // As `compute_with`, the values read from the run's slot into this return place.
    let mut inputs = Some((RunOptions::new(), outputs));
    crate::engine::sync::value_with_room_for_run::<O::Values, _>(|| {
        let (options, outputs) = inputs.take().expect("run once");
        compute_here(options, outputs)
    })
}

/// [`compute`] with a scheduler; a task's panic comes back as a [`TaskError`].
pub fn compute_with<O: Outputs>(
    options: impl Into<RunOptions>,
    outputs: O,
) -> Result<O::Values, TaskError> {
    // The values pass through the frames above the run by value too.
    let mut inputs = Some((options.into(), outputs));
    crate::engine::sync::with_room_for_run::<O::Values, _>(|| {
        let (options, outputs) = inputs.take().expect("run once");
        compute_here(options, outputs)
    })
}

/// [`compute_with`], in frames of its own (see `with_room`).
pub(crate) fn compute_here<O: Outputs>(
    options: RunOptions,
    outputs: O,
) -> Result<O::Values, TaskError> {
    let Some(Lent(nodes)) = outputs.lend() else {
        return prepare(outputs).run_here(options);
    };
    // The outputs are borrowed until this returns, and so is every node they reach:
    // the plan takes no handle of its own (see `Plan::borrowing`).
    // SAFETY: the plan is dropped before this returns, unless the run still holds it:
    // a run that returned a failure early, while other tasks go on (see `Prepared`),
    // which is then given handles of the outputs here, before they can go.
    let mut prepared = Prepared::of(
        unsafe { Plan::borrowing(nodes) },
        O::read,
        O::clone_ahead,
        outputs.lengths(),
    );
    let result = prepared.run_here(options);
    if result.is_err() {
        prepared.run.plan.keep_outputs(|| nodes.to_vec());
    }
    result
}

impl<V> std::fmt::Debug for Prepared<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("nodes", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamic::{delayed, Delayed};

    /// Plans numbered past what a node's mark holds (2^32) number their nodes in a map,
    /// and compute the same: the last plans with marks, then the first with the map.
    /// (Moving the counter forward is harmless to plans made at the same time by other
    /// tests: a plan's number only has to differ from every other plan's.)
    #[test]
    fn plans_past_the_marks_range_number_nodes_in_a_map() {
        let add = delayed(|a: u64, b: u64| a + b);
        let one = Delayed::value(1u64);
        // A diamond over a shared node, read twice by one node too.
        let two = add.call(&one, &one);
        let three = add.call(&two, &one);
        let total = add.call(&two, &three);
        NEXT_PLAN.fetch_max(Mark::MAX_PLAN - 1, Ordering::Relaxed);
        for _ in 0..4 {
            assert_eq!(total.compute(), 5);
        }
        assert!(NEXT_PLAN.load(Ordering::Relaxed) > Mark::MAX_PLAN + 1);
    }
}
