//! `Delayed` graphs on a cluster: a graph of `#[delayed(remote)]` calls becomes one
//! [`Job`] (node → task, edges → the tasks' inputs, values → payload files), its
//! nodes grouped into at most a few cluster tasks ([`Partition`]) each of which runs
//! its sub-graph in one worker process on rayon, and the result is read back typed.
//!
//! Each cluster task of such a job is a call of the built-in sub-graph runner
//! ([`SUBGRAPH`]): its first input is the sub-graph (which registered function each
//! node calls, with which arguments: values, nodes of the same sub-graph, or nodes of
//! an earlier cluster task), then come its nodes' values (a file each, so that a large
//! one is written and read without a copy), then the outputs of the cluster tasks it
//! reads. Its output holds the result, or the error, of each of its nodes that another
//! cluster task or the caller reads. A task's panic is data there, not a failed process: the
//! nodes after it report "never ran" with the name of the node they needed, as on one
//! machine.

use std::any::Any;
use std::collections::HashMap;
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::runner::output_path;
use super::{find, Input, Job, LocalRunner, Outputs, Payload, RemoteError, TaskId};
use crate::dynamic::args::ArgShape;
use crate::dynamic::{Delayed, Plan, RemoteSpec};
use crate::engine::error::TaskError;
use crate::engine::lock::Recover;
use crate::engine::names::short_name_of;
use crate::engine::observe::{ambient_active, ambient_run_observer, Observer, TaskOutcome};
use crate::engine::table::{NodeInfo, Table};

/// The name a worker runs a sub-graph by (see the module's docs).
pub const SUBGRAPH: &str = "taskweave::remote::subgraph";

/// The function of a node that gives its one argument as its result: a `graph!`'s
/// `vec![a, b]` bound to a name, which the worker assembles from the nodes' results.
pub(super) const COLLECT: &str = "taskweave::remote::collect";

/// How a parameter of a remote task is encoded when `delay!` is given a value for it,
/// and its type's name (for a `Vec` of nodes' results assembled in a worker).
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct ParamCodec {
    type_name: fn() -> &'static str,
    encode: fn(&(dyn Any + Send + Sync)) -> Option<Result<Payload, RemoteError>>,
}

/// The [`ParamCodec`] of a parameter of type `T`: what `#[delayed(remote)]` records per
/// parameter (and where a parameter that is not `Serialize` is reported).
#[doc(hidden)]
pub fn encoder<T: Serialize + DeserializeOwned + 'static>() -> ParamCodec {
    ParamCodec {
        type_name: std::any::type_name::<T>,
        encode: |value| value.downcast_ref::<T>().map(Payload::encode),
    }
}

