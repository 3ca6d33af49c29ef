//! Long use: what a service that uses the library for days leaves behind. Each probe
//! repeats one use (a compute, a submit, a client made and dropped, a cancel, a wait
//! that gives up, an observer attached and detached...) for a warm-up, measures the
//! heap bytes in use (a counting global allocator), the threads (`/proc/self/task`) and
//! the file descriptors (`/proc/self/fd`), repeats it many more times, and measures
//! again: a leak is growth proportional to the rounds. The bounds are counts, never
//! times: a few hundred bytes of slack against thousands of rounds, so that a leak of
//! even a few bytes a round fails.
//!
//! A plain `main` (no test harness), so that nothing else allocates meanwhile; the
//! probes run one after another. `cargo test --test long_use -- NAME` runs those whose
//! name contains `NAME`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use taskweave::prelude::*;
use taskweave::{get_client, Profiler, RunOptions};

#[path = "../examples/support/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

/// What the process holds at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Usage {
    bytes: isize,
    threads: usize,
    fds: usize,
}

fn entries(dir: &str) -> usize {
    std::fs::read_dir(dir).map_or(0, Iterator::count)
}

fn usage() -> Usage {
    // Counted first: reading the directories allocates (and frees) a little.
    let bytes = counting_alloc::live_bytes() as isize;
    Usage {
        bytes,
        threads: entries("/proc/self/task"),
        fds: entries("/proc/self/fd"),
    }
}

/// The usage once the process is quiet: threads that end after a drop (a client's
/// pool) and work that finishes after its handle was dropped (a task given up on)
/// have settled when the same usage is read a few times in a row. Bounded in polls,
/// not in time: a probe whose usage never settles is measured where it stands.
fn settled() -> Usage {
    collect_epoch_garbage();
    let mut last = usage();
    let mut same = 0;
    for _ in 0..400 {
        std::thread::sleep(Duration::from_millis(2));
        // Threads that ended meanwhile left theirs.
        collect_epoch_garbage();
        let now = usage();
        if now == last {
            same += 1;
            if same == 4 {
                break;
            }
        } else {
            same = 0;
            last = now;
        }
    }
    last
}

/// What the threads that ended left in crossbeam's epoch collector (the futures
/// pool's work queues use it): freed by a later pin of a live thread, a few bags at a
/// time, so a probe that ends many threads and pins nothing else would count it.
fn collect_epoch_garbage() {
    for _ in 0..4096 {
        crossbeam_epoch::pin().flush();
    }
}

/// One probe: `round` repeated `warm` times, then `rounds` more between two
/// measurements; the growth must stay within `slack` bytes, and no thread nor file
/// descriptor may be left.
#[derive(Clone, Copy)]
struct Probe {
    name: &'static str,
    warm: usize,
    rounds: usize,
    slack: isize,
    round: fn(usize),
}

fn run(probe: &Probe, scale: usize) -> Result<(), String> {
    let probe = &Probe {
        rounds: probe.rounds * scale,
        ..*probe
    };
    let started = std::time::Instant::now();
    for i in 0..probe.warm {
        (probe.round)(i);
    }
    let before = settled();
    for i in 0..probe.rounds {
        (probe.round)(probe.warm + i);
    }
    let after = settled();
    let bytes = after.bytes - before.bytes;
    let threads = after.threads as isize - before.threads as isize;
    let fds = after.fds as isize - before.fds as isize;
    println!(
        "long use: {}: {} rounds after {} of warm-up: {bytes:+} bytes ({:+.2} a round), {threads:+} threads, {fds:+} fds ({:.2?})",
        probe.name,
        probe.rounds,
        probe.warm,
        bytes as f64 / probe.rounds as f64,
        started.elapsed(),
    );
    let mut failures = Vec::new();
    if bytes > probe.slack {
        failures.push(format!(
            "{bytes} bytes more after {} rounds (slack {})",
            probe.rounds, probe.slack
        ));
    }
    if threads > 0 {
        failures.push(format!("{threads} threads more"));
    }
    if fds > 0 {
        failures.push(format!("{fds} file descriptors more"));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("{}: {}", probe.name, failures.join(", ")))
    }
}

// ---- tasks ---------------------------------------------------------------------------

