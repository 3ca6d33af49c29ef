//! The course examples (`examples/NN_name.rs`, see `docs::guide`) and the examples in
//! folders of their own (`examples/<name>/main.rs`) run and print what they teach:
//! every example binary that `cargo test` builds is run, with a timeout, and 1–4 of its
//! key output lines (results, task counts, statuses) are checked, so that no example
//! can rot. Timings are printed by the examples but never checked: the machine may be
//! busy with other tests.
//!
//! `cargo test --workspace` (or `cargo build --examples`) builds the binaries; a run
//! filtered to this test alone (`cargo test --test examples`) uses the ones already
//! built, and says so when they are missing or older than their source.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Each example and substrings its standard output must contain.
const EXAMPLES: &[(&str, &[&str])] = &[
    (
        "01_thread_pool_map",
        &[
            "client.map, 4 threads",
            "results in item order: [0, 1, 4, 9, 16] … (sum 12540)",
            "more threads than cores do not make CPU work faster",
        ],
    ),
    (
        "02_submit",
        &[
            "result: 49 after",
            "results: [0, 1, 4, 9, 16, 25, 36, 49]",
            "scaled_sum(2, 3, 10) = 50, \"hello, taskweave\", no arguments: 42",
        ],
    ),
    (
        "03_task_graphs",
        &[
            "diamond: 3 nodes, 2 edges, depth 2, width 2",
            "diamond.compute(1) = 4",
            "pipeline: 9 tasks, 8 edges, depth 3",
            "pipeline result: 3998000",
        ],
    ),
    (
        "04_scheduler_idea",
        &[
            "toy scheduler result: 965343 in",
            "taskweave result: 965343 in",
            "chain of 5000:",
        ],
    ),
    (
        "05_delayed_create_and_run",
        &[
            "built 9 nodes in",
            "load has run 0 times",
            "load has run 8 times",
            "compute() again = 280; load has run 16 times",
        ],
    ),
    (
        "06_decorator_and_explicit",
        &[
            "delay!(inc(inc(inc(1)))): nodes [\"inc\", \"inc\", \"inc\"] = 4",
            "5 calls of pure square (3, 4, 3, 3, 4): 3 nodes, result 59, square ran 2 times",
            "the same calls, not pure: 4 nodes, result 141",
        ],
    ),
    (
        "07_compute_and_persist",
        &[
            "500.5, 1000 in",
            "load ran 2 times",
            "load ran 1 times",
            "on the persisted data: [500500.0, 1001000.0, 1501500.0, 2002000.0, 2502500.0]",
        ],
    ),
    (
        "08_inspect_graphs",
        &[
            "graph!: 6 nodes, 5 edges, depth 4, width 2",
            "critical path: [\"load\", \"clean\", \"total\", \"mul\"]",
            "collapsed boxes: [\"load ×200\", \"clean ×200\"]",
            "failed: [\"parse\"]",
        ],
    ),
    (
        "09_allowed_operations",
        &[
            "operators, methods, fields: (96, false, 7, -3, 3.0, 4, -1.0)",
            "collections, split, ?: Ok((27, 32, Some(2)))",
            "Delayed: a*3 + b - 1 = 16, norm1 = 7, x = -3, divmod = (3, 2)",
            "collections of Delayed: row sums [5, 4], cheapest pear",
        ],
    ),
    (
        "10_prohibited_operations",
        &[
            "1. if on a node, fixed with a task: step(inc(4)) = 6",
            "10. shared value, fixed with &Big: 2000",
            "12. Delayed, fixed: map(if …) 2, a + 1 3, map(sum) 6",
        ],
    ),
    (
        "11_aggregate",
        &[
            "fan-in         65 nodes, depth 2, width 64",
            "tree_reduce   127 nodes, depth 7, width 64",
            "readings counted: 128000 (64 partitions x 2,000)",
        ],
    ),
    (
        "12_best_practices",
        &[
            "1. task size vs overhead",
            "     100 µs",
            "overhead per task",
            "4. build + compute + drop",
        ],
    ),
    (
        "13_futures_submit_map",
        &[
            "map(inc, 0..1000) then map(double, futures): 1000 results, first [2, 4, 6, 8], sum 1001000",
            "map(square, 1..=5) = [1, 4, 9, 16, 25]",
        ],
    ),
    (
        "14_futures_results_and_status",
        &[
            "slow: Running, queued: Pending, done: false false",
            "after the go: slow = 42, queued = 7; statuses Finished, Finished",
            "failed: task `read_sensor` at examples/14_futures_results_and_status.rs:",
            "cancelled: Cancelled, task `never` at examples/14_futures_results_and_status.rs:125:24 was cancelled",
        ],
    ),
    (
        "15_composing_futures",
        &[
            "tree of 63 futures: submitted in",
            "total 496 after",
            "o + z + 1 for o in 0, 100, 200, 300: [4, 104, 204, 304]",
            "client.compute(&delayed) + z = 17",
        ],
    ),
    (
        "16_errors_cancel_wait_forget",
        &[
            "1. error: task \"parse\" failed with",
            "2. retries(3): \"ok\" after 3 attempts",
            "5. fire_and_forget: the task ran without a handle: true",
        ],
    ),
    (
        "17_as_completed",
        &[
            "completed: [",
            "crawl: 40 pages",
            "sum of squares 1..=10 via with_results: 385",
            "a task that submitted 10 tasks on a 1-thread client: 450",
        ],
    ),
    (
        "18_futures_vs_delayed",
        &[
            "Delayed: 4 built, ran 0 times before compute",
            "futures: 4 submitted, ran 4 times without asking for a result",
            "client.compute(&delayed) = 90 (10 loads); client.persist: 10 loads; a graph on the persisted value = 180 (0 loads)",
        ],
    ),
    (
        "19_scatter",
        &[
            "by value:  16 tasks, 64 MB copied",
            "every task read the same buffer: true",
            "Delayed, one table node lent to 16 tasks: 18 nodes",
        ],
    ),
    (
        "20_debugging",
        &[
            "task \"parse\", call site examples/20_debugging.rs:",
            "4. progress: 41 of 41 tasks done, 0 failed",
            "5. graph!: task `parse` at examples/20_debugging.rs:",
        ],
    ),
];

