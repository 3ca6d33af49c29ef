//! Diagnostics: the profiler's Chrome trace (one complete event per task run, on the
//! thread that ran it) and summary, the progress counters, the synchronous scheduler
//! chosen by `TASKWEAVE_SCHEDULER=sync`, and task errors naming the task.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use taskweave::prelude::*;
use taskweave::{Profiler, Progress, RunOptions};

#[delayed]
fn load(i: u32) -> Vec<f64> {
    (0..8).map(|k| f64::from(i * 8 + k)).collect()
}

#[delayed]
fn clean(v: Vec<f64>) -> Vec<f64> {
    v.into_iter().filter(|x| x % 2.0 == 0.0).collect()
}

#[delayed]
fn total(parts: &[Vec<f64>]) -> f64 {
    parts.iter().flatten().sum()
}

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[delayed]
fn explode(x: i64) -> i64 {
    if x == 3 {
        panic!("three is not allowed");
    }
    x
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

fn observed(observer: Arc<dyn taskweave::Observer>) -> RunOptions {
    RunOptions::new().observer(observer)
}

/// Who ran task `i` of run `r`: the profiler's thread id and the rayon worker index.
type Ran = Mutex<HashMap<(usize, u64), (u32, Option<usize>)>>;

#[test]
fn chrome_trace_has_one_complete_event_per_task_run_on_its_thread() {
    const N: u64 = 200;
    const RUNS: usize = 3;
    let ran: Arc<Ran> = Arc::default();
    let run_no = Arc::new(AtomicUsize::new(0));
    let parts: Vec<Delayed<u64>> = (0..N)
        .map(|i| {
            let (ran, run_no) = (ran.clone(), run_no.clone());
            delayed(move |i: u64| {
                let who = (Profiler::thread_id(), rayon::current_thread_index());
                let run = run_no.load(Ordering::Relaxed);
                assert!(ran.lock().unwrap().insert((run, i), who).is_none());
                // Long enough for several workers to take part.
                std::thread::sleep(std::time::Duration::from_micros(20));
                i
            })
            .call(i)
            .named(format!("t{i}"))
        })
        .collect();
    let sum = delayed(|v: Vec<u64>| v.iter().sum::<u64>()).call(parts);
    let profiler = Arc::new(Profiler::new());
    let pool = pool(4);
    for run in 0..RUNS {
        run_no.store(run, Ordering::Relaxed);
        let value = pool.install(|| sum.try_compute_with(observed(profiler.clone())));
        assert_eq!(value.unwrap(), N * (N - 1) / 2);
    }
    assert_eq!(profiler.runs(), RUNS as u32);

    let trace: Value = serde_json::from_str(&profiler.to_chrome_trace()).expect("valid JSON");
    let events = trace["traceEvents"].as_array().expect("traceEvents");
    let complete: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(
        complete.len(),
        RUNS * (N as usize + 1),
        "one complete event per task run"
    );
    let thread_names: HashMap<u64, &str> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| {
            (
                e["tid"].as_u64().unwrap(),
                e["args"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    let mut seen = HashMap::new();
    let mut tids = std::collections::HashSet::new();
    for e in &complete {
        let name = e["name"].as_str().unwrap();
        let run = e["args"]["run"].as_u64().unwrap() as usize;
        let tid = e["tid"].as_u64().unwrap();
        assert!(e["ts"].as_f64().unwrap() >= 0.0 && e["dur"].as_f64().unwrap() >= 0.0);
        assert!(e["pid"].as_u64().is_some());
        assert!(thread_names.contains_key(&tid), "thread {tid} is named");
        tids.insert(tid);
        if let Some(i) = name.strip_prefix('t') {
            let i: u64 = i.parse().unwrap();
            let (thread, worker) = ran.lock().unwrap()[&(run, i)];
            assert_eq!(tid, u64::from(thread), "{name} of run {run}: thread id");
            assert_eq!(
                e["args"]["worker"].as_u64().map(|w| w as usize),
                worker,
                "{name} of run {run}: rayon worker"
            );
            assert!(worker.is_some(), "ran on the pool");
            assert!(e["args"]["call_site"]
                .as_str()
                .unwrap()
                .contains("diagnostics.rs"));
            assert!(
                seen.insert((run, i), ()).is_none(),
                "one event per task run"
            );
        }
    }
    assert_eq!(seen.len(), RUNS * N as usize);
    assert!(tids.len() > 1, "several threads took part: {tids:?}");
}

#[test]
fn summary_counts_runs_per_function() {
    let parts: Vec<Delayed<Vec<f64>>> = (0..20).map(|i| delay!(clean(delay!(load(i))))).collect();
    let result = delay!(total(parts));
    let profiler = Arc::new(Profiler::new());
    let direct: f64 = total(&(0..20).map(|i| clean(load(i))).collect::<Vec<_>>());
    for _ in 0..2 {
        assert_eq!(
            result.try_compute_with(observed(profiler.clone())).unwrap(),
            direct
        );
    }
    let summary = profiler.summary();
    assert_eq!(summary.row("load").unwrap().count, 40);
    assert_eq!(summary.row("clean").unwrap().count, 40);
    assert_eq!(summary.row("total").unwrap().count, 2);
    assert_eq!(summary.count(), 82);
    for row in &summary.rows {
        assert!(row.max <= row.total && row.mean <= row.max, "{row:?}");
    }
    let table = summary.to_string();
    assert!(table.starts_with("function"), "{table}");
    assert!(table
        .lines()
        .any(|l| l.starts_with("load") && l.contains(" 40 ")));

    // A static graph too: its node names, one record each per run.
    let job = graph!(|x: i64| -> i64 {
        let a = inc(x);
        let b = inc(a);
        add(a, b)
    });
    profiler.clear();
    assert_eq!(job.compute_with(observed(profiler.clone()), 1), 5);
    let summary = profiler.summary();
    assert_eq!(summary.row("inc").unwrap().count, 2);
    assert_eq!(summary.row("add").unwrap().count, 1);
    let records = profiler.records();
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|r| r.run == 0 && r.end >= r.start));
}

#[test]
fn profiler_records_failed_tasks() {
    let bad = delay!(explode(3));
    let profiler = Arc::new(Profiler::new());
    let error = delay!(add(bad, 1))
        .try_compute_with(observed(profiler.clone()).scheduler(Scheduler::Sync))
        .unwrap_err();
    assert_eq!(error.task(), "explode");
    let failed: Vec<_> = profiler
        .records()
        .into_iter()
        .filter(|r| r.outcome == taskweave::TaskOutcome::Failed)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(&*failed[0].name, "explode");
}

#[test]
fn progress_counts_every_task() {
    let parts: Vec<Delayed<Vec<f64>>> = (0..50).map(|i| delay!(clean(delay!(load(i))))).collect();
    let result = delay!(total(parts));
    let progress = Progress::hidden();
    result
        .try_compute_with(observed(Arc::new(progress.clone())))
        .unwrap();
    assert_eq!(progress.total(), 101);
    assert_eq!(progress.done(), progress.total());
    assert_eq!(progress.failed(), 0);
    assert!(!progress.is_drawn());

    // Counted again, from zero, on a pool, for a static graph.
    let job = graph!(|x: i64| -> i64 {
        let a = inc(x);
        let b = inc(x);
        add(a, b)
    });
    let observer = observed(Arc::new(progress.clone()));
    assert_eq!(pool(3).install(|| job.compute_with(observer, 1)), 4);
    assert_eq!((progress.done(), progress.total()), (3, 3));

    // A failure is counted as ended and as failed; tasks after it never start.
    let bad = delay!(add(delay!(explode(3)), 1));
    assert!(bad
        .try_compute_with(observed(Arc::new(progress.clone())).scheduler(Scheduler::Sync))
        .is_err());
    assert_eq!(
        (progress.done(), progress.total(), progress.failed()),
        (1, 2, 1)
    );
}

#[test]
fn progress_watches_futures_until_done() {
    let client = Client::builder().threads(2).build().unwrap();
    let futures = client.map(
        |x: u64| {
            std::thread::sleep(std::time::Duration::from_millis(2));
            x * 2
        },
        0..40u64,
    );
    let progress = Progress::hidden();
    progress.watch(&futures);
    assert!(futures.iter().all(|f| f.done()));
    assert_eq!((progress.done(), progress.total()), (40, 40));
    assert_eq!(client.gather(&futures).unwrap()[39], 78);
}

#[test]
fn task_errors_name_the_task_and_its_call_site() {
    let x = delay!(explode(3));
    let error = delay!(inc(x)).try_compute().unwrap_err();
    assert_eq!(error.task(), "explode");
    assert!(
        error.call_site().contains("diagnostics.rs:"),
        "{}",
        error.call_site()
    );
    assert_eq!(error.message(), "three is not allowed");
    assert!(error
        .to_string()
        .starts_with("task `explode` at tests/diagnostics.rs:"));

    let job = graph!(|x: i64| -> i64 { inc(explode(x)) });
    let error = job.try_compute_with(Scheduler::Sync, 3).unwrap_err();
    assert_eq!(error.task(), "explode");
    assert!(error.call_site().contains("diagnostics.rs:"));
}

/// Run by `scheduler_from_environment` in a child process with
/// `TASKWEAVE_SCHEDULER=sync` (spelled ` Sync `); does nothing otherwise.
#[test]
fn sync_scheduler_child() {
    if !std::env::var("TASKWEAVE_SCHEDULER").is_ok_and(|v| v.trim().eq_ignore_ascii_case("sync")) {
        return;
    }
    let here = std::thread::current().id();
    let threads = Arc::new(Mutex::new(Vec::new()));
    let parts: Vec<Delayed<i64>> = (0..64)
        .map(|i| {
            let threads = threads.clone();
            delayed(move |x: i64| {
                threads
                    .lock()
                    .unwrap()
                    .push((std::thread::current().id(), rayon::current_thread_index()));
                x
            })
            .call(i)
        })
        .collect();
    // Default options: the thread pool, unless the environment says otherwise.
    let sum = delayed(|v: Vec<i64>| v.iter().sum::<i64>()).call(parts);
    assert_eq!(sum.compute(), 64 * 63 / 2);
    let threads = threads.lock().unwrap();
    assert_eq!(threads.len(), 64);
    assert!(
        threads.iter().all(|&(t, w)| t == here && w.is_none()),
        "every task ran on the calling thread, none on a pool"
    );
    assert_eq!(RunOptions::new().effective_scheduler(), Scheduler::Sync);
    println!("sync scheduler child: all tasks on the calling thread");
}

#[test]
fn scheduler_from_environment() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["sync_scheduler_child", "--exact", "--nocapture"])
        // Surrounding spaces and another case still mean `sync`, without a warning.
        .env("TASKWEAVE_SCHEDULER", " Sync ")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("all tasks on the calling thread"),
        "{stdout}"
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
    assert!(!stderr.contains("TASKWEAVE_SCHEDULER"), "{stderr}");
}

