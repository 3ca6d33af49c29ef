//! The performance report (`PerformanceReport`, `performance_report`; feature
//! `dashboard`): one self-contained HTML page of every task run while it is active,
//! for all three front ends. The page is read back as text: one bar per recorded
//! task, progress numbers equal to the workload's, no URL; a run of 10^5 tasks is
//! aggregated and stays small; without a report nothing is recorded. Where Chromium
//! is installed, a headless browser loads a page and its script runs.
//!
//! A report watches the whole process, so the tests here take turns (`SERIAL`).

#[path = "support/browser.rs"]
mod browser;
#[path = "support/watchdog.rs"]
mod watchdog;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use browser::{cell, table_rows, text_of};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::Duration;

use taskweave::prelude::*;
use taskweave::{performance_report, Client, PerformanceReport, Scheduler};

const LIMIT: Duration = Duration::from_secs(300);

/// One report at a time: each records every compute of the process.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fresh path for a page.
fn page_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("taskweave-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[delayed]
fn inc(x: u64) -> u64 {
    x + 1
}

#[delayed]
fn boom(xs: Vec<u64>) -> u64 {
    panic!("boom after {} values", xs.len())
}

#[delayed]
fn twice(x: i64) -> i64 {
    x * 2
}

#[delayed]
fn negate(x: i64) -> i64 {
    -x
}

#[delayed]
fn plus(a: i64, b: i64) -> i64 {
    a + b
}

#[delayed]
fn leaf(x: u64) -> u64 {
    x ^ 0x5a
}

#[delayed]
fn gather_all(xs: &[u64]) -> u64 {
    xs.iter().sum()
}

fn square(x: u64) -> u64 {
    x * x
}

fn gate(rx: Arc<Mutex<mpsc::Receiver<()>>>) -> u64 {
    rx.lock().unwrap().recv().unwrap();
    1
}

fn after(x: u64) -> u64 {
    x + 1
}

/// The counts a progress row shows.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Progress {
    done: u64,
    failed: u64,
    cancelled: u64,
    total: u64,
}

/// The progress table of a page, by function name.
fn progress(page: &str) -> HashMap<String, Progress> {
    table_rows(page, "progress")
        .into_iter()
        .map(|(name, row)| {
            let p = Progress {
                done: cell(row, "done"),
                failed: cell(row, "failed"),
                cancelled: cell(row, "cancelled"),
                total: cell(row, "total"),
            };
            (name.to_owned(), p)
        })
        .collect()
}

/// The number in `attribute="N"` of the first element that has it.
fn attribute(page: &str, attribute: &str) -> u64 {
    let open = format!("{attribute}=\"");
    let at = page.find(&open).unwrap_or_else(|| panic!("no {attribute}")) + open.len();
    page[at..].split('"').next().unwrap().parse().unwrap()
}

fn bars(page: &str) -> usize {
    page.matches("<rect class=\"task\"").count()
}

fn assert_self_contained(page: &str) {
    assert!(!page.contains("http://"), "the page names an http:// URL");
    assert!(!page.contains("https://"), "the page names an https:// URL");
    assert!(!page.contains("<link"), "the page links a resource");
    assert!(!page.contains(" src="), "the page loads a resource");
}

/// The mixed workload: a dynamic compute whose last task fails, a static graph
/// computed `STATIC` times, and a client's `SQUARES` futures plus one cancelled
/// before it starts. Returns the expected progress per function and the number of
/// task runs recorded.
const INCS: u64 = 10;
const STATIC: i64 = 3;
const SQUARES: u64 = 12;

