//! Remote tasks (feature `hyperqueue`): `#[delayed(remote)]` functions that another
//! process of the same program runs by name, the protocol such a worker process
//! follows, and a local runner that executes a job of remote tasks by starting the
//! program once per task, in dependency order.
//!
//! This is the layer a cluster backend builds on: HyperQueue's tasks are programs,
//! so the user's own binary is the worker. Call [`worker_main`] first thing in `main`;
//! when the binary is started as a worker it runs the one task it was started for
//! and exits, and otherwise returns at once.
//!
//! ```ignore
//! // (`tests/remote.rs` runs jobs like this one.)
//! use taskweave::delayed;
//! use taskweave::remote::{Input, Job, LocalRunner};
//!
//! #[delayed(remote)]
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! #[delayed(remote)]
//! fn add(a: u64, b: u64) -> u64 {
//!     a + b
//! }
//!
//! fn main() -> Result<(), taskweave::remote::RemoteError> {
//!     taskweave::remote::worker_main();
//!     let mut job = Job::new();
//!     let a = job.task::<square>(vec![Input::value(&3u64)?]);
//!     let b = job.task::<square>(vec![Input::value(&4u64)?]);
//!     let total = job.task::<add>(vec![Input::output(a), Input::output(b)]);
//!     let outputs = LocalRunner::new(std::env::temp_dir().join("squares")).run(&job)?;
//!     assert_eq!(outputs.get::<add>(total)?, 25);
//!     Ok(())
//! }
//! ```
//!
//! Arguments and results cross processes as [`Payload`]s: `serde` values encoded with
//! `postcard`, headed by their type's name and the build's id, so that a worker of
//! another build, or a value of another type, is a clear error rather than a misread.
//!
//! # `Delayed` graphs on a cluster
//!
//! A graph built with `delay!` from `#[delayed(remote)]` functions runs on a
//! [`Cluster`] as it runs here: [`Delayed::compute_on`](crate::Delayed::compute_on)
//! (or [`compute_on`]) is Dask's `client.compute(x)`.
//!
//! ```ignore
//! let parts: Vec<Delayed<u64>> = (0..1000).map(|i| delay!(square(i))).collect();
//! let total = delay!(sum(parts));                      // a `Vec` of nodes is one argument
//! let runner = LocalRunner::new(std::env::temp_dir().join("runs"));
//! assert_eq!(total.compute_on(&runner)?, total.compute());
//! ```
//!
//! - **One job.** The graph becomes one [`Job`] ([`GraphJob`]): nodes are calls,
//!   edges are the inputs of the tasks that read them, values given to `delay!` are
//!   encoded when the node is built and written as files of the run. The job is plain
//!   data (each task's command and dependencies, [`Job::command`], [`Job::deps`]), so
//!   that a HyperQueue transport submits it as it is:
//!   [`Job::to_hyperqueue_toml`] writes it as a job file for `hq job submit-file`.
//! - **Grouping** ([`Partition`]). A process start costs milliseconds, so nodes are
//!   grouped into cluster tasks: by default at most `max(16, 4 × workers)` of them,
//!   each a run of consecutive nodes in a depth-first post-order of the graph (whole
//!   sub-trees and chains, and every edge goes forward, so cluster tasks only read
//!   earlier ones). A worker runs its group as a dynamic graph on its own rayon pool,
//!   and hands on only the results other cluster tasks (or the caller) read. A fan-in
//!   of 1,000 calls is then 16 processes, not 1,000; [`Partition::PerNode`] keeps one
//!   cluster task per node.
//! - **Errors.** A panic comes back as the same [`TaskError`] as on one machine (the
//!   node's name, the `delay!` call site that built it, the message), and computing a
//!   value that needs it returns that error too, inside a group or across groups
//!   alike, as `compute` does here (and Dask's compute raises the failed task's
//!   exception); a value that cannot be encoded is the [`RemoteError::Worker`] of the
//!   node that made it. (A [`Job`]'s outputs read one by one say
//!   [`RemoteError::NeverRan`] for a task whose input failed, naming that input.)
//! - **Retries.** A function marked `#[delayed(remote, retries = n)]` runs again
//!   inside its worker process, up to `n` more times, when it panics, as it does on one
//!   machine: each attempt on its inputs decoded afresh, and when every attempt
//!   panics, the error is the last attempt's, the same [`TaskError`] as here. The
//!   cluster does not start the process again (HyperQueue's own task restarts are for
//!   workers that are lost, not for panics).
//! - **Progress and observers.** [`ClusterOptions::observer`] (with
//!   [`compute_on_with`], or [`Delayed::compute_on_with`](crate::Delayed::compute_on_with))
//!   takes the observers of a compute here — a [`Progress`](crate::Progress) bar, a
//!   [`Profiler`](crate::Profiler), your own [`Observer`](crate::Observer) — and tells
//!   them each node as the cluster runs it: the workers write each node's start and
//!   end to an events file of the run (`task-N.out.events`), which this process reads
//!   while it waits (every 50 ms) and turns into the same `task_started` and
//!   `task_finished` calls, by the same node numbers, as a compute here. Without an
//!   observer (and with no performance report or dashboard active) nothing is written.
//! - **Only remote calls.** A worker can run only registered functions: an operator
//!   node (`a + b`), a closure (`delayed(|x| …)`), `map`, `split` or a persisted value
//!   in the graph is refused before anything starts, with the node's name and where it
//!   was built ([`RemoteError::NotRemote`]), rather than guessed at. Write the step as
//!   a `#[delayed(remote)]` function, or compute it first and pass its value. So are
//!   arguments a worker cannot be given (tuples of nodes, futures).
//!
//! # `graph!` graphs on a cluster
//!
//! A `graph!` of `#[delayed(remote)]` calls goes the same way:
//! [`Graph::compute_on_cluster`](crate::Graph::compute_on_cluster)`(&cluster, inputs…)`
//! (and `compute_on_cluster_with`, with a [`Partition`] or [`ClusterOptions`]) makes it
//! one job with the same grouping, errors, retries and observers, its nodes numbered as
//! in the graph's table. The name is not `compute_on`, which runs a `graph!` on a rayon
//! pool of this process. With this feature each `graph!` carries the code that
//! describes its nodes (see `docs/expansion.md`); what a worker cannot run (an operator,
//! a method, a `?`, a node the result does not need) is refused before anything starts,
//! with its name and call site, while the same graph still computes here.
//!
//! ```ignore
//! let job = graph!(|x: u64| -> u64 {
//!     let a = square(x);
//!     add(a, square(4))
//! });
//! assert_eq!(job.compute_on_cluster(&runner, 3)?, job.compute(3));
//! ```
//!
//! # On HyperQueue
//!
//! [`HyperQueuePython`] (HyperQueue's Python API, `pip install hyperqueue==0.27.0`: a
//! `LocalCluster` of its own or a running server) and [`HyperQueueCli`] (the `hq`
//! binary, version-checked) are [`Cluster`]s too: each job one HyperQueue job, its
//! tasks this program started as workers, its files in a run directory the workers
//! share, its errors read back as on the local runner.
//!
//! Costs on one machine (2 shared, busy cores, release build,
//! `benches/remote_overhead.rs`): a task on the local runner costs about a process
//! start, 2 to 4 ms here (starting `/bin/true` took 3.7 ms at the same time); a
//! fan-in of 10^4 nodes took 144 ms grouped into 16 cluster tasks, 30 s as one
//! process per node, and 4 ms computed in this process. On a HyperQueue
//! `LocalCluster` (Python API, 2 cores, `remote_overhead --hq`): about 1 s per job
//! (the Python API polls once a second) and 10 ms per cluster task; the same fan-in
//! took 1.0 s grouped and 247 s as one HyperQueue task per node.

