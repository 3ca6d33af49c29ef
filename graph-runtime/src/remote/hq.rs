//! The HyperQueue transports: a [`Job`] submitted as one HyperQueue job, each of its
//! tasks a HyperQueue task running this program as a worker, through HyperQueue's
//! Python API ([`HyperQueuePython`]) or its `hq` command line ([`HyperQueueCli`]).
//!
//! Both lay the job out as the local runner does — values and results are files of a
//! run directory, a task's error its `.error` file — so that what comes back is read
//! the same way: a task's panic is its [`TaskError`](crate::TaskError), what reads a
//! failed task [`RemoteError::NeverRan`], a worker that died its error output's last
//! lines and what HyperQueue said.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::graph::Unwatched;
use super::runner::{collect_files, new_run_dir, tail, toml_string, TaskId};
use super::{Job, JobWatcher, Outputs, RemoteError};
use crate::futures::deadline_after;

/// The HyperQueue version the transports are written against: the Python package CI
/// installs (`pip install hyperqueue==0.27.0`) and the `hq` release expected by
/// default. HyperQueue's client and server must be the same version.
pub const HYPERQUEUE_VERSION: &str = "0.27.0";

/// The Python driver of [`HyperQueuePython`], written into its directory.
const DRIVER: &str = include_str!("hq_driver.py");

/// One task as a HyperQueue task: its command, dependencies, environment and files.
struct HqTask {
    command: Vec<String>,
    deps: Vec<usize>,
    env: Vec<(String, String)>,
    cwd: String,
    stdout: String,
    stderr: String,
    /// Where the Python driver writes HyperQueue's error of a failed task.
    hq_error: String,
}

/// Task `i` of a run as HyperQueue runs it: the worker's command, its dependencies, an
/// environment naming the run and the task (`TASKWEAVE_RUN`, `TASKWEAVE_TASK`: which
/// task of which run the worker process is), the run directory as its working
/// directory, and its output and error output as files of the run.
fn hq_tasks(job: &Job, program: &Path, run: &Path) -> Vec<HqTask> {
    let text = |path: PathBuf| path.to_string_lossy().into_owned();
    (0..job.len())
        .map(|i| HqTask {
            command: job
                .command(TaskId(i), program, run)
                .iter()
                .map(|arg| arg.to_string_lossy().into_owned())
                .collect(),
            deps: job.deps(TaskId(i)).iter().map(|t| t.0).collect(),
            env: vec![
                (
                    String::from("TASKWEAVE_RUN"),
                    run.to_string_lossy().into_owned(),
                ),
                (String::from("TASKWEAVE_TASK"), i.to_string()),
            ],
            cwd: run.to_string_lossy().into_owned(),
            stdout: text(run.join(format!("task-{i}.stdout"))),
            stderr: text(run.join(format!("task-{i}.stderr"))),
            hq_error: text(hq_error_path(run, i)),
        })
        .collect()
}

/// `dir` as an absolute path (the workers' working directory is the run's, and the
/// job's paths must not depend on it).
fn absolute(dir: PathBuf) -> PathBuf {
    std::path::absolute(&dir).unwrap_or(dir)
}

/// Where the Python driver writes what HyperQueue said of failed task `i`.
fn hq_error_path(run: &Path, i: usize) -> PathBuf {
    run.join(format!("task-{i}.hq-error"))
}

/// A JSON string: quoted, with `"`, `\\` and control characters escaped.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The job description the Python driver reads: `{"name", "tasks": [{"command",
/// "deps", "env", "cwd", "stdout", "stderr", "hq_error"}]}`, tasks in id order.
fn job_json(name: &str, tasks: &[HqTask]) -> String {
    let list = |items: Vec<String>| items.join(", ");
    let tasks: Vec<String> = tasks
        .iter()
        .map(|task| {
            format!(
                "{{\"command\": [{}], \"deps\": [{}], \"env\": {{{}}}, \"cwd\": {}, \"stdout\": {}, \"stderr\": {}, \"hq_error\": {}}}",
                list(task.command.iter().map(|a| json_string(a)).collect()),
                list(task.deps.iter().map(usize::to_string).collect()),
                list(
                    task.env
                        .iter()
                        .map(|(k, v)| format!("{}: {}", json_string(k), json_string(v)))
                        .collect()
                ),
                json_string(&task.cwd),
                json_string(&task.stdout),
                json_string(&task.stderr),
                json_string(&task.hq_error),
            )
        })
        .collect();
    format!(
        "{{\"name\": {}, \"tasks\": [\n{}\n]}}\n",
        json_string(name),
        tasks.join(",\n")
    )
}

/// The job as a full HyperQueue job file: `name`, then per task `id`, `command`,
/// `deps`, `env`, `cwd`, `stdout` and `stderr`. No `task_dir`: it costs about 3 ms a
/// task (measured with the Python API, 1,000 tasks of `/bin/true`: 3.0 s without, 6.0 s
/// with), and a worker's error file in the run says more than `HQ_ERROR_FILENAME`.
fn job_toml(name: &str, tasks: &[HqTask]) -> String {
    let mut text = format!("name = {}\n", toml_string(name));
    for (i, task) in tasks.iter().enumerate() {
        let command: Vec<String> = task.command.iter().map(|a| toml_string(a)).collect();
        let deps: Vec<String> = task.deps.iter().map(usize::to_string).collect();
        let env: Vec<String> = task
            .env
            .iter()
            .map(|(k, v)| format!("{} = {}", toml_string(k), toml_string(v)))
            .collect();
        text.push_str(&format!(
            "\n[[task]]\nid = {i}\ncommand = [{}]\ndeps = [{}]\nenv = {{ {} }}\ncwd = {}\nstdout = {}\nstderr = {}\n",
            command.join(", "),
            deps.join(", "),
            env.join(", "),
            toml_string(&task.cwd),
            toml_string(&task.stdout),
            toml_string(&task.stderr),
        ));
    }
    text
}

