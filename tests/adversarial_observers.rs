//! Adversarial shapes for the observers (progress, profiler, run record, performance
//! report, live dashboard) on all three front ends, and for the inspection views, each
//! under a watchdog: chains and fan-ins of 50,000 nodes (dynamic and futures) watched
//! by every observer, finishing, failing at their root, cancelled, stopped half-way,
//! and their DOT, SVG and table views; an observer panicking half-way down a chain;
//! 20,000 observers on one run; one `graph!` with early exits, panicking `Drop`s and
//! panicking observers computed from eight threads; values whose `Drop` always panics
//! beside failing tasks; names with quotes, newlines, markup, control characters and
//! noncharacters through every view, the report and the dashboard; a dashboard abused
//! over raw TCP (oversized heads, bursts past its limit, trickled requests, answers
//! abandoned, cursors past `u64`) while a long chain runs; dashboards and reports made
//! and dropped while everything runs, one made while a task runs after another was
//! dropped; polls without pause during short runs; runs on many short-lived threads;
//! runs started inside an observer's hooks; a profiler cleared while it watches; a
//! client dropped with thousands of tasks queued; durations at their extremes.
//!
//! The dashboard's and the report's tests need the `dashboard` feature:
//! `cargo test -p taskweave-tests --features dashboard --test adversarial_observers`.
//! The same shapes at a million nodes are `#[ignore]`d: add `-- --ignored` (in
//! release; they also pass in a debug build, in about 150 s).

#[path = "support/watchdog.rs"]
mod watchdog;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use taskweave::prelude::*;
use taskweave::{
    futures_info, info, DrawOptions, NodeInfo, NodeOutcome, Observer, Profiler, Progress,
    RunOptions, RunRecord, Scheduler, TaskError, TaskOutcome,
};
use watchdog::within;

const LIMIT: Duration = Duration::from_secs(120);

/// A dashboard counts every graph run of the process, whoever started it: the test
/// that checks how many runs it saw holds this for writing (`dashboard::alone`), so
/// that no other test runs graphs meanwhile; every test outside the dashboard's
/// module holds it for reading ([`beside_others`]). (The dashboard's other tests
/// count only rows of their own task names, and take turns by `dashboard::serial`.)
static GRAPH_RUNS_COUNTED: RwLock<()> = RwLock::new(());

/// Held by each test that runs graphs beside the others: see [`GRAPH_RUNS_COUNTED`].
fn beside_others() -> RwLockReadGuard<'static, ()> {
    GRAPH_RUNS_COUNTED.read().unwrap_or_else(|e| e.into_inner())
}

/// Nodes of the default tests' long shapes: enough for a walk that recurses once per
/// node to overflow a 2 MiB stack, small enough for a debug build.
const LONG: usize = 50_000;

/// A chain of `n` dynamic `inc`s from 0; the first one panics if `fail_first`.
fn dynamic_chain(n: usize, fail_first: bool) -> Delayed<u64> {
    let first = delayed(move |x: u64| {
        if fail_first {
            panic!("the chain's root fails");
        }
        x + 1
    })
    .named("root")
    .call(0u64);
    let inc = delayed(|x: u64| x + 1).named("inc");
    let mut last = first;
    for _ in 1..n {
        last = inc.call(&last);
    }
    last
}

/// Every observer that keeps something per task, on one run.
struct Watchers {
    profiler: Arc<Profiler>,
    record: Arc<RunRecord>,
    progress: Arc<Progress>,
}

impl Watchers {
    fn new() -> Watchers {
        Watchers {
            profiler: Arc::new(Profiler::new()),
            record: Arc::new(RunRecord::new()),
            progress: Arc::new(Progress::hidden()),
        }
    }

    fn options(&self, scheduler: Scheduler) -> RunOptions {
        RunOptions::new()
            .scheduler(scheduler)
            .observer(self.profiler.clone())
            .observer(self.record.clone())
            .observer(self.progress.clone())
    }
}

#[test]
fn every_observer_on_a_long_dynamic_chain_and_its_views() {
    let _beside = beside_others();
    chain_and_views(LONG);
}

#[test]
#[ignore = "large: run in release with --ignored"]
fn every_observer_on_a_long_dynamic_chain_and_its_views_of_a_million() {
    let _beside = beside_others();
    chain_and_views(1_000_000);
}

fn chain_and_views(n: usize) {
    within(LIMIT, "observers on a long dynamic chain", move || {
        let chain = dynamic_chain(n, false);
        for scheduler in [Scheduler::Sync, Scheduler::Threads] {
            let w = Watchers::new();
            let value = chain.try_compute_with(w.options(scheduler)).unwrap();
            assert_eq!(value, n as u64, "{scheduler:?}");
            assert_eq!(w.progress.done(), n as u64);
            assert_eq!(w.progress.total(), n as u64);
            assert_eq!(w.profiler.records().len(), n);
            assert_eq!(w.profiler.summary().row("inc").unwrap().count, n as u64 - 1);
            let trace: serde_json::Value =
                serde_json::from_str(&w.profiler.to_chrome_trace()).unwrap();
            assert!(trace["traceEvents"].as_array().unwrap().len() >= n);
            let outcomes = w.record.outcomes().unwrap();
            assert_eq!(outcomes.len(), n);
            assert!(outcomes.iter().all(|o| *o == NodeOutcome::Finished));
            let view = info(&chain).with_outcomes(&w.record);
            assert_eq!(view.depth(), n);
            assert_eq!(view.critical_path().len(), n);
            assert!(view.to_dot().contains(&format!("n{} ", n - 1)));
            assert!(view.table_text().lines().count() >= n);
            let svg = view.to_svg_with(&DrawOptions::new());
            assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"));
        }
    });
}

#[test]
fn every_observer_on_a_long_dynamic_chain_failing_at_its_root() {
    let _beside = beside_others();
    failing_chain(LONG);
}

#[test]
#[ignore = "large: run in release with --ignored"]
fn every_observer_on_a_long_dynamic_chain_failing_at_its_root_of_a_million() {
    let _beside = beside_others();
    failing_chain(1_000_000);
}

fn failing_chain(n: usize) {
    within(LIMIT, "observers on a failing dynamic chain", move || {
        let chain = dynamic_chain(n, true);
        for scheduler in [Scheduler::Sync, Scheduler::Threads] {
            let w = Watchers::new();
            let error = chain.try_compute_with(w.options(scheduler)).unwrap_err();
            assert_eq!(error.task(), "root", "{scheduler:?}: {error}");
            assert_eq!(w.progress.failed(), 1);
            assert_eq!(w.progress.done(), 1, "failed tasks count as done");
            let records = w.profiler.records();
            assert_eq!(records.len(), 1, "only the root ran");
            assert_eq!(records[0].outcome, TaskOutcome::Failed);
            let outcomes = w.record.outcomes().unwrap();
            assert_eq!(outcomes[0], NodeOutcome::Failed);
            assert!(outcomes[1..].iter().all(|o| *o == NodeOutcome::NeverRan));
            assert!(w.record.error().unwrap().contains("the chain's root fails"));
            let view = info(&chain).with_outcomes(&w.record);
            assert!(view.run_error().is_some());
            let _ = view.to_dot();
            let _ = view.to_svg_with(&DrawOptions::new());
        }
    });
}

#[test]
fn every_observer_on_a_wide_dynamic_fan_in() {
    let _beside = beside_others();
    wide_fan_in(LONG);
}

#[test]
#[ignore = "large: run in release with --ignored"]
fn every_observer_on_a_wide_dynamic_fan_in_of_a_million() {
    let _beside = beside_others();
    wide_fan_in(1_000_000);
}

fn wide_fan_in(n: usize) {
    within(LIMIT, "observers on a wide fan-in", move || {
        let inc = delayed(|x: u64| x + 1).named("inc");
        let parts: Vec<Delayed<u64>> = (0..n as u64).map(|i| inc.call(i)).collect();
        let sum = delayed(|xs: Vec<u64>| xs.iter().sum::<u64>())
            .named("sum")
            .call(parts);
        let expected: u64 = (1..=n as u64).sum();
        for scheduler in [Scheduler::Sync, Scheduler::Threads] {
            let w = Watchers::new();
            assert_eq!(
                sum.try_compute_with(w.options(scheduler)).unwrap(),
                expected
            );
            assert_eq!(w.progress.done(), n as u64 + 1);
            assert_eq!(w.profiler.records().len(), n + 1);
            let view = info(&sum).with_outcomes(&w.record);
            assert_eq!(view.width(), n);
            assert_eq!(view.predecessors(n).len(), n);
            let _ = view.to_dot();
            let _ = view.to_svg_with(&DrawOptions::new());
            let _ = view.table_text();
        }
    });
}

/// Panics in `hook` on the `at`-th call of it.
struct PanicsAt {
    hook: &'static str,
    at: usize,
    calls: AtomicUsize,
}