mod build;
mod graph;
mod hq;
mod reason;
mod runner;
mod static_graph;
mod wire;

use std::fmt;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use build::build_id;
pub use graph::{
    compute_on, compute_on_with, Cluster, ClusterOptions, GraphJob, JobWatcher, Partition, SUBGRAPH,
};
#[doc(hidden)]
pub use graph::{describe, encoder, ParamCodec};
pub use hq::{HyperQueueCli, HyperQueuePython, JobCanceller, HYPERQUEUE_VERSION};
pub use runner::{Input, Job, LocalRunner, Outputs, TaskId};
#[doc(hidden)]
pub use static_graph::{
    describe_request, value_of, witness, DescribeRequest, Encode, EncodeOther, EncodeSerialize,
    Refusal, StaticArg, StaticNodes,
};
pub use wire::Payload;

use crate::engine::error::TaskError;
use crate::engine::names::short_name_of;

/// A function registered by `#[delayed(remote)]`: what a worker looks up by name.
#[doc(hidden)]
#[derive(Debug)]
pub struct RemoteTask {
    name: &'static str,
    call_site: &'static str,
    run: fn(&[Payload]) -> Result<Payload, RemoteError>,
}

impl RemoteTask {
    /// The entry of one function (what `#[delayed(remote)]` expands to).
    pub const fn new(
        name: &'static str,
        call_site: &'static str,
        run: fn(&[Payload]) -> Result<Payload, RemoteError>,
    ) -> Self {
        RemoteTask {
            name,
            call_site,
            run,
        }
    }
}