#[delayed]
fn leaf(i: u64) -> u64 {
    i.wrapping_mul(2654435761)
}

#[delayed]
fn combine(a: u64, b: &u64) -> u64 {
    a ^ b.rotate_left(3)
}

#[delayed]
fn boom(i: u64) -> u64 {
    if i < u64::MAX {
        panic!("boom {i}");
    }
    i
}

fn inc(x: u64) -> u64 {
    x + 1
}

fn fail(x: u64) -> u64 {
    if x < u64::MAX {
        panic!("failed on {x}");
    }
    x
}

/// A long-lived client, shared by the probes that do not make their own.
fn shared() -> &'static Client {
    static CLIENT: std::sync::OnceLock<Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        Client::builder()
            .threads(2)
            .name("long-use")
            .build()
            .unwrap()
    })
}

/// A task on `client` that holds its thread until the returned sender sends or is
/// dropped; returns once it runs.
fn blocker(client: &Client) -> (Future<()>, mpsc::Sender<()>) {
    let (release, held) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let held = Mutex::new(held);
    let started_tx = Mutex::new(started_tx);
    let f = client.submit(
        move || {
            started_tx.lock().unwrap().send(()).unwrap();
            let _ = held.lock().unwrap().recv();
        },
        (),
    );
    started.recv().unwrap();
    (f, release)
}

/// Tasks still running that nobody waits for (`fire_and_forget`): the probe waits for
/// them by count before it measures.
static FORGOTTEN_LEFT: AtomicUsize = AtomicUsize::new(0);

fn wait_for_forgotten() {
    while FORGOTTEN_LEFT.load(Ordering::SeqCst) != 0 {
        std::thread::yield_now();
    }
}

// ---- probes --------------------------------------------------------------------------

fn static_compute(i: usize) {
    let job = graph!(|n: u64| -> u64 {
        let a = leaf(n);
        let b = leaf(n + 1);
        combine(a, &b)
    });
    let n = i as u64;
    assert_eq!(job.compute(n), combine(leaf(n), &leaf(n + 1)));
}

fn static_failure(i: usize) {
    let job = graph!(|n: u64| -> u64 {
        let a = boom(n);
        let b = leaf(n);
        combine(a, &b)
    });
    assert!(job.try_compute(i as u64).is_err());
}

fn dynamic_compute(i: usize) {
    let n = i as u64;
    let parts: Vec<Delayed<u64>> = (0..8).map(|k| delay!(leaf(n + k))).collect();
    let mut acc = parts[0].clone();
    for p in &parts[1..] {
        acc = delay!(combine(acc, p));
    }
    let expected = (1..8).fold(leaf(n), |a, k| combine(a, &leaf(n + k)));
    assert_eq!(acc.compute(), expected);
}

fn dynamic_named(i: usize) {
    let n = i as u64;
    let a = delayed(inc).named(format!("inc-{i}")).call(n);
    let b = delay!(leaf(a)).named(format!("leaf-{i}"));
    assert_eq!(b.compute(), leaf(n + 1));
}

fn dynamic_pure(i: usize) {
    let n = i as u64;
    let pure_inc = delayed(inc).pure();
    let a = pure_inc.call(n);
    let b = pure_inc.call(n);
    assert_eq!(a.key(), b.key());
    assert_eq!(taskweave::compute((&a, &b)), (n + 1, n + 1));
}

fn dynamic_failure(i: usize) {
    let a = delay!(boom(i as u64));
    let b = delay!(combine(a, &delay!(leaf(1))));
    assert!(b.try_compute().is_err());
}

fn dynamic_persist(i: usize) {
    let n = i as u64;
    let base = delay!(leaf(n)).persist();
    let next = delay!(combine(base, &delay!(leaf(2))));
    assert_eq!(next.compute(), combine(leaf(n), &leaf(2)));
}

fn dynamic_observed(i: usize) {
    let profiler = Arc::new(Profiler::new());
    let a = delay!(leaf(i as u64));
    let b = delay!(combine(a, &delay!(leaf(3))));
    let options = RunOptions::new().observer(profiler.clone());
    assert_eq!(
        b.try_compute_with(options).unwrap(),
        combine(leaf(i as u64), &leaf(3))
    );
    assert!(profiler.records().len() >= 3);
}

