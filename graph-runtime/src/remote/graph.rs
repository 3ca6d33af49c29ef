//! `Delayed` graphs on a cluster: a graph of `#[delayed(remote)]` calls becomes one
//! [`Job`] (node → task, edges → the tasks' inputs, values → payload files), its
//! nodes grouped into at most a few cluster tasks ([`Partition`]) each of which runs
//! its sub-graph in one worker process on rayon, and the result is read back typed.
//!
//! Each cluster task of such a job is a call of the built-in sub-graph runner
//! ([`SUBGRAPH`]): its first input is the sub-graph (which registered function each
//! node calls, with which arguments: values, nodes of the same sub-graph, or nodes of
//! an earlier cluster task), the others are the outputs of the cluster tasks it reads.
//! Its output holds the result, or the error, of each of its nodes that another cluster
//! task or the caller reads. A task's panic is data there, not a failed process: the
//! nodes after it report "never ran" with the name of the node they needed, as on one
//! machine.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{find, Input, Job, LocalRunner, Outputs, Payload, RemoteError, TaskId};
use crate::dynamic::args::ArgShape;
use crate::dynamic::{Delayed, NodeRef, Plan, RemoteSpec};
use crate::engine::error::TaskError;
use crate::engine::names::short_name_of;

/// The name a worker runs a sub-graph by (see the module's docs).
pub const SUBGRAPH: &str = "taskweave::remote::subgraph";

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
enum CallArg {
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
struct RemoteCall {
    function: &'static str,
    args: Vec<CallArg>,
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
}

impl Cluster for LocalRunner {
    fn workers(&self) -> usize {
        self.parallel
    }
    fn run(&self, job: &Job) -> Result<Outputs, RemoteError> {
        LocalRunner::run(self, job)
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
        let nodes = lower(&value.node)?;
        let count = nodes.len();
        let parts = match partition {
            Partition::Auto => 16.max(4 * workers.max(1)),
            Partition::Tasks(n) => n.max(1),
            Partition::PerNode => count,
        }
        .min(count);
        let (job, root) = build_job(nodes, parts)?;
        Ok(GraphJob {
            job,
            root,
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

    /// Reads the result from the job's outputs: the value, the task's error (a panic
    /// as the same [`TaskError`] as on one machine: the node's name, where it was
    /// built, the message), or [`RemoteError::NeverRan`] naming the node it needed.
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
        let output: PartOutput = payload.decode()?;
        let (_, _, result) = output
            .results
            .into_iter()
            .find(|(id, _, _)| *id == node)
            .ok_or_else(|| RemoteError::Protocol(format!("no result for node {node}")))?;
        match result {
            Ok(bytes) => Payload::from_bytes(&bytes)?.decode(),
            Err(failure) => Err(failure.into_error()),
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

/// Computes `value` on `cluster` as one job, its nodes grouped as `partition` says
/// (see [`GraphJob::new`] for what the graph may hold, [`GraphJob::read`] for what
/// comes back).
pub fn compute_on_with<T: DeserializeOwned>(
    cluster: &(impl Cluster + ?Sized),
    value: &Delayed<T>,
    partition: Partition,
) -> Result<T, RemoteError> {
    let job = GraphJob::new(value, partition, cluster.workers())?;
    let outputs = cluster.run(job.job())?;
    job.read(&outputs)
}

impl<T: DeserializeOwned> Delayed<T> {
    /// Computes this value on `cluster` (feature `hyperqueue`): Dask's
    /// `client.compute(x)`. See [`compute_on`](crate::remote::compute_on).
    pub fn compute_on(&self, cluster: &(impl Cluster + ?Sized)) -> Result<T, RemoteError> {
        compute_on(cluster, self)
    }
}

// ---- the graph, laid out --------------------------------------------------------------

/// A node of the graph: which function, its name and call site, its arguments.
struct GraphNode {
    function: &'static str,
    name: String,
    call_site: &'static str,
    args: Vec<GraphArg>,
}

enum GraphArg {
    Node(u32),
    Many(Vec<u32>, &'static str),
    Const(Payload),
}

/// The nodes reachable from `root`, parents before children (laid out as a compute
/// lays them out: `Plan`, no recursion, pure twins once), each with its arguments.
fn lower(root: &NodeRef) -> Result<Vec<GraphNode>, RemoteError> {
    let plan = Plan::new(std::slice::from_ref(root));
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
                             nodes, `Vec`s of nodes and values, not tuples of nodes or \
                             futures; make the tuple with a remote task, or compute the \
                             future first"
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
fn kind_words(kind: &str) -> String {
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
    /// A payload's bytes.
    Const(Vec<u8>),
}

/// Where an input of a node is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum Ref {
    /// A node of the same sub-graph (its index there).
    Local(u32),
    /// A node of another cluster task (its number in the graph).
    External(u32),
}

/// What a cluster task gives back: per exported node, its number, name and result
/// (a payload's bytes) or failure.
#[derive(Debug, Serialize, Deserialize)]
struct PartOutput {
    results: Vec<(u32, String, Result<Vec<u8>, Failure>)>,
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
    },
    Failed {
        task: String,
        message: String,
    },
}

impl Failure {
    fn into_error(self) -> RemoteError {
        match self {
            Failure::Panicked {
                task,
                call_site,
                message,
            } => RemoteError::Task(TaskError::from_panic(&task, &call_site, Box::new(message))),
            Failure::NeverRan { task, because } => RemoteError::NeverRan { task, because },
            Failure::Failed { task, message } => RemoteError::Worker { task, message },
        }
    }
}

/// Groups the nodes (in their post-order) into at most `parts` runs of consecutive
/// nodes: a run of a post-order is a set of whole sub-trees and chains, and since
/// every edge goes forward in the order, the cluster tasks read only earlier ones.
fn build_job(nodes: Vec<GraphNode>, parts: usize) -> Result<(Job, (TaskId, u32)), RemoteError> {
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
        let mut part_nodes = Vec::with_capacity(chunk.len());
        let mut exports = Vec::new();
        for (k, node) in chunk.into_iter().enumerate() {
            let id = first + k as u32;
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
                    GraphArg::Const(payload) => PartArg::Const(payload.to_bytes()),
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
        let mut inputs = vec![Input::value(&Part {
            nodes: part_nodes,
            exports,
        })?];
        inputs.extend(reads.into_iter().map(|q| Input::output(tasks[q])));
        tasks.push(job.push(SUBGRAPH, inputs));
    }
    let root = (n - 1) as u32;
    Ok((job, (tasks[part_of(root)], root)))
}

// ---- in the worker ----------------------------------------------------------------------

/// A node's result in the worker.
type Value = Result<Payload, Failure>;

/// Runs one cluster task's sub-graph (what a worker started for [`SUBGRAPH`] does): its
/// first input is the sub-graph, the others the outputs of the cluster tasks it reads.
/// The nodes run on this process's rayon pool, as a dynamic graph.
pub(crate) fn run_subgraph(inputs: &[Payload]) -> Result<Payload, RemoteError> {
    let [part, outputs @ ..] = inputs else {
        return Err(RemoteError::Protocol(String::from(
            "a sub-graph task is started with the sub-graph as its first input",
        )));
    };
    let part: Arc<Part> = Arc::new(part.decode()?);
    let mut external: HashMap<u32, (String, Value)> = HashMap::new();
    for output in outputs {
        let output: PartOutput = output.decode()?;
        for (id, name, result) in output.results {
            let value = match result {
                Ok(bytes) => Payload::from_bytes(&bytes).map_err(|error| Failure::Failed {
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
        let (part, external) = (part.clone(), external.clone());
        let node = crate::dynamic::delayed(move |inputs: Vec<Value>| {
            run_node(&part, k, inputs, &external)
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
        .zip(values)
        .map(|(&k, value)| {
            let node = &part.nodes[k as usize];
            (node.id, node.name.clone(), value.map(|p| p.to_bytes()))
        })
        .collect();
    Payload::encode(&PartOutput { results })
}

/// Runs node `k` of `part` on its local inputs' values (in argument order).
fn run_node(
    part: &Part,
    k: usize,
    inputs: Vec<Value>,
    external: &HashMap<u32, (String, Value)>,
) -> Value {
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
        value.map_err(|_| Failure::NeverRan {
            task: node.name.clone(),
            because: name.to_owned(),
        })
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
            PartArg::Const(bytes) => Payload::from_bytes(bytes).map_err(failed)?,
        });
    }
    let task = find(&node.function).ok_or_else(|| {
        failed(RemoteError::UnknownTask {
            name: node.function.clone(),
            registered: Vec::new(),
        })
    })?;
    (task.run)(&args).map_err(|error| match error {
        // The node's own name and where it was built, as on one machine.
        RemoteError::Task(error) => Failure::Panicked {
            task: node.name.clone(),
            call_site: node.call_site.clone(),
            message: error.message().to_owned(),
        },
        other => failed(other),
    })
}