/// A new run directory under `dir` with the job's values written into it.
fn prepare_run(dir: &Path, job: &Job) -> Result<PathBuf, RemoteError> {
    let run = new_run_dir(dir)?;
    job.write_values(&run)?;
    Ok(run)
}

/// Reads a run's results once HyperQueue is done with its job (see
/// [`collect_files`]; a task that failed without an error file of its own is
/// reported with what HyperQueue said of it, the Python driver's `hq_error` file),
/// then removes the run's directory unless it is to be kept.
fn finish_run(job: &Job, run: &Path, keep_files: bool) -> Outputs {
    let outputs = collect_files(job, run, |i| {
        std::fs::read_to_string(hq_error_path(run, i))
            .ok()
            .map(|text| format!("HyperQueue: {}", text.trim_end()))
    });
    if !keep_files {
        let _ = std::fs::remove_dir_all(run);
    }
    outputs
}

/// Reads lines a child process writes, on a thread of their own, so that waiting for
/// one has a timeout.
fn line_reader(output: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (send, receive) = mpsc::channel();
    std::thread::Builder::new()
        .name(String::from("taskweave-hq-driver"))
        .spawn(move || {
            for line in BufReader::new(output).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        })
        .expect("a thread to read the HyperQueue driver's answers");
    receive
}

/// Cancels the job a cluster is running: see [`HyperQueuePython::canceller`],
/// [`HyperQueueCli::canceller`] and
/// [`LocalRunner::canceller`](super::LocalRunner::canceller). Cloned freely, sent to
/// another thread (the one computing waits for the job).
#[derive(Debug, Clone, Default)]
pub struct JobCanceller {
    /// How many cancels there have been. A job counts those after its start (see
    /// [`CancelWatch`]): no job clears a cancel, so that one starting on another thread
    /// (the same runner, a clone) cannot take a cancel from a job that runs already.
    cancels: Arc<AtomicU64>,
}

impl JobCanceller {
    /// Cancels the job running now, if one is (every one, where several run at once):
    /// the compute waiting for it returns [`RemoteError::Cluster`] saying so within
    /// about 50 ms. A job started later runs.
    pub fn cancel(&self) {
        self.cancels.fetch_add(1, Ordering::SeqCst);
    }

    /// What a job starting now looks at: the cancels from now on.
    pub(super) fn watch(&self) -> CancelWatch {
        CancelWatch {
            cancels: self.cancels.clone(),
            from: self.cancels.load(Ordering::SeqCst),
        }
    }
}

/// The cancels one job (or a transport's start, a check) looks at: those made since
/// it started ([`JobCanceller::watch`]).
#[derive(Debug)]
pub(super) struct CancelWatch {
    cancels: Arc<AtomicU64>,
    from: u64,
}

impl CancelWatch {
    /// Whether a cancel came since the watch began.
    pub(super) fn is_cancelled(&self) -> bool {
        self.cancels.load(Ordering::SeqCst) != self.from
    }
}

/// How often a wait looks at its [`JobCanceller`].
const CANCEL_POLL: Duration = Duration::from_millis(50);

// ---- the Python API -------------------------------------------------------------------

/// Which HyperQueue server [`HyperQueuePython`] submits to.
#[derive(Debug, Clone)]
enum Server {
    /// A `LocalCluster` of its own: a server and one worker of this many cores.
    Local(usize),
    /// A running server, by its server directory.
    Existing(PathBuf),
}

/// The running Python driver: the process, its input, its answers.
#[derive(Debug)]
struct Driver {
    child: Child,
    input: Option<ChildStdin>,
    answers: Receiver<String>,
    version: String,
}

impl Driver {
    /// Ends the driver: its input closed (it stops its `LocalCluster` and exits), then,
    /// if it has not exited within a few seconds, killed.
    fn stop(&mut self) {
        self.stop_within(Duration::from_secs(5));
    }