impl PanicsAt {
    fn new(hook: &'static str, at: usize) -> Arc<PanicsAt> {
        Arc::new(PanicsAt {
            hook,
            at,
            calls: AtomicUsize::new(0),
        })
    }
    fn fire(&self, hook: &str) {
        if hook == self.hook && self.calls.fetch_add(1, Ordering::SeqCst) == self.at {
            panic!("observer panics in {hook}");
        }
    }
}

impl Observer for PanicsAt {
    fn graph_started(&self, _nodes: &[NodeInfo<'_>]) {
        self.fire("graph_started");
    }
    fn task_started(&self, _node: u32, _info: &NodeInfo<'_>) {
        self.fire("task_started");
    }
    fn task_finished(&self, _node: u32, _info: &NodeInfo<'_>, _outcome: TaskOutcome) {
        self.fire("task_finished");
    }
    fn graph_finished(&self, _result: Result<(), &TaskError>) {
        self.fire("graph_finished");
    }
    fn future_submitted(&self, _task: &taskweave::FutureEvent<'_>) {
        self.fire("future_submitted");
    }
    fn future_started(&self, _task: &taskweave::FutureEvent<'_>) {
        self.fire("future_started");
    }
    fn future_finished(&self, _task: &taskweave::FutureEvent<'_>, _outcome: TaskOutcome) {
        self.fire("future_finished");
    }
}

/// An observer panicking half-way down a long chain fails the run, naming the hook,
/// and the other observers of the run still see it end; the chain computes again.
#[test]
fn an_observer_panicking_half_way_down_a_long_chain() {
    let _beside = beside_others();
    within(LIMIT, "observer panics in a long chain", || {
        let chain = dynamic_chain(LONG, false);
        for scheduler in [Scheduler::Sync, Scheduler::Threads] {
            for hook in ["task_started", "task_finished"] {
                let w = Watchers::new();
                let options = w.options(scheduler).observer(PanicsAt::new(hook, LONG / 2));
                let error = chain.try_compute_with(options).unwrap_err();
                assert!(
                    error
                        .to_string()
                        .contains(&format!("observer panicked in `{hook}`")),
                    "{scheduler:?} {hook}: {error}"
                );
                assert!(w.record.error().is_some(), "the record saw the run end");
                assert!(!w.record.overlapped());
                assert!(w.progress.done() <= LONG as u64);
                assert_eq!(chain.try_compute_with(scheduler).unwrap(), LONG as u64);
            }
        }
    });
}

fn plus_one(x: u64) -> u64 {
    x + 1
}

fn fails(_x: u64) -> u64 {
    panic!("the first future fails")
}

/// A chain of `n` futures, each reading the one before, watched by every
/// observer; then one whose first task fails, every later one inheriting the
/// failure; then one whose first task is cancelled.
#[test]
fn every_observer_on_a_long_chain_of_futures() {
    let _beside = beside_others();
    futures_chain(LONG);
}

#[test]
#[ignore = "large: run in release with --ignored"]
fn every_observer_on_a_long_chain_of_futures_of_a_million() {
    let _beside = beside_others();
    futures_chain(1_000_000);
}

fn futures_chain(n: usize) {
    within(LIMIT, "observers on a long futures chain", move || {
        let w = Watchers::new();
        let client = Client::builder()
            .threads(2)
            .name("adversarial-observers")
            .observer(w.profiler.clone())
            .observer(w.record.clone())
            .observer(w.progress.clone())
            .build()
            .unwrap();
        let mut chain = vec![client.submit(plus_one, (0u64,))];
        for _ in 1..n {
            let next = client.submit(plus_one, (chain.last().unwrap().clone(),));
            chain.push(next);
        }
        assert_eq!(chain.last().unwrap().result().unwrap(), n as u64);
        let refs: Vec<&dyn taskweave::AnyFuture> = chain
            .iter()
            .map(|f| f as &dyn taskweave::AnyFuture)
            .collect();
        let view = futures_info(&refs);
        assert_eq!(view.len(), n);
        let _ = view.to_dot();
        let _ = view.to_svg_with(&DrawOptions::new());
        drop(chain);
        assert_eq!(w.profiler.records().len(), n);

        // Failing at its root: every later future fails without running.
        let mut chain = vec![client.submit(fails, (0u64,))];
        for _ in 1..n {
            let next = client.submit(plus_one, (chain.last().unwrap().clone(),));
            chain.push(next);
        }
        assert!(chain.last().unwrap().result().is_err());
        drop(chain);

        // Cancelled at its root, before it runs.
        let (open, gate) = std::sync::mpsc::channel::<()>();
        let gate = std::sync::Mutex::new(gate);
        let first = client.submit(
            move |x: u64| {
                let _ = gate.lock().unwrap().recv();
                x
            },
            (0u64,),
        );
        let mut chain = vec![client.submit(plus_one, (first.clone(),))];
        for _ in 1..n {
            let next = client.submit(plus_one, (chain.last().unwrap().clone(),));
            chain.push(next);
        }
        chain[0].cancel();
        drop(open);
        assert!(chain.last().unwrap().result().is_err());
        assert_eq!(first.result().unwrap(), 0);
        drop(chain);
        drop(client);
        let records = w.profiler.records();
        let failed = records
            .iter()
            .filter(|r| r.outcome == TaskOutcome::Failed)
            .count();
        let cancelled = records
            .iter()
            .filter(|r| r.outcome == TaskOutcome::Cancelled)
            .count();
        assert_eq!(failed, n, "one failure per future of the failed chain");
        assert_eq!(cancelled, n, "one cancel per future of the cancelled chain");
    });
}

// ---------------------------------------------------------------------------------
// `graph!`: early exits, failures and panicking `Drop`s, watched, from many threads.

/// A value whose `Drop` panics when it holds 13 (and no panic is unwinding).
#[derive(Debug)]
struct Bomb(u64);

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.0 == 13 && !std::thread::panicking() {
            panic!("bomb {} dropped", self.0);
        }
    }
}

#[delayed]
fn make(x: u64) -> Bomb {
    Bomb(x)
}

#[delayed]
fn below(x: u64, bound: u64) -> Result<u64, String> {
    if x < bound {
        Ok(x)
    } else {
        Err(format!("{x} is not below {bound}"))
    }
}

#[delayed]
fn read_bomb(b: &Bomb, y: u64) -> u64 {
    b.0 + y
}

#[delayed]
fn explode(x: u64) -> u64 {
    if x == 7 {
        panic!("task explodes on {x}");
    }
    x
}

