//! The graph of a set of futures ([`futures_info`], [`Future::info`]): each one, every
//! future it depends on (directly or not), each with its status as its outcome; and
//! what the inspection layer reads of a future ([`NodeOutcome`] from a [`Status`],
//! [`RunRecord::future_outcome`](crate::RunRecord::future_outcome)), defined here so
//! that inspection does not know the front ends.

use std::collections::HashMap;
use std::sync::Arc;

use super::state::{HasCore, TaskName};
use super::{Future, Status};
use crate::inspect::{GraphInfo, NodeOutcome, NodeView};

/// A future of any result type, for [`futures_info`]: every [`Future<T>`] is one, so
/// futures of different types go in one slice: `futures_info(&[&a, &b])`.
pub trait AnyFuture {
    /// The task's name.
    fn task_name(&self) -> &str;
    /// Where the future stands now.
    fn task_status(&self) -> Status;
    /// The future's shared state, for inspection.
    #[doc(hidden)]
    fn state_ref(&self) -> FutureRef;
}

/// A future's shared state, its type erased (what [`AnyFuture`] hands inspection).
#[doc(hidden)]
pub struct FutureRef(Arc<dyn HasCore>);

impl FutureRef {
    pub(crate) fn new(state: Arc<dyn HasCore>) -> Self {
        FutureRef(state)
    }

    /// The state, for waiting on it.
    pub(crate) fn state(&self) -> &Arc<dyn HasCore> {
        &self.0
    }
}

impl<T: Send + Sync + 'static> AnyFuture for Future<T> {
    fn task_name(&self) -> &str {
        self.name()
    }

    fn task_status(&self) -> Status {
        self.status()
    }

    fn state_ref(&self) -> FutureRef {
        FutureRef(self.task().clone())
    }
}

/// What is known of one future while the graph is read.
struct Seen {
    name: TaskName,
    call_site: &'static str,
    /// Its status, or `None` when nothing keeps its state any more.
    status: Option<Status>,
    /// For an error: which panic (see `Core::error_identity`).
    error: Option<usize>,
    /// The indices of the futures it reads.
    inputs: Vec<usize>,
}