    /// Ends the driver: its input closed, then killed if it has not exited within
    /// `grace` (at once for a driver stuck in a job).
    fn stop_within(&mut self, grace: Duration) {
        drop(self.input.take());
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A HyperQueue cluster driven through HyperQueue's Python API (`pip install
/// hyperqueue`, which embeds the server and the workers): a [`Cluster`](super::Cluster)
/// that runs each [`Job`] as one HyperQueue job, its tasks this program started as
/// workers (see [`worker_main`](super::worker_main)).
///
/// A small Python driver, kept in the crate and written into the transport's
/// directory, is started once with `python3` (see [`python`](Self::python)) and kept
/// running: it starts a `LocalCluster` of its own ([`local`](Self::local), for tests
/// and one machine) or connects to a running server ([`connect`](Self::connect)), and
/// submits each job it is given, waits for it and says which tasks failed. Dropping
/// the transport stops the driver, and with it its `LocalCluster`.
///
/// ```no_run
/// use graph_runtime::remote::{HyperQueuePython, RemoteError};
/// use graph_runtime::Delayed;
///
/// fn on_hyperqueue(graph: &Delayed<u64>) -> Result<u64, RemoteError> {
///     let cluster = HyperQueuePython::local(std::env::temp_dir().join("hq")).cores(4);
///     graph.compute_on(&cluster)
/// }
/// ```
///
/// A job costs about a second more than its tasks here: the Python API polls for the
/// job's end once a second.
#[derive(Debug)]
pub struct HyperQueuePython {
    dir: PathBuf,
    program: PathBuf,
    python: PathBuf,
    server: Server,
    workers: usize,
    timeout: Duration,
    keep_files: bool,
    canceller: JobCanceller,
    driver: Mutex<Option<Driver>>,
}

impl HyperQueuePython {
    /// A transport that starts a HyperQueue `LocalCluster` of its own (a server and one
    /// worker with as many cores as this machine has), keeping its files (the server's,
    /// the driver's, each run's) under `dir`, a directory of its own.
    pub fn local(dir: impl Into<PathBuf>) -> HyperQueuePython {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        HyperQueuePython::with_server(dir.into(), Server::Local(cores), cores)
    }

    /// A transport that submits to the running HyperQueue server whose server
    /// directory is `server_dir` (`hq server start --server-dir …`), keeping each run's
    /// files under `dir`, which the cluster's workers must see at the same path (a
    /// shared filesystem).
    pub fn connect(dir: impl Into<PathBuf>, server_dir: impl Into<PathBuf>) -> HyperQueuePython {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        HyperQueuePython::with_server(dir.into(), Server::Existing(server_dir.into()), cores)
    }

    fn with_server(dir: PathBuf, server: Server, workers: usize) -> HyperQueuePython {
        HyperQueuePython {
            dir: absolute(dir),
            program: std::env::current_exe().unwrap_or_default(),
            python: PathBuf::from("python3"),
            server,
            workers,
            timeout: Duration::from_secs(600),
            keep_files: false,
            canceller: JobCanceller::default(),
            driver: Mutex::new(None),
        }
    }

    /// The Python interpreter that has the `hyperqueue` package (`python3` on `PATH`
    /// by default).
    pub fn python(mut self, python: impl Into<PathBuf>) -> Self {
        self.python = python.into();
        self
    }

    /// Starts `program` as the worker instead of this program.
    pub fn program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self
    }

    /// The cores of the `LocalCluster`'s worker (for [`local`](Self::local)), and the
    /// tasks assumed to run at once (for [`Partition::Auto`](super::Partition::Auto)).
    pub fn cores(mut self, cores: usize) -> Self {
        let cores = cores.max(1);
        if let Server::Local(_) = self.server {
            self.server = Server::Local(cores);
        }
        self.workers = cores;
        self
    }

    /// How long a job, or the driver's start, may take before it is given up: the
    /// driver is then stopped (and with it a `LocalCluster` and its tasks) and the run
    /// is an error. Ten minutes by default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Keeps each run's directory after the run, to look at.
    pub fn keep_files(mut self, keep: bool) -> Self {
        self.keep_files = keep;
        self
    }

    /// Starts the driver (and its `LocalCluster`) now rather than at the first job; the
    /// HyperQueue version it found. An error says why it could not: no such
    /// interpreter, no `hyperqueue` package, no server.
    pub fn start(&self) -> Result<String, RemoteError> {
        let mut driver = self.driver.lock().unwrap_or_else(|e| e.into_inner());
        let cancel = self.canceller.watch();
        self.started(&mut driver, &cancel)
            .map(|d| d.version.clone())
    }

    /// The driver, started if it is not running.
    fn started<'a>(
        &self,
        slot: &'a mut Option<Driver>,
        cancel: &CancelWatch,
    ) -> Result<&'a mut Driver, RemoteError> {
        if let Some(driver) = slot {
            if matches!(driver.child.try_wait(), Ok(None)) {
                return Ok(slot.as_mut().expect("checked"));
            }
            driver.stop();
            *slot = None;
        }
        std::fs::create_dir_all(&self.dir).map_err(|error| RemoteError::io(&self.dir, error))?;
        let script = self.dir.join("taskweave_hq_driver.py");
        super::write_atomically(&script, DRIVER.as_bytes())
            .map_err(|error| RemoteError::io(&script, error))?;
        let log = self.dir.join("driver.log");
        let log_file = std::fs::File::create(&log).map_err(|error| RemoteError::io(&log, error))?;
        let mut command = Command::new(&self.python);
        command.arg(&script);
        match &self.server {
            Server::Local(cores) => {
                // The `LocalCluster` leaves its access files in the temporary directory:
                // this transport's, so that they go with it.
                let tmp = self.dir.join("tmp");
                std::fs::create_dir_all(&tmp).map_err(|error| RemoteError::io(&tmp, error))?;
                command
                    .env("TMPDIR", &tmp)
                    .arg("local")
                    .arg(cores.to_string())
                    .arg(self.dir.join("server"));
            }
            Server::Existing(server_dir) => {
                command.arg("connect").arg(server_dir);
            }
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|error| {
                RemoteError::Cluster(format!(
                    "cannot start the HyperQueue driver with `{}`: {error}; install Python 3 and \
                 `pip install hyperqueue=={HYPERQUEUE_VERSION}`, or name the interpreter with \
                 HyperQueuePython::python",
                    self.python.display()
                ))
            })?;
        let answers = line_reader(child.stdout.take().expect("piped"));
        let input = child.stdin.take();
        let mut driver = Driver {
            child,
            input,
            answers,
            version: String::new(),
        };
        match self.answer(&mut driver, &log, "start", cancel, &mut || {}) {
            Ok(line) => {
                let mut words = line.split(' ');
                match (words.next(), words.next()) {
                    (Some("ready"), Some(version)) => driver.version = version.to_owned(),
                    _ => {
                        driver.stop();
                        return Err(RemoteError::Cluster(format!(
                            "the HyperQueue driver could not start: {}",
                            line.strip_prefix("error ").unwrap_or(&line)
                        )));
                    }
                }
            }
            Err(error) => {
                driver.stop();
                return Err(error);
            }
        }
        Ok(slot.insert(driver))
    }

    /// A handle that cancels the job this transport is running, from another thread:
    /// the driver is stopped at once, and with it its `LocalCluster` and the job's
    /// running tasks (their processes end with the worker).
    ///
    /// With [`connect`](Self::connect) the job is abandoned, not cancelled:
    /// HyperQueue 0.27's Python API cannot cancel a job. Its client has no cancel (the
    /// native module offers `connect_to_server`, `submit_job`, `wait_for_jobs`,
    /// `get_failed_tasks`, `forget_job`, `stop_server`), `forget_job` refuses a job
    /// that has not ended ("Cannot forget job N. It either hasn't been completed
    /// yet…"), and `stop_server` would stop everyone's server. So after a cancel (or a
    /// timeout) the job goes on on the server without this process: its run directory
    /// is removed (unless [`keep_files`](Self::keep_files)); the tasks running then run
    /// to their end; each task not started yet is still started (HyperQueue creates the
    /// run directory again for its output files), fails at once since its input files
    /// are gone, and HyperQueue cancels what depends on it; the directory HyperQueue
    /// made again (`DIR/run-PID-N`, with those tasks' output and error files) is left
    /// behind. With `keep_files(true)` the abandoned job runs to its end. To stop it,
    /// `hq job cancel ID` (the job is named `taskweave run-PID-N`; `hq job list` shows
    /// it), or use [`HyperQueueCli`], whose cancel runs `hq job cancel`.
    pub fn canceller(&self) -> JobCanceller {
        self.canceller.clone()
    }

    /// The driver's next answer, within the timeout; an error with its log's last lines
    /// if it ends, takes longer or is cancelled (`cancel`; it is then stopped).
    /// `tick` is called at each look (about every 50 ms) while it waits.
    fn answer(
        &self,
        driver: &mut Driver,
        log: &Path,
        what: &str,
        cancel: &CancelWatch,
        tick: &mut dyn FnMut(),
    ) -> Result<String, RemoteError> {
        // No deadline past what an `Instant` holds (`Duration::MAX`: wait for ever).
        let deadline = deadline_after(self.timeout);
        let answer = loop {
            let left =
                deadline.map_or(CANCEL_POLL, |d| d.saturating_duration_since(Instant::now()));
            match driver.answers.recv_timeout(left.min(CANCEL_POLL)) {
                Err(RecvTimeoutError::Timeout) if !left.is_zero() => {
                    tick();
                    if cancel.is_cancelled() {
                        driver.stop_within(Duration::ZERO);
                        return Err(RemoteError::Cluster(format!(
                            "cancelled: the HyperQueue driver was stopped ({what})"
                        )));
                    }
                }
                other => break other,
            }
        };
        match answer {
            Ok(line) => Ok(line),
            Err(RecvTimeoutError::Timeout) => {
                // Stuck in a job: it does not read its input until that ends.
                driver.stop_within(Duration::ZERO);
                Err(RemoteError::Cluster(format!(
                    "the HyperQueue driver did not answer ({what}) within {:?}: stopped; its \
                     log: {}",
                    self.timeout,
                    tail(log, 5)
                )))
            }
            Err(RecvTimeoutError::Disconnected) => {
                driver.stop();
                Err(RemoteError::Cluster(format!(
                    "the HyperQueue driver ended ({what}): {}",
                    tail(log, 5)
                )))
            }
        }
    }

    /// Runs every task of `job` as one HyperQueue job; see
    /// [`LocalRunner::run`](super::LocalRunner::run) for what comes back.
    pub fn run(&self, job: &Job) -> Result<Outputs, RemoteError> {
        self.run_watching(job, &mut Unwatched)
    }

    /// [`run`](Self::run), telling `watcher` of the run's directory while the job runs.
    fn run_watching(
        &self,
        job: &Job,
        watcher: &mut dyn JobWatcher,
    ) -> Result<Outputs, RemoteError> {
        job.check()?;
        if job.is_empty() {
            return Ok(collect_files(job, &self.dir, |_| None));
        }
        let mut slot = self.driver.lock().unwrap_or_else(|e| e.into_inner());
        let cancel = self.canceller.watch();
        let run = prepare_run(&self.dir, job)?;
        let result = self.submit(&mut slot, job, &run, &cancel, watcher);
        if result.is_err() && !self.keep_files {
            let _ = std::fs::remove_dir_all(&run);
        }
        result
    }

    /// Sends the job laid out in `run` to the driver (started if it is not running)
    /// and reads its results.
    fn submit(
        &self,
        slot: &mut Option<Driver>,
        job: &Job,
        run: &Path,
        cancel: &CancelWatch,
        watcher: &mut dyn JobWatcher,
    ) -> Result<Outputs, RemoteError> {
        let driver = self.started(slot, cancel)?;
        let name = run
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let description = run.join("job.json");
        let text = job_json(
            &format!("taskweave {name}"),
            &hq_tasks(job, &self.program, run),
        );
        super::write_atomically(&description, text.as_bytes())
            .map_err(|error| RemoteError::io(&description, error))?;
        let sent = driver
            .input
            .as_mut()
            .map(|input| writeln!(input, "{}", description.display()).and_then(|()| input.flush()));
        if !matches!(sent, Some(Ok(()))) {
            driver.stop();
            *slot = None;
            return Err(RemoteError::Cluster(format!(
                "the HyperQueue driver stopped reading: {}",
                tail(&self.dir.join("driver.log"), 5)
            )));
        }
        let answer = self.answer(
            driver,
            &self.dir.join("driver.log"),
            "a job",
            cancel,
            &mut || watcher.running(run),
        );
        let line = match answer {
            Ok(line) => line,
            Err(error) => {
                *slot = None;
                return Err(error);
            }
        };
        if !line.starts_with("done ") {
            return Err(RemoteError::Cluster(format!(
                "HyperQueue could not run the job: {}",
                line.strip_prefix("error ").unwrap_or(&line)
            )));
        }
        watcher.ended(run);
        Ok(finish_run(job, run, self.keep_files))
    }
}

