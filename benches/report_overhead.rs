//! What a performance report costs per task (feature `dashboard`): a dynamic fan-in,
//! built and laid out once (`taskweave::prepare`), computed again and again with no
//! report active, then with one active, then with a live dashboard serving. An
//! element is one task.
//!
//! Run it with `cargo bench -p taskweave-benches --features dashboard --bench
//! report_overhead`. `profiler` is the same compute watched by a `Profiler` alone,
//! for comparison. With a report active every compute is recorded (a pooled task log
//! per run, each node's function looked up by its label's address, the graph copied
//! while it may be drawn, the records gathered when it ends into counts per function
//! and the ring of kept runs); the page is written to `/dev/null` (or the temporary
//! directory) after each sample, outside the timing. The dashboard keeps its 50,000
//! most recent records. `report_rounds` (an example of this crate) measures the same
//! in interleaved rounds, with CPU time, for a loaded machine.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use taskweave::{Dashboard, PerformanceReport, Profiler, RunOptions};

/// Leaves of the fan-in: `2n − 1` tasks.
const N: u64 = 10_000;

#[path = "support/fan_in.rs"]
mod fan_in;
use fan_in::build_fan_in;

/// Where the pages go: nowhere where there is `/dev/null`.
fn sink() -> std::path::PathBuf {
    let null = std::path::Path::new("/dev/null");
    if null.exists() {
        null.to_owned()
    } else {
        std::env::temp_dir().join("taskweave-report-overhead.html")
    }
}

fn fan_in_report(c: &mut Criterion) {
    taskweave::set_warnings(false);
    let root = build_fan_in(N);
    let expected = (1..=N).sum::<u64>();
    let mut prepared = taskweave::prepare((&root,));
    assert_eq!(prepared.compute(), (expected,));

    let mut group = c.benchmark_group("fan_in_report");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(2 * N - 1));
    group.bench_function(BenchmarkId::new("inactive", N), |b| {
        b.iter(|| prepared.compute().0);
    });
    // The profiler alone (the report records with one per run), for comparison.
    group.bench_function(BenchmarkId::new("profiler", N), |b| {
        b.iter_custom(|iters| {
            let profiler = std::sync::Arc::new(Profiler::new());
            let options = RunOptions::new().observer(profiler.clone());
            let start = Instant::now();
            for _ in 0..iters {
                assert_eq!(
                    prepared.try_compute_with(options.clone()).unwrap().0,
                    expected
                );
            }
            start.elapsed()
        });
    });
    group.bench_function(BenchmarkId::new("active", N), |b| {
        b.iter_custom(|iters| {
            let report = PerformanceReport::new(sink());
            let start = Instant::now();
            for _ in 0..iters {
                assert_eq!(prepared.compute().0, expected);
            }
            let took = start.elapsed();
            // Rendering and writing the page are not part of recording.
            drop(report);
            took
        });
    });
    // A live dashboard serving meanwhile (nobody polls it): the report's recording,
    // plus the runs going on noted for the live view.
    group.bench_function(BenchmarkId::new("dashboard", N), |b| {
        b.iter_custom(|iters| {
            let dashboard = Dashboard::serve("127.0.0.1:0").expect("a loopback port");
            let start = Instant::now();
            for _ in 0..iters {
                assert_eq!(prepared.compute().0, expected);
            }
            let took = start.elapsed();
            drop(dashboard);
            took
        });
    });
    group.finish();
}

/// The benchmark above. `criterion_group!` declares `pub fn benches()`: at the crate
/// root that would need a doc comment it has no place for, so it lives in this private
/// module.
#[allow(unreachable_pub)]
mod group {
    use criterion::criterion_group;

    criterion_group!(benches, super::fan_in_report);
}

criterion::criterion_main!(group::benches);