inventory::collect!(RemoteTask);

/// The registered function called `name` (`module::path::function`).
fn find(name: &str) -> Option<&'static RemoteTask> {
    inventory::iter::<RemoteTask>
        .into_iter()
        .find(|task| task.name == name)
}

/// Every `#[delayed(remote)]` function of this program: its name
/// (`module::path::function`, what a worker finds it by) and where it is defined,
/// sorted by name.
pub fn registered() -> Vec<(&'static str, &'static str)> {
    let mut names: Vec<_> = inventory::iter::<RemoteTask>
        .into_iter()
        .map(|task| (task.name, task.call_site))
        .collect();
    names.sort_unstable();
    names
}

/// A `#[delayed(remote)]` function, as the job builder sees it: implemented by the
/// function's companion type, so that `job.task::<square>(…)` names it and
/// `outputs.get::<square>(…)` decodes its result type.
pub trait Remote {
    /// The name a worker finds it by: `module::path::function`.
    const NAME: &'static str;
    /// Its parameters, as a tuple.
    type Args;
    /// Its result.
    type Output: Serialize + DeserializeOwned;
}

/// A function's arguments, decoded from one payload each.
#[doc(hidden)]
pub trait RemoteArgs: Sized {
    /// Decodes the arguments; an error naming the position of one of another type.
    fn decode(inputs: &[Payload]) -> Result<Self, RemoteError>;
}

macro_rules! remote_args {
    ($count:literal: $($ty:ident $i:tt),*) => {
        impl<$($ty: DeserializeOwned),*> RemoteArgs for ($($ty,)*) {
            #[allow(unused_variables)]
            fn decode(inputs: &[Payload]) -> Result<Self, RemoteError> {
                if inputs.len() != $count {
                    return Err(RemoteError::Arity { expected: $count, found: inputs.len() });
                }
                Ok(($(inputs[$i].decode::<$ty>().map_err(|error| error.at_argument($i))?,)*))
            }
        }
    };
}

remote_args!(0:);
remote_args!(1: A 0);
remote_args!(2: A 0, B 1);
remote_args!(3: A 0, B 1, C 2);
remote_args!(4: A 0, B 1, C 2, D 3);
remote_args!(5: A 0, B 1, C 2, D 3, E 4);
remote_args!(6: A 0, B 1, C 2, D 3, E 4, G 5);

