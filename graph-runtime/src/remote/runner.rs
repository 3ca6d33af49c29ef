//! A job of remote tasks, and the local runner: the worker protocol without a
//! cluster, each task a process of this program started in dependency order.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::{error_path, read_error_file, Payload, Remote, RemoteError, WORKER_FLAG};

/// A task of a [`Job`]: its position, as [`Job::task`] returned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskId(usize);

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
    inputs: Vec<Input>,
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
        self.tasks.push(JobTask {
            function: F::NAME,
            inputs,
        });
        TaskId(self.tasks.len() - 1)
    }

    /// The number of tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether it has no task.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Checks that every task reads only tasks added before it (so that the order
    /// they were added in is an order to run them in).
    fn check(&self) -> Result<(), RemoteError> {
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
            Some(Err(error)) => Err(copy_error(error)),
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

/// An error again, for a second reader of one result.
fn copy_error(error: &RemoteError) -> RemoteError {
    match error {
        RemoteError::Task(task) => RemoteError::Task(task.detached()),
        RemoteError::NeverRan { task, because } => RemoteError::NeverRan {
            task: task.clone(),
            because: because.clone(),
        },
        other => RemoteError::Worker {
            task: String::from("(see the first report)"),
            message: other.to_string(),
        },
    }
}

/// Runs a [`Job`] on this machine by starting the program once per task, as a
/// cluster would (see [`worker_main`](super::worker_main)): what a cluster backend's
/// tests run without a cluster. Tasks whose inputs are ready run at the same time, up
/// to [`parallel`](Self::parallel) at once. Values and results go through files in a
/// directory of the run, removed afterwards unless [`keep_files`](Self::keep_files).
#[derive(Debug, Clone)]
pub struct LocalRunner {
    dir: PathBuf,
    program: PathBuf,
    parallel: usize,
    keep_files: bool,
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
        }
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

    /// Runs every task of `job` and returns their results. A task that fails makes the
    /// tasks that read it fail with [`RemoteError::NeverRan`]; the others still run.
    /// Errors that stop the whole run (a job that reads forward, a run directory that
    /// cannot be made) are the `Err`.
    pub fn run(&self, job: &Job) -> Result<Outputs, RemoteError> {
        job.check()?;
        let run = self.dir.join(format!(
            "run-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&run).map_err(|error| RemoteError::io(&run, error))?;
        let mut results: Vec<Option<Result<Payload, RemoteError>>> =
            (0..job.len()).map(|_| None).collect();
        let mut running: Vec<(usize, Child)> = Vec::new();
        let mut next = 0;
        while results.iter().any(Option::is_none) {
            // Start what is ready, in order, while there is room.
            while running.len() < self.parallel {
                let ready = (next..job.len()).chain(0..next).find(|&i| {
                    results[i].is_none()
                        && !running.iter().any(|(r, _)| *r == i)
                        && ready_inputs(&job.tasks[i], &results)
                });
                let Some(i) = ready else { break };
                next = i + 1;
                match self.start(&run, i, &job.tasks[i], &results) {
                    Ok(Some(child)) => running.push((i, child)),
                    Ok(None) => {}
                    Err(error) => results[i] = Some(Err(error)),
                }
                // A task whose input failed is settled without a worker.
                settle_never_ran(job, &mut results);
            }
            if running.is_empty() {
                settle_never_ran(job, &mut results);
                if results.iter().any(Option::is_none) && !self.any_startable(job, &results) {
                    break;
                }
                continue;
            }
            // Wait for the oldest worker (each ends: a task runs to its end).
            let (i, mut child) = running.remove(0);
            let status = child
                .wait()
                .map_err(|error| RemoteError::io(&self.program, error))?;
            results[i] = Some(self.collect(&run, i, &job.tasks[i], status));
            settle_never_ran(job, &mut results);
        }
        let results = results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(RemoteError::BadJob(String::from("not run")))))
            .collect();
        if !self.keep_files {
            let _ = std::fs::remove_dir_all(&run);
        }
        Ok(Outputs { results })
    }

    fn any_startable(&self, job: &Job, results: &[Option<Result<Payload, RemoteError>>]) -> bool {
        (0..job.len()).any(|i| results[i].is_none() && ready_inputs(&job.tasks[i], results))
    }

    /// Writes task `i`'s values and starts its worker; `None` if it failed already.
    fn start(
        &self,
        run: &Path,
        i: usize,
        task: &JobTask,
        results: &[Option<Result<Payload, RemoteError>>],
    ) -> Result<Option<Child>, RemoteError> {
        let mut command = Command::new(&self.program);
        command
            .arg(WORKER_FLAG)
            .arg(task.function)
            .arg(output_path(run, i))
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        // The worker's error output goes to a file of the run, never a pipe nobody
        // reads (a task that prints much would block on a full pipe).
        let stderr_path = run.join(format!("task-{i}.stderr"));
        let stderr = std::fs::File::create(&stderr_path)
            .map_err(|error| RemoteError::io(&stderr_path, error))?;
        command.stderr(stderr);
        for (j, input) in task.inputs.iter().enumerate() {
            match input {
                Input::Value(payload) => {
                    let path = run.join(format!("task-{i}.in-{j}"));
                    super::write_atomically(&path, &payload.to_bytes())
                        .map_err(|error| RemoteError::io(&path, error))?;
                    command.arg(path);
                }
                Input::Output(TaskId(from)) => match &results[*from] {
                    Some(Ok(_)) => {
                        command.arg(output_path(run, *from));
                    }
                    _ => return Ok(None),
                },
            }
        }
        command
            .spawn()
            .map(Some)
            .map_err(|error| RemoteError::io(&self.program, error))
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
        if status.success() {
            let bytes = std::fs::read(&output).map_err(|error| RemoteError::io(&output, error))?;
            return Payload::from_bytes(&bytes);
        }
        match std::fs::read_to_string(error_path(&output)) {
            Ok(text) => Err(read_error_file(&text, task.function)),
            Err(_) => {
                // What it printed last says most (a crash's message, an abort).
                let printed = std::fs::read_to_string(run.join(format!("task-{i}.stderr")))
                    .unwrap_or_default();
                let tail: String = printed
                    .lines()
                    .rev()
                    .take(5)
                    .collect::<Vec<_>>()
                    .join(" | ");
                Err(RemoteError::Worker {
                    task: task.function.to_owned(),
                    message: format!(
                        "it exited with {status} and left no error file; its last words: {tail}"
                    ),
                })
            }
        }
    }
}