/// One argument of a remote call, as `delay!` recorded it.
pub(super) enum CallArg {
    /// The next parent's result.
    Node,
    /// The next `n` parents' results, as one `Vec` (its type's name).
    Many(usize, &'static str),
    /// A value, encoded when the node was built.
    Const(Result<Payload, RemoteError>),
    /// An argument a worker cannot be given (its kind's type).
    Other(&'static str),
}

/// What a `delay!` node of a `#[delayed(remote)]` function records of its call.
pub(super) struct RemoteCall {
    pub(super) function: &'static str,
    pub(super) args: Vec<CallArg>,
}

/// Describes a call of the remote function `function` from its arguments' shapes (what
/// a remote task's companion does for `delay!`).
#[doc(hidden)]
pub fn describe(
    function: &'static str,
    shapes: &[ArgShape<'_>],
    params: &[ParamCodec],
) -> RemoteSpec {
    let args = shapes
        .iter()
        .enumerate()
        .map(|(i, shape)| match *shape {
            ArgShape::Node => CallArg::Node,
            ArgShape::Many(n) => CallArg::Many(n, params.get(i).map_or("?", |p| (p.type_name)())),
            ArgShape::Const(value) => CallArg::Const(
                params
                    .get(i)
                    .and_then(|p| (p.encode)(value))
                    .unwrap_or_else(|| {
                        Err(RemoteError::Argument {
                            task: Some(short_name_of(function).to_owned()),
                            position: i,
                            error: Box::new(RemoteError::BadJob(String::from(
                                "a value of another type than the parameter's",
                            ))),
                        })
                    }),
            ),
            ArgShape::Other(kind) => CallArg::Other(kind),
        })
        .collect();
    RemoteSpec::new(Box::new(RemoteCall { function, args }))
}

/// How the nodes of a graph are grouped into cluster tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Partition {
    /// At most `max(16, 4 × the cluster's workers)` cluster tasks (fewer for a smaller
    /// graph): a process start per task costs about a millisecond on one machine and
    /// more on a cluster, so a graph of thousands of small calls should not be
    /// thousands of processes.
    #[default]
    Auto,
    /// At most this many cluster tasks (at least 1).
    Tasks(usize),
    /// One cluster task per node (no grouping): for coarse tasks, or to compare.
    PerNode,
}

/// What runs a [`Job`]: the [`LocalRunner`] on this machine, a HyperQueue transport on
/// a cluster.
pub trait Cluster {
    /// How many cluster tasks run at once (for [`Partition::Auto`]).
    fn workers(&self) -> usize;
    /// Runs every task of `job`; see [`LocalRunner::run`].
    fn run(&self, job: &Job) -> Result<Outputs, RemoteError>;
    /// Runs every task of `job` as [`run`](Self::run) does, telling `watcher` where the
    /// run's files are while it waits for the job ([`JobWatcher::running`], every few
    /// tens of milliseconds) and once the job has ended ([`JobWatcher::ended`], before
    /// its results are read and its files removed): what feeds the observers of a
    /// [`compute_on_with`] from the events its workers write. The default runs the
    /// job unwatched (observers then see the run start and end, and no task).
    fn run_watched(&self, job: &Job, watcher: &mut dyn JobWatcher) -> Result<Outputs, RemoteError> {
        let _ = watcher;
        self.run(job)
    }
}

/// Told where a running job's files are, while a [`Cluster`] waits for it (see
/// [`Cluster::run_watched`]): a compute with observers reads its workers' task events
/// there.
pub trait JobWatcher {
    /// The job runs, its files in the directory `run`: called every so often while
    /// the cluster waits (each call may read what appeared since the last).
    fn running(&mut self, run: &Path);
    /// The job has ended: called once, before its results are read and its files
    /// removed.
    fn ended(&mut self, run: &Path);
}

/// A run nobody watches.
pub(super) struct Unwatched;

impl JobWatcher for Unwatched {
    fn running(&mut self, _: &Path) {}
    fn ended(&mut self, _: &Path) {}
}

impl Cluster for LocalRunner {
    fn workers(&self) -> usize {
        self.parallel
    }
    fn run(&self, job: &Job) -> Result<Outputs, RemoteError> {
        LocalRunner::run(self, job)
    }
    fn run_watched(&self, job: &Job, watcher: &mut dyn JobWatcher) -> Result<Outputs, RemoteError> {
        LocalRunner::run_watching(self, job, watcher)
    }
}

/// How to compute a graph on a cluster ([`compute_on_with`]): how its nodes are
/// grouped, and who watches, as [`RunOptions`](crate::RunOptions) says for a compute
/// here. A [`Partition`] converts into it, so `compute_on_with(&cluster, &x,
/// Partition::PerNode)` reads as it did.
///
/// ```ignore
/// let progress = Arc::new(Progress::new());
/// let options = ClusterOptions::new().observer(progress.clone());
/// let total = graph.compute_on_with(&cluster, options)?;   // a bar, fed by the workers
/// ```
#[derive(Clone, Default)]
pub struct ClusterOptions {
    partition: Partition,
    observer: Option<Arc<dyn Observer>>,
}

impl ClusterOptions {
    /// [`Partition::Auto`], nobody watching.
    #[must_use = "builder methods return the changed builder"]
    pub fn new() -> Self {
        ClusterOptions::default()
    }

    /// Groups the graph's nodes into cluster tasks as `partition` says.
    #[must_use = "builder methods return the changed builder"]
    pub fn partition(mut self, partition: Partition) -> Self {
        self.partition = partition;
        self
    }

    /// Reports every node to `observer` as the cluster runs it (the observers of a
    /// compute here: a [`Progress`](crate::Progress) bar, a
    /// [`Profiler`](crate::Profiler), your own): `graph_started` with the graph's
    /// nodes, then `task_started` and `task_finished` for each node a worker runs (a
    /// node whose input failed never starts, as here), then `graph_finished`. The
    /// workers write each node's start and end to a file of the run, which this
    /// process reads while it waits, so the hooks run on the computing thread a few
    /// tens of milliseconds after the events (a profile's durations are as exact as
    /// that). A node a worker started and never ended (the process died) is told
    /// [`TaskOutcome::Failed`] when the job ends. The performance report and the
    /// dashboard, while active, watch it too.
    #[must_use = "builder methods return the changed builder"]
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }
}

impl From<Partition> for ClusterOptions {
    fn from(partition: Partition) -> Self {
        ClusterOptions::new().partition(partition)
    }
}

impl std::fmt::Debug for ClusterOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterOptions")
            .field("partition", &self.partition)
            .field("observed", &self.observer.is_some())
            .finish()
    }
}