/// Runs a registered function on decoded inputs: its panic comes back as
/// [`RemoteError::Task`], naming the task and its call site as on one machine.
///
/// A panic decoding its arguments (in their `Deserialize`) is the task's panic too.
///
/// A function marked `#[delayed(remote, retries = n)]` runs again in the worker, up to
/// `retries` more times, when it panics, each attempt on its inputs decoded afresh (as
/// a retried local task gets clones of its arguments); the error is then the last
/// attempt's, as on one machine, and earlier attempts' panics are dropped.
#[doc(hidden)]
pub fn invoke<A: RemoteArgs, R: Serialize>(
    inputs: &[Payload],
    task: &'static str,
    call_site: &'static str,
    retries: u32,
    f: fn(A) -> R,
) -> Result<Payload, RemoteError> {
    let mut attempt = 0;
    loop {
        // Its arguments' `Deserialize` is the user's code too: a panic there is the
        // attempt's, as one in the body, not the worker's crash.
        match panic::catch_unwind(AssertUnwindSafe(|| A::decode(inputs).map(f))) {
            Ok(Err(error)) => return Err(error.in_task(task)),
            // Its result's `Serialize` is the task's code too: a panic there is the
            // task's error, not the worker's crash.
            Ok(Ok(value)) => {
                return match panic::catch_unwind(AssertUnwindSafe(|| Payload::encode(&value))) {
                    Ok(encoded) => encoded,
                    Err(payload) => Err(RemoteError::Task(TaskError::from_panic(
                        short_name_of(task),
                        call_site,
                        payload,
                    ))),
                }
            }
            Err(payload) if attempt < retries => {
                attempt += 1;
                crate::engine::error::drop_payload(payload);
            }
            Err(payload) => {
                return Err(RemoteError::Task(TaskError::from_panic(
                    short_name_of(task),
                    call_site,
                    payload,
                )))
            }
        }
    }
}

/// The first argument of a worker process (see [`worker_main`]).
pub const WORKER_FLAG: &str = "--taskweave-worker";

/// The argument after a worker's `OUTPUT` that says its inputs' files are named in a
/// file, the next argument, rather than on its command line (see [`worker_main`]).
pub const INPUTS_FLAG: &str = "--taskweave-inputs";

/// Turns this process into a worker when it was started as one, else returns at once.
/// Call it first thing in `main`.
///
/// A worker is started as `program --taskweave-worker FUNCTION OUTPUT [INPUT…]`, or,
/// for a task of many inputs, `program --taskweave-worker FUNCTION OUTPUT
/// --taskweave-inputs LIST`, where the file `LIST` holds the inputs' paths, each
/// followed by a NUL byte (a command line's length is limited): it
/// reads each input file (a [`Payload`]), runs the registered function `FUNCTION`,
/// writes the result to `OUTPUT` atomically (a temporary file renamed, so that a task
/// run again after a crash never leaves half a file) and exits with status 0. A function
/// with retries (`#[delayed(remote, retries = n)]`) that panics runs again in this
/// process first, up to `n` more times. On an
/// error — the function panicked, an input is missing or of another type or build,
/// no such function — it writes the error to `OUTPUT.error` (and to
/// `$HQ_ERROR_FILENAME` when HyperQueue set it) and exits with status 1.
pub fn worker_main() {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(std::ffi::OsStr::new(WORKER_FLAG)) {
        return;
    }
    let args: Vec<PathBuf> = args.map(PathBuf::from).collect();
    let code = match run_worker(&args) {
        Ok(()) => 0,
        Err(failure) => {
            let (output, error) = *failure;
            let text = error_file_text(&error);
            if let Some(output) = output {
                let _ = write_atomically(&error_path(&output), text.as_bytes());
            }
            if let Some(hq) = std::env::var_os("HQ_ERROR_FILENAME") {
                let _ = std::fs::write(hq, error.to_string());
            }
            eprintln!("taskweave worker: {error}");
            1
        }
    };
    std::process::exit(code);
}

/// Where the error goes (the task's output, when known) and the error; boxed, as the
/// error path of a process that is about to exit.
type WorkerFailure = Box<(Option<PathBuf>, RemoteError)>;

fn run_worker(args: &[PathBuf]) -> Result<(), WorkerFailure> {
    let [function, output, inputs @ ..] = args else {
        return Err(Box::new((
            None,
            RemoteError::Protocol(format!(
                "a worker is started as `{WORKER_FLAG} FUNCTION OUTPUT [INPUT…]`, got {} arguments",
                args.len()
            )),
        )));
    };
    let fail = |error| Box::new((Some(output.clone()), error));
    // A task of many inputs names them in a file (see `INPUTS_FLAG`).
    let listed;
    let inputs = match inputs {
        [flag, list] if flag.as_os_str() == INPUTS_FLAG => {
            let bytes = std::fs::read(list).map_err(|error| fail(RemoteError::io(list, error)))?;
            listed = runner::read_inputs_list(&bytes);
            listed.as_slice()
        }
        inputs => inputs,
    };
    let name = function.to_string_lossy();
    if name == SUBGRAPH {
        let inputs = read_inputs(inputs).map_err(fail)?;
        let result = graph::run_subgraph(&inputs, output).map_err(fail)?;
        return write_payload(output, &result)
            .map_err(|error| fail(RemoteError::io(output, error)));
    }
    let task = find(&name).ok_or_else(|| {
        fail(RemoteError::UnknownTask {
            name: name.to_string(),
            registered: registered()
                .into_iter()
                .map(|(name, _)| name.to_owned())
                .collect(),
        })
    })?;
    let inputs = read_inputs(inputs).map_err(|error| fail(error.in_task(task.name)))?;
    let result = (task.run)(&inputs).map_err(fail)?;
    write_payload(output, &result).map_err(|error| fail(RemoteError::io(output, error)))
}