impl Drop for HyperQueuePython {
    fn drop(&mut self) {
        let slot = self.driver.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(mut driver) = slot.take() {
            driver.stop();
        }
    }
}

impl super::Cluster for HyperQueuePython {
    fn workers(&self) -> usize {
        self.workers
    }
    fn run(&self, job: &Job) -> Result<Outputs, RemoteError> {
        HyperQueuePython::run(self, job)
    }
    fn run_watched(&self, job: &Job, watcher: &mut dyn JobWatcher) -> Result<Outputs, RemoteError> {
        self.run_watching(job, watcher)
    }
}

// ---- the `hq` command line ------------------------------------------------------------

/// A HyperQueue cluster driven through its `hq` command line (a HyperQueue release's
/// binary, found on `PATH` or given with [`hq`](Self::hq)): a
/// [`Cluster`](super::Cluster) that writes each [`Job`] as a job file and submits it
/// with `hq job submit-file`, then waits with `hq job wait`. The server runs already
/// (`hq server start`, workers by `hq worker start` or `hq alloc` under SLURM or PBS);
/// the run directory must be on a filesystem the workers share.
///
/// Before each job, `hq --version` is checked against the version expected
/// ([`HYPERQUEUE_VERSION`] unless [`expect_version`](Self::expect_version)), since
/// HyperQueue's client and server must be the same version: a missing binary, or
/// another version, is a clear error.
///
/// Every `hq` command has a way out: each runs under the job's
/// [`timeout`](Self::timeout) and its [`canceller`](Self::canceller), and the short
/// ones also under the [`command_timeout`](Self::command_timeout), so that an `hq`
/// whose server cannot be reached is killed and the compute is an error naming the
/// command and the limit, rather than a wait for ever.
#[derive(Debug, Clone)]
pub struct HyperQueueCli {
    dir: PathBuf,
    program: PathBuf,
    hq: Option<PathBuf>,
    server_dir: Option<PathBuf>,
    expected: String,
    workers: usize,
    timeout: Duration,
    command_timeout: Duration,
    keep_files: bool,
    canceller: JobCanceller,
}

