//! Random dynamic graphs (`Delayed<T>`) whose tasks panic, and whose values panic when
//! dropped, checked against sequential code: a run fails exactly when sequential code
//! would, with the panic of a task told to panic or the `Drop` of a value made to
//! panic; a run that succeeds returns sequential code's values; and every value made,
//! clones included, is dropped exactly once, whichever thread ran what.
//!
//! The shapes are drawn at random (reads by reference and by value, slices of nodes,
//! values shared by many readers), so that a value's last reader, its clones and its
//! release meet in every order the dispatcher can give them.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use taskweave::prelude::*;
use taskweave::{RunOptions, Scheduler};

#[path = "support/random.rs"]
mod random;
#[path = "support/watchdog.rs"]
mod watchdog;

use random::{mix, Rng};

/// Values made (clones included) and dropped, over the whole test binary.
static MADE: AtomicUsize = AtomicUsize::new(0);
static DROPPED: AtomicUsize = AtomicUsize::new(0);
/// The tests count values in the globals above, so they run one at a time.
static ALONE: Mutex<()> = Mutex::new(());

/// A node's value. Its `Drop` panics when `fuse` is set, unconditionally (also while
/// the thread unwinds), so that a second panic the engine lets happen aborts the test.
#[derive(Debug)]
struct Fused {
    id: u64,
    value: u64,
    fuse: bool,
}

impl Fused {
    fn new(id: u64, value: u64, fuse: bool) -> Fused {
        MADE.fetch_add(1, Ordering::SeqCst);
        Fused { id, value, fuse }
    }
}

impl Clone for Fused {
    fn clone(&self) -> Fused {
        Fused::new(self.id, self.value, self.fuse)
    }
}

impl Drop for Fused {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
        if self.fuse {
            panic!("drop of {}", self.id);
        }
    }
}

/// What a node does.
const OK: u8 = 0;
/// The task panics.
const PANICS: u8 = 1;
/// The value the task makes panics when dropped.
const FUSED: u8 = 2;
/// The task panics in every attempt but its last (a task with retries).
const FLAKY: u8 = 3;

/// What each task does, by node id, and how often it was attempted in this run;
/// leaked, since a dynamic graph's constant read by reference lives as long as the
/// graph may.
struct Ctl {
    modes: Vec<u8>,
    retries: Vec<u32>,
    attempts: Vec<AtomicU32>,
    /// Tasks started in this run (attempts included), for a run stopped after some.
    started: AtomicUsize,
}

impl Ctl {
    /// Before each run.
    fn reset(&self) {
        (self.attempts.iter()).for_each(|a| a.store(0, Ordering::SeqCst));
        self.started.store(0, Ordering::SeqCst);
    }
}

type Modes = &'static Ctl;

/// The end of every task: panics when told to, else makes its value from the values
/// it read (in order).
fn finish(id: u64, read: impl IntoIterator<Item = u64>, ctl: Modes) -> Fused {
    let id_ = id as usize;
    ctl.started.fetch_add(1, Ordering::SeqCst);
    let value = mix(id, read);
    match ctl.modes[id_] {
        PANICS => panic!("task {id} panics"),
        FLAKY if ctl.attempts[id_].fetch_add(1, Ordering::SeqCst) < ctl.retries[id_] => {
            panic!("task {id} panics")
        }
        mode => Fused::new(id, value, mode == FUSED),
    }
}

#[delayed]
fn source(id: u64, ctl: Modes) -> Fused {
    finish(id, [], ctl)
}

#[delayed]
fn by_ref(id: u64, a: &Fused, ctl: Modes) -> Fused {
    finish(id, [a.value], ctl)
}

#[delayed]
fn by_refs(id: u64, a: &Fused, b: &Fused, ctl: Modes) -> Fused {
    finish(id, [a.value, b.value], ctl)
}

