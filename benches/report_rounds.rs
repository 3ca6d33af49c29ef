//! What recording costs per task, measured in interleaved rounds: the workload of
//! `report_overhead` (a prepared dynamic fan-in of 19,999 tasks) computed `K` times
//! with no observer, then with a `Profiler`, a `PerformanceReport` and a `Dashboard`
//! (nobody polling), round after round, so that a shared machine's load weighs on
//! every mode alike. Prints, per mode, the median wall time and process CPU time
//! (user + system, all threads) per task, and the median over rounds of each mode's
//! difference to the inactive runs of the same round.
//!
//! `cargo run --release -p taskweave-benches --features dashboard --example
//! report_rounds` (`ROUNDS=15 K=100` by default; `ONLY=active` runs one mode beside
//! the inactive one, for `perf record`). The criterion bench (`report_overhead`) is
//! the reference; this one tells its noise apart on a loaded machine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use taskweave::{Dashboard, PerformanceReport, Profiler, RunOptions};

/// Leaves of the fan-in: `2n − 1` tasks.
const N: u64 = 10_000;

#[path = "support/fan_in.rs"]
mod fan_in;
use fan_in::build_fan_in;

/// The process's CPU time so far, all threads (zero where `getrusage` is missing).
fn cpu_time() -> Duration {
    #[cfg(unix)]
    {
        // SAFETY: `getrusage` writes the `rusage` it is given, which is zeroed (a
        // valid value of this plain C struct) and lives across the call.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut usage);
            usage
        };
        let time = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        time(usage.ru_utime) + time(usage.ru_stime)
    }
    #[cfg(not(unix))]
    Duration::ZERO
}

/// The median of `values`.
fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    taskweave::set_warnings(false);
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let (rounds, k) = (env("ROUNDS", 15).max(1), env("K", 100).max(1));
    let only = std::env::var("ONLY").ok();
    let root = build_fan_in(N);
    let expected = (1..=N).sum::<u64>();
    let mut prepared = taskweave::prepare((&root,));
    let tasks = (k as u64 * (2 * N - 1)) as f64;
    let modes = ["inactive", "profiler", "active", "dashboard"];
    let run = |m: usize| m == 0 || only.as_deref().is_none_or(|o| o == modes[m]);
    let (mut wall, mut cpu) = (vec![Vec::new(); modes.len()], vec![Vec::new(); modes.len()]);
    for _ in 0..3 {
        assert_eq!(prepared.compute().0, expected);
    }
    for _ in 0..rounds {
        for m in (0..modes.len()).filter(|&m| run(m)) {
            let profiler = Arc::new(Profiler::new());
            let options = RunOptions::new().observer(profiler.clone());
            let report = (modes[m] == "active").then(|| {
                PerformanceReport::new(std::env::temp_dir().join("taskweave-rounds.html"))
            });
            let dashboard = (modes[m] == "dashboard")
                .then(|| Dashboard::serve("127.0.0.1:0").expect("a loopback port"));
            let (cpu0, start) = (cpu_time(), Instant::now());
            for _ in 0..k {
                let (sum,) = if m == 1 {
                    prepared.try_compute_with(options.clone()).unwrap()
                } else {
                    prepared.compute()
                };
                assert_eq!(sum, expected);
            }
            let (took, used) = (start.elapsed(), cpu_time().saturating_sub(cpu0));
            // Writing the page is not recording.
            drop((report, dashboard, profiler));
            wall[m].push(took.as_nanos() as f64 / tasks);
            cpu[m].push(used.as_nanos() as f64 / tasks);
        }
    }
    println!(
        "{rounds} rounds of {k} computes of {} tasks per mode, ns per task:",
        2 * N - 1
    );
    for m in (0..modes.len()).filter(|&m| run(m)) {
        let over = |v: &[Vec<f64>]| {
            let d: Vec<f64> = v[m].iter().zip(&v[0]).map(|(a, b)| a - b).collect();
            median(&d)
        };
        println!(
            "{:10} wall {:6.1}  cpu {:6.1}   over inactive: wall {:6.1}  cpu {:6.1}",
            modes[m],
            median(&wall[m]),
            median(&cpu[m]),
            over(&wall),
            over(&cpu),
        );
    }
}
