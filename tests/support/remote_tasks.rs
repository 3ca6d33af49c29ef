//! What `tests/remote.rs` (the local runner) and `tests/remote_hq.rs` (HyperQueue)
//! both use: flaky remote tasks that count their attempts, and an observer that records
//! what it is told of a graph's run.

use std::collections::BTreeMap;
use std::sync::Mutex;

use taskweave::remote::RemoteError;
use taskweave::{delay, delayed, Delayed, NodeInfo, Observer, TaskError, TaskOutcome};

/// One attempt of a flaky task: counts itself in the file `counter` (a byte per
/// attempt, in whichever process runs it) and panics on every attempt before the
/// `succeed_at`-th; the number of attempts made, once it succeeds.
fn attempt(counter: &str, succeed_at: u64) -> u64 {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(counter)
        .unwrap();
    std::io::Write::write_all(&mut file, b"x").unwrap();
    let made = std::fs::metadata(counter).unwrap().len();
    if made < succeed_at {
        panic!("attempt {made} of {succeed_at} failed");
    }
    made
}

/// A flaky task run again up to twice when it panics.
#[delayed(remote, retries = 2)]
pub(crate) fn flaky(counter: String, succeed_at: u64) -> u64 {
    attempt(&counter, succeed_at)
}

/// The same task without retries.
#[delayed(remote)]
pub(crate) fn fragile(counter: String, succeed_at: u64) -> u64 {
    attempt(&counter, succeed_at)
}

/// A fresh attempt counter for a flaky task: the file `name` under `dir`, removed.
pub(crate) fn counter(dir: &std::path::Path, name: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path.display().to_string()
}

/// How many attempts a flaky task counted in `counter`.
pub(crate) fn attempts_made(counter: &str) -> u64 {
    std::fs::metadata(counter).map_or(0, |m| m.len())
}

/// Checks retries on a cluster (`compute` computes a graph there) against a compute
/// here, with attempt counters under `dir`: a flaky task succeeding at its third
/// attempt gives its result to its dependent; past its retries, and without retries, it
/// fails with the same error as here (the last attempt's), after as many attempts.
pub(crate) fn retries_as_here(
    dir: &std::path::Path,
    compute: &dyn Fn(&Delayed<u64>) -> Result<u64, RemoteError>,
    label: &str,
) {
    let c = counter(dir, "within");
    assert_eq!(
        compute(&delay!(add_ten(delay!(flaky(c.clone(), 3))))).unwrap(),
        13
    );
    assert_eq!(attempts_made(&c), 3, "{label}");
    for (name, succeed_at, made) in [("flaky", 4, 3), ("fragile", 2, 1)] {
        let build = |c: String| match name {
            "flaky" => delay!(flaky(c, succeed_at)),
            _ => delay!(fragile(c, succeed_at)),
        };
        let c = counter(dir, &format!("{name}-here"));
        let here = build(c.clone()).try_compute().unwrap_err();
        assert_eq!(attempts_made(&c), made);
        let c = counter(dir, &format!("{name}-remote"));
        match compute(&build(c.clone())) {
            Err(RemoteError::Task(error)) => {
                assert_eq!(error.task(), here.task());
                assert_eq!(error.message(), here.message());
                assert_eq!(
                    error.message(),
                    format!("attempt {made} of {succeed_at} failed")
                );
                assert_eq!(error.call_site(), here.call_site());
            }
            other => panic!("expected the last attempt's panic ({name}, {label}), got {other:?}"),
        }
        assert_eq!(attempts_made(&c), made, "{name}, {label}");
    }
}

/// Adds ten.
#[delayed(remote)]
fn add_ten(x: u64) -> u64 {
    x + 10
}

/// The processes whose command line contains `text` (workers, stand-ins left running).
pub(crate) fn processes_with(text: &str) -> Vec<String> {
    let ps = std::process::Command::new("ps")
        .args(["-eo", "args"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&ps.stdout)
        .lines()
        .filter(|line| line.contains(text))
        .map(str::to_owned)
        .collect()
}

/// What an observer was told of one run.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// Each run started: its nodes' names, in node order.
    pub(crate) runs: Vec<Vec<String>>,
    /// Per node: how many times it was told started.
    pub(crate) started: BTreeMap<u32, usize>,
    /// Per node: the outcome of each end it was told, and whether it had started.
    pub(crate) finished: BTreeMap<u32, Vec<(TaskOutcome, bool)>>,
    /// Each run ended: `Ok`, or the failed task's name.
    pub(crate) ended: Vec<Result<(), String>>,
}

/// An observer that records what it is told (see [`Seen`]).
#[derive(Default)]
pub(crate) struct Recording {
    seen: Mutex<Seen>,
}

impl Recording {
    /// What it was told so far, and forgets it.
    pub(crate) fn take(&self) -> Seen {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

impl Observer for Recording {
    fn graph_started(&self, nodes: &[NodeInfo<'_>]) {
        let names = nodes.iter().map(|n| n.name().to_owned()).collect();
        self.seen.lock().unwrap().runs.push(names);
    }
    fn task_started(&self, node: u32, _info: &NodeInfo<'_>) {
        *self.seen.lock().unwrap().started.entry(node).or_default() += 1;
    }
    fn task_finished(&self, node: u32, _info: &NodeInfo<'_>, outcome: TaskOutcome) {
        let mut seen = self.seen.lock().unwrap();
        let had_started = seen.started.contains_key(&node);
        seen.finished
            .entry(node)
            .or_default()
            .push((outcome, had_started));
    }
    fn graph_finished(&self, result: Result<(), &TaskError>) {
        let result = result.map_err(|error| error.task().to_owned());
        self.seen.lock().unwrap().ended.push(result);
    }
}

/// Checks that `seen` is one run in which every node told started once was told ended
/// once, after its start; the told nodes' names and outcomes, in node order.
pub(crate) fn each_node_once(seen: &Seen) -> Vec<(String, TaskOutcome)> {
    assert_eq!(seen.runs.len(), 1, "one run started: {seen:?}");
    assert_eq!(seen.ended.len(), 1, "one run ended: {seen:?}");
    let names = &seen.runs[0];
    assert!(
        seen.started.values().all(|&n| n == 1),
        "each node started once: {seen:?}"
    );
    assert_eq!(
        seen.started.keys().collect::<Vec<_>>(),
        seen.finished.keys().collect::<Vec<_>>(),
        "the nodes started are the nodes ended"
    );
    seen.finished
        .iter()
        .map(|(&node, ends)| {
            assert_eq!(ends.len(), 1, "node {node} ended once: {ends:?}");
            assert!(ends[0].1, "node {node} ended after it started");
            (names[node as usize].clone(), ends[0].0)
        })
        .collect()
}

/// Checks what a recording observer saw of a graph whose `explode` panicked beside a
/// `square` that finished, under their reader `add`: the run ended with `explode`'s
/// error (what `add` needed, as on one machine),
/// `explode` was told failed and `square` finished, each once, and nothing else (the
/// nodes that never ran are not told).
pub(crate) fn saw_explode_fail_beside_square(seen: &Seen, context: &str) {
    assert_eq!(seen.ended, vec![Err(String::from("explode"))], "{context}");
    let mut told = each_node_once(seen);
    told.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        told,
        vec![
            (String::from("explode"), TaskOutcome::Failed),
            (String::from("square"), TaskOutcome::Finished),
        ],
        "{context}"
    );
}
