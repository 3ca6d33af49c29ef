//! The live dashboard (Dask's dashboard at `http://127.0.0.1:8787/status`): a client
//! built with `.dashboard(addr)` serves a page that shows, every second, the task
//! stream of the last ten seconds, progress per function, tasks per second and each
//! thread's current task; at the end the page is kept as a performance report.
//!
//! Dask:
//! ```text
//! client = Client(dashboard_address="127.0.0.1:8787"); print(client.dashboard_link)
//! ```
//! taskweave: `Client::builder().dashboard("127.0.0.1:8787").build()?`, then
//! `client.dashboard().unwrap().url()`; for graphs computed without a client,
//! `let dashboard = Dashboard::serve("127.0.0.1:8787")?;`.
//!
//! Run: `cargo run --release --example dashboard --features dashboard [-- OPTIONS]`
//! and open the address it prints. It runs a mixed workload (dynamic and static
//! graphs, futures, some failures, a cancel each round) for 20 seconds, then writes
//! the report. Options: `--seconds N` (how long), `--short` (2 seconds, for a smoke
//! run; or `TASKWEAVE_DASHBOARD_SHORT=1`), `--addr HOST:PORT` (default
//! `127.0.0.1:8787`, or a free port if that one is taken; port 0 picks one),
//! `--report PATH` (default: `dashboard_report.html` in the target directory).

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use taskweave::prelude::*;
use taskweave::{Client, ClientError, Scheduler};

/// Loads one partition: about a millisecond of work.
#[delayed]
fn load(part: u64) -> Vec<u64> {
    std::thread::sleep(Duration::from_micros(900));
    (0..1_000).map(|i| part * 1_000 + i).collect()
}

/// Keeps the even values.
#[delayed]
fn clean(values: Vec<u64>) -> Vec<u64> {
    std::thread::sleep(Duration::from_micros(500));
    values.into_iter().filter(|v| v % 2 == 0).collect()
}

/// The sum of every cleaned partition.
#[delayed]
fn total(parts: &[Vec<u64>]) -> u64 {
    parts.iter().flatten().sum()
}

/// Fails on purpose for some values: the dashboard counts them as failed.
#[delayed]
fn validate(x: u64) -> u64 {
    assert!(x % 7 != 3, "value {x} out of range");
    x
}

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn double(x: i64) -> i64 {
    x * 2
}

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn square(x: u64) -> u64 {
    std::thread::sleep(Duration::from_micros(400));
    x * x
}

/// A slow future: the workers' table shows it running.
fn train(round: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(150));
    round
}

/// Waits until told to go (holds one thread, so the task behind it can be cancelled
/// before it starts).
fn wait_for(rx: Arc<Mutex<mpsc::Receiver<()>>>) -> u64 {
    let _ = rx.lock().map(|rx| rx.recv());
    1
}

struct Options {
    seconds: f64,
    addr: String,
    report: PathBuf,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        seconds: 20.0,
        addr: "127.0.0.1:8787".to_owned(),
        report: default_report(),
    };
    if std::env::var_os("TASKWEAVE_DASHBOARD_SHORT").is_some_and(|v| v != "0") {
        options.seconds = 2.0;
    }
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--short" => options.seconds = 2.0,
            "--seconds" => {
                options.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?;
            }
            "--addr" => options.addr = value()?,
            "--report" => options.report = PathBuf::from(value()?),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(options)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The failing tasks panic on purpose: print each as one short line.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map_or("(not a string)", String::as_str);
        eprintln!("(a task panicked: {message})");
    }));
    let options = options()?;

    let built = Client::builder()
        .threads(2)
        .dashboard(&options.addr)
        .build();
    let client = match built {
        // The usual port is taken (another dashboard?): any free one.
        Err(ClientError::Dashboard(why)) if why.kind() == std::io::ErrorKind::AddrInUse => {
            eprintln!("{} is taken ({why}); using a free port", options.addr);
            Client::builder()
                .threads(2)
                .dashboard("127.0.0.1:0")
                .build()?
        }
        built => built?,
    };
    let dashboard = client.dashboard().expect("built with a dashboard");
    println!("dashboard: {}", dashboard.url());
    println!(
        "running a mixed workload for {} s (open the address above)",
        options.seconds
    );

    let diamond = graph!(|x: i64| -> i64 {
        let b = inc(x);
        let c = double(x);
        add(b, c)
    });
    let deadline = Instant::now() + Duration::from_secs_f64(options.seconds);
    let mut round = 0u64;
    let (mut failures, mut cancels) = (0u64, 0u64);
    while round == 0 || Instant::now() < deadline {
        // A slow future, running meanwhile.
        let trained = client.submit(train, (round,));

        // A dynamic graph: 24 loads, 24 cleans, one total.
        let parts: Vec<Delayed<Vec<u64>>> = (0..24)
            .map(|i| delay!(clean(load(round * 24 + i))))
            .collect();
        let sum = delay!(total(parts)).compute();

        // Every third round, a compute that fails (one task of six panics).
        if round.is_multiple_of(3) {
            let checked: Vec<Delayed<u64>> = (0..6).map(|i| delay!(validate(i))).collect();
            let all = delayed(|xs: Vec<u64>| xs.iter().sum::<u64>()).call(checked);
            if all.try_compute_with(Scheduler::Sync).is_err() {
                failures += 1;
            }
        }

        // A static graph, computed a few times.
        for x in 0..4 {
            diamond.compute(x + round as i64);
        }

        // Futures: a map, a compute on the client, and one task cancelled behind a
        // gate.
        let squares = client.map(square, 0..32u64);
        let (go, rx) = mpsc::channel();
        let gate = client.submit(wait_for, (Arc::new(Mutex::new(rx)),));
        let cancelled = client.submit(|x: u64| x + 1, (gate.clone(),));
        cancelled.cancel();
        go.send(())?;
        let squared: u64 = client.gather(&squares)?.iter().sum();
        gate.result()?;
        if cancelled.result().is_err() {
            cancels += 1;
        }
        let parts: Vec<Delayed<u64>> = (0..8).map(|i| delay!(validate(i * 7))).collect();
        let count = delayed(|xs: Vec<u64>| xs.len() as u64).call(parts);
        let on_client = client.compute(&count).result()?;
        trained.result()?;
        if round.is_multiple_of(10) {
            println!(
                "round {round}: total {sum}, squares {squared}, {on_client} validated, \
                 {failures} failed computes, {cancels} cancels"
            );
        }
        round += 1;
    }

    let path = dashboard.write_report(&options.report)?;
    println!("{round} rounds; report: {}", path.display());
    Ok(())
}

/// `dashboard_report.html` in the target directory (beside the example's binary).
fn default_report() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.parent()?
                .parent()
                .map(|dir| dir.join("dashboard_report.html"))
        })
        .unwrap_or_else(|| PathBuf::from("dashboard_report.html"))
}