/// The graph of `futures` and everything they depend on, directly or not: one node
/// per future (kind `future`), one edge per dependency, each future's
/// [`Status`] as its outcome, taken now. Futures of any result types may be mixed:
///
/// ```
/// use graph_runtime::{futures_info, Client, NodeOutcome};
///
/// fn inc(x: i64) -> i64 { x + 1 }
/// fn show(x: i64) -> String { x.to_string() }
///
/// let client = Client::builder().threads(2).build()?;
/// let a = client.submit(inc, (1,));
/// let b = client.submit(show, (&a,));
/// b.result()?;
/// let info = futures_info(&[&a, &b]);
/// assert_eq!((info.len(), info.edges()), (2, &[(0, 1)][..]));
/// assert_eq!(info.nodes()[1].outcome, Some(NodeOutcome::Finished));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A future that ended in error because a future it depends on failed is
/// [`NodeOutcome::NeverRan`]: its own task never ran (its [`Status`] is `Error`).
/// A dependency no handle keeps any more (its result already freed) still shows, by
/// name: finished if a future that reads it ran, of unknown outcome otherwise.
pub fn futures_info(futures: &[&dyn AnyFuture]) -> GraphInfo {
    let mut seen: Vec<Seen> = Vec::new();
    let mut index: HashMap<usize, usize> = HashMap::new();
    // Iterative depth-first post-order: every future after the futures it reads.
    enum Visit {
        Enter(Option<Arc<dyn HasCore>>, usize, TaskName, &'static str),
        Leave(usize),
    }
    let mut numbered: Vec<usize> = Vec::new();
    let key = |core: &Arc<dyn HasCore>| Arc::as_ptr(core) as *const () as usize;
    let mut stack: Vec<Visit> = futures
        .iter()
        .rev()
        .map(|f| {
            let core = f.state_ref().0;
            let k = key(&core);
            let (name, site) = (core.core().name.clone(), core.core().call_site());
            Visit::Enter(Some(core), k, name, site)
        })
        .collect();
    while let Some(visit) = stack.pop() {
        match visit {
            Visit::Enter(core, k, name, call_site) => {
                if index.contains_key(&k) {
                    continue;
                }
                let i = seen.len();
                index.insert(k, i);
                seen.push(Seen {
                    name,
                    call_site,
                    status: core.as_ref().map(|c| c.core().status()),
                    error: core.as_ref().and_then(|c| c.core().error_identity()),
                    inputs: Vec::new(),
                });
                stack.push(Visit::Leave(i));
                let Some(core) = core else { continue };
                for d in core.core().dependencies.iter().rev() {
                    let k = d.core.as_ptr() as *const () as usize;
                    seen[i].inputs.push(k);
                    stack.push(Visit::Enter(
                        d.core.upgrade(),
                        k,
                        d.name.clone(),
                        super::state::call_site_text(d.location),
                    ));
                }
            }
            Visit::Leave(i) => numbered.push(i),
        }
    }
    // `inputs` hold keys until every future is numbered.
    let mut id = vec![0usize; seen.len()];
    for (order, &i) in numbered.iter().enumerate() {
        id[i] = order;
    }
    let mut edges = Vec::new();
    for (i, s) in seen.iter().enumerate() {
        for &k in &s.inputs {
            edges.push((id[index[&k]], id[i]));
        }
    }
    let mut outcome: Vec<Option<NodeOutcome>> = vec![None; seen.len()];
    for (i, s) in seen.iter().enumerate() {
        outcome[id[i]] = s.status.map(NodeOutcome::from);
    }
    // A future that failed because a dependency did never ran its own task.
    for &(a, b) in &edges {
        let (ea, eb) = (seen[numbered[a]].error, seen[numbered[b]].error);
        if ea.is_some() && ea == eb {
            outcome[b] = Some(NodeOutcome::NeverRan);
        }
    }
    // A freed dependency of a future that ran had finished.
    for &(a, b) in &edges {
        if seen[numbered[a]].status.is_none()
            && matches!(
                outcome[b],
                Some(NodeOutcome::Finished | NodeOutcome::Running)
            )
        {
            outcome[a] = Some(NodeOutcome::Finished);
        }
    }
    let nodes = numbered
        .iter()
        .enumerate()
        .map(|(order, &i)| NodeView {
            id: order,
            name: seen[i].name.to_string(),
            kind: "future".to_owned(),
            call_site: seen[i].call_site.to_owned(),
            outcome: outcome[order],
        })
        .collect();
    GraphInfo::from_parts(nodes, edges)
}

impl std::fmt::Debug for FutureRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FutureRef").finish_non_exhaustive()
    }
}

/// The outcome a future's [`Status`] stands for. Here rather than beside
/// [`NodeOutcome`]: the inspection layer does not know the front ends.
impl From<Status> for NodeOutcome {
    fn from(status: Status) -> Self {
        match status {
            Status::Pending => NodeOutcome::Pending,
            Status::Running => NodeOutcome::Running,
            Status::Finished => NodeOutcome::Finished,
            Status::Error => NodeOutcome::Failed,
            Status::Cancelled => NodeOutcome::Cancelled,
        }
    }
}

/// [`RunRecord`](crate::RunRecord)'s reading of one future. Here rather than beside [`RunRecord`](crate::RunRecord): the
/// inspection layer does not know the front ends.
impl crate::inspect::RunRecord {
    /// How `future`'s task went so far, if this record saw it submitted.
    pub fn future_outcome<T>(&self, future: &Future<T>) -> Option<NodeOutcome> {
        self.outcome_of_key(future.core().key_number())
    }
}