/// How long one `hq` client command (`--version`, `job submit-file`, `job cancel`) may
/// take by default ([`HyperQueueCli::command_timeout`]).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Until when an `hq` command may run, and how to say so when it does not end by then.
struct Bound {
    /// `None`: no limit (a `Duration::MAX` timeout).
    at: Option<Instant>,
    /// The limit in words: `the job's timeout of 3s`.
    says: String,
}

/// Why an `hq` command was stopped before it ended.
enum Stopped {
    /// Its bound passed.
    TimedOut,
    /// The job was cancelled ([`JobCanceller::cancel`]).
    Cancelled,
}

impl HyperQueueCli {
    /// A transport that keeps each run's files (its job file, values, results) under
    /// `dir`, on a filesystem the cluster's workers share.
    pub fn new(dir: impl Into<PathBuf>) -> HyperQueueCli {
        HyperQueueCli {
            dir: absolute(dir.into()),
            program: std::env::current_exe().unwrap_or_default(),
            hq: None,
            server_dir: None,
            expected: HYPERQUEUE_VERSION.to_owned(),
            workers: 16,
            timeout: Duration::from_secs(24 * 3600),
            command_timeout: COMMAND_TIMEOUT,
            keep_files: false,
            canceller: JobCanceller::default(),
        }
    }

    /// The `hq` binary to run, rather than the one on `PATH`.
    pub fn hq(mut self, hq: impl Into<PathBuf>) -> Self {
        self.hq = Some(hq.into());
        self
    }

    /// The server directory (`hq --server-dir`); else `hq`'s default (`$HQ_SERVER_DIR`
    /// or `~/.hq-server`).
    pub fn server_dir(mut self, server_dir: impl Into<PathBuf>) -> Self {
        self.server_dir = Some(server_dir.into());
        self
    }

