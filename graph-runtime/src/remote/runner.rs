//! A job of remote tasks, and the local runner: the worker protocol without a
//! cluster, each task a process of this program started in dependency order.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::engine::names::short_name_of;

use super::{
    error_path, read_error_file, JobCanceller, JobWatcher, Payload, Remote, RemoteError,
    INPUTS_FLAG, WORKER_FLAG,
};
use crate::futures::deadline_after;

/// How often a run is shown to its [`JobWatcher`] while workers run.
const WATCH_EVERY: Duration = Duration::from_millis(50);

/// The shortest and the longest pause between two looks at the running workers (a
/// worker that ends wakes the runner at once).
const MIN_PAUSE: Duration = Duration::from_micros(100);
const MAX_PAUSE: Duration = Duration::from_millis(20);

/// A task of a [`Job`]: its position, as [`Job::task`] returned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskId(pub(super) usize);

impl TaskId {
    /// Its position in the job, from 0 (its `id` in a HyperQueue job file).
    pub fn index(self) -> usize {
        self.0
    }
}

/// One argument of a task: a value, or the output of an earlier task of the job.
#[derive(Debug, Clone)]
pub enum Input {
    /// A value, encoded now.
    Value(Payload),
    /// The result of a task added before this one.
    Output(TaskId),
}

impl Input {
    /// A value as an argument.
    pub fn value<T: Serialize>(value: &T) -> Result<Input, RemoteError> {
        Payload::encode(value).map(Input::Value)
    }

    /// The output of an earlier task as an argument.
    pub fn output(task: TaskId) -> Input {
        Input::Output(task)
    }
}

#[derive(Debug, Clone)]
struct JobTask {
    function: &'static str,
    /// What errors call it: the nodes a graph's cluster task runs (its function is
    /// the sub-graph runner, a name the user never wrote); its function's short name
    /// when `None`.
    label: Option<String>,
    /// The nodes of a graph's cluster task of several nodes (their numbers in the
    /// graph, and each one's name and call site): what a worker that dies is blamed on,
    /// from the events its nodes wrote (see [`super::graph::running_when_died`]).
    nodes: Vec<(u32, String)>,
    inputs: Vec<Input>,
}

impl JobTask {
    /// What errors call it: its label, or its function's short name.
    fn label(&self) -> &str {
        self.label
            .as_deref()
            .unwrap_or_else(|| short_name_of(self.function))
    }
}

/// Remote tasks and the edges between them, each task reading values and earlier
/// tasks' outputs: what one cluster job runs.
#[derive(Debug, Clone, Default)]
pub struct Job {
    tasks: Vec<JobTask>,
}

impl Job {
    /// An empty job.
    pub fn new() -> Job {
        Job::default()
    }

    /// Adds a call of the `#[delayed(remote)]` function `F` with these arguments, one
    /// per parameter (checked by the worker, which names a wrong one).
    pub fn task<F: Remote>(&mut self, inputs: Vec<Input>) -> TaskId {
        self.push(F::NAME, inputs)
    }

    /// Adds a call of the function registered as `function` (or of the built-in
    /// sub-graph runner).
    pub(crate) fn push(&mut self, function: &'static str, inputs: Vec<Input>) -> TaskId {
        self.push_labelled(function, None, Vec::new(), inputs)
    }

    /// [`push`](Self::push), named `label` in errors; a worker that dies running it is
    /// blamed on the ones of `nodes` it was running (see [`JobTask::nodes`]).
    pub(crate) fn push_labelled(
        &mut self,
        function: &'static str,
        label: Option<String>,
        nodes: Vec<(u32, String)>,
        inputs: Vec<Input>,
    ) -> TaskId {
        self.tasks.push(JobTask {
            function,
            label,
            nodes,
            inputs,
        });
        TaskId(self.tasks.len() - 1)
    }

    /// What errors call task `i` (see [`JobTask::label`]).
    fn label(&self, i: usize) -> &str {
        self.tasks[i].label()
    }