/// A `Delayed` graph as one cluster [`Job`], and where its result will be.
#[derive(Debug, Clone)]
pub struct GraphJob<T> {
    job: Job,
    /// The cluster task whose output holds the result, and the result's node.
    root: (TaskId, u32),
    /// Nodes in the graph.
    nodes: usize,
    /// The result's node, in words, for an error decoding its value.
    root_label: String,
    _value: std::marker::PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> GraphJob<T> {
    /// Lays out the graph of `value` as one job, grouped as `partition` says for a
    /// cluster running `workers` tasks at once. Every node must be a call of a
    /// `#[delayed(remote)]` function built with `delay!`, with nodes, `Vec`s of nodes
    /// or values as arguments: anything else is an error naming the node and where
    /// it was built ([`RemoteError::NotRemote`]).
    pub fn new(
        value: &Delayed<T>,
        partition: Partition,
        workers: usize,
    ) -> Result<GraphJob<T>, RemoteError> {
        let plan = Plan::new(vec![value.node.clone()]);
        GraphJob::from_plan(&plan, partition, workers, false)
    }

    /// The job of the graph laid out in `plan`; its workers write each node's start
    /// and end to a file of the run when `events` (for observers).
    fn from_plan(
        plan: &Plan,
        partition: Partition,
        workers: usize,
        events: bool,
    ) -> Result<GraphJob<T>, RemoteError> {
        GraphJob::from_nodes(lower(plan)?, partition, workers, events)
    }

    /// The job of a graph's nodes (parents before children, the result last).
    pub(super) fn from_nodes(
        nodes: Vec<GraphNode>,
        partition: Partition,
        workers: usize,
        events: bool,
    ) -> Result<GraphJob<T>, RemoteError> {
        let count = nodes.len();
        let parts = match partition {
            // Saturating: a cluster may say it has any number of workers.
            Partition::Auto => 16.max(workers.max(1).saturating_mul(4)),
            Partition::Tasks(n) => n.max(1),
            Partition::PerNode => count,
        }
        .min(count);
        let LaidOut {
            job,
            root,
            root_label,
        } = build_job(nodes, parts, events)?;
        Ok(GraphJob {
            job,
            root,
            root_label,
            nodes: count,
            _value: std::marker::PhantomData,
        })
    }

    /// The job: what a cluster runs.
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// How many nodes the graph has (each a call of a remote function).
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// Reads the result from the job's outputs: the value, or the error of the task
    /// that failed, its own or one it needed (a panic as the same [`TaskError`] as on
    /// one machine: the node's name, where it was built, the message).
    pub fn read(&self, outputs: &Outputs) -> Result<T, RemoteError> {
        let (task, node) = self.root;
        let payload = match outputs.payload(task) {
            Some(Ok(payload)) => payload,
            // A cluster task that never ran because another one failed as a process
            // (a worker that crashed, a stale binary): that one's error says why.
            Some(Err(error @ RemoteError::NeverRan { .. })) => {
                let cause = (0..self.job.len()).find_map(|i| match outputs.payload(TaskId(i)) {
                    Some(Err(RemoteError::NeverRan { .. })) | Some(Ok(_)) | None => None,
                    Some(Err(cause)) => Some(cause.clone()),
                });
                return Err(cause.unwrap_or_else(|| error.clone()));
            }
            Some(Err(error)) => return Err(error.clone()),
            None => {
                return Err(RemoteError::BadJob(String::from(
                    "the job's outputs are another job's",
                )))
            }
        };
        let output: PartOutput<'_> = payload.decode_borrowed()?;
        let (_, _, result) = output
            .results
            .into_iter()
            .find(|(id, _, _)| *id == node)
            .ok_or_else(|| RemoteError::Protocol(format!("no result for node {node}")))?;
        match result {
            // A value its worker wrote that does not decode here names its node.
            Ok(encoded) => encoded
                .within(payload)
                .and_then(|payload| payload.decode())
                .map_err(|error| match error {
                    RemoteError::Decode { type_name, message } => RemoteError::Decode {
                        type_name,
                        message: format!("{message} (the result of {})", self.root_label),
                    },
                    error => error,
                }),
            // What the value needed failed: that failure, as on one machine (Dask's
            // compute raises the failed task's exception too).
            Err(failure) => Err(failure.root().into_error()),
        }
    }
}

/// Computes `value` on `cluster`, its nodes grouped into cluster tasks as
/// [`Partition::Auto`] says: Dask's `client.compute(x)` for a cluster of workers
/// started from this program. See [`compute_on_with`].
pub fn compute_on<T: DeserializeOwned>(
    cluster: &(impl Cluster + ?Sized),
    value: &Delayed<T>,
) -> Result<T, RemoteError> {
    compute_on_with(cluster, value, Partition::Auto)
}

/// Computes `value` on `cluster` as one job, with `options`: its nodes grouped as
/// [`ClusterOptions::partition`] says (a [`Partition`] alone is options), watched by
/// [`ClusterOptions::observer`] (see [`GraphJob::new`] for what the graph may hold,
/// [`GraphJob::read`] for what comes back).
pub fn compute_on_with<T: DeserializeOwned>(
    cluster: &(impl Cluster + ?Sized),
    value: &Delayed<T>,
    options: impl Into<ClusterOptions>,
) -> Result<T, RemoteError> {
    let plan = Plan::new(vec![value.node.clone()]);
    compute_nodes(cluster, &plan.table(), || lower(&plan), options.into())
}

/// Runs a graph's nodes (`nodes()`: parents before children, the result last, numbered
/// as in `table`) on `cluster` as one job, and reads its result back: what
/// [`compute_on_with`] does with a `Delayed` graph, and `Graph::compute_on_cluster_with`
/// with a `graph!`. The nodes are laid out once it is known whether anyone watches.
pub(super) fn compute_nodes<T: DeserializeOwned>(
    cluster: &(impl Cluster + ?Sized),
    table: &Table<'_>,
    nodes: impl FnOnce() -> Result<Vec<GraphNode>, RemoteError>,
    options: ClusterOptions,
) -> Result<T, RemoteError> {
    // The performance report and the dashboard watch every run while active, as here.
    let ambient = if ambient_active() {
        ambient_run_observer(table, options.observer.as_ref())
    } else {
        None
    };
    let Some(observer) = ambient.as_deref().or(options.observer.as_deref()) else {
        let job = GraphJob::from_nodes(nodes()?, options.partition, cluster.workers(), false)?;
        let outputs = cluster.run(job.job())?;
        return job.read(&outputs);
    };
    let job = GraphJob::from_nodes(nodes()?, options.partition, cluster.workers(), true)?;
    let nodes = table.nodes();
    observer.graph_started(nodes);
    let mut events = TaskEvents::new(observer, nodes, job.job().len());
    let result = cluster
        .run_watched(job.job(), &mut events)
        .and_then(|outputs| job.read(&outputs));
    events.close();
    match &result {
        Ok(_) => observer.graph_finished(Ok(())),
        Err(RemoteError::Task(error)) => observer.graph_finished(Err(error)),
        Err(other) => {
            let root = &nodes[nodes.len() - 1];
            let error =
                TaskError::from_panic(root.name(), root.call_site(), Box::new(other.to_string()));
            observer.graph_finished(Err(&error));
        }
    }
    result
}

impl<T: DeserializeOwned> Delayed<T> {
    /// Computes this value on `cluster` (feature `hyperqueue`): Dask's
    /// `client.compute(x)`. See [`compute_on`].
    pub fn compute_on(&self, cluster: &(impl Cluster + ?Sized)) -> Result<T, RemoteError> {
        compute_on(cluster, self)
    }