/// Reads a worker's input files.
fn read_inputs(paths: &[PathBuf]) -> Result<Vec<Payload>, RemoteError> {
    paths
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).map_err(|error| RemoteError::io(path, error))?;
            Payload::from_vec(bytes)
        })
        .collect()
}

/// Where a worker leaves the error of the task whose result goes to `output`.
pub(crate) fn error_path(output: &Path) -> PathBuf {
    let mut path = output.as_os_str().to_owned();
    path.push(".error");
    PathBuf::from(path)
}

/// An error as a worker writes it: a task's panic as `task\tNAME\tCALL_SITE\nMESSAGE`
/// (read back as the same [`TaskError`]), anything else as its message.
fn error_file_text(error: &RemoteError) -> String {
    match error {
        RemoteError::Task(task) => {
            format!(
                "task\t{}\t{}\n{}",
                task.task(),
                task.call_site(),
                task.message()
            )
        }
        other => format!("error\n{other}"),
    }
}

/// Reads what [`error_file_text`] wrote; `function` names the task for other errors.
pub(crate) fn read_error_file(text: &str, function: &str) -> RemoteError {
    let (head, message) = text.split_once('\n').unwrap_or((text, ""));
    let mut fields = head.split('\t');
    match (fields.next(), fields.next(), fields.next()) {
        (Some("task"), Some(task), Some(call_site)) => RemoteError::Task(TaskError::from_panic(
            task,
            call_site,
            Box::new(message.to_owned()),
        )),
        _ => RemoteError::Worker {
            task: function.to_owned(),
            message: message.to_owned(),
        },
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory, renamed.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_with(path, |file| file.write_all(bytes))
}

/// Writes `payload` to `path` as [`write_atomically`] does, from the payload's own
/// buffer (a large value is not copied to be written).
pub(crate) fn write_payload(path: &Path, payload: &Payload) -> std::io::Result<()> {
    write_atomically_with(path, |file| payload.write_to(file))
}

/// Makes a temporary file beside `path`, has `write` fill it, and renames it `path`.
fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp-{}", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let mut file = std::fs::File::create(&temporary)?;
    write(&mut file)?;
    drop(file);
    std::fs::rename(&temporary, path)
}