/// A profiler kept for the service's life, cleared after each compute: what it forgets
/// must not stay behind. (On the calling thread: the first record of each thread in a
/// profiler's log takes a chunk of 48 KiB, and which pool threads run a task at all
/// is chance.)
fn profiler_cleared(i: usize) {
    static PROFILER: std::sync::OnceLock<Arc<Profiler>> = std::sync::OnceLock::new();
    let profiler = PROFILER.get_or_init(|| Arc::new(Profiler::new()));
    let a = delay!(leaf(i as u64));
    let b = delay!(combine(a, &delay!(leaf(3))));
    let options = RunOptions::new()
        .observer(profiler.clone())
        .scheduler(Scheduler::Sync);
    assert_eq!(
        b.try_compute_with(options).unwrap(),
        combine(leaf(i as u64), &leaf(3))
    );
    assert_eq!(profiler.records().len(), 3);
    profiler.clear();
}

/// [`profiler_cleared`], each round on a thread of its own that then ends: the
/// threads' logs in the profiler are used again by the threads that come after.
fn profiler_cleared_threads(i: usize) {
    std::thread::spawn(move || profiler_cleared(i))
        .join()
        .unwrap();
}

/// A thread per request, each running an observed graph on itself, then ending.
fn threads_observed(i: usize) {
    std::thread::spawn(move || {
        let profiler = Arc::new(Profiler::new());
        let a = delay!(leaf(i as u64));
        let b = delay!(combine(a, &delay!(leaf(3))));
        let options = RunOptions::new()
            .observer(profiler.clone())
            .scheduler(Scheduler::Sync);
        assert_eq!(
            b.try_compute_with(options).unwrap(),
            combine(leaf(i as u64), &leaf(3))
        );
    })
    .join()
    .unwrap();
}

fn futures_submit(i: usize) {
    let c = shared();
    let f = c.submit(inc, (i as u64,));
    let g = c.submit(inc, (f.clone(),));
    assert_eq!(g.result().unwrap(), i as u64 + 2);
}

fn futures_map_gather(i: usize) {
    let c = shared();
    let fs = c.map(inc, (0..8u64).map(|k| k + i as u64));
    let values = c.gather(&fs).unwrap();
    assert_eq!(values[7], i as u64 + 8);
}

fn futures_failure(i: usize) {
    let c = shared();
    let f = c.submit(fail, (i as u64,));
    let g = c.submit(inc, (f.clone(),));
    assert!(g.result().is_err());
    assert!(f.exception().unwrap().is_some());
}

fn futures_gather_failure(i: usize) {
    let c = shared();
    let (held, release) = blocker(c);
    let slow = c.submit(move |_: ()| i as u64, (held.clone(),));
    let bad = c.submit(fail, (i as u64,));
    // Sleeps on `slow` until `bad` fails: its watch is registered, then taken back.
    assert!(c.gather(&[slow.clone(), bad]).is_err());
    drop(release);
    assert_eq!(slow.result().unwrap(), i as u64);
}

fn futures_cancel_dropped(i: usize) {
    let c = shared();
    let (held, release) = blocker(c);
    let waiting = c.submit(move |_: ()| i as u64, (held.clone(),));
    let queued: Vec<Future<u64>> = c.map(inc, 0..4u64);
    let after = c.submit(inc, (waiting.clone(),));
    c.cancel(std::slice::from_ref(&waiting));
    drop((waiting, queued));
    drop(release);
    assert!(after.result().is_err());
    held.result().unwrap();
}

fn futures_handles_dropped_pending(i: usize) {
    let c = shared();
    let (held, release) = blocker(c);
    // Dropped while they wait for `held`: released, never run.
    for k in 0..4u64 {
        drop(c.submit(move |_: (), k: u64| k + i as u64, (held.clone(), k)));
    }
    drop(release);
    held.result().unwrap();
}

fn fire_and_forget(i: usize) {
    let c = shared();
    FORGOTTEN_LEFT.fetch_add(1, Ordering::SeqCst);
    let f = c.submit(
        move |x: u64| {
            FORGOTTEN_LEFT.fetch_sub(1, Ordering::SeqCst);
            x
        },
        (i as u64,),
    );
    c.fire_and_forget(f);
    wait_for_forgotten();
}