/// Run by `unknown_environment_values_warn_once` in a child process with unknown
/// values in the three variables; does nothing otherwise.
#[test]
fn unknown_environment_values_child() {
    if std::env::var_os("TASKWEAVE_TEST_CONFIG_CHILD").is_none() {
        return;
    }
    // Two dynamic computes read all three variables; each warns once per process.
    for _ in 0..2 {
        assert_eq!(delayed(|x: i64| x + 1).call(1).compute(), 2);
    }
    // The unknown scheduler is ignored: the default stands.
    assert_eq!(RunOptions::new().effective_scheduler(), Scheduler::Threads);
}

#[test]
fn unknown_environment_values_warn_once() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["unknown_environment_values_child", "--exact", "--nocapture"])
        .env("TASKWEAVE_TEST_CONFIG_CHILD", "1")
        .env("TASKWEAVE_SCHEDULER", "syn")
        .env("TASKWEAVE_PROGRESS", "of")
        .env("TASKWEAVE_WARNINGS", "maybe")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}");
    for warning in [
        "taskweave: TASKWEAVE_SCHEDULER=\"syn\" is not a scheduler; expected one of: sync, \
         threads (ignored)",
        "taskweave: TASKWEAVE_PROGRESS=\"of\" is not on or off; expected one of: on, off, \
         true, false, 1, 0, never (ignored)",
        "taskweave: TASKWEAVE_WARNINGS=\"maybe\" is not on or off; expected one of: on, off, \
         true, false, 1, 0, never (ignored)",
    ] {
        assert_eq!(stderr.matches(warning).count(), 1, "{warning}\n{stderr}");
    }
}