/// The same `graph!` with an early exit, a value whose `Drop` may panic and a task
/// that may panic, computed from eight threads at once on both schedulers with one
/// set of observers (one of them panicking in `graph_finished` of every fifth run):
/// every run returns what a sequential evaluation gives, or the run's failure, and
/// the observers' counts add up.
#[test]
fn one_watched_graph_from_many_threads_with_exits_bombs_and_panics() {
    let _beside = beside_others();
    within(LIMIT, "graph! from many threads", || {
        let g = Arc::new(graph!(|x: u64, bound: u64| -> Result<u64, String> {
            let b = make(x);
            let y = below(x, bound)?;
            let z = explode(y);
            Ok(read_bomb(&b, z))
        }));
        let w = Arc::new(Watchers::new());
        let finished_panics = PanicsAt::new("graph_finished", usize::MAX);
        let runs = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let (g, w, runs) = (g.clone(), w.clone(), runs.clone());
                std::thread::spawn(move || {
                    for i in 0..200u64 {
                        let x = (t * 31 + i) % 20;
                        let bound = 15;
                        let scheduler = if i % 2 == 0 {
                            Scheduler::Sync
                        } else {
                            Scheduler::Threads
                        };
                        let mut options = w.options(scheduler);
                        let observer_panics = i % 5 == 0;
                        if observer_panics {
                            options = options.observer(PanicsAt::new("graph_finished", 0));
                        }
                        let got = g.try_compute_with(options, x, bound);
                        runs.fetch_add(1, Ordering::Relaxed);
                        let expected: Result<Result<u64, String>, &str> = if x >= bound {
                            // The exit drops `b`: a bomb when x == 13 (not below 15, so
                            // never; kept for the shape).
                            Ok(Err(format!("{x} is not below {bound}")))
                        } else if x == 7 {
                            Err("task explodes on 7")
                        } else if x == 13 {
                            Err("bomb 13 dropped")
                        } else {
                            Ok(Ok(2 * x))
                        };
                        match (&got, &expected) {
                            (Ok(value), Ok(want)) if !observer_panics => {
                                assert_eq!(value, want, "x = {x}")
                            }
                            (Err(error), Ok(_)) if observer_panics => assert!(
                                error.to_string().contains("graph_finished"),
                                "x = {x}: {error}"
                            ),
                            (Err(error), Err(why)) => {
                                assert!(error.to_string().contains(why), "x = {x}: {error}")
                            }
                            _ => panic!("x = {x}: got {got:?}, expected {expected:?}"),
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(finished_panics);
        assert_eq!(runs.load(Ordering::Relaxed), 1600);
        assert!(w.record.overlapped() || w.record.has_run());
        assert!(w.profiler.runs() >= 1600);
    });
}

// ---------------------------------------------------------------------------------
// The live dashboard and the performance report (feature `dashboard`).

#[cfg(feature = "dashboard")]
mod dashboard {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{Shutdown, SocketAddr, TcpStream};
    use std::sync::{Mutex, MutexGuard};
    use std::time::Instant;
    use taskweave::Dashboard;

    /// A dashboard watches the whole process: the tests that count take turns.
    static SERIAL: Mutex<()> = Mutex::new(());

    pub(super) fn serial() -> MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// For a test that checks how many graph runs a dashboard saw: every graph run of
    /// the process counts, so no other test runs meanwhile (see `GRAPH_RUNS_COUNTED`).
    fn alone() -> std::sync::RwLockWriteGuard<'static, ()> {
        GRAPH_RUNS_COUNTED
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `request` (then shuts the writing half) and reads the answer: its status
    /// (0 for none) and its bytes. Write errors are ignored (the server may close a
    /// connection whose request is too large before it is all sent).
    pub(super) fn raw(addr: SocketAddr, request: &[u8]) -> (u16, Vec<u8>) {
        try_raw(addr, request).expect("a connection")
    }

    /// [`raw`], `None` when the connection is refused.
    fn try_raw(addr: SocketAddr, request: &[u8]) -> Option<(u16, Vec<u8>)> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let _ = stream.write_all(request);
        let _ = stream.shutdown(Shutdown::Write);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let status = std::str::from_utf8(&answer[..answer.len().min(12)])
            .ok()
            .and_then(|head| head.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        Some((status, answer))
    }

    pub(super) fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let (status, bytes) = raw(addr, request.as_bytes());
        let text = String::from_utf8(bytes).expect("a UTF-8 answer");
        let body = text
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_owned();
        (status, body)
    }

    /// The live data, parsed.
    fn status_json(addr: SocketAddr, query: &str) -> serde_json::Value {
        let (status, body) = get(addr, &format!("/api/status{query}"));
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    /// The row of `name` in the live data's progress.
    fn row<'a>(json: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
        json["progress"]
            .as_array()?
            .iter()
            .find(|r| r["name"] == name)
    }

    /// While a long chain runs, the dashboard is polled and abused: heads far over its
    /// bound, a burst of connections over its limit, requests trickled a byte at a
    /// time, answers abandoned after a few bytes, cursors past `u64`, garbage. The
    /// chain's value is right, the server answers every well-formed request after
    /// all that, and the chain's row counts every task.
    #[test]
    fn a_dashboard_abused_while_a_long_chain_runs() {
        within(LIMIT, "dashboard abused during a long run", || {
            let _serial = serial();
            let dashboard = Dashboard::serve("127.0.0.1:0").unwrap();
            let addr = dashboard.addr();
            let step = delayed(|x: u64| {
                std::hint::black_box(x);
                x + 1
            })
            .named("abused-step");
            let mut chain = step.call(0u64);
            for _ in 1..LONG {
                chain = step.call(&chain);
            }
            let running = std::thread::spawn(move || chain.compute());

            // A head of 1 MiB: 431, or closed.
            let mut huge = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
            huge.resize(1 << 20, b'a');
            huge.extend_from_slice(b"\r\n\r\n");
            let (status, _) = raw(addr, &huge);
            assert!(matches!(status, 0 | 431), "{status}");
            // One header line of 16 KiB less a byte, just under the bound.
            let mut near = b"GET /api/status HTTP/1.1\r\nX: ".to_vec();
            near.resize(16 * 1024 - 4, b'b');
            near.extend_from_slice(b"\r\n\r\n");
            assert_eq!(raw(addr, &near).0, 200);
            // Cursors of every size.
            for query in [
                "?since=18446744073709551615",
                "?since=18446744073709551616",
                "?since=-1",
                "?since=",
                "?since=1&since=2",
                "?since=%00",
            ] {
                let json = status_json(addr, query);
                assert!(json["cursor"].as_u64().is_some(), "{query}: {json}");
            }
            // Garbage and odd but harmless requests.
            for bad in [
                &b"\r\n\r\n"[..],
                b"GET  / HTTP/1.1\r\n\r\n",
                b"GET / HTTP/1.1 \r\n\r\n",
                b"G\x00T / HTTP/1.1\r\n\r\n",
                b"GET /\xff\xfe HTTP/1.1\r\n\r\n",
                b"GET http://x/ HTTP/1.1\r\n\r\n",
                b"GET / HTTP/1.1\r\n: empty name\r\n\r\n",
                b"GET / HTTP/1.1\r\nX:\xc3\x28\r\n\r\n",
            ] {
                let (status, _) = raw(addr, bad);
                assert!(matches!(status, 0 | 400 | 505), "{bad:?}: {status}");
            }
            // A burst over the limit of connections, each with a whole request: none
            // hangs, and each is answered 200 or 503, or reads nothing (0): past the
            // listening socket's backlog the system may refuse a connection, or drop
            // one the client already saw connected (seen once under load in CI).
            let burst: Vec<_> = (0..160)
                .map(|i| {
                    std::thread::spawn(move || {
                        // A few pages (each draws the kept task runs), the rest data.
                        let path = if i % 40 == 0 { "/" } else { "/api/status" };
                        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
                        try_raw(addr, request.as_bytes()).map_or(0, |(status, _)| status)
                    })
                })
                .collect();
            let statuses: Vec<u16> = burst.into_iter().map(|b| b.join().unwrap()).collect();
            assert!(
                statuses.iter().all(|s| matches!(s, 0 | 200 | 503)),
                "{statuses:?}"
            );
            assert!(statuses.contains(&200), "{statuses:?}");
            // Answers abandoned after a few bytes, and connections reset mid-answer.
            for i in 0..32 {
                let mut stream = TcpStream::connect(addr).unwrap();
                let request: &[u8] = if i % 16 == 0 {
                    b"GET / HTTP/1.1\r\n\r\n"
                } else {
                    b"GET /api/status HTTP/1.1\r\n\r\n"
                };
                stream.write_all(request).unwrap();
                let mut few = [0u8; 16];
                let _ = stream.read(&mut few);
                drop(stream);
            }
            // A request trickled a byte at a time, slower than a client should but
            // within the server's deadline, is answered.
            let mut slow = TcpStream::connect(addr).unwrap();
            for byte in b"GET /api/status HTTP/1.1\r\n\r\n" {
                slow.write_all(&[*byte]).unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
            let mut answer = Vec::new();
            slow.set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            let _ = slow.read_to_end(&mut answer);
            assert!(answer.starts_with(b"HTTP/1.1 200 "));

            assert_eq!(running.join().unwrap(), LONG as u64);
            let started = Instant::now();
            let json = status_json(addr, "");
            assert!(started.elapsed() < Duration::from_secs(10));
            let steps = row(&json, "abused-step").expect("the chain's row");
            assert_eq!(steps["done"], LONG as u64, "{steps}");
            assert_eq!(get(addr, "/").0, 200);
            drop(dashboard);
        });
    }

    /// A dashboard dropped while a client's task runs, and another made before it
    /// ends: the second one never saw the task start, so its bar may not start before
    /// the second dashboard did, nor after its end.
    #[test]
    fn a_dashboard_made_while_a_task_runs_after_another_was_dropped() {
        within(LIMIT, "dashboards replaced mid-task", || {
            let _serial = serial();
            let client = Client::builder().threads(2).build().unwrap();
            for round in 0..5 {
                let first = Dashboard::serve("127.0.0.1:0").unwrap();
                // The task starts 200 ms into the first dashboard's time.
                std::thread::sleep(Duration::from_millis(200));
                let (started, has_started) = std::sync::mpsc::channel::<()>();
                let (open, gate) = std::sync::mpsc::channel::<()>();
                let (started, gate) = (Mutex::new(started), Mutex::new(gate));
                let task = client.task(move |x: u64| {
                    started.lock().unwrap().send(()).unwrap();
                    let _ = gate.lock().unwrap().recv();
                    x
                });
                let future = task.named("replaced").submit((1u64,));
                has_started.recv().unwrap();
                drop(first);
                let made = Instant::now();
                let second = Dashboard::serve("127.0.0.1:0").unwrap();
                drop(open);
                assert_eq!(future.result().unwrap(), 1);
                let json: serde_json::Value = serde_json::from_str(&second.status_json()).unwrap();
                let lived = made.elapsed().as_secs_f64() * 1e6;
                let stream = &json["stream"];
                let from = stream["from_us"].as_f64().unwrap();
                for bar in stream["bars"].as_array().unwrap() {
                    let start = from + bar[2].as_f64().unwrap();
                    let end = start + bar[3].as_f64().unwrap();
                    assert!(
                        end <= lived + 1_000.0,
                        "round {round}: a bar ending at {end} µs of a dashboard {lived} µs old: {bar}"
                    );
                }
                drop(second);
            }
        });
    }

    /// Dashboards and performance reports made and dropped over and over while
    /// graphs (static and dynamic, on both schedulers) and a client's tasks run on
    /// other threads: every value is right, nothing hangs, and each recording gives
    /// a page and JSON whose counts are not past what ran.
    #[test]
    fn recordings_made_and_dropped_while_everything_runs() {
        within(LIMIT, "recordings come and go", || {
            let _serial = serial();
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let ran = Arc::new(AtomicUsize::new(0));
            let mut workers = Vec::new();
            {
                let (stop, ran) = (stop.clone(), ran.clone());
                workers.push(std::thread::spawn(move || {
                    let chain = dynamic_chain(500, false);
                    let g = graph!(|x: u64, bound: u64| -> Result<u64, String> {
                        let b = make(x);
                        let y = below(x, bound)?;
                        Ok(read_bomb(&b, y))
                    });
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let scheduler = if i.is_multiple_of(2) {
                            Scheduler::Sync
                        } else {
                            Scheduler::Threads
                        };
                        assert_eq!(chain.try_compute_with(scheduler).unwrap(), 500);
                        assert_eq!(g.compute_with(scheduler, i % 10, 5), {
                            let x = i % 10;
                            if x < 5 {
                                Ok(2 * x)
                            } else {
                                Err(format!("{x} is not below 5"))
                            }
                        });
                        ran.fetch_add(1, Ordering::Relaxed);
                        i += 1;
                    }
                }));
            }
            {
                let (stop, ran) = (stop.clone(), ran.clone());
                workers.push(std::thread::spawn(move || {
                    let client = Client::builder().threads(2).build().unwrap();
                    while !stop.load(Ordering::Relaxed) {
                        let mut last = client.submit(plus_one, (0u64,));
                        for _ in 1..200 {
                            last = client.submit(plus_one, (last,));
                        }
                        let failing = client.submit(fails, (0u64,));
                        let after = client.submit(plus_one, (failing,));
                        assert_eq!(last.result().unwrap(), 200);
                        assert!(after.result().is_err());
                        ran.fetch_add(1, Ordering::Relaxed);
                    }
                }));
            }
            let path = std::env::temp_dir().join(format!(
                "taskweave-adversarial-{}-report.html",
                std::process::id()
            ));
            let started = Instant::now();
            let mut rounds = 0;
            while started.elapsed() < Duration::from_millis(500) || rounds < 4 {
                let dashboard = Dashboard::serve("127.0.0.1:0").unwrap();
                let report = taskweave::PerformanceReport::new(&path);
                std::thread::sleep(Duration::from_millis(rounds % 7 * 5));
                let json: serde_json::Value =
                    serde_json::from_str(&dashboard.status_json()).expect("JSON");
                for row in json["progress"].as_array().unwrap() {
                    for field in ["done", "failed", "cancelled", "total", "runs"] {
                        assert!(row[field].as_u64().unwrap() < 1 << 40, "{field} of {row}");
                    }
                }
                if rounds % 2 == 0 {
                    drop(dashboard);
                    assert!(report.to_html().contains("</html>"));
                    report.finish().unwrap();
                } else {
                    drop(report);
                    assert!(dashboard.to_html().contains("</html>"));
                }
                rounds += 1;
            }
            stop.store(true, Ordering::Relaxed);
            for w in workers {
                w.join().unwrap();
            }
            assert!(ran.load(Ordering::Relaxed) > 2);
            let _ = std::fs::remove_file(&path);
        });
    }

    /// A dashboard and a report counting runs on many short-lived threads, several
    /// at once, one dynamic and one `graph!` each (their logs pass from threads that
    /// ended to new ones): every task is counted once.
    #[test]
    fn recordings_over_many_short_lived_threads() {
        within(LIMIT, "recordings over short-lived threads", || {
            let _serial = serial();
            let dashboard = Dashboard::serve("127.0.0.1:0").unwrap();
            let report = taskweave::PerformanceReport::new(std::env::temp_dir().join(format!(
                "taskweave-adversarial-{}-threads.html",
                std::process::id()
            )));
            let step = delayed(|x: u64| x + 1).named("short-lived");
            let mut chain = step.call(0u64);
            for _ in 1..10 {
                chain = step.call(&chain);
            }
            let chain = Arc::new(chain);
            let mut runs = 0;
            for wave in 0..40 {
                let handles: Vec<_> = (0..1 + wave % 4)
                    .map(|i| {
                        let chain = chain.clone();
                        std::thread::spawn(move || {
                            let scheduler = if i % 2 == 0 {
                                Scheduler::Sync
                            } else {
                                Scheduler::Threads
                            };
                            assert_eq!(chain.try_compute_with(scheduler).unwrap(), 10);
                        })
                    })
                    .collect();
                runs += handles.len() as u64;
                for h in handles {
                    h.join().unwrap();
                }
            }
            let json: serde_json::Value = serde_json::from_str(&dashboard.status_json()).unwrap();
            let steps = row(&json, "short-lived").expect("the row");
            assert_eq!(steps["done"], runs * 10, "{steps}");
            assert_eq!(steps["total"], runs * 10, "{steps}");
            assert_eq!(steps["runs"], runs * 10, "{steps}");
            let page = report.to_html();
            assert!(page.contains("short-lived"));
            drop(dashboard);
            let path = report.finish().unwrap();
            let _ = std::fs::remove_file(path);
        });
    }

    /// Computes a small graph from inside every hook that it is told of a task's end.
    struct ComputesInside(Delayed<u64>);

    impl Observer for ComputesInside {
        fn task_finished(&self, _node: u32, _info: &NodeInfo<'_>, _outcome: TaskOutcome) {
            assert_eq!(self.0.try_compute_with(Scheduler::Sync).unwrap(), 3);
        }
    }

    /// A dashboard watching a long run whose observer computes a small graph inside
    /// each of its hooks, on the same thread, while the run goes on: each run has its
    /// log, and every task of every run counts once, in its own row.
    #[test]
    fn a_dashboard_watching_runs_started_inside_an_observers_hooks() {
        // It checks the dashboard's count of graph runs, which counts every test's.
        // (Both taken out of the watchdog's time: the tests running may take a while.)
        let _serial = serial();
        let _alone = alone();
        within(LIMIT, "runs inside hooks", || {
            let dashboard = Dashboard::serve("127.0.0.1:0").unwrap();
            let inner = {
                let step = delayed(|x: u64| x + 1).named("nested-inner");
                step.call(step.call(step.call(0u64)))
            };
            let step = delayed(|x: u64| x + 1).named("nested-outer");
            let mut outer = step.call(0u64);
            for _ in 1..200 {
                outer = step.call(&outer);
            }
            for scheduler in [Scheduler::Sync, Scheduler::Threads] {
                let options = RunOptions::new()
                    .scheduler(scheduler)
                    .observer(Arc::new(ComputesInside(inner.clone())));
                assert_eq!(outer.try_compute_with(options).unwrap(), 200);
            }
            let json: serde_json::Value = serde_json::from_str(&dashboard.status_json()).unwrap();
            let outer_row = row(&json, "nested-outer").expect("the outer row");
            let inner_row = row(&json, "nested-inner").expect("the inner row");
            assert_eq!(outer_row["done"], 2 * 200, "{outer_row}");
            assert_eq!(outer_row["runs"], 2 * 200, "{outer_row}");
            assert_eq!(inner_row["done"], 2 * 200 * 3, "{inner_row}");
            assert_eq!(inner_row["runs"], 2 * 200 * 3, "{inner_row}");
            assert_eq!(json["computes"], 2 + 2 * 200, "{}", json["computes"]);
        });
    }

    /// Many short runs from several threads at once while other threads poll the
    /// live data and draw the page without pause (each poll reads the logs of the
    /// runs going on): every poll is JSON whose counts never go down, and in the end
    /// every task counts once.
    #[test]
    fn polls_without_pause_while_short_runs_start_and_end() {
        within(LIMIT, "polls during short runs", || {
            let _serial = serial();
            let dashboard = Arc::new(Dashboard::serve("127.0.0.1:0").unwrap());
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let leaf = delayed(|x: u64| x + 1).named("polled-leaf");
            let parts: Vec<Delayed<u64>> = (0..20u64).map(|i| leaf.call(i)).collect();
            let sum = Arc::new(
                delayed(|xs: Vec<u64>| xs.iter().sum::<u64>())
                    .named("polled-sum")
                    .call(parts),
            );
            let pollers: Vec<_> = (0..2)
                .map(|p| {
                    let (dashboard, stop) = (dashboard.clone(), stop.clone());
                    std::thread::spawn(move || {
                        let mut last = 0u64;
                        let mut polls = 0;
                        while !stop.load(Ordering::Relaxed) {
                            if p == 1 && polls % 10 == 9 {
                                assert!(dashboard.to_html().ends_with("</html>\n"));
                            }
                            let json: serde_json::Value =
                                serde_json::from_str(&dashboard.status_json()).expect("JSON");
                            let done = row(&json, "polled-leaf")
                                .map_or(0, |r| r["done"].as_u64().unwrap());
                            assert!(done >= last, "the count went down: {last} to {done}");
                            last = done;
                            polls += 1;
                        }
                        polls
                    })
                })
                .collect();
            let runners: Vec<_> = (0..3)
                .map(|t| {
                    let sum = sum.clone();
                    std::thread::spawn(move || {
                        for i in 0..300 {
                            let scheduler = if (t + i) % 2 == 0 {
                                Scheduler::Sync
                            } else {
                                Scheduler::Threads
                            };
                            assert_eq!(sum.try_compute_with(scheduler).unwrap(), 210);
                        }
                    })
                })
                .collect();
            for r in runners {
                r.join().unwrap();
            }
            stop.store(true, Ordering::Relaxed);
            for p in pollers {
                assert!(p.join().unwrap() > 0);
            }
            let json: serde_json::Value = serde_json::from_str(&dashboard.status_json()).unwrap();
            let leaves = row(&json, "polled-leaf").expect("the leaves' row");
            let sums = row(&json, "polled-sum").expect("the sums' row");
            assert_eq!(leaves["done"], 3 * 300 * 20, "{leaves}");
            assert_eq!(leaves["total"], 3 * 300 * 20, "{leaves}");
            assert_eq!(sums["done"], 3 * 300, "{sums}");
            // None of these runs' tasks is left running. (The dashboard shows every
            // test's tasks: those of the tests running beside this one may run still.)
            let ours: Vec<&serde_json::Value> = json["running"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["task"] == "polled-leaf" || r["task"] == "polled-sum")
                .collect();
            assert!(ours.is_empty(), "{}", json["running"]);
        });
    }

    /// `performance_report` around a closure that panics while graphs and a client's
    /// tasks run (a failing `compute`, a client dropped while unwinding): the panic
    /// reaches the caller, and the page is still written, with the failure in it.
    #[test]
    fn a_performance_report_around_a_closure_that_panics_mid_run() {
        within(LIMIT, "report around a panic", || {
            let _serial = serial();
            let path = std::env::temp_dir().join(format!(
                "taskweave-adversarial-{}-panics.html",
                std::process::id()
            ));
            let _ = std::fs::remove_file(&path);
            let unwound = std::panic::catch_unwind(|| {
                taskweave::performance_report(&path, || {
                    let client = Client::builder().threads(2).build().unwrap();
                    let (open, gate) = std::sync::mpsc::channel::<()>();
                    let gate = Mutex::new(gate);
                    let _pending = client.submit(
                        move |x: u64| {
                            let _ = gate.lock().unwrap().recv_timeout(Duration::from_secs(5));
                            x
                        },
                        (1u64,),
                    );
                    let _open = open;
                    dynamic_chain(LONG / 10, true).compute()
                })
            });
            assert!(unwound.is_err(), "the compute's panic reaches the caller");
            let page = std::fs::read_to_string(&path).expect("the page was written");
            assert!(page.ends_with("</html>\n"));
            assert!(
                page.contains("the chain's root fails"),
                "the failure in the page"
            );
            let _ = std::fs::remove_file(&path);
        });
    }

    /// Dashboards keeping one task run, and two, for their stream, over thousands of
    /// tasks, polled from cursors old and new: they keep no more than told, the bars
    /// come only from what is kept, and the counts cover every task.
    #[test]
    fn dashboards_keeping_one_task_run() {
        within(LIMIT, "dashboards keeping one run", || {
            let _serial = serial();
            for keep in [1usize, 2] {
                let dashboard = Dashboard::builder()
                    .keep(keep)
                    .serve("127.0.0.1:0")
                    .unwrap();
                let leaf = delayed(|x: u64| x + 1).named("kept-leaf");
                let parts: Vec<Delayed<u64>> = (0..5_000u64).map(|i| leaf.call(i)).collect();
                let sum = delayed(|xs: Vec<u64>| xs.len() as u64)
                    .named("kept-sum")
                    .call(parts);
                let mut cursor = 0;
                for round in 0..3 {
                    assert_eq!(sum.compute(), 5_000);
                    for query in [String::new(), format!("?since={cursor}"), "?since=1".into()] {
                        let json = status_json(dashboard.addr(), &query);
                        assert!(
                            json["kept"].as_u64().unwrap() <= keep as u64,
                            "{}",
                            json["kept"]
                        );
                        // The bars of task runs that ended come from what is kept; tasks
                        // still running (other tests': the dashboard shows every test's
                        // tasks, and these have all ended) are drawn beside them.
                        let bars = json["stream"]["bars"].as_array().unwrap();
                        let ended = bars.iter().filter(|bar| bar[4] != "running").count();
                        assert!(ended <= keep, "keep {keep}: {ended} bars of ended runs");
                        let leaves = row(&json, "kept-leaf").expect("the row");
                        assert_eq!(leaves["done"], 5_000 * (round + 1), "{leaves}");
                        cursor = json["cursor"].as_u64().unwrap();
                    }
                }
                assert!(dashboard.to_html().ends_with("</html>\n"));
            }
        });
    }

    /// A client that owns a dashboard dropped while dozens of requests to it are in
    /// flight and its tasks run: the drop ends (no connection holds it), every
    /// request is answered or its connection closed, and the port is free again.
    #[test]
    fn a_client_with_a_dashboard_dropped_mid_requests() {
        within(
            LIMIT,
            "client with a dashboard dropped mid-requests",
            || {
                let _serial = serial();
                let client = Client::builder()
                    .threads(2)
                    .dashboard("127.0.0.1:0")
                    .build()
                    .unwrap();
                let addr = client.dashboard().expect("its dashboard").addr();
                let futures = client.map(plus_one, 0..2_000u64);
                let requests: Vec<_> = (0..48)
                    .map(|i| {
                        std::thread::spawn(move || {
                            let path = ["/", "/api/status", "/report.html"][i % 3];
                            match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
                                Ok(mut stream) => {
                                    stream
                                        .set_read_timeout(Some(Duration::from_secs(30)))
                                        .unwrap();
                                    let request = format!("GET {path} HTTP/1.1\r\n\r\n");
                                    let _ = stream.write_all(request.as_bytes());
                                    let mut answer = Vec::new();
                                    match stream.read_to_end(&mut answer) {
                                        Ok(_) => {
                                            answer.is_empty() || answer.starts_with(b"HTTP/1.1 ")
                                        }
                                        Err(e) => {
                                            e.kind() != std::io::ErrorKind::WouldBlock
                                                && e.kind() != std::io::ErrorKind::TimedOut
                                        }
                                    }
                                }
                                Err(_) => true,
                            }
                        })
                    })
                    .collect();
                std::thread::sleep(Duration::from_millis(20));
                let started = Instant::now();
                assert_eq!(client.gather(&futures).unwrap().len(), 2_000);
                drop(futures);
                drop(client);
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "the drop waited"
                );
                for r in requests {
                    assert!(r.join().unwrap(), "a request neither answered nor closed");
                }
                // Free again: binding it works (within a while, as the server's sockets close).
                let deadline = Instant::now() + Duration::from_secs(20);
                while std::net::TcpListener::bind(addr).is_err() {
                    assert!(Instant::now() < deadline, "the port stays taken");
                    std::thread::sleep(Duration::from_millis(50));
                }
            },
        );
    }

    /// The names of [`ODD_NAMES`] through a performance report and a live
    /// dashboard, as graph tasks and as futures: the page never carries the markup of
    /// a name as markup, and the live data is JSON that gives each row's name back.
    #[test]
    fn odd_names_through_the_report_and_the_dashboard() {
        within(LIMIT, "odd names in pages", || {
            let _serial = serial();
            let dashboard = Dashboard::serve("127.0.0.1:0").unwrap();
            let report = taskweave::PerformanceReport::new(
                std::env::temp_dir().join("taskweave-odd-names-report.html"),
            );
            assert!(odd_chain().try_compute().is_err());
            let client = Client::builder().threads(2).build().unwrap();
            let futures: Vec<_> = ODD_NAMES
                .iter()
                .map(|name| client.task(plus_one).named(*name).submit((1u64,)))
                .collect();
            assert!(futures.iter().all(|f| f.result().unwrap() == 2));
            for page in [
                report.to_html(),
                dashboard.to_html(),
                get(dashboard.addr(), "/").1,
            ] {
                assert!(
                    !page.contains("<script>alert"),
                    "a name's markup in the page"
                );
                assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
                assert!(
                    !page.contains(['\0', '\u{1b}', '\u{85}', '\u{fffe}']),
                    "a character HTML does not allow"
                );
            }
            let json = status_json(dashboard.addr(), "");
            let rows: Vec<&str> = json["progress"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap())
                .collect();
            for name in ["<script>alert(1)</script>", "two\nlines", "\"quoted\""] {
                assert!(rows.contains(&name), "{name:?} not in {rows:?}");
            }
            drop(client);
            drop(dashboard);
            report.finish().unwrap();
        });
    }
}

/// Names that break formats that do not escape them.
const ODD_NAMES: [&str; 14] = [
    "",
    "\"quoted\"",
    "two\nlines",
    "<script>alert(1)</script>",
    "a & b",
    "\u{1b}[2Jcleared",
    "back\\slash",
    "nul\0inside",
    "\u{fffe}\u{ffff}",
    "rtl \u{202e}desrever",
    "sep\u{2028}ara\u{2029}tors\u{85}",
    "crab 🦀 é",
    "('",
    "-",
];

/// A chain of tasks named [`ODD_NAMES`], one each, the last one failing with a
/// message of those names.
fn odd_chain() -> Delayed<u64> {
    let mut last = Delayed::value(0u64);
    for (i, name) in ODD_NAMES.iter().enumerate() {
        let failing = i + 1 == ODD_NAMES.len();
        last = delayed(move |x: u64| {
            if failing {
                panic!("failed: {}", ODD_NAMES.join("|"));
            }
            x + 1
        })
        .named(*name)
        .call(&last);
    }
    last
}

/// Tasks named with quotes, newlines, markup, control characters, unpaired
/// direction marks and nothing at all, watched by the profiler and the run record,
/// and drawn: the chrome trace is JSON that gives each name back as it was, the
/// summary and the node table keep one line per row, DOT strings are closed on their
/// line, the SVG is well-formed XML naming each node.
#[test]
fn odd_names_through_every_view() {
    let _beside = beside_others();
    within(LIMIT, "odd names", || {
        let chain = odd_chain();
        let w = Watchers::new();
        assert!(chain.try_compute_with(w.options(Scheduler::Sync)).is_err());
        let trace: serde_json::Value =
            serde_json::from_str(&w.profiler.to_chrome_trace()).expect("the trace is JSON");
        for name in ODD_NAMES {
            assert!(
                trace["traceEvents"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["name"] == name && e["ph"] == "X"),
                "{name:?}"
            );
        }
        let summary = w.profiler.summary().to_string();
        // A header, the value's row and one row per name.
        assert_eq!(summary.lines().count(), 2 + ODD_NAMES.len(), "{summary}");

        let view = info(&chain).with_outcomes(&w.record);
        let table = view.table_text();
        assert_eq!(table.lines().count(), 1 + ODD_NAMES.len(), "{table}");
        let dot = view.to_dot();
        for line in dot.lines() {
            // Quotes not escaped by a backslash come in pairs on each line.
            let mut open = false;
            let mut chars = line.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '"' => open = !open,
                    _ => {}
                }
            }
            assert!(!open, "an unclosed DOT string: {line:?}");
            assert!(!line.contains('\0'), "{line:?}");
        }
        let svg = view.to_svg_with(&DrawOptions::new().title(ODD_NAMES.join(" ")));
        let document = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        let texts: String = document
            .descendants()
            .filter_map(|n| n.text())
            .collect::<Vec<_>>()
            .join("\n");
        for name in [
            "<script>alert(1)</script>",
            "a & b",
            "\"quoted\"",
            "crab 🦀 é",
        ] {
            assert!(texts.contains(name), "{name:?} not drawn");
        }
    });
}