fn result_timeout_gives_up(i: usize) {
    let c = shared();
    let (held, release) = blocker(c);
    let slow = c.submit(move |_: ()| i as u64, (held.clone(),));
    assert!(slow.result_timeout(Duration::ZERO).is_err());
    assert!(slow.exception_timeout(Duration::ZERO).is_err());
    drop(release);
    assert_eq!(slow.result().unwrap(), i as u64);
}

fn wait_gives_up(i: usize) {
    let c = shared();
    let (held, release) = blocker(c);
    let slow = c.submit(move |_: ()| i as u64, (held.clone(),));
    let (done, not_done) = wait(
        &[slow.erase(), held.erase()],
        WaitMode::AllCompleted,
        Some(Duration::ZERO),
    );
    assert!(done.is_empty() && not_done.len() == 2);
    drop(release);
    assert_eq!(slow.result().unwrap(), i as u64);
}

fn as_completed_gives_up(i: usize) {
    let c = shared();
    let (held, release) = blocker(c);
    let slow = c.submit(move |_: ()| i as u64, (held.clone(),));
    let mut iter = as_completed(vec![slow.clone()]);
    assert!(iter.next_timeout(Duration::ZERO).is_err());
    drop(iter);
    drop(release);
    assert_eq!(slow.result().unwrap(), i as u64);
}

fn as_completed_dropped_early(i: usize) {
    let c = shared();
    let fs = c.map(inc, (0..4u64).map(|k| k + i as u64));
    let mut iter = as_completed(fs);
    assert!(iter.next().is_some());
    drop(iter);
}

fn done_callbacks(i: usize) {
    let c = shared();
    let (held, release) = blocker(c);
    let slow = c.submit(move |_: ()| i as u64, (held.clone(),));
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    slow.add_done_callback(move |_| {
        s.fetch_add(1, Ordering::SeqCst);
    });
    // The handle is dropped: the task is released (cancelled) and its callback told.
    drop(slow);
    drop(release);
    held.result().unwrap();
    let _ = seen;
}

fn get_client_in_tasks(i: usize) {
    let c = shared();
    let f = c.submit(
        |x: u64| {
            let client = get_client().expect("a task has a client");
            client.submit(inc, (x,)).result().unwrap()
        },
        (i as u64,),
    );
    assert_eq!(f.result().unwrap(), i as u64 + 1);
}

fn clients_made_and_dropped(i: usize) {
    let c = Client::builder().threads(2).build().unwrap();
    let f = c.submit(inc, (i as u64,));
    assert_eq!(f.result().unwrap(), i as u64 + 1);
}

fn clients_dropped_busy(i: usize) {
    // The drop does not wait for the task that holds its thread: released after it.
    let c = Client::builder()
        .threads(2)
        .shutdown_timeout(Duration::ZERO)
        .build()
        .unwrap();
    let (held, release) = blocker(&c);
    let queued = c.map(inc, 0..4u64);
    let f = c.submit(move |_: ()| i as u64, (held.clone(),));
    drop(c);
    drop(release);
    drop((held, queued, f));
}

fn clients_observed(i: usize) {
    let profiler = Arc::new(Profiler::new());
    let c = Client::builder()
        .threads(2)
        .observer(profiler.clone())
        .build()
        .unwrap();
    let fs = c.map(inc, (0..4u64).map(|k| k + i as u64));
    c.gather(&fs).unwrap();
    drop((fs, c));
    drop(profiler);
}

fn secede_and_wait(i: usize) {
    let c = shared();
    let f = c.submit(
        |x: u64| {
            let client = get_client().unwrap();
            let inner: Vec<Future<u64>> = client.map(inc, x..x + 4);
            client.gather(&inner).unwrap().into_iter().sum::<u64>()
        },
        (i as u64,),
    );
    let x = i as u64;
    assert_eq!(f.result().unwrap(), 4 * x + 10);
}

fn client_compute_delayed(i: usize) {
    let c = shared();
    let d = delay!(combine(delay!(leaf(i as u64)), &delay!(leaf(5))));
    let f = c.compute(&d);
    assert_eq!(f.result().unwrap(), combine(leaf(i as u64), &leaf(5)));
}