fn mixed_workload() -> (HashMap<String, Progress>, usize) {
    // Dynamic: INCS incs, then `boom` reads them all and panics (it runs last).
    let parts: Vec<Delayed<u64>> = (0..INCS).map(|i| delay!(inc(i))).collect();
    let failing = delay!(boom(parts));
    assert!(failing.try_compute_with(Scheduler::Sync).is_err());

    // Static: twice(x) and negate(x), then plus of both.
    let g = graph!(|x: i64| -> i64 {
        let a = twice(x);
        let b = negate(x);
        plus(a, b)
    });
    for x in 0..STATIC {
        assert_eq!(g.compute(x), x);
    }

    // Futures: one thread; the gate holds it while `after` is cancelled.
    let client = Client::builder().threads(1).build().unwrap();
    let squares = client.map(square, 0..SQUARES);
    let (open, rx) = mpsc::channel();
    let gated = client.submit(gate, (Arc::new(Mutex::new(rx)),));
    let cancelled = client.submit(after, (gated.clone(),));
    cancelled.cancel();
    open.send(()).unwrap();
    assert_eq!(client.gather(&squares).unwrap().len() as u64, SQUARES);
    assert_eq!(gated.result().unwrap(), 1);
    assert!(cancelled.result().is_err());
    drop(client);

    let n = |done, failed, cancelled| Progress {
        done,
        failed,
        cancelled,
        total: done + failed + cancelled,
    };
    let statics = STATIC as u64;
    let expected: HashMap<String, Progress> = [
        ("inc", n(INCS, 0, 0)),
        ("boom", n(0, 1, 0)),
        ("twice", n(statics, 0, 0)),
        ("negate", n(statics, 0, 0)),
        ("plus", n(statics, 0, 0)),
        ("square", n(SQUARES, 0, 0)),
        ("gate", n(1, 0, 0)),
        ("after", n(0, 0, 1)),
    ]
    .into_iter()
    .map(|(name, p)| (name.to_owned(), p))
    .collect();
    // Every graph task ran (the failing one last); every future ran once, but the
    // cancelled one, which never ran: no run, counted cancelled.
    let runs = INCS + 1 + 3 * statics + SQUARES + 1;
    (expected, runs as usize)
}

#[test]
fn a_report_records_dynamic_static_and_futures_tasks() {
    let _serial = serial();
    watchdog::within(LIMIT, "mixed report", || {
        let path = page_path("mixed.html");
        let report = PerformanceReport::new(&path);
        assert_eq!(report.path(), path);
        let (expected, runs) = mixed_workload();
        assert_eq!(report.finish().unwrap(), path);

        let page = std::fs::read_to_string(&path).unwrap();
        assert_eq!(bars(&page), runs, "one bar per recorded task");
        assert_eq!(attribute(&page, "data-tasks") as usize, runs);
        assert!(
            !page.contains("id=\"stream-note\""),
            "no aggregate below the limit"
        );
        assert_eq!(progress(&page), expected);
        assert_self_contained(&page);

        // Every bar has what its hover and the zoom need.
        for bar in page.split("<rect class=\"task\"").skip(1) {
            let bar = &bar[..bar.find("</rect>").unwrap()];
            for needed in [
                "data-name=",
                "data-outcome=",
                "data-start=",
                "data-dur=",
                "<title>",
            ] {
                assert!(bar.contains(needed), "{needed} missing in {bar}");
            }
        }
        let outcome_bars = |outcome: &str| {
            let attribute = format!("data-outcome=\"{outcome}\"");
            page.split("<rect class=\"task\"")
                .skip(1)
                .filter(|bar| bar[..bar.find("</rect>").unwrap()].contains(&attribute))
                .count()
        };
        assert_eq!(outcome_bars("failed"), 1);
        assert_eq!(outcome_bars("cancelled"), 0, "the cancelled task never ran");
        assert_eq!(outcome_bars("finished"), runs - 1);
        // The per-function table, the graphs of the computes (1 dynamic + STATIC).
        assert!(page.contains("<table id=\"functions\""));
        let computes = 1 + STATIC as usize;
        assert_eq!(text_of(&page, "computes"), computes.to_string());
        // The static graph's computes went alike: drawn once.
        assert_eq!(page.matches("<div class=\"graph\"><svg").count(), 2);
        assert!(page.contains(&format!(
            "computes 2 to {computes} (the same graph, {STATIC} times)"
        )));
        assert_eq!(text_of(&page, "task-count"), runs.to_string());
    });
}

#[test]
fn the_closure_form_writes_the_page_and_returns_the_value() {
    let _serial = serial();
    let path = page_path("closure.html");
    let value = performance_report(&path, || {
        let parts: Vec<Delayed<u64>> = (0..5).map(|i| delay!(inc(i))).collect();
        delay!(gather_all(parts)).compute()
    })
    .unwrap();
    assert_eq!(value, 15);
    let page = std::fs::read_to_string(&path).unwrap();
    assert_eq!(bars(&page), 6);
    assert_eq!(progress(&page)["inc"].done, 5);
}