#[cfg(feature = "tracing")]
#[test]
fn tracing_observer_runs_without_a_subscriber() {
    let parts: Vec<Delayed<i64>> = (0..10).map(|i| delay!(inc(i))).collect();
    let sum = delayed(|v: Vec<i64>| v.iter().sum::<i64>()).call(parts);
    let value = sum
        .try_compute_with(observed(Arc::new(taskweave::TracingObserver)))
        .unwrap();
    assert_eq!(value, 55);
}

/// Two runs at once with one `Progress` and one `RunRecord` (each run on a thread of
/// its own, both inside at once: their last tasks meet): the bar counts both runs'
/// tasks and keeps the failure of the one that failed, whichever ends first; the
/// record, whose events cannot be told apart, says it watched runs that overlapped,
/// and `with_outcomes` refuses it with a message rather than colouring a mix.
#[test]
fn overlapping_runs_share_a_progress_and_are_refused_by_a_run_record() {
    let progress = Progress::hidden();
    let record = Arc::new(taskweave::RunRecord::new());
    let both = Arc::new(std::sync::Barrier::new(2));
    let graph = |fail: bool| {
        let both = both.clone();
        let meet = delayed(move |parts: Vec<i64>| -> i64 {
            both.wait();
            assert!(!fail, "the meeting failed");
            parts.iter().sum()
        })
        .named("meet");
        meet.call((0..20).map(|i| delay!(inc(i))).collect::<Vec<_>>())
    };
    let (ok, bad) = (graph(false), graph(true));
    let options = RunOptions::new()
        .scheduler(Scheduler::Sync)
        .observer(Arc::new(progress.clone()))
        .observer(record.clone());
    std::thread::scope(|s| {
        let first = s.spawn(|| ok.try_compute_with(options.clone()));
        let second = s.spawn(|| bad.try_compute_with(options.clone()));
        assert_eq!(first.join().unwrap().unwrap(), (1..=20).sum::<i64>());
        assert_eq!(second.join().unwrap().unwrap_err().task(), "meet");
    });
    assert_eq!(
        (progress.done(), progress.total(), progress.failed()),
        (42, 42, 1)
    );
    assert!(record.overlapped());
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = ok.info().with_outcomes(&record);
    }))
    .unwrap_err();
    let text = refused.downcast_ref::<&str>().unwrap();
    assert!(text.contains("watched runs that overlapped"), "{text}");

    // A run alone afterwards starts afresh, in both.
    let alone = delay!(inc(delay!(inc(1))));
    assert_eq!(alone.try_compute_with(options).unwrap(), 3);
    assert!(!record.overlapped());
    assert_eq!((progress.done(), progress.total()), (2, 2));
    let outcomes = alone.info().with_outcomes(&record);
    assert!(outcomes.run_error().is_none());
}