/// Takes `a` by value and drops it before anything else can panic, as careful
/// sequential code would: a panic while `a` is held would drop it while unwinding,
/// which aborts a process when `a`'s `Drop` panics too, in any Rust code.
#[delayed]
fn by_value(id: u64, a: Fused, b: &Fused, ctl: Modes) -> Fused {
    let read = [a.value, b.value];
    drop(a);
    finish(id, read, ctl)
}

/// A slice of nodes, built by the engine from the values read.
#[delayed]
fn by_slice(id: u64, parts: &[Fused], ctl: Modes) -> Fused {
    finish(id, parts.iter().map(|p| p.value), ctl)
}

/// Computes its value in a graph of its own, on whatever scheduler its run has: the
/// task waits for that graph's task (on the pool, running it or others meanwhile).
/// A panic there is this task's, naming the inner task, as sequential code's would
/// be; the value made there is returned to this task, and is this task's result.
fn nested(id: u64, a: &Fused, ctl: Modes) -> Fused {
    let inner = delay!(inner(id, a.value, ctl));
    match inner.try_compute() {
        Ok(value) => value,
        Err(error) => std::panic::panic_any(error.to_string()),
    }
}

#[delayed]
fn inner(id: u64, value: u64, ctl: Modes) -> Fused {
    finish(id, [value], ctl)
}

/// The same tasks as plain functions, for nodes with retries (`delayed(f).retries(n)`).
fn retried_source(id: u64, ctl: Modes) -> Fused {
    finish(id, [], ctl)
}

fn retried_by_ref(id: u64, a: &Fused, ctl: Modes) -> Fused {
    finish(id, [a.value], ctl)
}

fn retried_by_refs(id: u64, a: &Fused, b: &Fused, ctl: Modes) -> Fused {
    finish(id, [a.value, b.value], ctl)
}

fn retried_by_value(id: u64, a: Fused, b: &Fused, ctl: Modes) -> Fused {
    let read = [a.value, b.value];
    drop(a);
    finish(id, read, ctl)
}

fn retried_by_slice(id: u64, parts: &[Fused], ctl: Modes) -> Fused {
    finish(id, parts.iter().map(|p| p.value), ctl)
}

/// How a node reads its parents (indices of earlier nodes).
#[derive(Debug, Clone)]
enum Reads {
    Nothing,
    Ref(usize),
    /// By reference, in a graph the task computes itself (a task waiting for tasks).
    Nested(usize),
    Refs(usize, usize),
    Value(usize, usize),
    Slice(Vec<usize>),
}

impl Reads {
    fn parents(&self) -> Vec<usize> {
        match self {
            Reads::Nothing => vec![],
            Reads::Ref(a) | Reads::Nested(a) => vec![*a],
            Reads::Refs(a, b) | Reads::Value(a, b) => vec![*a, *b],
            Reads::Slice(parts) => parts.clone(),
        }
    }
}

/// One drawn case: the nodes, what each does, and the nodes requested.
#[derive(Debug)]
struct Case {
    reads: Vec<Reads>,
    modes: Vec<u8>,
    /// Each task's retries (`delayed(f).retries(n)`; none: `delay!`).
    retries: Vec<u32>,
    outputs: Vec<usize>,
}