    /// Computes this value on `cluster` with `options` (a [`Partition`], or
    /// [`ClusterOptions`] with an observer), as
    /// [`try_compute_with`](Delayed::try_compute_with) computes it here with
    /// [`RunOptions`](crate::RunOptions). See [`compute_on_with`].
    pub fn compute_on_with(
        &self,
        cluster: &(impl Cluster + ?Sized),
        options: impl Into<ClusterOptions>,
    ) -> Result<T, RemoteError> {
        compute_on_with(cluster, self, options)
    }
}

// ---- task events: written by the workers, read while the job runs ----------------------

/// Where a worker whose result goes to `output` writes its nodes' events.
fn events_path(output: &Path) -> std::path::PathBuf {
    let mut path = output.as_os_str().to_owned();
    path.push(".events");
    std::path::PathBuf::from(path)
}

/// The events file of one cluster task, as the worker writes it: a line per event,
/// `begin` when a worker starts it (a cluster may run it again after a lost worker),
/// `s NODE MICROS` when node `NODE` (its index in the graph) starts, `e NODE OUTCOME
/// MICROS` when it ends (`finished` or `failed`; `MICROS`: microseconds since the Unix
/// epoch, for a reader of a kept run), and `end` when the cluster task is done. Each
/// line is one `write` to a file opened to append.
struct EventLog {
    file: Mutex<std::fs::File>,
}

impl EventLog {
    /// The log at `path`, opened to append, its `begin` written; `None` if it cannot
    /// be.
    fn create(path: &Path) -> Option<EventLog> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
            .map(|file| EventLog {
                file: Mutex::new(file),
            })?;
        log.write(format_args!("begin"));
        Some(log)
    }

    /// Writes one event line (a failed write loses the event, not the task).
    fn write(&self, line: std::fmt::Arguments<'_>) {
        let line = format!("{line}\n");
        let _ = self.file.lock().recover().write_all(line.as_bytes());
    }

    fn started(&self, node: u32) {
        self.write(format_args!("s {node} {}", micros_now()));
    }

    fn finished(&self, node: u32, outcome: TaskOutcome) {
        self.write(format_args!("e {node} {outcome} {}", micros_now()));
    }
}

/// Microseconds since the Unix epoch.
fn micros_now() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

/// What the worker of a cluster task of several `nodes` (each one's number and
/// label, ascending), whose result went to `output`, was running when it died, from
/// its events of its last start: the running nodes' labels, and a sentence saying so
/// with which of its nodes had finished. `None` for a single node, without events, or
/// when no node was running.
pub(super) fn running_when_died(
    output: &Path,
    nodes: &[(u32, String)],
) -> Option<(String, String)> {
    if nodes.len() < 2 {
        return None;
    }
    let text = std::fs::read_to_string(events_path(output)).ok()?;
    let last_run = text
        .rfind("begin\n")
        .map_or(text.as_str(), |at| &text[at..]);
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        NotStarted,
        Running,
        Ended,
    }
    let mut states = vec![State::NotStarted; nodes.len()];
    for line in last_run.lines() {
        let mut words = line.split(' ');
        let (state, node) = match (words.next(), words.next()) {
            (Some("s"), Some(node)) => (State::Running, node),
            (Some("e"), Some(node)) => (State::Ended, node),
            _ => continue,
        };
        let Some(k) = node
            .parse::<u32>()
            .ok()
            .and_then(|node| nodes.binary_search_by_key(&node, |(id, _)| *id).ok())
        else {
            continue;
        };
        // An end read before its start (never written so) still ends it.
        if states[k] != State::Ended {
            states[k] = state;
        }
    }
    let labels = |state: State| -> Vec<&str> {
        nodes
            .iter()
            .zip(&states)
            .filter(|(_, s)| **s == state)
            .map(|((_, label), _)| label.as_str())
            .collect()
    };
    let running = labels(State::Running);
    if running.is_empty() {
        return None;
    }
    let finished = labels(State::Ended);
    // A long list of finished nodes says little more than its first few.
    const SHOWN: usize = 5;
    let finished_words = match finished.len() {
        0 => String::from("none had finished"),
        n if n <= SHOWN => format!("{} had finished", finished.join(", ")),
        n => format!(
            "{}, and {} more had finished",
            finished[..SHOWN].join(", "),
            n - SHOWN
        ),
    };
    let not_started = nodes.len() - running.len() - finished.len();
    let sentence = format!(
        "of the {} nodes of its cluster task it was running {}; {finished_words}; {not_started} \
         had not started",
        nodes.len(),
        running.join(", "),
    );
    Some((running.join(", "), sentence))
}

/// How often the events files are read while a job runs.
const EVENTS_POLL: Duration = Duration::from_millis(50);

/// Where a node stands, as the observer was told.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Told {
    Nothing,
    Started,
    Ended,
}

/// Reads the cluster tasks' events files while the job runs and tells the observer:
/// each node started and ended once (a cluster task run again after a lost worker
/// writes its events again; they are told once).
struct TaskEvents<'a> {
    observer: &'a dyn Observer,
    nodes: &'a [NodeInfo<'a>],
    told: Vec<Told>,
    /// Per cluster task: how far its file was read, the last line's start if it is not
    /// whole yet, and whether it said `end`.
    files: Vec<(u64, Vec<u8>, bool)>,
    last: Option<Instant>,
}