fn scatter(i: usize) {
    let c = shared();
    let data = c.scatter(vec![i as u64; 16]);
    let f = c.submit(|v: Vec<u64>| v.iter().sum::<u64>(), (data.clone(),));
    assert_eq!(f.result().unwrap(), 16 * i as u64);
}

/// A second client, with a task that holds one of its threads for the rest of the
/// process: a future that never ends, which the `pending_*` probes wait on, give up
/// on and hang dependents on.
fn pending() -> &'static (Client, Future<()>) {
    static PENDING: std::sync::OnceLock<(Client, Future<()>)> = std::sync::OnceLock::new();
    PENDING.get_or_init(|| {
        let c = Client::builder()
            .threads(2)
            .name("long-use-pending")
            .shutdown_timeout(Duration::ZERO)
            .build()
            .unwrap();
        let (held, release) = blocker(&c);
        // Never released: the task holds its thread until the process ends.
        std::mem::forget(release);
        (c, held)
    })
}

fn pending_result_timeouts(_: usize) {
    let (_, held) = pending();
    assert!(held.result_timeout(Duration::ZERO).is_err());
    assert!(held.exception_timeout(Duration::ZERO).is_err());
}

fn pending_wait_timeouts(_: usize) {
    let (_, held) = pending();
    let (done, not_done) = wait(
        std::slice::from_ref(held),
        WaitMode::FirstCompleted,
        Some(Duration::ZERO),
    );
    assert!(done.is_empty() && not_done.len() == 1);
}

fn pending_as_completed_timeouts(i: usize) {
    let (c, held) = pending();
    let quick = c.submit(inc, (i as u64,));
    let mut iter = as_completed(vec![held.erase(), quick.erase()]);
    assert!(iter
        .next_timeout(Duration::from_secs(60))
        .unwrap()
        .is_some());
    assert!(iter.next_timeout(Duration::ZERO).is_err());
}

fn pending_dependents_dropped(i: usize) {
    let (c, held) = pending();
    // Released with their last handle, before the future they wait for ends.
    drop(c.submit(move |_: (), x: u64| x, (held.clone(), i as u64)));
    let f = c.submit(move |_: ()| i as u64, (held.clone(),));
    f.cancel();
    drop(f);
}

fn pending_gather_failure(i: usize) {
    let (c, held) = pending();
    let waiting = c.submit(move |_: ()| i as u64, (held.clone(),));
    let bad = c.submit(fail, (i as u64,));
    // Sleeps on `waiting` until `bad` fails.
    assert!(c.gather(&[waiting, bad]).is_err());
}

fn pending_done_callbacks(_: usize) {
    let (c, held) = pending();
    // A callback on a dependent that is dropped, then released, before `held` ends.
    let f = c.submit(|_: ()| 1u64, (held.clone(),));
    f.add_done_callback(|_| {});
    drop(f);
}

/// One `as_completed` for the service's life, fed a future and drained each round.
fn as_completed_long_lived(i: usize) {
    std::thread_local! {
        static ITER: std::cell::RefCell<Option<taskweave::AsCompleted<Future<u64>>>> =
            const { std::cell::RefCell::new(None) };
    }
    let c = shared();
    ITER.with(|iter| {
        let mut iter = iter.borrow_mut();
        let iter = iter.get_or_insert_with(|| as_completed(Vec::new()));
        iter.add(c.submit(inc, (i as u64,)));
        let f = iter.next().unwrap();
        assert_eq!(f.result().unwrap(), i as u64 + 1);
    });
}

fn retried_failures(i: usize) {
    let c = shared();
    let f = c.task(fail).retries(2).submit((i as u64,));
    assert!(f.result().is_err());
}

fn progress_observed(i: usize) {
    let progress = Arc::new(taskweave::Progress::hidden());
    let a = delay!(leaf(i as u64));
    let b = delay!(combine(a, &delay!(leaf(3))));
    let options = RunOptions::new().observer(progress.clone());
    assert_eq!(
        b.try_compute_with(options).unwrap(),
        combine(leaf(i as u64), &leaf(3))
    );
    assert_eq!(progress.done(), 3);
    let fs = shared().map(inc, 0..4u64);
    progress.watch(&fs);
    shared().gather(&fs).unwrap();
}