fn draw(rng: &mut Rng) -> Case {
    let n = 1 + rng.below(40);
    let mut reads = Vec::with_capacity(n);
    for i in 0..n {
        // Parents mostly near, sometimes far, so that some values have many readers.
        let parent = |rng: &mut Rng| {
            if rng.percent(70) {
                i - 1 - rng.below(i.min(4))
            } else {
                rng.below(i)
            }
        };
        let r = if i == 0 || rng.percent(8) {
            Reads::Nothing
        } else {
            match rng.weighted(&[3, 3, 3, 2, 1]) {
                4 => Reads::Nested(parent(rng)),
                0 => Reads::Ref(parent(rng)),
                1 => Reads::Refs(parent(rng), parent(rng)),
                2 => Reads::Value(parent(rng), parent(rng)),
                _ => Reads::Slice((0..1 + rng.below(4)).map(|_| parent(rng)).collect()),
            }
        };
        reads.push(r);
    }
    // Failing cases of several kinds: none, one, a few, many.
    let failing = [0, 1, 4, 15, 40][rng.below(5)];
    let mut modes: Vec<u8> = (0..n)
        .map(|_| match rng.percent(failing) {
            false => OK,
            true if rng.percent(50) => PANICS,
            true => FUSED,
        })
        .collect();
    // A slice of two values whose `Drop`s both panic aborts, as a `Vec` of them does in
    // any Rust code, as the second is dropped while the first one's panic unwinds:
    // at most one fused value per slice (counting repeats, which are clones).
    for r in &reads {
        if let Reads::Slice(parts) = r {
            let mut fused = parts.iter().filter(|&&p| modes[p] == FUSED);
            if fused.next().is_some() && fused.next().is_some() {
                for &p in parts {
                    if modes[p] == FUSED {
                        modes[p] = OK;
                    }
                }
            }
        }
    }
    // Some tasks with retries, some of those flaky (they succeed in the end).
    let retries: Vec<u32> = (0..n)
        .map(|_| {
            if rng.percent(20) {
                1 + rng.below(2) as u32
            } else {
                0
            }
        })
        .collect();
    for (mode, &retries) in modes.iter_mut().zip(&retries) {
        if retries > 0 && *mode == OK && rng.percent(50) {
            *mode = FLAKY;
        }
    }
    let outputs = (0..1 + rng.below(3))
        .map(|_| n - 1 - rng.below(n.min(6)))
        .collect();
    Case {
        reads,
        modes,
        retries,
        outputs,
    }
}

impl Case {
    /// The nodes the outputs need: those a run runs.
    fn needed(&self) -> Vec<bool> {
        let mut needed = vec![false; self.reads.len()];
        let mut work: Vec<usize> = self.outputs.clone();
        while let Some(i) = work.pop() {
            if !std::mem::replace(&mut needed[i], true) {
                work.extend(self.reads[i].parents());
            }
        }
        needed
    }

    /// Sequential code's values of every node, as if nothing failed.
    fn values(&self) -> Vec<u64> {
        let mut values: Vec<u64> = Vec::with_capacity(self.reads.len());
        for (i, r) in self.reads.iter().enumerate() {
            let read = r.parents().into_iter().map(|p| values[p]);
            values.push(mix(i as u64, read));
        }
        values
    }

    /// Whether sequential code of the needed nodes fails: a task panics, or a value
    /// made to panic is dropped: one not returned, or a clone of one returned (read by
    /// value, or in a slice, which the engine fills with clones of the values).
    fn fails(&self) -> bool {
        let needed = self.needed();
        let mut cloned = vec![false; self.reads.len()];
        for (i, r) in self.reads.iter().enumerate() {
            match r {
                Reads::Value(a, _) if needed[i] => cloned[*a] = true,
                Reads::Slice(parts) if needed[i] => parts.iter().for_each(|&p| cloned[p] = true),
                _ => {}
            }
        }
        (0..self.reads.len()).any(|i| {
            needed[i]
                && match self.modes[i] {
                    PANICS => true,
                    FUSED => !self.outputs.contains(&i) || cloned[i],
                    _ => false,
                }
        })
    }

    /// What the tasks read of the case.
    fn ctl(&self) -> Modes {
        Box::leak(Box::new(Ctl {
            modes: self.modes.clone(),
            retries: self.retries.clone(),
            attempts: self.modes.iter().map(|_| AtomicU32::new(0)).collect(),
            started: AtomicUsize::new(0),
        }))
    }