impl<'a> TaskEvents<'a> {
    fn new(observer: &'a dyn Observer, nodes: &'a [NodeInfo<'a>], tasks: usize) -> Self {
        TaskEvents {
            observer,
            nodes,
            told: vec![Told::Nothing; nodes.len()],
            files: vec![(0, Vec::new(), false); tasks],
            last: None,
        }
    }

    /// Reads what each cluster task's file gained since the last read.
    fn read(&mut self, run: &Path) {
        self.last = Some(Instant::now());
        for task in 0..self.files.len() {
            let (offset, partial, done) = &mut self.files[task];
            if *done {
                continue;
            }
            let Ok(mut file) = std::fs::File::open(events_path(&output_path(run, task))) else {
                continue;
            };
            let start = partial.len();
            if file.seek(std::io::SeekFrom::Start(*offset)).is_err()
                || file.read_to_end(partial).is_err()
            {
                partial.truncate(start);
                continue;
            }
            *offset += (partial.len() - start) as u64;
            let Some(whole) = partial.iter().rposition(|&b| b == b'\n') else {
                continue;
            };
            let lines: Vec<u8> = partial.drain(..=whole).collect();
            for line in String::from_utf8_lossy(&lines).lines() {
                let mut words = line.split(' ');
                match (
                    words.next(),
                    words.next().and_then(|n| n.parse::<u32>().ok()),
                ) {
                    (Some("end"), _) => self.files[task].2 = true,
                    (Some("s"), Some(node)) => self.tell_started(node),
                    (Some("e"), Some(node)) => {
                        let outcome = match words.next() {
                            Some("finished") => TaskOutcome::Finished,
                            _ => TaskOutcome::Failed,
                        };
                        self.tell_finished(node, outcome);
                    }
                    _ => {}
                }
            }
        }
    }

    fn tell_started(&mut self, node: u32) {
        let i = node as usize;
        if self.told.get(i) == Some(&Told::Nothing) {
            self.told[i] = Told::Started;
            self.observer.task_started(node, &self.nodes[i]);
        }
    }

    fn tell_finished(&mut self, node: u32, outcome: TaskOutcome) {
        let i = node as usize;
        if self.told.get(i) == Some(&Told::Started) {
            self.told[i] = Told::Ended;
            self.observer.task_finished(node, &self.nodes[i], outcome);
        }
    }

    /// The job is over: a node started and never ended (its worker died) failed.
    fn close(&mut self) {
        for node in 0..self.told.len() {
            self.tell_finished(node as u32, TaskOutcome::Failed);
        }
    }
}

impl JobWatcher for TaskEvents<'_> {
    fn running(&mut self, run: &Path) {
        if self.last.is_none_or(|last| last.elapsed() >= EVENTS_POLL) {
            self.read(run);
        }
    }

    fn ended(&mut self, run: &Path) {
        self.read(run);
    }
}

// ---- the graph, laid out --------------------------------------------------------------

/// A node of the graph: which function, its name and call site, its arguments.
#[derive(Debug)]
pub(super) struct GraphNode {
    pub(super) function: &'static str,
    pub(super) name: String,
    pub(super) call_site: &'static str,
    pub(super) args: Vec<GraphArg>,
}

/// An argument of a node: another node's result, several as one `Vec` (the parameter's
/// type name), or a value.
#[derive(Debug)]
pub(super) enum GraphArg {
    Node(u32),
    Many(Vec<u32>, &'static str),
    Const(Payload),
}

/// The nodes of `plan`, parents before children (laid out as a compute lays them out:
/// no recursion, pure twins once, numbered as its observers see them), each with its
/// arguments.
fn lower(plan: &Plan) -> Result<Vec<GraphNode>, RemoteError> {
    plan.nodes()
        .enumerate()
        .map(|(i, node)| {
            let meta = node.meta();
            let name = meta
                .custom_name()
                .map_or_else(|| meta.label.name.to_owned(), |name| name.to_string());
            let not_remote = |reason: String| RemoteError::NotRemote {
                task: name.clone(),
                call_site: meta.label.call_site.to_owned(),
                reason,
            };
            let call = node
                .remote()
                .and_then(|call| call.downcast_ref::<RemoteCall>())
                .ok_or_else(|| {
                    not_remote(format!(
                        "it is a {} node, which only this process can run: a worker runs \
                         calls of `#[delayed(remote)]` functions built with `delay!`; mark \
                         the function `#[delayed(remote)]` and build the node with \
                         `delay!`, or compute this value first and pass it as a value",
                        kind_words(meta.label.kind)
                    ))
                })?;
            let mut parents = plan.inputs_of(i).iter().copied();
            let mut args = Vec::with_capacity(call.args.len());
            for (position, arg) in call.args.iter().enumerate() {
                args.push(match arg {
                    CallArg::Node => GraphArg::Node(parents.next().expect("a parent")),
                    CallArg::Many(n, type_name) => {
                        GraphArg::Many(parents.by_ref().take(*n).collect(), type_name)
                    }
                    CallArg::Const(Ok(payload)) => GraphArg::Const(payload.clone()),
                    CallArg::Const(Err(error)) => {
                        return Err(not_remote(format!(
                            "its argument {position} cannot be sent to a worker: {error}"
                        )))
                    }
                    CallArg::Other(kind) => {
                        return Err(not_remote(format!(
                            "its argument {position} is a `{kind}`: a worker is given \
                             nodes, `Vec`s of nodes and values, not tuples, maps or \
                             nested `Vec`s of nodes, nor futures; make the tuple or the \
                             collection with a remote task, or compute the future first"
                        )))
                    }
                });
            }
            Ok(GraphNode {
                function: call.function,
                name,
                call_site: meta.label.call_site,
                args,
            })
        })
        .collect()
}

/// What a node's kind is, in words.
pub(super) fn kind_words(kind: &str) -> String {
    match kind {
        "task" => {
            String::from("local task (a closure, `delayed(f)`, or a function not marked `remote`)")
        }
        "value" => String::from("value (`Delayed::value`)"),
        other => format!("`{other}`"),
    }
}

// ---- partitions, and the job ------------------------------------------------------------

/// A cluster task's sub-graph, as its worker reads it.
#[derive(Debug, Serialize, Deserialize)]
struct Part {
    nodes: Vec<PartNode>,
    /// The nodes whose results leave the cluster task (indices into `nodes`).
    exports: Vec<u32>,
    /// Whether the worker writes its nodes' events (see [`EventLog`]).
    events: bool,
    /// How many values its nodes take ([`PartArg::Const`]): the cluster task's inputs
    /// after the sub-graph, each a file of its own, written from its encoding's buffer
    /// (inside the sub-graph, a large value would be copied and encoded again).
    consts: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct PartNode {
    /// The node's number in the whole graph.
    id: u32,
    function: String,
    name: String,
    call_site: String,
    args: Vec<PartArg>,
}

#[derive(Debug, Serialize, Deserialize)]
enum PartArg {
    One(Ref),
    /// Several results as one `Vec` (its type's name).
    Many(Vec<Ref>, String),
    /// A value: its position among the cluster task's values (see [`Part::consts`]).
    Const(u32),
}

/// Where an input of a node is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum Ref {
    /// A node of the same sub-graph (its index there).
    Local(u32),
    /// A node of another cluster task (its number in the graph).
    External(u32),
}

/// What a cluster task gives back: per exported node, its number, name and result or
/// failure. Read, its results borrow the output's bytes, and become payloads that
/// share its buffer ([`Payload::within`]): a large result is not copied out of it.
#[derive(Debug, Serialize, Deserialize)]
struct PartOutput<'a> {
    #[serde(borrow)]
    results: Vec<(u32, String, Result<Encoded<'a>, Failure>)>,
}

/// A node's result in a [`PartOutput`]: its payload's type name, build and encoding.
#[derive(Debug, Serialize, Deserialize)]
struct Encoded<'a> {
    type_name: String,
    build: u64,
    /// As bytes (a length, then the bytes as they are), not as a sequence of `u8`s
    /// (the same on the wire, but one call to write, not one per byte).
    #[serde(serialize_with = "serialize_bytes")]
    bytes: &'a [u8],
}