    /// The version `hq --version` must report (`0.27.0`; a leading `v` is ignored).
    pub fn expect_version(mut self, version: impl Into<String>) -> Self {
        self.expected = version.into();
        self
    }

    /// Starts `program` as the worker instead of this program (its path as the
    /// workers see it).
    pub fn program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self
    }

    /// The tasks assumed to run at once (for
    /// [`Partition::Auto`](super::Partition::Auto)); 16 by default.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// How long a job may take, from the version check to its end, before the `hq`
    /// command running then is killed, the job cancelled (`hq job cancel`, when it was
    /// submitted) and the run is an error naming the command and the timeout; a day by
    /// default. `Duration::MAX` waits as long as the job takes; `Duration::ZERO` gives
    /// up at once (the version check is killed unless it has ended at the first look).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long each `hq` client command — `hq --version`, `hq job submit-file`, and
    /// `hq job cancel` after a timeout or a cancel — may take (within the job's
    /// [`timeout`](Self::timeout)) before it is killed and the run is an error naming
    /// it: a minute by default. These commands answer at once from a server that can
    /// be reached; one that hangs is a server that cannot (a network partition, a
    /// stale server directory). `hq job wait` is bounded by the job's timeout alone.
    /// `Duration::MAX`: no bound but the job's.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// Keeps each run's directory after the run, to look at.
    pub fn keep_files(mut self, keep: bool) -> Self {
        self.keep_files = keep;
        self
    }

    /// A handle that cancels the job this transport (or a clone) is waiting for, from
    /// another thread: `hq job cancel ID`, and the compute returns an error saying so.
    pub fn canceller(&self) -> JobCanceller {
        self.canceller.clone()
    }

    /// The `hq` binary: the one given, or the first `hq` on `PATH`.
    pub fn find_hq(&self) -> Result<PathBuf, RemoteError> {
        if let Some(hq) = &self.hq {
            return if hq.is_file() {
                Ok(hq.clone())
            } else {
                Err(RemoteError::Cluster(format!(
                    "no HyperQueue binary at {} (given with HyperQueueCli::hq)",
                    hq.display()
                )))
            };
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join("hq"))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| {
                RemoteError::Cluster(format!(
                    "no `hq` on PATH: install HyperQueue {} (a release binary from \
                     https://github.com/It4innovations/hyperqueue/releases) or give its path \
                     with HyperQueueCli::hq",
                    self.expected
                ))
            })
    }

    /// Finds `hq` and checks its version (`hq --version`, killed past the
    /// [`command_timeout`](Self::command_timeout) or the job's
    /// [`timeout`](Self::timeout), whichever is shorter); its path and version.
    pub fn check(&self) -> Result<(PathBuf, String), RemoteError> {
        let job_deadline = deadline_after(self.timeout);
        self.check_within(job_deadline, &self.canceller.watch())
    }

    /// [`check`](Self::check) within a job whose deadline is `job_deadline`.
    fn check_within(
        &self,
        job_deadline: Option<Instant>,
        cancel: &CancelWatch,
    ) -> Result<(PathBuf, String), RemoteError> {
        let hq = self.find_hq()?;
        let args = [OsString::from("--version")];
        let bound = self.command_bound(job_deadline);
        let output = self.output(&hq, &args, &bound, Some(cancel))?;
        let text = String::from_utf8_lossy(&output.stdout);
        // `hyperqueue 0.26.2` (clap's `NAME VERSION`; a build from source says so
        // too), perhaps with a `v`.
        let found = text
            .split_whitespace()
            .nth(1)
            .map(|v| v.trim_start_matches('v').to_owned())
            .unwrap_or_default();
        let expected = self.expected.trim_start_matches('v');
        if !output.status.success() || found != expected {
            return Err(RemoteError::Cluster(format!(
                "{} is HyperQueue {}, but {expected} is expected (HyperQueue's client and \
                 server must be the same version): install hq {expected}, or set \
                 HyperQueueCli::expect_version to the version of the cluster's server",
                hq.display(),
                if found.is_empty() {
                    format!("of unknown version (`--version` said {:?})", text.trim())
                } else {
                    found
                },
            )));
        }
        Ok((hq, found))
    }

    /// The bound of a client command in a job whose deadline is `job_deadline`: the
    /// [`command_timeout`](Self::command_timeout) or the job's end, whichever is first.
    fn command_bound(&self, job_deadline: Option<Instant>) -> Bound {
        let own = deadline_after(self.command_timeout);
        match (own, job_deadline) {
            (Some(own), Some(job)) if job <= own => self.job_bound(job_deadline),
            (None, Some(_)) => self.job_bound(job_deadline),
            (own, _) => Bound {
                at: own,
                says: format!(
                    "{:?} (HyperQueueCli::command_timeout; is the HyperQueue server \
                     reachable? `hq server info` says)",
                    self.command_timeout
                ),
            },
        }
    }

    /// The bound of the job: its deadline.
    fn job_bound(&self, job_deadline: Option<Instant>) -> Bound {
        Bound {
            at: job_deadline,
            says: format!(
                "the job's timeout of {:?} (HyperQueueCli::timeout)",
                self.timeout
            ),
        }
    }

    /// Runs `hq ARGS` to its end within `bound` (and, given `cancel`, unless the job is
    /// cancelled), with its output and error output captured; killed otherwise, and an
    /// error naming the command and the bound.
    fn output(
        &self,
        hq: &Path,
        args: &[OsString],
        bound: &Bound,
        cancel: Option<&CancelWatch>,
    ) -> Result<Output, RemoteError> {
        // Captured in unlinked files, never pipes: a pipe that a child of `hq` still
        // holds open would keep a reader waiting after `hq` itself is killed.
        std::fs::create_dir_all(&self.dir).map_err(|error| RemoteError::io(&self.dir, error))?;
        let (mut stdout, child_stdout) = anonymous_file(&self.dir)?;
        let (mut stderr, child_stderr) = anonymous_file(&self.dir)?;
        let mut child = Command::new(hq)
            .args(args)
            .stdin(Stdio::null())
            .stdout(child_stdout)
            .stderr(child_stderr)
            .spawn()
            .map_err(|error| RemoteError::io(hq, error))?;
        let status = self
            .wait_for(&mut child, bound, cancel, &mut || {})
            .map_err(|stopped| self.stopped_error(hq, args, bound, stopped))?;
        let read = |file: &mut std::fs::File| -> Vec<u8> {
            use std::io::{Read, Seek};
            let mut bytes = Vec::new();
            let _ = file.seek(std::io::SeekFrom::Start(0));
            let _ = file.read_to_end(&mut bytes);
            bytes
        };
        Ok(Output {
            status,
            stdout: read(&mut stdout),
            stderr: read(&mut stderr),
        })
    }

    /// Waits for `child` to end within `bound` (and, given `cancel`, until the job is
    /// cancelled); kills it otherwise, and says why.
    /// `tick` is called at each look.
    fn wait_for(
        &self,
        child: &mut Child,
        bound: &Bound,
        cancel: Option<&CancelWatch>,
        tick: &mut dyn FnMut(),
    ) -> Result<ExitStatus, Stopped> {
        // Short commands end within milliseconds: look soon, then every 20 ms.
        let mut pause = Duration::from_millis(1);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Ok(status);
            }
            tick();
            let stopped = if cancel.is_some_and(CancelWatch::is_cancelled) {
                Some(Stopped::Cancelled)
            } else if bound.at.is_some_and(|at| Instant::now() >= at) {
                Some(Stopped::TimedOut)
            } else {
                None
            };
            if let Some(stopped) = stopped {
                let _ = child.kill();
                let _ = child.wait();
                return Err(stopped);
            }
            let left = bound
                .at
                .map_or(pause, |at| at.saturating_duration_since(Instant::now()));
            std::thread::sleep(pause.min(left));
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// The error of an `hq` command stopped before its end.
    fn stopped_error(
        &self,
        hq: &Path,
        args: &[OsString],
        bound: &Bound,
        stopped: Stopped,
    ) -> RemoteError {
        let command = shown_command(hq, args);
        RemoteError::Cluster(match stopped {
            Stopped::TimedOut => format!("`{command}` did not end within {}: killed", bound.says),
            Stopped::Cancelled => format!("`{command}` was killed: the job was cancelled"),
        })
    }

    /// `hq`'s global arguments: the server directory, when given.
    fn global_args(&self) -> Vec<OsString> {
        match &self.server_dir {
            Some(dir) => vec!["--server-dir".into(), dir.into()],
            None => Vec::new(),
        }
    }

    /// The arguments (after `hq`) that submit the job file `file` and print the job's
    /// id alone: `[--server-dir DIR] --output-mode quiet job submit-file FILE`.
    pub fn submit_args(&self, file: &Path) -> Vec<OsString> {
        let mut args = self.global_args();
        args.extend(
            ["--output-mode", "quiet", "job", "submit-file"]
                .iter()
                .map(OsString::from),
        );
        args.push(file.into());
        args
    }

    /// The arguments (after `hq`) that wait for job `id` to end:
    /// `[--server-dir DIR] job wait ID`.
    pub fn wait_args(&self, id: u64) -> Vec<OsString> {
        let mut args = self.global_args();
        args.extend(["job", "wait"].iter().map(OsString::from));
        args.push(id.to_string().into());
        args
    }

    /// The arguments (after `hq`) that cancel job `id`: `[--server-dir DIR] job cancel ID`.
    pub fn cancel_args(&self, id: u64) -> Vec<OsString> {
        let mut args = self.global_args();
        args.extend(["job", "cancel"].iter().map(OsString::from));
        args.push(id.to_string().into());
        args
    }

    /// The job file of `job` with its run in `run`: `name`, then per task `id`,
    /// `command`, `deps`, the environment (`TASKWEAVE_RUN`, `TASKWEAVE_TASK`), `cwd`,
    /// `stdout` and `stderr` (files of the run).
    pub fn job_file(&self, job: &Job, run: &Path) -> String {
        let name = run
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        job_toml(
            &format!("taskweave {name}"),
            &hq_tasks(job, &self.program, run),
        )
    }

    /// Runs every task of `job` as one HyperQueue job; see
    /// [`LocalRunner::run`](super::LocalRunner::run) for what comes back. Every `hq`
    /// command it runs is bounded by the job's [`timeout`](Self::timeout), the short
    /// ones also by the [`command_timeout`](Self::command_timeout), and stopped by a
    /// [`canceller`](Self::canceller).
    pub fn run(&self, job: &Job) -> Result<Outputs, RemoteError> {
        self.run_watching(job, &mut Unwatched)
    }

    /// [`run`](Self::run), telling `watcher` of the run's directory while the job runs.
    fn run_watching(
        &self,
        job: &Job,
        watcher: &mut dyn JobWatcher,
    ) -> Result<Outputs, RemoteError> {
        job.check()?;
        if job.is_empty() {
            return Ok(collect_files(job, &self.dir, |_| None));
        }
        let cancel = self.canceller.watch();
        let deadline = deadline_after(self.timeout);
        let (hq, _) = self.check_within(deadline, &cancel)?;
        let run = prepare_run(&self.dir, job)?;
        let result = self.submit(&hq, job, &run, deadline, &cancel, watcher);
        if result.is_err() && !self.keep_files {
            let _ = std::fs::remove_dir_all(&run);
        }
        result
    }

    /// Submits the job laid out in `run` with `hq`, waits for it (until `deadline`)
    /// and reads its results.
    fn submit(
        &self,
        hq: &Path,
        job: &Job,
        run: &Path,
        deadline: Option<Instant>,
        cancel: &CancelWatch,
        watcher: &mut dyn JobWatcher,
    ) -> Result<Outputs, RemoteError> {
        let file = run.join("job.toml");
        super::write_atomically(&file, self.job_file(job, run).as_bytes())
            .map_err(|error| RemoteError::io(&file, error))?;
        let args = self.submit_args(&file);
        let submitted = self
            .output(hq, &args, &self.command_bound(deadline), Some(cancel))
            .map_err(|error| match error {
                // Perhaps submitted all the same: say where to look.
                RemoteError::Cluster(message) => RemoteError::Cluster(format!(
                    "{message}; the job may have been submitted (`hq job list` shows it)"
                )),
                other => other,
            })?;
        let said = String::from_utf8_lossy(&submitted.stdout);
        let id = match said.trim().parse::<u64>() {
            Ok(id) if submitted.status.success() => id,
            _ => {
                return Err(RemoteError::Cluster(format!(
                    "`hq job submit-file {}` failed ({}): {} {}",
                    file.display(),
                    submitted.status,
                    said.trim(),
                    String::from_utf8_lossy(&submitted.stderr).trim()
                )))
            }
        };
        let waited = run.join("hq-wait.log");
        let log =
            std::fs::File::create(&waited).map_err(|error| RemoteError::io(&waited, error))?;
        let wait_args = self.wait_args(id);
        let mut wait = Command::new(hq)
            .args(&wait_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|error| RemoteError::io(hq, error))?;
        // `hq job wait` fails when a task failed: the files say which, so its status is
        // not the answer; only a wait that does not end is.
        let bound = self.job_bound(deadline);
        let waited = self.wait_for(&mut wait, &bound, Some(cancel), &mut || {
            watcher.running(run)
        });
        if let Err(stopped) = waited {
            let why = match stopped {
                Stopped::Cancelled => String::from("was cancelled"),
                Stopped::TimedOut => format!(
                    "did not end within {} (`{}` was killed)",
                    bound.says,
                    shown_command(hq, &wait_args)
                ),
            };
            // The cancel has its own bound: the job's has passed, or was cut short.
            let cancel_args = self.cancel_args(id);
            let own = Bound {
                at: deadline_after(self.command_timeout),
                says: format!(
                    "{:?} (HyperQueueCli::command_timeout)",
                    self.command_timeout
                ),
            };
            let cancelled = match self.output(hq, &cancel_args, &own, None) {
                Ok(output) if output.status.success() => {
                    format!("`{}` cancelled it", shown_command(hq, &cancel_args))
                }
                Ok(output) => format!(
                    "`{}` failed ({}): {}; the job may still run",
                    shown_command(hq, &cancel_args),
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
                Err(error) => format!("{error}; the job may still run"),
            };
            return Err(RemoteError::Cluster(format!(
                "HyperQueue job {id} {why}; {cancelled}"
            )));
        }
        watcher.ended(run);
        Ok(finish_run(job, run, self.keep_files))
    }
}