    /// The graph, built with `delay!`, or with `delayed(f).retries(n)` for a task with
    /// retries; and its tasks' attempt counters, to reset before each run.
    fn build(&self) -> (Vec<Delayed<Fused>>, Modes) {
        let ctl = self.ctl();
        let mut nodes: Vec<Delayed<Fused>> = Vec::with_capacity(self.reads.len());
        for (i, r) in self.reads.iter().enumerate() {
            let id = i as u64;
            let node = match (r, self.retries[i]) {
                (Reads::Nothing, 0) => delay!(source(id, ctl)),
                (Reads::Ref(a), 0) => delay!(by_ref(id, &nodes[*a], ctl)),
                (Reads::Nested(a), 0) => delayed(nested).call(id, &nodes[*a], ctl),
                (Reads::Refs(a, b), 0) => delay!(by_refs(id, &nodes[*a], &nodes[*b], ctl)),
                (Reads::Value(a, b), 0) => {
                    let a = nodes[*a].clone();
                    delay!(by_value(id, a, &nodes[*b], ctl))
                }
                (Reads::Slice(parts), 0) => {
                    let parts: Vec<Delayed<Fused>> =
                        parts.iter().map(|&p| nodes[p].clone()).collect();
                    delay!(by_slice(id, parts, ctl))
                }
                (Reads::Nothing, n) => delayed(retried_source).retries(n).call(id, ctl),
                (Reads::Nested(a), n) => delayed(nested).retries(n).call(id, &nodes[*a], ctl),
                (Reads::Ref(a), n) => delayed(retried_by_ref).retries(n).call(id, &nodes[*a], ctl),
                (Reads::Refs(a, b), n) => {
                    (delayed(retried_by_refs).retries(n)).call(id, &nodes[*a], &nodes[*b], ctl)
                }
                (Reads::Value(a, b), n) => {
                    let a = nodes[*a].clone();
                    (delayed(retried_by_value).retries(n)).call(id, a, &nodes[*b], ctl)
                }
                (Reads::Slice(parts), n) => {
                    let parts: Vec<Delayed<Fused>> =
                        parts.iter().map(|&p| nodes[p].clone()).collect();
                    delayed(retried_by_slice).retries(n).call(id, parts, ctl)
                }
            };
            nodes.push(node);
        }
        (nodes, ctl)
    }

    /// Checks one run's result.
    fn check(&self, ran: Result<Vec<Fused>, TaskError>, what: &str) {
        self.check_stoppable(ran, false, what);
    }

    /// [`check`](Self::check) of a run that may have been stopped (`stop_when`): its
    /// error may then say that a needed task did not run.
    fn check_stoppable(&self, ran: Result<Vec<Fused>, TaskError>, stoppable: bool, what: &str) {
        if let (true, Err(error)) = (stoppable, &ran) {
            let text = error.to_string();
            if text.contains("did not run: the run was stopped before this task started") {
                assert!(text.contains("outcomes_random.rs"), "{what}: {text}");
                STOPS.fetch_add(1, Ordering::SeqCst);
                return;
            }
            // A task with retries stops retrying once its run is stopped: its attempt's
            // panic is then the run's error.
            let flaky = (text.rfind("panicked: task ").map(|at| &text[at + 15..]))
                .and_then(|rest| rest.split(' ').next()?.parse::<usize>().ok())
                .is_some_and(|task| self.modes[task] == FLAKY);
            if flaky {
                return;
            }
        }
        match ran {
            Ok(got_values) => {
                assert!(
                    !self.fails(),
                    "{what}: succeeded where sequential code fails"
                );
                let values = self.values();
                let got: Vec<(u64, u64)> = got_values.iter().map(|f| (f.id, f.value)).collect();
                let want: Vec<(u64, u64)> = (self.outputs.iter())
                    .map(|&o| (o as u64, values[o]))
                    .collect();
                assert_eq!(got, want, "{what}");
                drop_returned(got_values, what);
            }
            Err(error) => {
                let text = error.to_string();
                assert!(
                    self.fails(),
                    "{what}: failed where sequential code does not: {text}"
                );
                let needed = self.needed();
                let id = |prefix: &str| {
                    let at = text.rfind(prefix)? + prefix.len();
                    text[at..].split(' ').next()?.parse::<usize>().ok()
                };
                match (id("panicked: drop of "), id("panicked: task ")) {
                    (Some(maker), _) => assert!(
                        needed[maker] && self.modes[maker] == FUSED,
                        "{what}: the drop of a value not made to panic: {text}"
                    ),
                    (None, Some(task)) => assert!(
                        needed[task] && self.modes[task] == PANICS,
                        "{what}: a panic of a task not told to panic: {text}"
                    ),
                    _ => panic!("{what}: unexpected error {text}"),
                }
                // The error names a task by its function and call site.
                assert!(text.contains("outcomes_random.rs"), "{what}: {text}");
            }
        }
    }
}