/// Examples in a folder of their own (`examples/<name>/main.rs` and its module files),
/// each with substrings its standard output must contain.
const MULTI_FILE_EXAMPLES: &[(&str, &[&str])] = &[(
    "multi_file",
    &[
        "multi_file: graph! nodes [\"step\", \"step\"], edges [(0, 1)]; step(step(5)) = 49",
        "multi_file: delay! nodes 2; result 49",
    ],
)];

/// How long one example may run (debug build, on a busy machine).
const TIMEOUT: Duration = Duration::from_secs(60);

/// The repository's root, where the examples are: this package is its `tests/` folder.
fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repository")
}

/// Where `cargo test` put the example binaries: next to this test's `deps` folder.
fn examples_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let deps = exe.parent().expect("the test binary's folder");
    deps.parent().expect("the profile folder").join("examples")
}

/// Runs `binary` with a timeout; returns its exit status, stdout and stderr.
fn run(binary: &Path) -> Result<(std::process::ExitStatus, String, String), String> {
    let mut child = Command::new(binary)
        .current_dir(repository())
        // The examples' own defaults: the thread pool, no progress bars, short panics.
        .env_remove("TASKWEAVE_SCHEDULER")
        .env("TASKWEAVE_PROGRESS", "off")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", binary.display()))?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("did not finish within {TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    Ok((status, out, err))
}

/// The last `n` lines of `text`, for failure messages.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[test]
fn course_examples_run_and_print_their_key_lines() {
    let root = repository();

    // Every numbered example in examples/ is listed above, and the other way round.
    let mut on_disk: Vec<String> = std::fs::read_dir(root.join("examples"))
        .expect("the examples folder")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".rs")?;
            let numbered = stem.len() > 3
                && stem.as_bytes()[..2].iter().all(u8::is_ascii_digit)
                && stem.as_bytes()[2] == b'_';
            numbered.then(|| stem.to_string())
        })
        .collect();
    on_disk.sort();
    let listed: Vec<String> = EXAMPLES.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        on_disk, listed,
        "tests/examples.rs must list every examples/NN_*.rs, in order"
    );

    let dir = examples_dir();
    let mut missing = Vec::new();
    let mut failures = Vec::new();
    let start = Instant::now();
    for (name, expected) in EXAMPLES.iter().chain(MULTI_FILE_EXAMPLES) {
        let binary = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        // A one-file example's source, or the newest file of a folder example.
        let single = root.join("examples").join(format!("{name}.rs"));
        let written = if single.is_file() {
            modified(&single)
        } else {
            std::fs::read_dir(root.join("examples").join(name))
                .into_iter()
                .flatten()
                .filter_map(|entry| modified(&entry.ok()?.path()))
                .max()
        };
        match (modified(&binary), written) {
            (None, _) => {
                missing.push(format!("{name} (no {})", binary.display()));
                continue;
            }
            (Some(built), Some(written)) if written > built => {
                missing.push(format!("{name} (the binary is older than its source)"));
                continue;
            }
            _ => {}
        }
        let began = Instant::now();
        match run(&binary) {
            Err(why) => failures.push(format!("{name}: {why}")),
            Ok((status, out, err)) => {
                let absent: Vec<&&str> = expected.iter().filter(|e| !out.contains(**e)).collect();
                if !status.success() || !absent.is_empty() {
                    failures.push(format!(
                        "{name}: exit {status}; missing lines {absent:?}\n--- stdout (end)\n{}\n--- stderr (end)\n{}",
                        tail(&out, 25),
                        tail(&err, 15)
                    ));
                }
            }
        }
        eprintln!("{name}: {:.2?}", began.elapsed());
    }
    eprintln!(
        "{} examples in {:.2?}",
        EXAMPLES.len() + MULTI_FILE_EXAMPLES.len(),
        start.elapsed()
    );
    assert!(
        missing.is_empty(),
        "example binaries missing or stale in {}: {missing:?}\n\
         build them with `cargo test --workspace` (which builds every example before \
         running the tests) or `cargo build --examples`, then rerun",
        dir.display()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