    /// The number of tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether it has no task.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The tasks that task `task` reads, each once, in order: its dependencies.
    pub fn deps(&self, task: TaskId) -> Vec<TaskId> {
        let mut deps: Vec<TaskId> = self.tasks[task.0]
            .inputs
            .iter()
            .filter_map(|input| match input {
                Input::Output(from) => Some(*from),
                Input::Value(_) => None,
            })
            .collect();
        deps.sort_unstable_by_key(|t| t.0);
        deps.dedup();
        deps
    }

    /// The command that runs task `task` when the job's files are in `run`: `program`
    /// and the worker's arguments (see [`worker_main`](super::worker_main)). Plain
    /// data, as a cluster's job description takes it.
    pub fn command(&self, task: TaskId, program: &Path, run: &Path) -> Vec<std::ffi::OsString> {
        let mut command = vec![program.as_os_str().to_owned()];
        command.extend(worker_args(run, task.0, &self.tasks[task.0]));
        command
    }

    /// Writes every task's values into the directory `run` (which must exist), where
    /// [`command`](Self::command) says the workers find them.
    pub fn write_values(&self, run: &Path) -> Result<(), RemoteError> {
        self.check()?;
        for (i, task) in self.tasks.iter().enumerate() {
            write_values(run, i, task)?;
        }
        Ok(())
    }

    /// The job as a HyperQueue job definition file (`hq job submit-file`): one
    /// `[[task]]` per task, with its `id` (its position), its `command` (see
    /// [`command`](Self::command); paths that are not UTF-8 are written lossily) and
    /// its `deps`. Write the values first ([`write_values`](Self::write_values)) into
    /// `run`, on a filesystem the workers share.
    pub fn to_hyperqueue_toml(&self, program: &Path, run: &Path) -> String {
        let mut text = String::new();
        for i in 0..self.tasks.len() {
            let command: Vec<String> = self
                .command(TaskId(i), program, run)
                .iter()
                .map(|arg| toml_string(&arg.to_string_lossy()))
                .collect();
            let deps: Vec<String> = self
                .deps(TaskId(i))
                .iter()
                .map(|t| t.0.to_string())
                .collect();
            if i > 0 {
                text.push('\n');
            }
            text.push_str(&format!(
                "[[task]]\nid = {i}\ncommand = [{}]\ndeps = [{}]\n",
                command.join(", "),
                deps.join(", ")
            ));
        }
        text
    }