/// Drops values a run returned, which are the caller's to drop: one made to panic
/// does so here.
fn drop_returned(values: Vec<Fused>, what: &str) {
    for value in values {
        let fused = value.fuse;
        let dropped = std::panic::catch_unwind(move || drop(value));
        assert_eq!(dropped.is_err(), fused, "{what}");
    }
}

/// Waits (a failed run returns at its failure while its tasks in flight still end)
/// until every value made is dropped, and fails the test if one is not, or twice.
fn settle(what: &str) {
    let start = Instant::now();
    while MADE.load(Ordering::SeqCst) != DROPPED.load(Ordering::SeqCst)
        && start.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    let (made, dropped) = (MADE.load(Ordering::SeqCst), DROPPED.load(Ordering::SeqCst));
    assert_eq!(made, dropped, "{what}: every value made is dropped once");
}

/// Leaves out of the output the thousands of panics the tests cause on purpose
/// (a task's, a value's `Drop`'s); every other panic is printed as usual.
fn quiet_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("OUTCOMES_LOUD").is_some() {
            return;
        }
        let print = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = (info.payload().downcast_ref::<String>().map(String::as_str))
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            let expected = text.starts_with("drop of ")
                || (text.starts_with("task ") && text.ends_with(" panics"));
            if !expected {
                print(info);
            }
        }));
    });
}

/// A way to run a graph: its nodes, the outputs requested, the scheduler, and what its
/// tasks read (reset before each run).
type Run = fn(&[Delayed<Fused>], &[usize], Scheduler, Modes) -> Result<Vec<Fused>, TaskError>;

/// The random stream and the number of cases: the test's own, or for a longer hunt
/// others, drawn with `OUTCOMES_SEED` (mixed into the seed) and `OUTCOMES_CASES`;
/// `OUTCOMES_TRACE` prints each case before it runs (for one that aborts).
struct Hunt {
    rng: Rng,
    count: usize,
    trace: bool,
}

impl Hunt {
    fn new(seed: u64, count: usize) -> Hunt {
        let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
        Hunt {
            rng: Rng(seed ^ env("OUTCOMES_SEED").unwrap_or(0)),
            count: env("OUTCOMES_CASES").map_or(count, |c| c as usize),
            trace: std::env::var_os("OUTCOMES_TRACE").is_some(),
        }
    }
}

/// Runs the drawn cases with `run`, checking each.
fn cases(seed: u64, count: usize, what: &'static str, run: Run, stoppable: bool) {
    quiet_expected_panics();
    watchdog::within(Duration::from_secs(240), what, move || {
        let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
        let Hunt {
            mut rng,
            count,
            trace,
        } = Hunt::new(seed, count);
        for number in 0..count {
            let case = draw(&mut rng);
            for (scheduler, runs) in [(Scheduler::Sync, 1), (Scheduler::Threads, 3)] {
                for _ in 0..runs {
                    let label = format!("{what} case {number} {scheduler:?}: {case:?}");
                    if trace {
                        eprintln!("{label}");
                    }
                    let (nodes, ctl) = case.build();
                    let ran = run(&nodes, &case.outputs, scheduler, ctl);
                    case.check_stoppable(ran, stoppable, &label);
                    drop(nodes);
                    settle(&label);
                }
            }
        }
    });
}

