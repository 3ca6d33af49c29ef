//! [`RunRecord`]: an observer that remembers how every node of a run ended.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, RwLock};

use crate::error::TaskError;
use crate::info::NodeOutcome;
use crate::observe::{Observer, TaskOutcome};
use crate::table::NodeInfo;

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
/// [`NodeOutcome::NeverRan`].
#[derive(Debug, Default)]
pub struct RunRecord {
    /// One state per node of the run; `None` before any run.
    states: RwLock<Option<Vec<AtomicU8>>>,
    error: Mutex<Option<String>>,
}

impl RunRecord {
    /// A record that has watched nothing yet.
    #[must_use = "a `RunRecord` records nothing until given to a run (`RunOptions::observer`)"]
    pub fn new() -> Self {
        RunRecord::default()
    }

    /// Whether it has watched a run start.
    pub fn has_run(&self) -> bool {
        self.states
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// The number of nodes of the run it watched (0 before any).
    pub fn len(&self) -> usize {
        self.states
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(0, Vec::len)
    }

    /// Whether the run it watched had no node (or it watched none).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How node `node` ended; `None` before any run or past the last node.
    pub fn outcome(&self, node: usize) -> Option<NodeOutcome> {
        let states = self.states.read().unwrap_or_else(|e| e.into_inner());
        let state = states.as_ref()?.get(node)?;
        Some(decode(state.load(Ordering::Acquire)))
    }

    /// How every node ended, in node order; `None` before any run.
    pub fn outcomes(&self) -> Option<Vec<NodeOutcome>> {
        let states = self.states.read().unwrap_or_else(|e| e.into_inner());
        Some(
            states
                .as_ref()?
                .iter()
                .map(|s| decode(s.load(Ordering::Acquire)))
                .collect(),
        )
    }

    /// The error that ended the run (a task's panic, with its name and call site),
    /// if one did.
    pub fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, node: u32, state: u8) {
        let states = self.states.read().unwrap_or_else(|e| e.into_inner());
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
        let mut states = self.states.write().unwrap_or_else(|e| e.into_inner());
        *states = Some(
            (0..nodes.len())
                .map(|_| AtomicU8::new(NOT_STARTED))
                .collect(),
        );
        *self.error.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn task_started(&self, node: u32, _info: &NodeInfo<'_>) {
        self.set(node, STARTED);
    }

    fn task_finished(&self, node: u32, _info: &NodeInfo<'_>, outcome: TaskOutcome) {
        let state = match outcome {
            TaskOutcome::Finished => FINISHED,
            TaskOutcome::Failed => FAILED,
            TaskOutcome::Stopped => STOPPED,
        };
        self.set(node, state);
    }

    fn graph_finished(&self, result: Result<(), &TaskError>) {
        if let Err(error) = result {
            *self.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.to_string());
        }
    }
}