/// A command as shown in an error: `hq ARGS`, the binary by its file name.
fn shown_command(hq: &Path, args: &[OsString]) -> String {
    let mut words = vec![hq.file_name().map_or_else(
        || hq.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )];
    words.extend(args.iter().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

/// A file in `dir` with no name (removed at once): one handle to read, one for a child
/// to write. Nothing is left behind, however the run ends.
fn anonymous_file(dir: &Path) -> Result<(std::fs::File, std::fs::File), RemoteError> {
    static FILES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let path = dir.join(format!(
        ".hq-output-{}-{}",
        std::process::id(),
        FILES.fetch_add(1, Ordering::Relaxed)
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(|error| RemoteError::io(&path, error))?;
    let _ = std::fs::remove_file(&path);
    let child = file
        .try_clone()
        .map_err(|error| RemoteError::io(&path, error))?;
    Ok((file, child))
}

impl super::Cluster for HyperQueueCli {
    fn workers(&self) -> usize {
        self.workers
    }
    fn run(&self, job: &Job) -> Result<Outputs, RemoteError> {
        HyperQueueCli::run(self, job)
    }
    fn run_watched(&self, job: &Job, watcher: &mut dyn JobWatcher) -> Result<Outputs, RemoteError> {
        self.run_watching(job, watcher)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_toml_strings_are_escaped() {
        assert_eq!(
            json_string("a\"b\\c\nd\u{1}"),
            "\"a\\\"b\\\\c\\u000ad\\u0001\""
        );
        assert_eq!(toml_string("a\"b"), "\"a\\\"b\"");
    }
}