/// What can go wrong with a remote task.
#[derive(Debug)]
#[non_exhaustive]
pub enum RemoteError {
    /// The task panicked: its name, call site and message, as on one machine.
    Task(TaskError),
    /// The task did not run because a task it needs failed.
    NeverRan {
        /// The task that did not run.
        task: String,
        /// The task it needed that failed.
        because: String,
    },
    /// A value could not be encoded.
    Encode {
        /// Its type.
        type_name: String,
        /// Why: the text of its `Serialize`'s own error (`Error::custom`), else what
        /// `postcard` said.
        message: String,
    },
    /// A value could not be decoded.
    Decode {
        /// Its type (as the payload says).
        type_name: String,
        /// What was wrong: the text of its `Deserialize`'s own error, else what
        /// `postcard` said.
        message: String,
    },
    /// A value of another type than the one asked for.
    TypeMismatch {
        /// The type asked for.
        expected: String,
        /// The type the payload holds.
        found: String,
    },
    /// An argument of the wrong type (or another error about one argument).
    Argument {
        /// The task, when known.
        task: Option<String>,
        /// Which argument, from 0.
        position: usize,
        /// What was wrong with it.
        error: Box<RemoteError>,
    },
    /// A task was given another number of arguments than it has parameters.
    Arity {
        /// Its parameters.
        expected: usize,
        /// The arguments given.
        found: usize,
    },
    /// A value written by another build of the program: the worker's binary is not the
    /// one that made the job (rebuilt, or an old copy on the cluster).
    StaleBinary {
        /// This build's id.
        expected: u64,
        /// The id of the build that wrote the value.
        found: u64,
    },
    /// No `#[delayed(remote)]` function has this name in the worker's binary.
    UnknownTask {
        /// The name asked for.
        name: String,
        /// The names the binary has.
        registered: Vec<String>,
    },
    /// A worker process failed without saying why in its error file.
    Worker {
        /// The task it ran.
        task: String,
        /// What is known: its exit status, its error output.
        message: String,
    },
    /// A job that cannot run: a task reads the output of a task added after it.
    BadJob(String),
    /// A node of a graph sent to a cluster that a worker cannot run: not a call of a
    /// `#[delayed(remote)]` function built with `delay!` (an operator, a closure, a
    /// method), or one with an argument a worker cannot be given.
    NotRemote {
        /// The node's name.
        task: String,
        /// Where it was built.
        call_site: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// A worker was started with the wrong arguments.
    Protocol(String),
    /// The cluster could not take or run the job: no `hq` binary, another HyperQueue
    /// version, no Python `hyperqueue`, a server that cannot be reached, a job that did
    /// not end in time (what was found, and what to do).
    Cluster(String),
    /// Reading or writing a file of the run, or starting a worker, failed.
    Io {
        /// The file or program.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl Clone for RemoteError {
    /// The same error again, for a second reader of one result: a task's error keeps its
    /// name, call site and message, an I/O error its kind and text.
    fn clone(&self) -> Self {
        match self {
            RemoteError::Task(error) => RemoteError::Task(error.detached()),
            RemoteError::NeverRan { task, because } => RemoteError::NeverRan {
                task: task.clone(),
                because: because.clone(),
            },
            RemoteError::Encode { type_name, message } => RemoteError::Encode {
                type_name: type_name.clone(),
                message: message.clone(),
            },
            RemoteError::Decode { type_name, message } => RemoteError::Decode {
                type_name: type_name.clone(),
                message: message.clone(),
            },
            RemoteError::TypeMismatch { expected, found } => RemoteError::TypeMismatch {
                expected: expected.clone(),
                found: found.clone(),
            },
            RemoteError::Argument {
                task,
                position,
                error,
            } => RemoteError::Argument {
                task: task.clone(),
                position: *position,
                error: error.clone(),
            },
            RemoteError::Arity { expected, found } => RemoteError::Arity {
                expected: *expected,
                found: *found,
            },
            RemoteError::StaleBinary { expected, found } => RemoteError::StaleBinary {
                expected: *expected,
                found: *found,
            },
            RemoteError::UnknownTask { name, registered } => RemoteError::UnknownTask {
                name: name.clone(),
                registered: registered.clone(),
            },
            RemoteError::Worker { task, message } => RemoteError::Worker {
                task: task.clone(),
                message: message.clone(),
            },
            RemoteError::BadJob(message) => RemoteError::BadJob(message.clone()),
            RemoteError::NotRemote {
                task,
                call_site,
                reason,
            } => RemoteError::NotRemote {
                task: task.clone(),
                call_site: call_site.clone(),
                reason: reason.clone(),
            },
            RemoteError::Protocol(message) => RemoteError::Protocol(message.clone()),
            RemoteError::Cluster(message) => RemoteError::Cluster(message.clone()),
            RemoteError::Io { path, source } => RemoteError::Io {
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
        }
    }
}

impl RemoteError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        RemoteError::Io {
            path: path.to_owned(),
            source,
        }
    }

    fn at_argument(self, position: usize) -> Self {
        RemoteError::Argument {
            task: None,
            position,
            error: Box::new(self),
        }
    }

    /// Names the task an argument error is about.
    fn in_task(self, name: &str) -> Self {
        match self {
            RemoteError::Argument {
                task: None,
                position,
                error,
            } => RemoteError::Argument {
                task: Some(short_name_of(name).to_owned()),
                position,
                error,
            },
            other => other,
        }
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteError::Task(error) => write!(f, "{error}"),
            RemoteError::NeverRan { task, because } => write!(
                f,
                "task `{task}` never ran: the task `{because}` it needs failed"
            ),
            RemoteError::Encode { type_name, message } => {
                write!(f, "cannot encode a `{type_name}`: {message}")
            }
            RemoteError::Decode { type_name, message } => {
                write!(f, "cannot decode a `{type_name}`: {message}")
            }
            RemoteError::TypeMismatch { expected, found } => {
                write!(f, "expected a `{expected}`, found a `{found}`")
            }
            RemoteError::Argument {
                task,
                position,
                error,
            } => match task {
                Some(task) => write!(f, "argument {position} of task `{task}`: {error}"),
                None => write!(f, "argument {position}: {error}"),
            },
            RemoteError::Arity { expected, found } => write!(
                f,
                "the task takes {expected} arguments, but the job gives it {found}"
            ),
            RemoteError::StaleBinary { expected, found } => write!(
                f,
                "a value written by another build of this program (build {found:016x}, this \
                 is {expected:016x}): the worker's binary is not the one that made the job; \
                 start workers from the same binary as the program that submits"
            ),
            RemoteError::UnknownTask { name, registered } => write!(
                f,
                "no `#[delayed(remote)]` function `{name}` in this binary (it has: {}); mark \
                 the function `#[delayed(remote)]` and check that the worker runs the same \
                 program",
                if registered.is_empty() {
                    String::from("none")
                } else {
                    registered.join(", ")
                }
            ),
            RemoteError::Worker { task, message } => {
                write!(f, "the worker of task `{task}` failed: {message}")
            }
            RemoteError::BadJob(message) => write!(f, "the job cannot run: {message}"),
            RemoteError::NotRemote {
                task,
                call_site,
                reason,
            } => write!(
                f,
                "the node `{task}` built at {call_site} cannot run on a cluster: {reason}"
            ),
            RemoteError::Protocol(message) => write!(f, "{message}"),
            RemoteError::Cluster(message) => write!(f, "{message}"),
            RemoteError::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for RemoteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RemoteError::Task(error) => Some(error),
            RemoteError::Argument { error, .. } => Some(&**error),
            RemoteError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Registers a `#[delayed(remote)]` function (what the attribute expands to).
#[doc(hidden)]
#[macro_export]
macro_rules! __register_remote {
    ($vis:vis $name:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        impl $name {
            /// What `delay!` records of a call: the function's name and its arguments
            /// (values encoded now), for `remote::compute_on`.
            #[doc(hidden)]
            #[inline]
            // `pub`, whatever the function's visibility: reached through the
            // companion, whose own visibility is the function's (and the one
            // privacy error, naming the function, is on the call).
            #[allow(unreachable_pub)]
            pub fn __remote<const __N: usize>(
                __shapes: [$crate::__private::dynamic::ArgShape<'_>; __N],
            ) -> $crate::__private::dynamic::RemoteSpec {
                $crate::__private::remote::describe(
                    <$name as $crate::__private::remote::Remote>::NAME,
                    &__shapes,
                    &[$($crate::__private::remote::encoder::<$ty>()),*],
                )
            }
        }
        impl $crate::__private::remote::Remote for $name {
            const NAME: &'static str = ::core::concat!(::core::module_path!(), "::", ::core::stringify!($name));
            type Args = ($($ty,)*);
            type Output = $ret;
        }
        $crate::__private::remote::inventory::submit! {
            $crate::__private::remote::RemoteTask::new(
                ::core::concat!(::core::module_path!(), "::", ::core::stringify!($name)),
                ::core::concat!(::core::file!(), ":", ::core::line!(), ":", ::core::column!()),
                |__inputs| $crate::__private::remote::invoke::<($($ty,)*), $ret>(
                    __inputs,
                    ::core::concat!(::core::module_path!(), "::", ::core::stringify!($name)),
                    ::core::concat!(::core::file!(), ":", ::core::line!(), ":", ::core::column!()),
                    // `#[delayed(remote, retries = n)]`: the companion's count.
                    $name::__RETRIES,
                    |($($arg,)*)| $name($($arg),*),
                ),
            )
        }
    };
}
