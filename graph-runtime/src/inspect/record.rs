//! [`RunRecord`]: an observer that remembers how every node of a run ended, and how
//! every task of a client went.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, RwLock};

use super::info::NodeOutcome;
use crate::engine::error::TaskError;
use crate::engine::lock::Recover;
use crate::engine::observe::{FutureEvent, Observer, TaskOutcome};
use crate::engine::table::NodeInfo;

const NOT_STARTED: u8 = 0;
const STARTED: u8 = 1;
const FINISHED: u8 = 2;
const FAILED: u8 = 3;
const STOPPED: u8 = 4;

/// Watches a run and remembers how each node ended, for
/// [`GraphInfo::with_outcomes`](crate::GraphInfo::with_outcomes): pass it as the
/// run's observer, then colour the graph with it.
///
/// ```ignore
/// let rec = Arc::new(RunRecord::new());
/// job.compute_with(RunOptions::new().observer(rec.clone()), x);
/// job.info().with_outcomes(&rec).visualize("run.svg")?;
/// ```
///
/// With a dynamic graph, `taskweave::compute_with(RunOptions::new().observer(rec.clone()),
/// (&value,))`, then `value.info().with_outcomes(&rec)`:
///
/// ```
/// use std::sync::Arc;
/// use graph_runtime::{compute_with, delayed, NodeOutcome, RunOptions, RunRecord};
///
/// let value = delayed(|x: i64| x + 1).call(41);
/// let rec = Arc::new(RunRecord::new());
/// compute_with(RunOptions::new().observer(rec.clone()), (&value,))?;
/// assert_eq!(rec.outcomes(), Some(vec![NodeOutcome::Finished]));
/// let info = value.info().with_outcomes(&rec);
/// # let _ = info;
/// // info.visualize("run.svg")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// It remembers the latest run it watched (a new run starts afresh). A node that
/// never started (its inputs failed, or the graph stopped first) is
/// [`NodeOutcome::NeverRan`]. One run at a time: the events of runs that overlap (two
/// threads computing with one record) cannot be told apart, so such a record says so
/// ([`overlapped`](Self::overlapped)) and [`GraphInfo::with_outcomes`] refuses it;
/// give each concurrent run a record of its own.
///
/// [`GraphInfo::with_outcomes`]: crate::GraphInfo::with_outcomes
///
/// **On a client** (`Client::builder().observer(rec.clone())`), it also keeps one
/// [`FutureRecord`] per task submitted, in submission order, with how it went so far:
/// pending, running, finished, failed or cancelled, and how many times it was retried
/// ([`future_records`](Self::future_records),
/// [`future_outcome`](Self::future_outcome)). These accumulate (the graph of a
/// `client.compute` is a run like any other, and does not reset them);
/// [`clear_futures`](Self::clear_futures) forgets them.
///
/// ```
/// use std::sync::Arc;
/// use graph_runtime::{Client, NodeOutcome, RunRecord};
///
/// let rec = Arc::new(RunRecord::new());
/// let client = Client::builder().threads(2).observer(rec.clone()).build()?;
/// let ok = client.submit(|x: i64| x + 1, (1,));
/// let boom = client.submit(|x: i64| -> i64 { panic!("no {x}") }, (2,));
/// ok.result()?;
/// assert!(boom.result().is_err());
/// assert_eq!(rec.future_outcome(&ok), Some(NodeOutcome::Finished));
/// assert_eq!(rec.future_outcome(&boom), Some(NodeOutcome::Failed));
/// assert_eq!(rec.future_records()[0].key, ok.key());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct RunRecord {
    /// One state per node of the run; `None` before any run.
    states: RwLock<Option<Vec<AtomicU8>>>,
    error: Mutex<Option<String>>,
    /// Graphs started and not finished, and whether two of the latest run's overlapped.
    active: Mutex<(u32, bool)>,
    /// The client's tasks.
    futures: Mutex<Futures>,
}

/// How one task of a client went, as a [`RunRecord`] saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FutureRecord {
    /// The task's key, as [`Future::key`](crate::Future::key) gives it (`inc-3f`).
    pub key: String,
    /// The task's name.
    pub name: String,
    /// Where it was submitted, as `file:line:column`.
    pub call_site: String,
    /// `Pending` (submitted, not started), `Running`, `Finished`, `Failed` (it
    /// panicked on its last attempt, or a task it depends on failed) or `Cancelled`.
    pub outcome: NodeOutcome,
    /// How many attempts panicked and were run again.
    pub retries: u32,
}

/// The client's tasks a record has seen, in submission order.
#[derive(Debug, Default)]
struct Futures {
    list: Vec<FutureRecord>,
    /// Key number to index in `list`.
    index: HashMap<u64, usize>,
}

impl Futures {
    /// The record of `task`, made if it is new.
    fn entry(&mut self, task: &FutureEvent<'_>) -> &mut FutureRecord {
        let list = &mut self.list;
        let at = *self.index.entry(task.key).or_insert_with(|| {
            list.push(FutureRecord {
                key: task.full_key(),
                name: task.name.to_owned(),
                call_site: task.call_site.to_owned(),
                outcome: NodeOutcome::Pending,
                retries: 0,
            });
            list.len() - 1
        });
        &mut list[at]
    }
}