/// The nodes requested, in order (repeats included).
fn requested(nodes: &[Delayed<Fused>], outputs: &[usize]) -> Vec<Delayed<Fused>> {
    outputs.iter().map(|&o| nodes[o].clone()).collect()
}

/// The requested nodes, computed in one run.
fn compute(
    nodes: &[Delayed<Fused>],
    outputs: &[usize],
    scheduler: Scheduler,
    ctl: Modes,
) -> Result<Vec<Fused>, TaskError> {
    ctl.reset();
    taskweave::compute_with(scheduler, requested(nodes, outputs).as_slice())
}

/// The requested nodes, computed in one run that stops (`stop_when`) once a number
/// of tasks have started, drawn from the case's nodes: a stop before every task
/// started fails the run, naming a task that did not run, and drops every value made.
fn stopped(
    nodes: &[Delayed<Fused>],
    outputs: &[usize],
    scheduler: Scheduler,
    ctl: Modes,
) -> Result<Vec<Fused>, TaskError> {
    ctl.reset();
    let after =
        mix(nodes.len() as u64, outputs.iter().map(|&o| o as u64)) as usize % (nodes.len() + 1);
    let options = RunOptions::new()
        .scheduler(scheduler)
        .stop_when(move || ctl.started.load(Ordering::SeqCst) >= after);
    taskweave::compute_with(options, requested(nodes, outputs).as_slice())
}

/// The requested nodes, laid out once by `prepare` and run twice: the second run
/// must make, check and drop its values as the first did.
fn prepared_twice(
    nodes: &[Delayed<Fused>],
    outputs: &[usize],
    scheduler: Scheduler,
    ctl: Modes,
) -> Result<Vec<Fused>, TaskError> {
    let mut prepared = taskweave::prepare((requested(nodes, outputs).as_slice(),));
    ctl.reset();
    let first = prepared.try_compute_with(RunOptions::new().scheduler(scheduler));
    // Tasks of a failed first run may still be ending.
    if first.is_err() {
        settle("the first run of a prepared graph");
    }
    ctl.reset();
    let second = prepared.try_compute_with(RunOptions::new().scheduler(scheduler));
    match (first, second) {
        (Ok((a,)), Ok((b,))) => {
            let key = |v: &[Fused]| v.iter().map(|f| (f.id, f.value)).collect::<Vec<_>>();
            assert_eq!(key(&a), key(&b), "two runs of one prepared graph");
            drop_returned(a, "the first run of a prepared graph");
            Ok(b)
        }
        (Err(_), Err(e)) => Err(e),
        (first, second) => panic!(
            "one run failed and the other did not: {:?} {:?}",
            first.map(|(values,)| drop_returned(values, "first")),
            second.map(|(values,)| drop_returned(values, "second"))
        ),
    }
}

#[test]
fn random_graphs_with_panics_and_panicking_drops_fail_as_sequential_code() {
    cases(0x0c0e_5eed_0001, 1500, "compute", compute, false);
}

#[test]
fn random_prepared_graphs_with_panics_and_panicking_drops_run_twice_alike() {
    cases(
        0x0c0e_5eed_0002,
        500,
        "prepared twice",
        prepared_twice,
        false,
    );
}