impl<'a> Encoded<'a> {
    fn of(payload: &'a Payload) -> Encoded<'a> {
        Encoded {
            type_name: payload.type_name().to_owned(),
            build: payload.build(),
            bytes: payload.encoding(),
        }
    }

    /// The payload it is, sharing the buffer of `output`, which it was read from.
    fn within(self, output: &Payload) -> Result<Payload, RemoteError> {
        output.within(self.type_name, self.build, self.bytes)
    }
}

fn serialize_bytes<S: serde::Serializer>(bytes: &&[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_bytes(bytes)
}

/// Why a node has no result.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Failure {
    Panicked {
        task: String,
        call_site: String,
        message: String,
    },
    NeverRan {
        task: String,
        because: String,
        /// The failure that started it all (a panic, an undecodable value), which a
        /// graph's compute returns, as one machine's does.
        cause: Option<Box<Failure>>,
    },
    Failed {
        task: String,
        message: String,
    },
}

impl Failure {
    /// A node that needs a failed one never runs: its failure names the node it
    /// needed, and keeps the first failure of the chain.
    fn needed_by(self, task: &str, because: &str) -> Failure {
        Failure::NeverRan {
            task: task.to_owned(),
            because: because.to_owned(),
            cause: Some(Box::new(self.root())),
        }
    }

    /// The failure that started the chain: a panic or a failed node, not one that
    /// never ran because of it.
    fn root(self) -> Failure {
        match self {
            Failure::NeverRan {
                cause: Some(cause), ..
            } => *cause,
            failure => failure,
        }
    }