impl RunRecord {
    /// A record that has watched nothing yet.
    #[must_use = "a `RunRecord` records nothing until given to a run (`RunOptions::observer`)"]
    pub fn new() -> Self {
        RunRecord::default()
    }

    /// Whether it has watched a run start.
    pub fn has_run(&self) -> bool {
        self.states.read().recover().is_some()
    }

    /// The number of nodes of the run it watched (0 before any).
    pub fn len(&self) -> usize {
        self.states.read().recover().as_ref().map_or(0, Vec::len)
    }

    /// Whether the run it watched had no node (or it watched none).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How node `node` ended; `None` before any run or past the last node.
    pub fn outcome(&self, node: usize) -> Option<NodeOutcome> {
        let states = self.states.read().recover();
        let state = states.as_ref()?.get(node)?;
        Some(decode(state.load(Ordering::Acquire)))
    }

    /// How every node ended, in node order; `None` before any run.
    pub fn outcomes(&self) -> Option<Vec<NodeOutcome>> {
        let states = self.states.read().recover();
        Some(
            states
                .as_ref()?
                .iter()
                .map(|s| decode(s.load(Ordering::Acquire)))
                .collect(),
        )
    }

    /// Whether another run started while the latest one went on (or the latest one
    /// started while another went on): its outcomes then mix the runs' events, and
    /// [`GraphInfo::with_outcomes`](crate::GraphInfo::with_outcomes) refuses them.
    pub fn overlapped(&self) -> bool {
        self.active.lock().recover().1
    }

    /// The error that ended the run (a task's panic, with its name and call site),
    /// if one did.
    pub fn error(&self) -> Option<String> {
        self.error.lock().recover().clone()
    }

    /// Every task of the observed clients, in submission order, with how it went so
    /// far; empty when it observed no client.
    pub fn future_records(&self) -> Vec<FutureRecord> {
        self.futures.lock().recover().list.clone()
    }

    /// How the task whose key number is `key` went so far, if this record saw it
    /// submitted (for `future_outcome`, which the futures front end defines).
    pub(crate) fn outcome_of_key(&self, key: u64) -> Option<NodeOutcome> {
        let futures = self.futures.lock().recover();
        futures.index.get(&key).map(|&at| futures.list[at].outcome)
    }

    /// Forgets the client's tasks seen so far (a record on a long-lived client keeps
    /// one [`FutureRecord`] per task until then).
    pub fn clear_futures(&self) {
        *self.futures.lock().recover() = Futures::default();
    }

    fn set(&self, node: u32, state: u8) {
        let states = self.states.read().recover();
        if let Some(slot) = states.as_ref().and_then(|s| s.get(node as usize)) {
            slot.store(state, Ordering::Release);
        }
    }
}

fn decode(state: u8) -> NodeOutcome {
    match state {
        NOT_STARTED => NodeOutcome::NeverRan,
        STARTED => NodeOutcome::Running,
        FINISHED => NodeOutcome::Finished,
        FAILED => NodeOutcome::Failed,
        _ => NodeOutcome::Stopped,
    }
}

impl Observer for RunRecord {
    fn graph_started(&self, nodes: &[NodeInfo<'_>]) {
        {
            let mut active = self.active.lock().recover();
            active.1 = active.0 > 0;
            active.0 += 1;
        }
        let mut states = self.states.write().recover();
        *states = Some(
            (0..nodes.len())
                .map(|_| AtomicU8::new(NOT_STARTED))
                .collect(),
        );
        *self.error.lock().recover() = None;
    }

    fn task_started(&self, node: u32, _info: &NodeInfo<'_>) {
        self.set(node, STARTED);
    }

    fn task_finished(&self, node: u32, _info: &NodeInfo<'_>, outcome: TaskOutcome) {
        let state = match outcome {
            TaskOutcome::Finished => FINISHED,
            TaskOutcome::Failed => FAILED,
            // Graph tasks are neither cancelled nor retried one by one.
            TaskOutcome::Stopped | TaskOutcome::Cancelled | TaskOutcome::Retried => STOPPED,
        };
        self.set(node, state);
    }

    fn graph_finished(&self, result: Result<(), &TaskError>) {
        if let Err(error) = result {
            *self.error.lock().recover() = Some(error.to_string());
        }
        let mut active = self.active.lock().recover();
        active.0 = active.0.saturating_sub(1);
    }

    fn future_submitted(&self, task: &FutureEvent<'_>) {
        self.futures.lock().recover().entry(task);
    }

    fn future_started(&self, task: &FutureEvent<'_>) {
        self.futures.lock().recover().entry(task).outcome = NodeOutcome::Running;
    }

    fn future_finished(&self, task: &FutureEvent<'_>, outcome: TaskOutcome) {
        let mut futures = self.futures.lock().recover();
        let record = futures.entry(task);
        match outcome {
            TaskOutcome::Retried => record.retries += 1,
            outcome => record.outcome = NodeOutcome::from(outcome),
        }
    }
}