/// A dynamic compute that fails while another task still runs, watched by a
/// `RunRecord` and a `Progress`, returns once the run has ended: the record holds the
/// whole run (no task still running, the failure kept), and a run after it is not one
/// that overlapped it. (It returned at once: the record showed `slow` running and no
/// error, and the next run was refused as overlapping.)
#[test]
fn an_observed_failing_dynamic_compute_returns_with_its_observers_told_the_whole_run() {
    use taskweave::{NodeOutcome, RunRecord};
    let record = Arc::new(RunRecord::new());
    let progress = Progress::hidden();
    let slow = delayed(|x: i64| {
        std::thread::sleep(std::time::Duration::from_millis(300));
        x
    })
    .named("slow")
    .call(1);
    let bad = delayed(|x: i64| -> i64 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        panic!("bad {x}")
    })
    .named("bad")
    .call(2);
    let both = delay!(add(&slow, &bad));
    let options = RunOptions::new()
        .observer(record.clone())
        .observer(Arc::new(progress.clone()));
    let error = both.try_compute_with(options.clone()).unwrap_err();
    assert_eq!(error.task(), "bad");
    let outcomes = record.outcomes().expect("the record watched the run");
    assert!(!outcomes.contains(&NodeOutcome::Running), "{outcomes:?}");
    assert!(record.error().is_some_and(|e| e.contains("bad 2")));
    assert_eq!(
        (progress.done(), progress.total(), progress.failed()),
        (2, 3, 1)
    );
    let after = delay!(inc(20));
    assert_eq!(after.try_compute_with(options).unwrap(), 21);
    assert!(!record.overlapped());
    let outcomes = after.info().with_outcomes(&record);
    assert!(outcomes.run_error().is_none());
}

/// A task name longer than `format!` pads (65,535 characters) prints whole in the node
/// table and the profiler's summary (both panicked: "Formatting argument out of
/// range").
#[test]
fn names_longer_than_a_column_can_be_padded_print_whole() {
    let long = "x".repeat(70_000);
    let node = delayed(|x: i64| x + 1).named(long.clone()).call(1);
    assert!(node.info().table_text().contains(&long));
    let profiler = Arc::new(Profiler::new());
    assert_eq!(
        node.try_compute_with(observed(profiler.clone())).unwrap(),
        2
    );
    assert!(profiler.summary().to_string().contains(&long));
}