/// `graph!`s of the same tasks, their shapes written out as [`Reads`] for the model,
/// run with random modes: one on the dispatcher (values shared, some given by value
/// to one reader and lent to others, a slice), one as nested joins (each value read
/// once).
#[test]
fn static_graphs_with_random_panics_and_panicking_drops_fail_as_sequential_code() {
    let shared = graph!(|ctl: Modes| -> (Fused, Fused) {
        let n0 = source(0, ctl);
        let n1 = by_ref(1, &n0, ctl);
        let n2 = by_refs(2, &n0, &n1, ctl);
        let n3 = by_value(3, n0, &n2, ctl);
        let n4 = source(4, ctl);
        let n5 = by_value(5, n1, &n4, ctl);
        let n6 = by_slice(6, &[n2, n4], ctl);
        let n7 = by_refs(7, &n3, &n6, ctl);
        let n8 = by_value(8, n3, &n5, ctl);
        let n9 = by_value(9, n6, &n7, ctl);
        let n10 = by_refs(10, &n8, &n9, ctl);
        (n10, n5)
    });
    use Reads::*;
    let shared_reads = vec![
        Nothing,
        Ref(0),
        Refs(0, 1),
        Value(0, 2),
        Nothing,
        Value(1, 4),
        Slice(vec![2, 4]),
        Refs(3, 6),
        Value(3, 5),
        Value(6, 7),
        Refs(8, 9),
    ];
    let tree = graph!(|ctl: Modes| -> Fused {
        let n0 = source(0, ctl);
        let n1 = source(1, ctl);
        let n2 = by_value(2, n0, &n1, ctl);
        let n3 = source(3, ctl);
        let n4 = by_ref(4, &n3, ctl);
        let n5 = source(5, ctl);
        let n6 = by_value(6, n4, &n5, ctl);
        let n7 = by_refs(7, &n2, &n6, ctl);
        by_ref(8, &n7, ctl)
    });
    let tree_reads = vec![
        Nothing,
        Nothing,
        Value(0, 1),
        Nothing,
        Ref(3),
        Nothing,
        Value(4, 5),
        Refs(2, 6),
        Ref(7),
    ];
    assert!(tree.__runs_as_tree() && !shared.__runs_as_tree());
    quiet_expected_panics();
    watchdog::within(Duration::from_secs(240), "static graphs", move || {
        let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
        let Hunt {
            mut rng,
            count,
            trace,
        } = Hunt::new(0x0c0e_5eed_0003, 1500);
        for number in 0..count {
            let tree_shaped = number % 2 == 1;
            let reads = if tree_shaped {
                &tree_reads
            } else {
                &shared_reads
            };
            let failing = [0, 5, 15, 40][rng.below(4)];
            let modes = (0..reads.len())
                .map(|_| match rng.percent(failing) {
                    false => OK,
                    true if rng.percent(50) => PANICS,
                    true => FUSED,
                })
                .collect();
            let mut case = Case {
                reads: reads.clone(),
                modes,
                retries: vec![0; reads.len()],
                outputs: if tree_shaped { vec![8] } else { vec![10, 5] },
            };
            // At most one value made to panic in the slice (see `draw`).
            if case.modes[2] == FUSED && case.modes[4] == FUSED && !tree_shaped {
                case.modes[4] = OK;
            }
            for (scheduler, runs) in [(Scheduler::Sync, 1), (Scheduler::Threads, 3)] {
                for _ in 0..runs {
                    let label = format!("static case {number} {scheduler:?}: {case:?}");
                    if trace {
                        eprintln!("{label}");
                    }
                    let ctl = case.ctl();
                    let ran = if tree_shaped {
                        tree.try_compute_with(scheduler, ctl).map(|v| vec![v])
                    } else {
                        shared
                            .try_compute_with(scheduler, ctl)
                            .map(|(a, b)| vec![a, b])
                    };
                    case.check(ran, &label);
                    settle(&label);
                }
            }
        }
    });
}

/// Runs that stopped before a needed task started.
static STOPS: AtomicUsize = AtomicUsize::new(0);

#[test]
fn random_graphs_stopped_part_way_drop_every_value_once() {
    cases(0x0c0e_5eed_0004, 1000, "stopped", stopped, true);
    assert!(STOPS.load(Ordering::SeqCst) > 100, "stops: {STOPS:?}");
}