#[test]
fn without_a_report_nothing_is_recorded() {
    let _serial = serial();
    let first = page_path("before.html");
    let report = PerformanceReport::new(&first);
    assert_eq!(delay!(inc(1)).compute(), 2);
    drop(report); // writes the page
    assert_eq!(bars(&std::fs::read_to_string(&first).unwrap()), 1);

    // After the guard: computes of every kind, watched by nobody.
    let (_, runs) = mixed_workload();
    assert!(runs > 0);

    let second = page_path("after.html");
    let report = PerformanceReport::new(&second);
    let page = report.to_html();
    assert_eq!(
        bars(&page),
        0,
        "the computes after the first report are not recorded"
    );
    assert_eq!(attribute(&page, "data-tasks"), 0);
    assert!(progress(&page).is_empty());
    report.finish().unwrap();
    assert_eq!(
        attribute(&std::fs::read_to_string(&second).unwrap(), "data-tasks"),
        0
    );
}

#[test]
fn a_run_of_100000_tasks_is_aggregated_and_stays_small() {
    let _serial = serial();
    watchdog::within(LIMIT, "10^5 tasks", || {
        const N: u64 = 100_000;
        let path = page_path("large.html");
        let report = PerformanceReport::new(&path);
        let parts: Vec<Delayed<u64>> = (0..N).map(|i| delay!(leaf(i))).collect();
        let expected: u64 = (0..N).map(|i| i ^ 0x5a).sum();
        assert_eq!(delay!(gather_all(parts)).compute(), expected);
        report.finish().unwrap();

        let size = std::fs::metadata(&path).unwrap().len();
        let page = std::fs::read_to_string(&path).unwrap();
        println!("a report of {} tasks: {size} bytes", N + 1);
        assert!(size < 10 << 20, "{size} bytes");
        assert_eq!(attribute(&page, "data-tasks"), N + 1);
        let note = &page[page.find("id=\"stream-note\"").expect("the aggregate note")..];
        assert_eq!(attribute(note, "data-recorded"), N + 1);
        let drawn = attribute(note, "data-drawn") as usize;
        assert_eq!(page.matches("<rect class=\"bucket\"").count(), drawn);
        assert!(drawn > 0 && drawn < 20_000, "{drawn} aggregate bars");
        assert_eq!(bars(&page), 0, "no bar per task beyond the limit");
        // The buckets account for every task.
        let in_buckets: u64 = page
            .split("<rect class=\"bucket\"")
            .skip(1)
            .map(|b| attribute(b, "data-tasks"))
            .sum();
        assert_eq!(in_buckets, N + 1);
        let p = progress(&page);
        assert_eq!(p["leaf"].done, N);
        assert_eq!(p["gather_all"].done, 1);
        assert_self_contained(&page);
    });
}

/// The DOM of the report at `page` once Chromium ran its script.
fn dump_dom(chromium: &Path, page: &Path) -> String {
    let name = page.file_stem().and_then(|s| s.to_str()).unwrap_or("page");
    browser::dump_dom(chromium, &format!("file://{}", page.display()), 2000, name)
}

/// Headless Chromium (Debian's `chromium`; `.ci/run` installs it) loads a report:
/// the bars and progress numbers are in its DOM, and the page's script ran to its
/// end (it marks `<body data-ok="1">` last, and counts the bars it finds). Skipped,
/// with a notice, where Chromium is not installed.
#[test]
fn a_browser_renders_the_report_and_its_script_runs() {
    let Some(chromium) = browser::chromium() else {
        return;
    };
    let _serial = serial();
    watchdog::within(LIMIT, "chromium", move || {
        let path = page_path("browser.html");
        let report = PerformanceReport::new(&path);
        let (expected, runs) = mixed_workload();
        report.finish().unwrap();

        let dom = dump_dom(&chromium, &path);
        assert!(
            dom.contains("<body data-ok=\"1\">"),
            "the script did not finish"
        );
        assert_eq!(bars(&dom), runs, "one bar per recorded task in the DOM");
        assert_eq!(text_of(&dom, "bars-drawn"), runs.to_string());
        assert_eq!(progress(&dom), expected);
        assert!(
            !text_of(&dom, "zoom-range").is_empty(),
            "the zoom is set up"
        );

        // A page of 10^5 tasks opens too, with its aggregate.
        let path = page_path("browser-large.html");
        let report = PerformanceReport::new(&path);
        let parts: Vec<Delayed<u64>> = (0..100_000).map(|i| delay!(leaf(i))).collect();
        delay!(gather_all(parts)).compute();
        report.finish().unwrap();
        let dom = dump_dom(&chromium, &path);
        assert!(
            dom.contains("<body data-ok=\"1\">"),
            "the script did not finish"
        );
        let note = &dom[dom.find("id=\"stream-note\"").expect("the aggregate note")..];
        assert_eq!(
            text_of(&dom, "bars-drawn"),
            attribute(note, "data-drawn").to_string()
        );
    });
}