    fn into_error(self) -> RemoteError {
        match self {
            Failure::Panicked {
                task,
                call_site,
                message,
            } => RemoteError::Task(TaskError::from_panic(&task, &call_site, Box::new(message))),
            Failure::NeverRan { task, because, .. } => RemoteError::NeverRan { task, because },
            Failure::Failed { task, message } => RemoteError::Worker { task, message },
        }
    }
}

/// A graph laid out as a job (see [`GraphJob`]'s fields).
struct LaidOut {
    job: Job,
    root: (TaskId, u32),
    root_label: String,
}

/// Groups the nodes (in their post-order) into at most `parts` runs of consecutive
/// nodes: a run of a post-order is a set of whole sub-trees and chains, and since
/// every edge goes forward in the order, the cluster tasks read only earlier ones.
fn build_job(nodes: Vec<GraphNode>, parts: usize, events: bool) -> Result<LaidOut, RemoteError> {
    let n = nodes.len();
    let size = n.div_ceil(parts.max(1)).max(1);
    let part_of = |id: u32| id as usize / size;
    // Which nodes other cluster tasks read (and the root, which the caller reads).
    let mut exported = vec![false; n];
    exported[n - 1] = true;
    for (i, node) in nodes.iter().enumerate() {
        for arg in &node.args {
            let ids: &[u32] = match arg {
                GraphArg::Node(id) => std::slice::from_ref(id),
                GraphArg::Many(ids, _) => ids,
                GraphArg::Const(_) => &[],
            };
            for &id in ids {
                if part_of(id) != part_of(i as u32) {
                    exported[id as usize] = true;
                }
            }
        }
    }
    let mut job = Job::new();
    let mut tasks: Vec<TaskId> = Vec::new();
    let mut root_label = String::new();
    let mut nodes = nodes.into_iter();
    for p in 0..n.div_ceil(size) {
        let first = (p * size) as u32;
        let chunk: Vec<GraphNode> = nodes.by_ref().take(size).collect();
        let mut reads: Vec<usize> = Vec::new();
        let mut reference = |id: u32| {
            if part_of(id) == p {
                Ref::Local(id - first)
            } else {
                reads.push(part_of(id));
                Ref::External(id)
            }
        };
        let mut consts: Vec<Payload> = Vec::new();
        let mut part_nodes = Vec::with_capacity(chunk.len());
        let mut exports = Vec::new();
        for (k, node) in chunk.into_iter().enumerate() {
            let id = first + k as u32;
            if id as usize == n - 1 {
                root_label = format!("{} at {}", node.name, node.call_site);
            }
            if exported[id as usize] {
                exports.push(k as u32);
            }
            let args = node
                .args
                .into_iter()
                .map(|arg| match arg {
                    GraphArg::Node(id) => PartArg::One(reference(id)),
                    GraphArg::Many(ids, type_name) => PartArg::Many(
                        ids.into_iter().map(&mut reference).collect(),
                        type_name.to_owned(),
                    ),
                    GraphArg::Const(payload) => {
                        consts.push(payload);
                        PartArg::Const(consts.len() as u32 - 1)
                    }
                })
                .collect();
            part_nodes.push(PartNode {
                id,
                function: node.function.to_owned(),
                name: node.name,
                call_site: node.call_site.to_owned(),
                args,
            });
        }
        reads.sort_unstable();
        reads.dedup();
        let label = match part_nodes.as_slice() {
            [one] => format!("{} at {}", one.name, one.call_site),
            [first, ..] => format!(
                "{} at {} and the {} nodes after it in its cluster task",
                first.name,
                first.call_site,
                part_nodes.len() - 1
            ),
            [] => String::from(SUBGRAPH),
        };
        // A worker of several nodes always writes their events (a few microseconds a
        // node): a worker that dies is blamed on the node it was running.
        let group: Vec<(u32, String)> = match part_nodes.len() {
            1 => Vec::new(),
            _ => part_nodes
                .iter()
                .map(|node| (node.id, format!("{} at {}", node.name, node.call_site)))
                .collect(),
        };
        let mut inputs = vec![Input::value(&Part {
            events: events || !group.is_empty(),
            nodes: part_nodes,
            exports,
            consts: consts.len() as u32,
        })?];
        inputs.extend(consts.into_iter().map(Input::Value));
        inputs.extend(reads.into_iter().map(|q| Input::output(tasks[q])));
        tasks.push(job.push_labelled(SUBGRAPH, Some(label), group, inputs));
    }
    let root = (n - 1) as u32;
    Ok(LaidOut {
        job,
        root: (tasks[part_of(root)], root),
        root_label,
    })
}

// ---- in the worker ----------------------------------------------------------------------

/// A node's result in the worker.
type Value = Result<Payload, Failure>;

/// Runs one cluster task's sub-graph (what a worker started for [`SUBGRAPH`] does): its
/// first input is the sub-graph, then come its nodes' values, then the outputs of the
/// cluster tasks it reads.
/// The nodes run on this process's rayon pool, as a dynamic graph; their events go to
/// the events file beside `output` when the sub-graph asks for them.
pub(crate) fn run_subgraph(inputs: &[Payload], output: &Path) -> Result<Payload, RemoteError> {
    let [part, outputs @ ..] = inputs else {
        return Err(RemoteError::Protocol(String::from(
            "a sub-graph task is started with the sub-graph as its first input",
        )));
    };
    let part: Arc<Part> = Arc::new(part.decode()?);
    let Some((consts, outputs)) = outputs.split_at_checked(part.consts as usize) else {
        return Err(RemoteError::Protocol(format!(
            "a sub-graph of {} values was started with {} other inputs",
            part.consts,
            outputs.len()
        )));
    };
    // Clones share their encodings: no value is copied.
    let consts: Arc<[Payload]> = consts.into();
    // Best effort, as each event's write: a file that cannot be made loses the
    // events, not the results.
    let events = match part.events {
        true => EventLog::create(&events_path(output)).map(Arc::new),
        false => None,
    };
    let mut external: HashMap<u32, (String, Value)> = HashMap::new();
    for output in outputs {
        let decoded: PartOutput<'_> = output.decode_borrowed()?;
        for (id, name, result) in decoded.results {
            let value = match result {
                Ok(encoded) => encoded.within(output).map_err(|error| Failure::Failed {
                    task: name.clone(),
                    message: error.to_string(),
                }),
                Err(failure) => Err(failure),
            };
            external.insert(id, (name, value));
        }
    }
    let external = Arc::new(external);
    let mut local: Vec<Delayed<Value>> = Vec::with_capacity(part.nodes.len());
    for (k, node) in part.nodes.iter().enumerate() {
        let mut inputs: Vec<Delayed<Value>> = Vec::new();
        for arg in &node.args {
            let refs: &[Ref] = match arg {
                PartArg::One(r) => std::slice::from_ref(r),
                PartArg::Many(refs, _) => refs,
                PartArg::Const(_) => &[],
            };
            for r in refs {
                if let Ref::Local(l) = r {
                    inputs.push(local[*l as usize].clone());
                }
            }
        }
        let (part, consts, external, events) = (
            part.clone(),
            consts.clone(),
            external.clone(),
            events.clone(),
        );
        let node = crate::dynamic::delayed(move |inputs: Vec<Value>| {
            let given = Given {
                consts: &consts,
                external: &external,
                events: events.as_deref(),
            };
            run_node(&part, k, inputs, &given)
        })
        .call(inputs);
        local.push(node);
    }
    let exports: Vec<Delayed<Value>> = part
        .exports
        .iter()
        .map(|&k| local[k as usize].clone())
        .collect();
    drop(local);
    let values = crate::dynamic::delayed(|values: Vec<Value>| values)
        .call(exports)
        .compute();
    let results = part
        .exports
        .iter()
        .zip(&values)
        .map(|(&k, value)| {
            let node = &part.nodes[k as usize];
            let result = value.as_ref().map(Encoded::of).map_err(Failure::clone);
            (node.id, node.name.clone(), result)
        })
        .collect();
    if let Some(events) = &events {
        events.write(format_args!("end"));
    }
    Payload::encode(&PartOutput { results })
}

/// What a worker gives every node of its sub-graph: the values, the results of other
/// cluster tasks (with their nodes' names), and where events go.
struct Given<'a> {
    consts: &'a [Payload],
    external: &'a HashMap<u32, (String, Value)>,
    events: Option<&'a EventLog>,
}