    /// Checks that every task reads only tasks added before it (so that the order
    /// they were added in is an order to run them in).
    pub(super) fn check(&self) -> Result<(), RemoteError> {
        for (i, task) in self.tasks.iter().enumerate() {
            for input in &task.inputs {
                if let Input::Output(TaskId(from)) = input {
                    if *from >= i {
                        return Err(RemoteError::BadJob(format!(
                            "task {i} (`{}`) reads task {from}, which is not before it",
                            task.function
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The results of a job: each task's output, or why it has none.
#[derive(Debug)]
pub struct Outputs {
    results: Vec<Result<Payload, RemoteError>>,
}

impl Outputs {
    /// The result of task `task`, a call of `F`, decoded.
    pub fn get<F: Remote>(&self, task: TaskId) -> Result<F::Output, RemoteError> {
        match self.results.get(task.0) {
            Some(Ok(payload)) => payload.decode(),
            Some(Err(error)) => Err(error.clone()),
            None => Err(RemoteError::BadJob(format!(
                "no task {} in this job",
                task.0
            ))),
        }
    }

    /// The raw result of task `task`.
    pub fn payload(&self, task: TaskId) -> Option<&Result<Payload, RemoteError>> {
        self.results.get(task.0)
    }

    /// Whether every task finished.
    pub fn all_finished(&self) -> bool {
        self.results.iter().all(Result::is_ok)
    }
}

/// Runs a [`Job`] on this machine by starting the program once per task, as a
/// cluster would (see [`worker_main`](super::worker_main)): what a cluster backend's
/// tests run without a cluster. Tasks whose inputs are ready run at the same time, up
/// to [`parallel`](Self::parallel) at once; a job that outlives its
/// [`timeout`](Self::timeout), or is cancelled ([`canceller`](Self::canceller)), has
/// its workers killed. Values and results go through files in a
/// directory of the run, removed afterwards unless [`keep_files`](Self::keep_files).
#[derive(Debug, Clone)]
pub struct LocalRunner {
    dir: PathBuf,
    program: PathBuf,
    pub(super) parallel: usize,
    keep_files: bool,
    timeout: Duration,
    canceller: JobCanceller,
    /// Workers started by this runner and its clones.
    started: Arc<AtomicUsize>,
}

/// Runs of this process, for their directories' names.
static RUNS: AtomicU64 = AtomicU64::new(0);

impl LocalRunner {
    /// A runner that keeps each run's files in a new directory under `dir`, and starts
    /// this program as the worker.
    pub fn new(dir: impl Into<PathBuf>) -> LocalRunner {
        LocalRunner {
            dir: dir.into(),
            program: std::env::current_exe().unwrap_or_default(),
            parallel: std::thread::available_parallelism().map_or(1, |n| n.get()),
            keep_files: false,
            timeout: Duration::MAX,
            canceller: JobCanceller::default(),
            started: Arc::default(),
        }
    }

    /// How many worker processes this runner (and its clones) started so far.
    pub fn workers_started(&self) -> usize {
        self.started.load(Ordering::Relaxed)
    }

    /// Keeps each run's directory (inputs, outputs, error files, the workers' error
    /// output) after the run, to look at; by default it is removed once the results
    /// are read.
    pub fn keep_files(mut self, keep: bool) -> Self {
        self.keep_files = keep;
        self
    }

    /// Starts `program` as the worker instead (a program that calls
    /// [`worker_main`](super::worker_main) and has the job's functions).
    pub fn program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self
    }

    /// How many workers run at once (at least 1).
    pub fn parallel(mut self, parallel: usize) -> Self {
        self.parallel = parallel.max(1);
        self
    }

    /// How long a job may take before its running workers are killed and the run is
    /// an error ([`RemoteError::Cluster`], naming the timeout and the tasks killed): no
    /// limit by default (`Duration::MAX`), as a compute here; `Duration::ZERO` gives up
    /// before any worker starts.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A handle that cancels the job this runner (or a clone) is running, from another
    /// thread: its running workers are killed, no other starts, and the compute
    /// returns an error saying so within a few milliseconds. Jobs run at once (from
    /// several threads) are each cancelled; a job started after the cancel runs.
    pub fn canceller(&self) -> JobCanceller {
        self.canceller.clone()
    }

    /// Runs every task of `job` and returns their results. A task that fails makes the
    /// tasks that read it fail with [`RemoteError::NeverRan`]; the others still run.
    /// Errors that stop the whole run (a job that reads forward, a run directory that
    /// cannot be made) are the `Err`.
    pub fn run(&self, job: &Job) -> Result<Outputs, RemoteError> {
        self.run_watching(job, &mut super::graph::Unwatched)
    }

    /// [`run`](Self::run), telling `watcher` of the run's directory while workers run
    /// (see [`Cluster::run_watched`](super::Cluster::run_watched)).
    pub(super) fn run_watching(
        &self,
        job: &Job,
        watcher: &mut dyn JobWatcher,
    ) -> Result<Outputs, RemoteError> {
        job.check()?;
        let cancel = self.canceller.watch();
        let deadline = deadline_after(self.timeout);
        let run = new_run_dir(&self.dir)?;
        let mut state = Schedule::new(job);
        let mut running: Vec<(usize, Child)> = Vec::new();
        // Each worker's output is a pipe drained by a thread of its own, which says when
        // it closes (the worker ended, as a rule): this thread wakes at once then, and
        // else looks every few milliseconds (an output a worker's own child still holds,
        // the deadline, a cancel), holding every worker to kill it.
        let (closed, closings) = mpsc::channel::<()>();
        // How long to wait before looking at the workers again: short after a change,
        // longer while none comes.
        let mut pause = MIN_PAUSE;
        let mut watched = Instant::now();
        loop {
            // Nothing left to start or to wait for: the job is done.
            if running.is_empty() && state.ready.is_empty() {
                break;
            }
            // Past the deadline, or cancelled: the workers are killed. Looked at before
            // anything starts or is settled, so that a job past its deadline fails
            // however fast its workers are (`Duration::ZERO` gives up before starting
            // any: a worker that ended before the first look made it succeed).
            let stop = if cancel.is_cancelled() {
                Some(String::from("was cancelled"))
            } else if deadline.is_some_and(|d| Instant::now() >= d) {
                Some(format!(
                    "did not end within {:?} (LocalRunner::timeout)",
                    self.timeout
                ))
            } else {
                None
            };
            if let Some(why) = stop {
                let killed: Vec<String> = running
                    .iter_mut()
                    .map(|(i, child)| {
                        let _ = child.kill();
                        let _ = child.wait();
                        format!("{i} (`{}`)", job.label(*i))
                    })
                    .collect();
                if !self.keep_files {
                    let _ = std::fs::remove_dir_all(&run);
                }
                let killed = if killed.is_empty() {
                    String::from("no worker was running")
                } else {
                    format!(
                        "its running workers were killed (tasks {})",
                        killed.join(", ")
                    )
                };
                return Err(RemoteError::Cluster(format!(
                    "the local runner's job {why}: {killed}"
                )));
            }
            // Start what is ready, in job order, while there is room.
            while running.len() < self.parallel {
                let Some(i) = state.ready.pop_front() else {
                    break;
                };
                match self.start(&run, i, &job.tasks[i], &state.results) {
                    Ok(mut child) => {
                        if let Some(mut output) = child.stdout.take() {
                            let closed = closed.clone();
                            // Without the thread, the worker is still seen to end at
                            // the next look.
                            let _ = std::thread::Builder::new()
                                .name(String::from("taskweave-worker-output"))
                                .spawn(move || {
                                    let _ = std::io::copy(&mut output, &mut std::io::sink());
                                    let _ = closed.send(());
                                });
                        }
                        running.push((i, child));
                    }
                    Err(error) => state.settle(job, i, Err(error)),
                }
            }
            if running.is_empty() {
                break;
            }
            // Settle the workers that ended.
            let mut ended = false;
            let mut k = 0;
            while k < running.len() {
                let done = match running[k].1.try_wait() {
                    Ok(None) => {
                        k += 1;
                        continue;
                    }
                    Ok(Some(status)) => Ok(status),
                    Err(error) => Err(error),
                };
                let (i, _) = running.swap_remove(k);
                let result = match done {
                    Ok(status) => self.collect(&run, i, &job.tasks[i], status),
                    Err(error) => Err(RemoteError::io(&self.program, error)),
                };
                state.settle(job, i, result);
                ended = true;
            }
            if ended {
                pause = MIN_PAUSE;
                continue;
            }
            if watched.elapsed() >= WATCH_EVERY {
                watcher.running(&run);
                watched = Instant::now();
            }
            let left = deadline.map_or(pause, |d| d.saturating_duration_since(Instant::now()));
            if closings.recv_timeout(pause.min(left)).is_ok() {
                // A worker is ending: look again soon (its status may take a moment).
                pause = MIN_PAUSE;
            } else {
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
        watcher.ended(&run);
        let results = state
            .results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(RemoteError::BadJob(String::from("not run")))))
            .collect();
        if !self.keep_files {
            let _ = std::fs::remove_dir_all(&run);
        }
        Ok(Outputs { results })
    }

    /// Writes task `i`'s values and starts its worker (every output it reads is there).
    fn start(
        &self,
        run: &Path,
        i: usize,
        task: &JobTask,
        results: &[Option<Result<Payload, RemoteError>>],
    ) -> Result<Child, RemoteError> {
        debug_assert!(task.inputs.iter().all(|input| match input {
            Input::Output(TaskId(from)) => matches!(results[*from], Some(Ok(_))),
            Input::Value(_) => true,
        }));
        write_values(run, i, task)?;
        let mut command = Command::new(&self.program);
        // Its output is read (and dropped) by the runner: the pipe's end says the
        // worker ended.
        command
            .args(worker_args(run, i, task))
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        // The worker's error output goes to a file of the run, never a pipe nobody
        // reads (a task that prints much would block on a full pipe).
        let stderr_path = run.join(format!("task-{i}.stderr"));
        let stderr = std::fs::File::create(&stderr_path)
            .map_err(|error| RemoteError::io(&stderr_path, error))?;
        command.stderr(stderr);
        self.started.fetch_add(1, Ordering::Relaxed);
        command.spawn().map_err(|error| {
            // The bare error ("/tmp: Permission denied") did not say it is the
            // program started as the worker.
            let error = std::io::Error::new(
                error.kind(),
                format!("cannot start it as a worker (LocalRunner::program): {error}"),
            );
            RemoteError::io(&self.program, error)
        })
    }

    /// Reads task `i`'s result, or its error, once its worker has ended.
    fn collect(
        &self,
        run: &Path,
        i: usize,
        task: &JobTask,
        status: std::process::ExitStatus,
    ) -> Result<Payload, RemoteError> {
        let output = output_path(run, i);
        // What it printed last says most (a crash's message, an abort).
        let last_words = || tail(&run.join(format!("task-{i}.stderr")), 5);
        if status.success() {
            return match std::fs::read(&output) {
                Ok(bytes) => Payload::from_vec(bytes),
                // A task that ended its process itself (`std::process::exit(0)`).
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => Err(died(
                    &output,
                    task,
                    format!(
                        "it exited with {status} without writing its result (did a task end \
                         the process?); its last words: {}",
                        last_words()
                    ),
                )),
                Err(error) => Err(RemoteError::io(&output, error)),
            };
        }
        match std::fs::read_to_string(error_path(&output)) {
            Ok(text) => Err(read_error_file(&text, task.label())),
            Err(_) => Err(died(
                &output,
                task,
                format!(
                    "it exited with {status} and left no error file; its last words: {}",
                    last_words()
                ),
            )),
        }
    }
}

/// A new, empty directory for a run's files under `dir`: `run-PID-N`, made by this
/// call. One that exists already is skipped: left by an earlier process of the same
/// id (a container's restart, another machine's on a shared filesystem, a run that
/// crashed or kept its files), its files would be read as this run's results.
pub(super) fn new_run_dir(dir: &Path) -> Result<PathBuf, RemoteError> {
    std::fs::create_dir_all(dir).map_err(|error| RemoteError::io(dir, error))?;
    loop {
        let run = dir.join(format!(
            "run-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        match std::fs::create_dir(&run) {
            Ok(()) => return Ok(run),
            // Each name is tried once (the count goes on), and only names that
            // exist are skipped: as many tries as there are such directories.
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(RemoteError::io(&run, error)),
        }
    }
}

/// Reads the results of a run a cluster has finished, from its files alone: a task's
/// output where it wrote one; else [`RemoteError::NeverRan`] when a task it reads
/// failed (naming the first such); else its error file; else a
/// [`RemoteError::Worker`] with what `said(i)` knows of it (the cluster's word) and
/// the last lines of its error output.
pub(super) fn collect_files(
    job: &Job,
    run: &Path,
    said: impl Fn(usize) -> Option<String>,
) -> Outputs {
    let mut results: Vec<Result<Payload, RemoteError>> = Vec::with_capacity(job.len());
    for (i, task) in job.tasks.iter().enumerate() {
        let output = output_path(run, i);
        let result = if let Ok(bytes) = std::fs::read(&output) {
            Payload::from_vec(bytes)
        } else if let Some(failed) = job
            .deps(TaskId(i))
            .into_iter()
            .find(|from| results[from.0].is_err())
        {
            Err(RemoteError::NeverRan {
                task: job.label(i).to_owned(),
                because: job.label(failed.0).to_owned(),
            })
        } else if let Ok(text) = std::fs::read_to_string(error_path(&output)) {
            Err(read_error_file(&text, task.label()))
        } else {
            Err(died(
                &output,
                task,
                format!(
                    "it left no result and no error file; {}; its last words: {}",
                    said(i).unwrap_or_else(|| String::from("the cluster did not say why")),
                    tail(&run.join(format!("task-{i}.stderr")), 5)
                ),
            ))
        };
        results.push(result);
    }
    Outputs { results }
}

/// How much of the end of a file [`tail`] reads: a worker may print gigabytes before
/// it dies, and only its last lines are shown.
const TAIL_BYTES: u64 = 64 * 1024;

/// The last `lines` lines of a file that are not blank (a worker's error output, a
/// driver's log), in the order they were written, joined with ` | `; empty when it
/// cannot be read. Only its last [`TAIL_BYTES`] are read, and bytes that are not UTF-8
/// (a crash's binary noise) are replaced, not a reason to show nothing.
pub(super) fn tail(path: &Path, lines: usize) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    let size = file.metadata().map_or(0, |m| m.len());
    let start = size.saturating_sub(TAIL_BYTES);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut all = text.lines();
    if start > 0 {
        // Read from the middle of a line: that part of it is not shown.
        all.next();
    }
    let mut last: Vec<&str> = all
        .rev()
        .filter(|line| !line.trim().is_empty())
        .take(lines)
        .collect();
    last.reverse();
    last.join(" | ")
}

/// The error of a task whose worker (result to `output`) died, `message` saying what
/// is known: named after the task, or, in a cluster task of several nodes, after the
/// nodes it was running, with which had finished (from its nodes' events).
fn died(output: &Path, task: &JobTask, message: String) -> RemoteError {
    match super::graph::running_when_died(output, &task.nodes) {
        Some((running, where_)) => RemoteError::Worker {
            task: running,
            message: format!("{message}; {where_}"),
        },
        None => RemoteError::Worker {
            task: task.label().to_owned(),
            message,
        },
    }
}

/// The arguments a worker of task `i` is started with (after the program): the worker
/// flag, the function, where its output goes, and its inputs' files (its values
/// written by [`write_values`], the outputs of the tasks it reads).
///
/// A task of more than [`INLINE_INPUTS`] inputs (a cluster task given the values of
/// thousands of nodes) is given `--taskweave-inputs LIST` instead of its inputs' files:
/// `LIST` names them (see [`inputs_list_path`]), since a command line has a length
/// limit (2 MiB of arguments on Linux) past which the worker could not be started.
fn worker_args(run: &Path, i: usize, task: &JobTask) -> Vec<std::ffi::OsString> {
    let mut args = vec![
        WORKER_FLAG.into(),
        task.function.into(),
        output_path(run, i).into_os_string(),
    ];
    if inputs_listed(task) {
        args.push(INPUTS_FLAG.into());
        args.push(inputs_list_path(run, i).into_os_string());
    } else {
        args.extend(input_paths(run, i, task).map(PathBuf::into_os_string));
    }
    args
}

/// The most inputs a worker is given on its command line; one of more reads their
/// files' names from a file (see [`worker_args`]).
const INLINE_INPUTS: usize = 64;

/// Whether `task`'s inputs are named in a file rather than on its command line: one
/// decision, for [`worker_args`] and [`write_values`].
fn inputs_listed(task: &JobTask) -> bool {
    task.inputs.len() > INLINE_INPUTS
}

/// The files of task `i`'s inputs, in order: its values (written by [`write_values`])
/// and the outputs of the tasks it reads.
fn input_paths<'a>(
    run: &'a Path,
    i: usize,
    task: &'a JobTask,
) -> impl Iterator<Item = PathBuf> + 'a {
    task.inputs
        .iter()
        .enumerate()
        .map(move |(j, input)| match input {
            Input::Value(_) => value_path(run, i, j),
            Input::Output(TaskId(from)) => output_path(run, *from),
        })
}

/// Where the names of task `i`'s input files are written when they are too many for
/// its command line: each path's bytes, each followed by a NUL byte.
fn inputs_list_path(run: &Path, i: usize) -> PathBuf {
    run.join(format!("task-{i}.inputs"))
}

/// Writes task `i`'s values to their files in `run` (and the list of its inputs' files,
/// when they are too many for its command line).
fn write_values(run: &Path, i: usize, task: &JobTask) -> Result<(), RemoteError> {
    for (j, input) in task.inputs.iter().enumerate() {
        if let Input::Value(payload) = input {
            let path = value_path(run, i, j);
            super::write_payload(&path, payload).map_err(|error| RemoteError::io(&path, error))?;
        }
    }
    if inputs_listed(task) {
        let mut list = Vec::new();
        for path in input_paths(run, i, task) {
            list.extend_from_slice(&path_bytes(&path));
            list.push(0);
        }
        let path = inputs_list_path(run, i);
        super::write_atomically(&path, &list).map_err(|error| RemoteError::io(&path, error))?;
    }
    Ok(())
}

/// A path's bytes, as an inputs list holds them (see [`inputs_list_path`]).
fn path_bytes(path: &Path) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        path.to_string_lossy().into_owned().into_bytes()
    }
}

/// The paths of an inputs list's bytes (what [`write_values`] wrote).
pub(super) fn read_inputs_list(bytes: &[u8]) -> Vec<PathBuf> {
    bytes
        .split(|&b| b == 0)
        .filter(|path| !path.is_empty())
        .map(|path| {
            #[cfg(unix)]
            {
                use std::os::unix::ffi::OsStrExt;
                PathBuf::from(std::ffi::OsStr::from_bytes(path))
            }
            #[cfg(not(unix))]
            {
                PathBuf::from(String::from_utf8_lossy(path).into_owned())
            }
        })
        .collect()
}

/// Where value `j` of task `i` is written.
fn value_path(run: &Path, i: usize, j: usize) -> PathBuf {
    run.join(format!("task-{i}.in-{j}"))
}

/// Where task `i` of a run writes its result.
pub(super) fn output_path(run: &Path, i: usize) -> PathBuf {
    run.join(format!("task-{i}.out"))
}

/// A TOML basic string: quoted, with `"`, `\\` and control characters escaped.
pub(super) fn toml_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Where a run stands: each task's result once settled, how many of each task's
/// inputs are not settled yet, and the tasks whose inputs all finished.
struct Schedule {
    results: Vec<Option<Result<Payload, RemoteError>>>,
    /// Per task, its inputs (outputs of other tasks) not settled yet.
    waiting: Vec<usize>,
    /// Per task, the tasks that read it (once per input that does).
    readers: Vec<Vec<usize>>,
    /// Tasks every input of which finished, not started yet, in the order they
    /// became ready.
    ready: VecDeque<usize>,
}

impl Schedule {
    fn new(job: &Job) -> Schedule {
        let n = job.len();
        let mut waiting = vec![0; n];
        let mut readers = vec![Vec::new(); n];
        for (i, task) in job.tasks.iter().enumerate() {
            for input in &task.inputs {
                if let Input::Output(TaskId(from)) = input {
                    waiting[i] += 1;
                    readers[*from].push(i);
                }
            }
        }
        let ready = (0..n).filter(|&i| waiting[i] == 0).collect();
        Schedule {
            results: (0..n).map(|_| None).collect(),
            waiting,
            readers,
            ready,
        }
    }

    /// Settles task `i`: its readers get one input fewer to wait for; those of a
    /// failed task, and theirs in turn, never run (a work list, not recursion).
    fn settle(&mut self, job: &Job, i: usize, result: Result<Payload, RemoteError>) {
        let failed = result.is_err();
        self.results[i] = Some(result);
        let mut settled = vec![(i, failed)];
        while let Some((i, failed)) = settled.pop() {
            for k in 0..self.readers[i].len() {
                let reader = self.readers[i][k];
                self.waiting[reader] -= 1;
                if self.results[reader].is_some() {
                    continue;
                }
                if failed {
                    // Settled now, so that it never becomes ready; its readers next.
                    self.results[reader] = Some(Err(RemoteError::NeverRan {
                        task: job.label(reader).to_owned(),
                        because: job.label(i).to_owned(),
                    }));
                    settled.push((reader, true));
                } else if self.waiting[reader] == 0 {
                    self.ready.push_back(reader);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A graph's cluster tasks that never ran are named by their labels (their
    /// nodes), as on HyperQueue: they were all named `subgraph`, their function.
    #[test]
    fn tasks_that_never_ran_are_named_by_their_labels() {
        let mut job = Job::new();
        let label = |s: &str| Some(s.to_owned());
        let first = job.push_labelled("subgraph", label("load"), Vec::new(), Vec::new());
        let second = job.push_labelled(
            "subgraph",
            label("clean"),
            Vec::new(),
            vec![Input::Output(first)],
        );
        let mut schedule = Schedule::new(&job);
        let failed = RemoteError::Worker {
            task: "load".to_owned(),
            message: "died".to_owned(),
        };
        schedule.settle(&job, first.0, Err(failed));
        match &schedule.results[second.0] {
            Some(Err(RemoteError::NeverRan { task, because })) => {
                assert_eq!((task.as_str(), because.as_str()), ("clean", "load"));
            }
            other => panic!("{other:?}"),
        }
    }
}