/// Where task `i` of a run writes its result.
fn output_path(run: &Path, i: usize) -> PathBuf {
    run.join(format!("task-{i}.out"))
}

/// Whether every output `task` reads is settled (finished or failed).
fn ready_inputs(task: &JobTask, results: &[Option<Result<Payload, RemoteError>>]) -> bool {
    task.inputs.iter().all(|input| match input {
        Input::Value(_) => true,
        Input::Output(TaskId(from)) => results[*from].is_some(),
    })
}

/// Marks every unsettled task that reads a failed one as never run, in job order (a
/// task reads only earlier ones, so one pass reaches chains).
fn settle_never_ran(job: &Job, results: &mut [Option<Result<Payload, RemoteError>>]) {
    for i in 0..job.len() {
        if results[i].is_some() {
            continue;
        }
        let failed = job.tasks[i].inputs.iter().find_map(|input| match input {
            Input::Output(TaskId(from)) => match &results[*from] {
                Some(Err(_)) => Some(*from),
                _ => None,
            },
            Input::Value(_) => None,
        });
        if let Some(from) = failed {
            results[i] = Some(Err(RemoteError::NeverRan {
                task: short(job.tasks[i].function).to_owned(),
                because: short(job.tasks[from].function).to_owned(),
            }));
        }
    }
}

fn short(name: &str) -> &str {
    super::short_name(name)
}