/// Runs node `k` of `part` on its local inputs' values (in argument order), its start
/// and end written to the events (a node whose input failed never starts, as here).
fn run_node(part: &Part, k: usize, inputs: Vec<Value>, given: &Given<'_>) -> Value {
    let Given {
        consts,
        external,
        events,
    } = *given;
    let node = &part.nodes[k];
    let mut inputs = inputs.into_iter();
    let mut take = |r: &Ref| -> Value {
        let (name, value) = match *r {
            Ref::Local(l) => (
                part.nodes[l as usize].name.as_str(),
                inputs.next().expect("one value per local input"),
            ),
            Ref::External(id) => match external.get(&id) {
                Some((name, value)) => (name.as_str(), value.clone()),
                None => {
                    return Err(Failure::Failed {
                        task: node.name.clone(),
                        message: format!("the result of node {id} was not given to its worker"),
                    })
                }
            },
        };
        value.map_err(|failure| failure.needed_by(&node.name, name))
    };
    let failed = |error: RemoteError| Failure::Failed {
        task: node.name.clone(),
        message: error.to_string(),
    };
    let mut args = Vec::with_capacity(node.args.len());
    for arg in &node.args {
        args.push(match arg {
            PartArg::One(r) => take(r)?,
            PartArg::Many(refs, type_name) => {
                let items = refs.iter().map(&mut take).collect::<Result<Vec<_>, _>>()?;
                Payload::sequence(&items, type_name).map_err(failed)?
            }
            PartArg::Const(i) => consts.get(*i as usize).cloned().ok_or_else(|| {
                failed(RemoteError::Protocol(format!(
                    "value {i} was not given to its worker"
                )))
            })?,
        });
    }
    // A collection node of a `graph!` (`vec![a, b]`) is its one argument, which the
    // worker has just assembled; any other node calls its registered function.
    let task = match node.function.as_str() {
        COLLECT => None,
        name => Some(find(name).ok_or_else(|| {
            failed(RemoteError::UnknownTask {
                name: name.to_owned(),
                registered: Vec::new(),
            })
        })?),
    };
    if let Some(events) = events {
        events.started(node.id);
    }
    let result = match task {
        Some(task) => (task.run)(&args),
        None => args.pop().ok_or_else(|| {
            RemoteError::Protocol(String::from("a collection node without its nodes"))
        }),
    };
    if let Some(events) = events {
        let outcome = match &result {
            Ok(_) => TaskOutcome::Finished,
            Err(_) => TaskOutcome::Failed,
        };
        events.finished(node.id, outcome);
    }
    result.map_err(|error| match error {
        // The node's own name and where it was built, as on one machine.
        RemoteError::Task(error) => Failure::Panicked {
            task: node.name.clone(),
            call_site: node.call_site.clone(),
            message: error.message().to_owned(),
        },
        other => failed(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an observer was told of nodes: `(node, "started")` or `(node, outcome)`.
    #[derive(Default)]
    struct Told(Mutex<Vec<(u32, &'static str)>>);

    impl Observer for Told {
        fn task_started(&self, node: u32, _: &NodeInfo<'_>) {
            self.0.lock().unwrap().push((node, "started"));
        }
        fn task_finished(&self, node: u32, _: &NodeInfo<'_>, outcome: TaskOutcome) {
            self.0.lock().unwrap().push((node, outcome.as_str()));
        }
    }

    #[test]
    fn events_are_told_once_from_whole_lines_and_unended_nodes_fail_at_the_end() {
        let a = Delayed::value(1u64);
        let b = crate::dynamic::delayed(|v: Vec<u64>| v.len()).call(vec![a.clone(), a]);
        let plan = Plan::new(vec![b.node.clone()]);
        let table = plan.table();
        assert_eq!(table.nodes().len(), 2);
        let run = std::env::temp_dir().join(format!("taskweave-events-{}", std::process::id()));
        std::fs::create_dir_all(&run).unwrap();
        let file = events_path(&output_path(&run, 0));
        let append = |text: &str| {
            let mut log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&file)
                .unwrap();
            log.write_all(text.as_bytes()).unwrap();
        };
        let told = Told::default();
        let mut events = TaskEvents::new(&told, table.nodes(), 1);
        let seen = || told.0.lock().unwrap().clone();
        // No file yet; then half a line: only whole lines are told.
        events.ended(&run);
        append("s 0 1\ne 0 fini");
        events.ended(&run);
        assert_eq!(seen(), vec![(0, "started")]);
        append("shed 2\ns 1 3\n");
        events.ended(&run);
        assert_eq!(
            seen(),
            vec![(0, "started"), (0, "finished"), (1, "started")]
        );
        // A cluster task run again (a lost worker) writes its events again: told once.
        append("s 0 4\ne 0 failed 5\nx y\ns 9 6\n");
        events.ended(&run);
        assert_eq!(seen().len(), 3);
        // A node started and never ended failed, once the job is over.
        events.close();
        events.close();
        assert_eq!(
            seen(),
            vec![
                (0, "started"),
                (0, "finished"),
                (1, "started"),
                (1, "failed")
            ]
        );
        let _ = std::fs::remove_dir_all(&run);
    }
}