#[cfg(feature = "dashboard")]
fn dashboard_connections(_: usize) {
    use std::io::{Read, Write};
    let dashboard = dashboard_shared();
    let mut stream = std::net::TcpStream::connect(dashboard.addr()).unwrap();
    stream
        .write_all(b"GET /status.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    assert!(answer.starts_with(b"HTTP/1.1"));
}

/// The live dashboard the dashboard probes share, keeping few task runs for its
/// stream, so that the probes' warm-up fills it. (Made by the first of them, which
/// run last: while it lives it watches every run of the process.)
#[cfg(feature = "dashboard")]
fn dashboard_shared() -> &'static taskweave::Dashboard {
    static DASHBOARD: std::sync::OnceLock<taskweave::Dashboard> = std::sync::OnceLock::new();
    DASHBOARD.get_or_init(|| {
        taskweave::Dashboard::builder()
            .keep(64)
            .serve("127.0.0.1:0")
            .unwrap()
    })
}

/// Dashboards made, asked for their page, and dropped: their server's thread and
/// socket go with them.
#[cfg(feature = "dashboard")]
fn dashboards_made_and_dropped(_: usize) {
    use std::io::{Read, Write};
    let dashboard = taskweave::Dashboard::serve("127.0.0.1:0").unwrap();
    let mut stream = std::net::TcpStream::connect(dashboard.addr()).unwrap();
    stream
        .write_all(b"GET /status.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    assert!(answer.starts_with(b"HTTP/1.1"));
    drop(dashboard);
}

/// A live dashboard for the service's life, while clients come and go: their tasks
/// run on threads that end. (The warm-up ends more threads than the names of ended
/// threads kept for a live observer: 1,024, and fills what the dashboard
/// keeps.)
#[cfg(feature = "dashboard")]
fn dashboard_clients(i: usize) {
    let _ = dashboard_shared();
    clients_made_and_dropped(i);
}

/// A small graph run on the calling thread (its tasks' records are that thread's).
#[cfg(feature = "dashboard")]
fn sync_compute(i: usize) {
    let a = delay!(leaf(i as u64));
    let b = delay!(combine(a, &delay!(leaf(3))));
    let options = RunOptions::new().scheduler(Scheduler::Sync);
    assert_eq!(
        b.try_compute_with(options).unwrap(),
        combine(leaf(i as u64), &leaf(3))
    );
}

/// A live dashboard for the service's life, while threads come and go, each running
/// a graph on itself. (The warm-up ends more threads than the names of ended threads
/// kept for a live observer.)
#[cfg(feature = "dashboard")]
fn dashboard_threads(i: usize) {
    let _ = dashboard_shared();
    std::thread::spawn(move || sync_compute(i)).join().unwrap();
}

/// A performance report per batch of work: made, fed a graph and a client's tasks,
/// written and deleted.
#[cfg(feature = "dashboard")]
fn performance_reports(i: usize) {
    let path = std::env::temp_dir().join(format!("taskweave-long-use-{}.html", std::process::id()));
    let report = taskweave::PerformanceReport::new(&path);
    dynamic_compute(i);
    futures_submit(i);
    let written = report.finish().unwrap();
    std::fs::remove_file(written).unwrap();
}

/// Clients that serve a dashboard of their own, made and dropped.
#[cfg(feature = "dashboard")]
fn clients_with_dashboards(i: usize) {
    let c = Client::builder()
        .threads(2)
        .dashboard("127.0.0.1:0")
        .build()
        .unwrap();
    assert!(c.dashboard().is_some());
    assert_eq!(c.submit(inc, (i as u64,)).result().unwrap(), i as u64 + 1);
}

/// [`dashboard_threads`], once the dashboard has seen two runs at once (a graph
/// computed inside a task of another): it keeps a task log for each, and the one the
/// later runs do not take stays idle.
#[cfg(feature = "dashboard")]
fn dashboard_threads_two_logs(i: usize) {
    let _ = dashboard_shared();
    if i == 0 {
        let outer = delayed(|x: u64| delay!(leaf(x)).compute()).call(1);
        assert_eq!(outer.compute(), leaf(1));
    }
    std::thread::spawn(move || sync_compute(i)).join().unwrap();
}

/// A live dashboard watching the long-lived client's tasks.
#[cfg(feature = "dashboard")]
fn dashboard_futures(i: usize) {
    let _ = dashboard_shared();
    futures_submit(i);
    futures_failure(i);
}

/// The slack of the probes whose work stays on the calling thread or in the rayon pool
/// (static and dynamic graphs): nothing moves there between two quiet moments.
const QUIET: isize = 512;
/// The slack of the probes that use a client's pool: its work queues' buffers grow and
/// shrink with the work (measured: within 23 KiB of each other at any two quiet
/// moments, over 5,000 or 50,000 rounds alike), so these probes run enough rounds that
/// a leak of 7 bytes a round, or 17 for a client made per round, exceeds it.
const POOLS: isize = 48 << 10;

const PROBES: &[Probe] = &[
    Probe {
        name: "static_compute",
        warm: 200,
        rounds: 4000,
        slack: QUIET,
        round: static_compute,
    },
    Probe {
        name: "static_failure",
        warm: 100,
        rounds: 1000,
        slack: QUIET,
        round: static_failure,
    },
    Probe {
        name: "dynamic_compute",
        warm: 200,
        rounds: 2000,
        slack: QUIET,
        round: dynamic_compute,
    },
    Probe {
        name: "dynamic_named",
        warm: 200,
        rounds: 2000,
        slack: QUIET,
        round: dynamic_named,
    },
    Probe {
        name: "dynamic_pure",
        warm: 200,
        rounds: 2000,
        slack: QUIET,
        round: dynamic_pure,
    },
    Probe {
        name: "dynamic_failure",
        warm: 100,
        rounds: 1000,
        slack: QUIET,
        round: dynamic_failure,
    },
    Probe {
        name: "dynamic_persist",
        warm: 200,
        rounds: 2000,
        slack: QUIET,
        round: dynamic_persist,
    },
    Probe {
        name: "dynamic_observed",
        warm: 100,
        rounds: 1000,
        slack: QUIET,
        round: dynamic_observed,
    },
    Probe {
        name: "profiler_cleared",
        warm: 100,
        rounds: 1000,
        slack: QUIET,
        round: profiler_cleared,
    },
    Probe {
        name: "profiler_cleared_threads",
        warm: 50,
        rounds: 1000,
        slack: QUIET,
        round: profiler_cleared_threads,
    },
    Probe {
        name: "threads_observed",
        warm: 50,
        rounds: 2000,
        slack: QUIET,
        round: threads_observed,
    },
    Probe {
        name: "futures_submit",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: futures_submit,
    },
    Probe {
        name: "futures_map_gather",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: futures_map_gather,
    },
    Probe {
        name: "futures_failure",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: futures_failure,
    },
    Probe {
        name: "futures_gather_failure",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: futures_gather_failure,
    },
    Probe {
        name: "futures_cancel_dropped",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: futures_cancel_dropped,
    },
    Probe {
        name: "futures_handles_dropped_pending",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: futures_handles_dropped_pending,
    },
    Probe {
        name: "fire_and_forget",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: fire_and_forget,
    },
    Probe {
        name: "result_timeout_gives_up",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: result_timeout_gives_up,
    },
    Probe {
        name: "wait_gives_up",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: wait_gives_up,
    },
    Probe {
        name: "as_completed_gives_up",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: as_completed_gives_up,
    },
    Probe {
        name: "as_completed_dropped_early",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: as_completed_dropped_early,
    },
    Probe {
        name: "done_callbacks",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: done_callbacks,
    },
    Probe {
        name: "get_client_in_tasks",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: get_client_in_tasks,
    },
    Probe {
        name: "secede_and_wait",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: secede_and_wait,
    },
    Probe {
        name: "client_compute_delayed",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: client_compute_delayed,
    },
    Probe {
        name: "scatter",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: scatter,
    },
    Probe {
        name: "clients_made_and_dropped",
        warm: 50,
        rounds: 3000,
        slack: POOLS,
        round: clients_made_and_dropped,
    },
    Probe {
        name: "clients_dropped_busy",
        warm: 50,
        rounds: 3000,
        slack: POOLS,
        round: clients_dropped_busy,
    },
    Probe {
        name: "clients_observed",
        warm: 50,
        rounds: 3000,
        slack: POOLS,
        round: clients_observed,
    },
    Probe {
        name: "pending_result_timeouts",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: pending_result_timeouts,
    },
    Probe {
        name: "pending_wait_timeouts",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: pending_wait_timeouts,
    },
    Probe {
        name: "pending_as_completed_timeouts",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: pending_as_completed_timeouts,
    },
    Probe {
        name: "pending_dependents_dropped",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: pending_dependents_dropped,
    },
    Probe {
        name: "pending_gather_failure",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: pending_gather_failure,
    },
    Probe {
        name: "pending_done_callbacks",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: pending_done_callbacks,
    },
    Probe {
        name: "as_completed_long_lived",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: as_completed_long_lived,
    },
    Probe {
        name: "retried_failures",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: retried_failures,
    },
    Probe {
        name: "progress_observed",
        warm: 200,
        rounds: 4000,
        slack: POOLS,
        round: progress_observed,
    },
    #[cfg(feature = "dashboard")]
    Probe {
        name: "performance_reports",
        warm: 50,
        rounds: 1000,
        slack: POOLS,
        round: performance_reports,
    },
    #[cfg(feature = "dashboard")]
    Probe {
        name: "clients_with_dashboards",
        warm: 50,
        rounds: 1000,
        slack: POOLS,
        round: clients_with_dashboards,
    },
    #[cfg(feature = "dashboard")]
    Probe {
        name: "dashboards_made_and_dropped",
        warm: 20,
        rounds: 1000,
        slack: POOLS,
        round: dashboards_made_and_dropped,
    },
    #[cfg(feature = "dashboard")]
    Probe {
        name: "dashboard_connections",
        warm: 100,
        rounds: 4000,
        slack: POOLS,
        round: dashboard_connections,
    },
    #[cfg(feature = "dashboard")]
    Probe {
        name: "dashboard_clients",
        warm: 1500,
        rounds: 2000,
        slack: POOLS,
        round: dashboard_clients,
    },
    #[cfg(feature = "dashboard")]
    Probe {
        name: "dashboard_threads",
        warm: 1100,
        rounds: 2000,
        slack: POOLS,
        round: dashboard_threads,
    },
    #[cfg(feature = "dashboard")]
    Probe {
        name: "dashboard_threads_two_logs",
        warm: 100,
        rounds: 2000,
        slack: QUIET,
        round: dashboard_threads_two_logs,
    },
    #[cfg(feature = "dashboard")]
    Probe {
        name: "dashboard_futures",
        warm: 200,
        rounds: 8000,
        slack: POOLS,
        round: dashboard_futures,
    },
];

fn main() {
    // The probes' failing tasks panic by the thousand: only the main thread's panics
    // (a probe's assertion) are shown.
    let shown = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("main") {
            shown(info);
        }
    }));
    // A watchdog: a probe that hangs fails the run rather than CI.
    let (started, watching) = mpsc::channel();
    std::thread::Builder::new()
        .name("long-use watchdog".into())
        .spawn(move || {
            started.send(()).unwrap();
            std::thread::sleep(Duration::from_secs(600));
            eprintln!("long use: still running after 600 s, a hang");
            std::process::exit(1);
        })
        .unwrap();
    // Threads started now allocate as they first run (rayon's workers, their queues),
    // on a loaded machine after the first probe's first measurement: 3,800 bytes were
    // counted as that probe's growth in CI. Each has run by the end of these.
    watching.recv().unwrap();
    rayon::broadcast(|_| ());
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    // `LONG_USE_SCALE=10` runs ten times the rounds, to tell a leak (growth with the
    // rounds) from a buffer that was larger at one measurement than at the other.
    let scale = std::env::var("LONG_USE_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let mut failures = Vec::new();
    for probe in PROBES {
        if filter.as_deref().is_some_and(|f| !probe.name.contains(f)) {
            continue;
        }
        if let Err(failure) = run(probe, scale) {
            failures.push(failure);
        }
    }
    if !failures.is_empty() {
        eprintln!("long use: leaks:\n  {}", failures.join("\n  "));
        std::process::exit(1);
    }
}