/// Tasks named one by one (`load-{i}`) make one row of the report, `load`, as Dask
/// groups keys by prefix: 100,000 of them give two rows (`load`, `gather_all`), not
/// one per name, and `load` counts every task.
#[test]
fn tasks_named_one_by_one_make_one_row_of_the_report() {
    let _serial = serial();
    watchdog::within(LIMIT, "per-task names", || {
        const N: u64 = 100_000;
        let path = page_path("named.html");
        let report = PerformanceReport::new(&path);
        let parts: Vec<Delayed<u64>> = (0..N)
            .map(|i| delayed(|x: u64| x).named(format!("load-{i}")).call(i))
            .collect();
        assert_eq!(delay!(gather_all(parts)).compute(), (0..N).sum::<u64>());
        report.finish().unwrap();

        let page = std::fs::read_to_string(&path).unwrap();
        assert_eq!(attribute(&page, "data-tasks"), N + 1);
        let p = progress(&page);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p["load"].done, N, "the grouped row counts every task");
        assert_eq!(p["load"].total, N);
        assert_eq!(p["gather_all"].done, 1);
        assert_eq!(table_rows(&page, "functions").len(), 2);
        assert!(!page.contains("load-"), "no row or bar per name");
        assert_self_contained(&page);
    });
}

fn queued(x: u64) -> u64 {
    x + 1
}

/// Tasks cancelled while queued behind a busy thread, before they ever ran, are
/// counted cancelled in the progress table, and are no runs: no bar, no count in the
/// functions table (where a run of no time would drag the mean towards zero).
#[test]
fn tasks_cancelled_before_they_ran_are_not_runs() {
    let _serial = serial();
    watchdog::within(LIMIT, "cancelled before running", || {
        let path = page_path("cancelled.html");
        let report = PerformanceReport::new(&path);
        let client = Client::builder().threads(1).build().unwrap();
        let (open, rx) = mpsc::channel();
        let gated = client.submit(gate, (Arc::new(Mutex::new(rx)),));
        while gated.status() == taskweave::Status::Pending {
            std::thread::yield_now();
        }
        let never = client.map(queued, 0..20u64);
        client.cancel(&never);
        open.send(()).unwrap();
        assert_eq!(gated.result().unwrap(), 1);
        let later = client.map(queued, 0..3u64);
        assert_eq!(client.gather(&later).unwrap().len(), 3);
        drop((never, later, client));
        report.finish().unwrap();

        let page = std::fs::read_to_string(&path).unwrap();
        let queued = progress(&page)["queued"];
        assert_eq!(
            queued,
            Progress {
                done: 3,
                failed: 0,
                cancelled: 20,
                total: 23
            }
        );
        let functions = table_rows(&page, "functions");
        let (_, row) = functions
            .iter()
            .find(|(name, _)| *name == "queued")
            .expect("a functions row for queued");
        assert_eq!(cell(row, "count"), 3, "only the tasks that ran");
        // The gate and the three that ran.
        assert_eq!(bars(&page), 4);
        assert_eq!(attribute(&page, "data-tasks"), 4);
    });
}

/// A value whose `Drop` panics.
struct PanicsWhenDropped;

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        panic!("dropped a value left unread");
    }
}

#[delayed]
fn unread_value(x: i64) -> PanicsWhenDropped {
    let _ = x;
    PanicsWhenDropped
}

#[delayed]
fn below_ten(x: i64) -> Result<i64, String> {
    if x < 10 {
        Ok(x)
    } else {
        Err(format!("{x} is not below ten"))
    }
}

#[delayed]
fn reads_unread(_v: &PanicsWhenDropped, x: i64) -> i64 {
    x
}

/// A `graph!` run that a `?` stops, whose value left unread panics in its `Drop`,
/// fails its caller's compute, and the report records that failure with the run's
/// graph. (The report recorded success: the run's end was told before the value was
/// dropped.)
#[test]
fn a_run_failed_by_a_value_its_early_exit_left_unread_is_a_failure_in_the_report() {
    let _serial = serial();
    let g = graph!(|x: i64| -> Result<i64, String> {
        let kept = unread_value(x);
        let c = below_ten(x)?;
        Ok(reads_unread(&kept, c))
    });
    let report = PerformanceReport::new(page_path("early_exit.html"));
    let error = g
        .try_compute(50)
        .expect_err("the unread value's Drop panics");
    assert_eq!(error.message(), "dropped a value left unread");
    let page = report.to_html();
    assert!(
        page.contains("dropped a value left unread"),
        "the report records the run's failure"
    );
    report.finish().unwrap();
}