/// Counts every task end it is told.
#[derive(Default)]
struct CountsEnds(AtomicUsize);

impl Observer for CountsEnds {
    fn task_finished(&self, _node: u32, _info: &NodeInfo<'_>, _outcome: TaskOutcome) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Many observers given to one run, one `RunOptions::observer` call each: every one
/// is told every task, and telling them takes no more stack as they are more (each
/// call nested the observers given before in a list of two, and 20,000 of them
/// overflowed the stack of the first task's hook).
#[test]
fn many_observers_on_one_run() {
    let _beside = beside_others();
    within(LIMIT, "many observers on one run", || {
        let count = Arc::new(CountsEnds::default());
        let mut options = RunOptions::new().scheduler(Scheduler::Sync);
        for _ in 0..20_000 {
            options = options.observer(count.clone());
        }
        let chain = dynamic_chain(3, false);
        // Options cloned, then given one more observer: the first ones do not have it.
        let other = Arc::new(CountsEnds::default());
        let more = options.clone().observer(other.clone());
        assert_eq!(chain.try_compute_with(options).unwrap(), 3);
        assert_eq!(count.0.load(Ordering::Relaxed), 3 * 20_000);
        assert_eq!(other.0.load(Ordering::Relaxed), 0);
        assert_eq!(chain.try_compute_with(more).unwrap(), 3);
        assert_eq!(count.0.load(Ordering::Relaxed), 2 * 3 * 20_000);
        assert_eq!(other.0.load(Ordering::Relaxed), 3);
    });
}

/// Durations at their extremes in every public API that takes one: a progress bar's
/// delay, waits for results and for the first of several, a client's shutdown
/// timeout. Nothing panics on an overflowing deadline; a timeout too long to be a
/// deadline waits without one; a zero timeout only looks.
#[test]
fn durations_at_their_extremes() {
    let _beside = beside_others();
    within(LIMIT, "extreme durations", || {
        let huge = [
            Duration::MAX,
            Duration::MAX - Duration::from_nanos(1),
            Duration::from_secs(u64::MAX / 2),
        ];
        for delay in huge {
            let progress = Arc::new(Progress::new().delay(delay));
            let chain = dynamic_chain(100, false);
            let options = RunOptions::new().observer(progress.clone());
            assert_eq!(chain.try_compute_with(options).unwrap(), 100);
            assert_eq!(progress.done(), 100);
            assert!(!progress.is_drawn(), "drawn before its delay");
        }
        for timeout in huge.into_iter().chain([Duration::ZERO]) {
            let client = Client::builder()
                .threads(2)
                .shutdown_timeout(timeout)
                .build()
                .unwrap();
            let future = client.submit(plus_one, (1u64,));
            if timeout > Duration::ZERO {
                assert_eq!(future.result_timeout(timeout).unwrap(), 2);
                let (done, not_done) = taskweave::wait(
                    std::slice::from_ref(&future),
                    taskweave::WaitMode::AllCompleted,
                    Some(timeout),
                );
                assert_eq!((done.len(), not_done.len()), (1, 0));
                let mut first = taskweave::as_completed(vec![future.clone()]);
                assert!(first.next_timeout(timeout).unwrap().is_some());
            } else {
                let _ = future.result_timeout(timeout);
                assert_eq!(future.result().unwrap(), 2);
            }
            drop(future);
            drop(client);
        }
    });
}

/// One profiler watching runs on many short-lived threads, one after the other and
/// several at once (a thread that ended leaves its log to the next): it keeps every
/// record, each on the thread that ran it.
#[test]
fn a_profiler_over_many_short_lived_threads() {
    let _beside = beside_others();
    within(LIMIT, "profiler over short-lived threads", || {
        let profiler = Arc::new(Profiler::new());
        let record = Arc::new(RunRecord::new());
        let chain = Arc::new(dynamic_chain(10, false));
        let mut ids = std::collections::HashSet::new();
        for wave in 0..50 {
            let handles: Vec<_> = (0..1 + wave % 4)
                .map(|_| {
                    let (profiler, record, chain) =
                        (profiler.clone(), record.clone(), chain.clone());
                    std::thread::spawn(move || {
                        let options = RunOptions::new()
                            .scheduler(Scheduler::Sync)
                            .observer(profiler)
                            .observer(record);
                        assert_eq!(chain.try_compute_with(options).unwrap(), 10);
                        Profiler::thread_id()
                    })
                })
                .collect();
            for h in handles {
                ids.insert(h.join().unwrap());
            }
        }
        let runs: usize = (0..50).map(|wave| 1 + wave % 4).sum();
        let records = profiler.records();
        assert_eq!(records.len(), runs * 10, "a record lost");
        let threads: std::collections::HashSet<u32> = records.iter().map(|r| r.thread).collect();
        assert_eq!(threads, ids, "records on the threads that ran them");
        for id in &ids {
            assert_eq!(
                records.iter().filter(|r| r.thread == *id).count(),
                10,
                "thread {id}"
            );
        }
        assert_eq!(
            profiler.summary().row("inc").unwrap().count,
            runs as u64 * 9
        );
    });
}

/// Counts the futures submitted and the final ends told.
#[derive(Default)]
struct FutureCounts {
    submitted: AtomicUsize,
    ended: AtomicUsize,
}

impl Observer for FutureCounts {
    fn future_submitted(&self, _task: &taskweave::FutureEvent<'_>) {
        self.submitted.fetch_add(1, Ordering::SeqCst);
    }
    fn future_finished(&self, _task: &taskweave::FutureEvent<'_>, outcome: TaskOutcome) {
        if outcome != TaskOutcome::Retried {
            self.ended.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A client dropped with thousands of tasks queued behind one that waits, their
/// futures let go before or kept after: every task submitted is told ended, once,
/// to every observer, and the progress bar ends.
#[test]
fn a_client_dropped_with_tasks_queued_ends_each_for_its_observers() {
    let _beside = beside_others();
    within(LIMIT, "client dropped with tasks queued", || {
        for keep_handles in [false, true] {
            let counts = Arc::new(FutureCounts::default());
            let w = Watchers::new();
            let client = Client::builder()
                .threads(1)
                .shutdown_timeout(Duration::from_millis(200))
                .observer(counts.clone())
                .observer(w.profiler.clone())
                .observer(w.progress.clone())
                .build()
                .unwrap();
            let (open, gate) = std::sync::mpsc::channel::<()>();
            let gate = std::sync::Mutex::new(gate);
            let first = client.submit(
                move |x: u64| {
                    let _ = gate.lock().unwrap().recv_timeout(Duration::from_secs(2));
                    x
                },
                (0u64,),
            );
            let queued: Vec<_> = (0..5_000u64)
                .map(|i| {
                    if i % 2 == 0 {
                        client.submit(plus_one, (first.clone(),))
                    } else {
                        client.submit(plus_one, (i,))
                    }
                })
                .collect();
            let kept = keep_handles.then(|| (first.clone(), queued.clone()));
            drop((first, queued));
            drop(client);
            drop(open);
            if let Some((first, queued)) = &kept {
                let _ = first.result_timeout(Duration::from_secs(30));
                for f in queued {
                    let _ = f.result_timeout(Duration::from_secs(30));
                    assert!(f.done(), "a kept future never ended");
                }
            }
            assert!(
                eventually(|| counts.ended.load(Ordering::SeqCst) == 5_001),
                "keep {keep_handles}: {} of {} ended",
                counts.ended.load(Ordering::SeqCst),
                counts.submitted.load(Ordering::SeqCst)
            );
            assert_eq!(counts.submitted.load(Ordering::SeqCst), 5_001);
            assert!(eventually(|| w.progress.done() == 5_001));
            drop(kept);
        }
    });
}

/// Waits up to 20 s for `cond`.
fn eventually(cond: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !cond() {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

/// A client watched by every observer computing a long dynamic chain, one that
/// fails at its root and one cancelled while it runs, all at once: the futures'
/// hooks and the graphs' are told every task, and each compute's future says how it
/// ended.
#[test]
fn a_watched_client_computing_long_chains() {
    let _beside = beside_others();
    within(LIMIT, "a watched client's computes", || {
        let w = Watchers::new();
        let counts = Arc::new(CountsEnds::default());
        let client = Client::builder()
            .threads(2)
            .observer(w.profiler.clone())
            .observer(w.progress.clone())
            .observer(counts.clone())
            .build()
            .unwrap();
        let n = LONG / 5;
        let good = dynamic_chain(n, false);
        let bad = dynamic_chain(n, true);
        let (open, gate) = std::sync::mpsc::channel::<()>();
        let gate = std::sync::Mutex::new(gate);
        let slow = delayed(move |x: u64| {
            let _ = gate.lock().unwrap().recv_timeout(Duration::from_secs(20));
            if taskweave::cancelled() {
                return x;
            }
            x + 1
        })
        .named("slow")
        .call(0u64);
        let inc = delayed(|x: u64| x + 1).named("after-slow");
        let mut cancelled = slow;
        for _ in 0..100 {
            cancelled = inc.call(&cancelled);
        }
        let futures = (
            client.compute(&good),
            client.compute(&bad),
            client.compute(&cancelled),
        );
        std::thread::sleep(Duration::from_millis(50));
        futures.2.cancel();
        drop(open);
        assert_eq!(futures.0.result().unwrap(), n as u64);
        let error = futures.1.result().unwrap_err();
        assert!(
            error.to_string().contains("the chain's root fails"),
            "{error}"
        );
        assert!(futures.2.result().is_err());
        drop(futures);
        drop(client);
        // Every graph task that ran was told ended: the good chain's, the root of the
        // bad one, and what of the cancelled one ran.
        let ended = counts.0.load(Ordering::SeqCst);
        assert!(ended > n && ended <= n + 1 + 101, "{ended}");
        let records = w.profiler.records();
        let computes = records.iter().filter(|r| &*r.kind == "compute").count();
        assert_eq!(computes, 3, "one record per compute's task");
        // Overlapping runs share the profiler's per-node slots (documented), so the
        // names may mix; the number of graph task records may not.
        let graph_records = records.iter().filter(|r| r.key.is_none()).count();
        assert_eq!(
            graph_records, ended,
            "a graph task's record lost or doubled"
        );
    });
}

/// A progress bar watching, from inside a task of a one-thread client, futures of
/// that same client queued behind it: the watch ends (the futures run meanwhile).
#[test]
fn a_progress_watch_inside_a_task_of_its_own_client() {
    let _beside = beside_others();
    within(LIMIT, "progress watch inside a task", || {
        let client = Client::builder().threads(1).build().unwrap();
        let watcher = client.submit(
            |n: u64| {
                let client = taskweave::get_client().expect("inside a task");
                let futures: Vec<_> = (0..n).map(|i| client.submit(plus_one, (i,))).collect();
                let progress = Progress::hidden();
                progress.watch(&futures);
                (progress.done(), progress.total())
            },
            (200u64,),
        );
        assert_eq!(watcher.result().unwrap(), (200, 200));
    });
}

fn total(xs: Vec<u64>) -> u64 {
    xs.iter().sum()
}

/// A future reading `LONG` futures, one of which fails, watched by every observer,
/// and the inspection of that fan-in: the failure reaches the reader, every task is
/// told ended, and the views of the graph of futures hold every node and edge.
#[test]
fn every_observer_on_a_wide_fan_in_of_futures() {
    let _beside = beside_others();
    within(LIMIT, "wide futures fan-in", || {
        let w = Watchers::new();
        let counts = Arc::new(FutureCounts::default());
        let client = Client::builder()
            .threads(2)
            .observer(w.profiler.clone())
            .observer(w.record.clone())
            .observer(w.progress.clone())
            .observer(counts.clone())
            .build()
            .unwrap();
        for failing in [false, true] {
            let parts: Vec<Future<u64>> = (0..LONG as u64)
                .map(|i| {
                    if failing && i == LONG as u64 / 2 {
                        client.submit(fails, (i,))
                    } else {
                        client.submit(plus_one, (i,))
                    }
                })
                .collect();
            let sum = client.submit(total, (parts.clone(),));
            match sum.result() {
                Ok(value) => {
                    assert!(!failing);
                    assert_eq!(value, (1..=LONG as u64).sum::<u64>());
                }
                Err(error) => {
                    assert!(failing);
                    assert!(
                        error.to_string().contains("the first future fails"),
                        "{error}"
                    );
                }
            }
            let view = futures_info(&[&sum as &dyn taskweave::AnyFuture]);
            assert_eq!(view.len(), LONG + 1);
            assert_eq!(view.edges().len(), LONG);
            assert_eq!(view.predecessors(LONG).len(), LONG);
            let _ = view.to_dot();
            let _ = view.to_svg_with(&DrawOptions::new());
            let _ = view.table_text();
        }
        drop(client);
        let all = 2 * (LONG + 1);
        assert_eq!(counts.submitted.load(Ordering::SeqCst), all);
        assert_eq!(counts.ended.load(Ordering::SeqCst), all);
        assert_eq!(w.profiler.records().len(), all);
        assert_eq!(w.record.future_records().len(), all);
    });
}

/// A long chain stopped half-way by its stop predicate, watched by every observer,
/// on both schedulers: the run fails naming the first task that did not start, the
/// record shows the first half finished and the rest never ran, and the progress
/// counts only what ran.
#[test]
fn a_long_watched_chain_stopped_half_way() {
    let _beside = beside_others();
    within(LIMIT, "a long chain stopped half-way", || {
        let chain = dynamic_chain(LONG, false);
        for scheduler in [Scheduler::Sync, Scheduler::Threads] {
            let w = Watchers::new();
            let asked = Arc::new(AtomicUsize::new(0));
            let options = w.options(scheduler).stop_when({
                let asked = asked.clone();
                move || asked.fetch_add(1, Ordering::SeqCst) >= LONG / 2
            });
            let error = chain.try_compute_with(options).unwrap_err();
            assert_eq!(error.task(), "inc", "{scheduler:?}: {error}");
            let outcomes = w.record.outcomes().unwrap();
            let finished = outcomes
                .iter()
                .take_while(|o| **o == NodeOutcome::Finished)
                .count();
            assert_eq!(finished, LONG / 2, "{scheduler:?}");
            assert!(
                outcomes[finished..]
                    .iter()
                    .all(|o| *o == NodeOutcome::NeverRan),
                "{scheduler:?}"
            );
            assert_eq!(w.progress.done(), LONG as u64 / 2);
            assert_eq!(w.profiler.records().len(), LONG / 2);
            let view = info(&chain).with_outcomes(&w.record);
            assert!(view.run_error().is_some());
            assert!(view.to_svg_with(&DrawOptions::new()).contains("never ran"));
        }
    });
}

/// A profiler read, summarised and cleared over and over from another thread while
/// long runs and a client's tasks it watches go on: nothing panics, every read is
/// consistent (a trace that parses, no record that ends before it starts), and after
/// a last clear and one more run it holds exactly that run.
#[test]
fn a_profiler_cleared_and_read_while_it_watches() {
    let _beside = beside_others();
    within(LIMIT, "profiler cleared mid-run", || {
        let profiler = Arc::new(Profiler::new());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reading = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (profiler, stop, reading) = (profiler.clone(), stop.clone(), reading.clone());
            std::thread::spawn(move || {
                let mut reads = 0;
                while !stop.load(Ordering::Relaxed) {
                    reading.store(true, Ordering::Relaxed);
                    let records = profiler.records();
                    assert!(
                        records.iter().all(|r| r.end >= r.start),
                        "a record ends first"
                    );
                    let _ = profiler.summary().to_string();
                    if reads % 4 == 0 {
                        let _: serde_json::Value =
                            serde_json::from_str(&profiler.to_chrome_trace()).expect("JSON");
                    }
                    if reads % 3 == 0 {
                        profiler.clear();
                    }
                    reads += 1;
                }
            })
        };
        // The reader reads from the first run on (in a release build the runs may
        // otherwise end before its thread is first scheduled).
        while !reading.load(Ordering::Relaxed) {
            std::thread::yield_now();
        }
        let client = Client::builder()
            .threads(2)
            .observer(profiler.clone())
            .build()
            .unwrap();
        let chain = dynamic_chain(LONG / 10, false);
        for i in 0..6 {
            let futures = client.map(plus_one, 0..500u64);
            let scheduler = if i % 2 == 0 {
                Scheduler::Sync
            } else {
                Scheduler::Threads
            };
            let options = RunOptions::new()
                .scheduler(scheduler)
                .observer(profiler.clone());
            assert_eq!(chain.try_compute_with(options).unwrap(), LONG as u64 / 10);
            assert_eq!(client.gather(&futures).unwrap().len(), 500);
        }
        stop.store(true, Ordering::Relaxed);
        reader.join().unwrap();
        drop(client);
        profiler.clear();
        let options = RunOptions::new().observer(profiler.clone());
        assert_eq!(chain.try_compute_with(options).unwrap(), LONG as u64 / 10);
        let records = profiler.records();
        assert_eq!(records.len(), LONG / 10, "only the last run");
        assert!(
            records.iter().all(|r| r.run == 0),
            "runs count from the clear"
        );
    });
}

/// A value whose `Drop` always panics, even while another panic unwinds (which
/// aborts the process if it is dropped during that unwind).
struct AlwaysPanicsOnDrop(u64);

impl Drop for AlwaysPanicsOnDrop {
    fn drop(&mut self) {
        panic!("dropped {}", self.0);
    }
}

#[delayed]
fn fragile(x: u64) -> AlwaysPanicsOnDrop {
    AlwaysPanicsOnDrop(x)
}

/// Runs of each graph with an early exit beside a value whose drop panics: on two
/// threads, where `peek` dropped the value in 51 and 110 of 3,000 runs (two tries),
/// enough to see both.
const RACES: usize = 200;

#[delayed]
fn peek(v: &AlwaysPanicsOnDrop) -> u64 {
    v.0
}

/// `graph!` runs in which a task panics, or a `?` exits early, while values whose
/// `Drop` always panics are alive (made, unread, or read by reference), watched by
/// observers, on both schedulers: each run fails with an error, none aborts the
/// process by dropping such a value while a panic unwinds.
#[test]
fn graph_runs_failing_beside_values_whose_drop_always_panics() {
    let _beside = beside_others();
    within(LIMIT, "drops that always panic", || {
        let panics = graph!(|x: u64| -> u64 {
            let a = fragile(x);
            let b = explode(x);
            let c = peek(&a);
            plus(b, c)
        });
        let exits = graph!(|x: u64, bound: u64| -> Result<u64, String> {
            let a = fragile(x);
            let y = below(x, bound)?;
            let c = peek(&a);
            Ok(plus(y, c))
        });
        // The `?` first: sequential code returns before it makes `fragile`'s value. On
        // threads `fragile` may run beside `below`, and its value's drop panics, in
        // `peek` or at the exit: discarded, whichever.
        let exits_first = graph!(|x: u64, bound: u64| -> Result<u64, String> {
            let y = below(x, bound)?;
            let a = fragile(x);
            let c = peek(&a);
            Ok(plus(y, c))
        });
        for scheduler in [Scheduler::Sync, Scheduler::Threads] {
            for _ in 0..RACES {
                let w = Watchers::new();
                let ran = exits_first.try_compute_with(w.options(scheduler), 7, 5);
                assert_eq!(ran.unwrap(), Err("7 is not below 5".to_string()));
                assert!(w.record.error().is_none());
            }
        }
        for scheduler in [Scheduler::Sync, Scheduler::Threads] {
            for x in [7u64, 3] {
                let w = Watchers::new();
                let error = panics
                    .try_compute_with(w.options(scheduler), x)
                    .expect_err("a task or a drop panics");
                let text = error.to_string();
                assert!(
                    text.contains("task explodes on 7") || text.contains(&format!("dropped {x}")),
                    "{scheduler:?} {x}: {text}"
                );
                assert!(w.record.error().is_some());
                // `fragile`'s value is made before the `?`, which sequential code drops
                // there (x = 7) or at the end (x = 3): its panic is the failure, named
                // after `fragile`, whether `peek` ran beside `below` and dropped it, or
                // the exit did.
                for _ in 0..RACES {
                    let w = Watchers::new();
                    let error = exits
                        .try_compute_with(w.options(scheduler), x, 5)
                        .expect_err("a drop panics");
                    let text = error.to_string();
                    assert!(
                        text.contains(&format!("dropped {x}")) && text.contains("`fragile`"),
                        "{scheduler:?} {x}: {text}"
                    );
                    assert!(w.record.error().is_some());
                }
                // The same shape as a dynamic graph.
                let a = delay!(fragile(x));
                let sum = delay!(plus(delay!(explode(x)), delay!(peek(&a))));
                let w = Watchers::new();
                let error = sum
                    .try_compute_with(w.options(scheduler))
                    .expect_err("a task or a drop panics");
                let text = error.to_string();
                assert!(
                    text.contains("task explodes on 7") || text.contains(&format!("dropped {x}")),
                    "{scheduler:?} {x}: {text}"
                );
            }
        }
    });
}

#[delayed]
fn plus(a: u64, b: u64) -> u64 {
    a + b
}

/// The graph of a long chain of futures of which only the last is kept: its view
/// holds that future and, by name, the one it read (whose handles are gone: the
/// futures before it are not kept alive for the view), and dropping the last one
/// lets the whole chain go.
#[test]
fn the_view_of_a_long_chain_of_futures_kept_only_by_its_end() {
    let _beside = beside_others();
    within(LIMIT, "view of a chain kept by its end", || {
        let client = Client::builder().threads(2).build().unwrap();
        let mut last = client.submit(plus_one, (0u64,));
        for _ in 1..LONG {
            last = client.submit(plus_one, (last,));
        }
        assert_eq!(last.result().unwrap(), LONG as u64);
        let view = futures_info(&[&last as &dyn taskweave::AnyFuture]);
        assert_eq!(view.len(), 2);
        assert_eq!(view.edges(), &[(0, 1)]);
        assert!(view.nodes().iter().all(|n| n.name == "plus_one"));
        assert_eq!(view.nodes()[0].outcome, Some(NodeOutcome::Finished));
        drop(view);
        drop(last);
        drop(client);
    });
}
