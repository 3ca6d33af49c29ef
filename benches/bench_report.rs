//! The side-by-side report: every workload on every engine in one run, on this
//! machine, in nanoseconds per task, with the ratios that matter.
//!
//! ```sh
//! cargo run --release --example bench_report                    # the full report
//! cargo run --release --example bench_report -- --quick         # smaller sizes, fewer repetitions
//! cargo run --release --example bench_report -- --scaling 1,2,4,8,16   # 10 µs tasks on 1..16 threads
//! cargo run --release --example bench_report -- --markdown report.md   # also write the tables
//! cargo run --release --example bench_report -- --compare [--quick] [--warm]   # engines alternated round by round
//! cargo run --release --example bench_report -- --compare --isolated [--quick]   # each engine in a process of its own
//! cargo run --release --example bench_report -- --compare --engines dynamic,rayon   # some engines only
//! ```
//!
//! These run in the repository's root, whose `default-members` include this package
//! (`benches/`, `taskweave-benches`); from another folder, add `-p taskweave-benches`.
//!
//! `--compare` settles a comparison on a noisy machine in one run: every round runs
//! each workload once on every engine (in an order rotated each round) and, when it is
//! installed, the Dask peer; the table gives each engine's median ns per task with the
//! spread of its rounds, and each ratio as the median of the per-round ratios (both
//! sides measured seconds apart) with their interquartile range. With `--warm`, each
//! timed run comes right after an untimed one of the same workload on the same engine
//! (caches, allocator and threads warm, as a program computing graphs in a loop sees
//! them, and as the Taskflow peer times its runs). With `--isolated`, each round runs
//! each engine in a child process of its own, every case timed right after an untimed
//! run, as the Taskflow peer runs: in one process, the idle threads of the engines that
//! ran before (five pools of workers on two cores) cost the next one's small runs tens
//! of µs, which the peers, alone in their processes, do not pay.
//!
//! Engines: static `graph!` (the shapes it can express, ~10^3 nodes), dynamic
//! `Delayed`, the futures `Client`, the same work hand-written with rayon (the floor),
//! dagx (the closest Rust peer) on tokio, and Dask through `../shared/peers/dask_peer.py`
//! (beside the repository's folder) when `python3 -c "import dask, distributed"` works;
//! with `--compare`, also C++ Taskflow when `TASKWEAVE_TASKFLOW` names the built
//! `benches/peers/taskflow_peer.cpp` (its header says how to build it).
//! A peer that is missing is named and skipped; a workload that fails on one engine is
//! reported as failed.
//!
//! Workloads (after Taskflow's suite and the Dask peer): `chain` (n dependent tasks),
//! `fan_in` (n leaves, then a pairwise tree: 2n − 1 tasks; `graph!` folds the leaves
//! with a chain of combines instead, having no indexing), `wavefront` (a √n × √n grid,
//! each cell after its left and upper neighbours), `binary_tree` (each node after its
//! parent: 2^d − 1 tasks), `parallel` (n independent tasks). Trivial tasks measure the
//! engine's overhead; 10 µs tasks measure how well it scales.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use dagx::Task;
use taskweave::prelude::*;

// ---- tasks ----------------------------------------------------------------------

/// Busy work of about `micros` µs (0: none), so that a task's cost is known.
fn busy(micros: u64) {
    if micros == 0 {
        return;
    }
    let start = Instant::now();
    let limit = Duration::from_micros(micros);
    while start.elapsed() < limit {
        std::hint::spin_loop();
    }
}

#[delayed]
fn inc(x: u64) -> u64 {
    x + 1
}

#[delayed]
fn add(a: u64, b: u64) -> u64 {
    a.wrapping_add(b)
}

#[delayed]
fn inc_work(x: u64, micros: u64) -> u64 {
    busy(micros);
    x + 1
}

#[delayed]
fn add_work(a: u64, b: u64, micros: u64) -> u64 {
    busy(micros);
    a.wrapping_add(b)
}

#[delayed]
fn step8(v: Vec<u8>) -> Vec<u8> {
    let mut next = vec![0u8; 8 << 20];
    next[0] = v[0].wrapping_add(1);
    next
}

// ---- workloads --------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Workload {
    Chain,
    FanIn,
    Wavefront,
    BinaryTree,
    Parallel,
}

impl Workload {
    const ALL: [Workload; 5] = [
        Workload::Chain,
        Workload::FanIn,
        Workload::Wavefront,
        Workload::BinaryTree,
        Workload::Parallel,
    ];

    fn name(self) -> &'static str {
        match self {
            Workload::Chain => "chain",
            Workload::FanIn => "fan_in",
            Workload::Wavefront => "wavefront",
            Workload::BinaryTree => "binary_tree",
            Workload::Parallel => "parallel",
        }
    }

    /// The shape's parameter for about `n` tasks.
    fn param(self, n: u64) -> u64 {
        match self {
            Workload::Wavefront => ((n as f64).sqrt() as u64).max(2),
            Workload::BinaryTree => (64 - n.leading_zeros() as u64).max(2),
            _ => n,
        }
    }

    /// Tasks of the shape with parameter `p`.
    fn tasks(self, p: u64) -> u64 {
        match self {
            Workload::Chain | Workload::Parallel => p,
            Workload::FanIn => 2 * p - 1,
            Workload::Wavefront => p * p,
            Workload::BinaryTree => (1 << p) - 1,
        }
    }

    /// What every engine must compute (wrapping sums), from a plain sequential run.
    fn expected(self, p: u64) -> u64 {
        match self {
            Workload::Chain => p,
            Workload::FanIn | Workload::Parallel => (1..=p).fold(0u64, u64::wrapping_add),
            Workload::Wavefront => {
                let side = p as usize;
                let mut row = vec![1u64; side];
                for _ in 1..side {
                    let mut next = vec![row[0] + 1];
                    for j in 1..side {
                        next.push(row[j].wrapping_add(next[j - 1]));
                    }
                    row = next;
                }
                row[side - 1]
            }
            // Leaves at depth d − 1 hold d; the sum of the leaves.
            Workload::BinaryTree => (1u64 << (p - 1)).wrapping_mul(p),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Engine {
    Static,
    Dynamic,
    Futures,
    Rayon,
    Dagx,
}

impl Engine {
    const ALL: [Engine; 5] = [
        Engine::Static,
        Engine::Dynamic,
        Engine::Futures,
        Engine::Rayon,
        Engine::Dagx,
    ];

    /// The engine's name in `--engines`.
    fn key(self) -> &'static str {
        match self {
            Engine::Static => "static",
            Engine::Dynamic => "dynamic",
            Engine::Futures => "futures",
            Engine::Rayon => "rayon",
            Engine::Dagx => "dagx",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Engine::Static => "static graph!",
            Engine::Dynamic => "dynamic Delayed",
            Engine::Futures => "futures Client",
            Engine::Rayon => "rayon by hand",
            Engine::Dagx => "dagx (tokio)",
        }
    }
}

/// Why a measurement has no figure.
enum Missing {
    /// The engine cannot express the shape (or size).
    NotExpressible,
    /// It ran and failed: wrong result or panic.
    Failed(String),
}

type Outcome = Result<Duration, Missing>;

/// Everything an engine needs to run: its threads, started when the engine first runs
/// (so that a process that runs one engine, as `--isolated`'s do, has no other's).
struct Engines {
    threads: usize,
    pool: OnceLock<rayon::ThreadPool>,
    client: OnceLock<Client>,
    tokio: OnceLock<tokio::runtime::Runtime>,
}

impl Engines {
    fn new(threads: usize) -> Engines {
        Engines {
            threads,
            pool: OnceLock::new(),
            client: OnceLock::new(),
            tokio: OnceLock::new(),
        }
    }

    /// Every engine's threads, started now: for runs timed from the first on.
    fn started(threads: usize) -> Engines {
        let engines = Engines::new(threads);
        engines.pool();
        engines.client();
        engines.tokio();
        engines
    }

    /// The rayon pool of the static, dynamic and hand-written runs.
    fn pool(&self) -> &rayon::ThreadPool {
        self.pool.get_or_init(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(self.threads)
                .build()
                .expect("a pool")
        })
    }

    fn client(&self) -> &Client {
        self.client.get_or_init(|| {
            Client::builder()
                .threads(self.threads)
                .name("report")
                .build()
                .expect("a client")
        })
    }

    fn tokio(&self) -> &tokio::runtime::Runtime {
        self.tokio.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(self.threads)
                .build()
                .expect("a tokio runtime")
        })
    }

    /// One run of `workload` on `engine`: its wall time, after checking the result.
    fn run_once(&self, engine: Engine, workload: Workload, p: u64, micros: u64) -> Outcome {
        let start = Instant::now();
        let got = match engine {
            Engine::Static => self.pool().install(|| static_run(workload, p, micros))?,
            Engine::Dynamic => self.pool().install(|| dynamic_run(workload, p, micros)),
            Engine::Futures => futures_run(self.client(), workload, p, micros),
            Engine::Rayon => self.pool().install(|| rayon_run(workload, p, micros)),
            Engine::Dagx => dagx_run(self.tokio(), workload, p, micros),
        };
        let elapsed = start.elapsed();
        let want = workload.expected(p);
        if got != want {
            return Err(Missing::Failed(format!("computed {got}, expected {want}")));
        }
        Ok(elapsed)
    }

    /// The median of several runs (after one warm-up), or why there is none.
    fn measure(
        &self,
        engine: Engine,
        workload: Workload,
        p: u64,
        micros: u64,
        quick: bool,
    ) -> Outcome {
        let run = || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.run_once(engine, workload, p, micros)
            }))
            .unwrap_or_else(|e| Err(Missing::Failed(panic_text(&*e))))
        };
        let first = run()?;
        let reps = if quick {
            3
        } else {
            (Duration::from_millis(400).as_nanos() / first.as_nanos().max(1)).clamp(3, 15) as usize
        };
        let mut times = vec![first];
        for _ in 0..reps {
            times.push(run()?);
        }
        times.sort();
        Ok(times[times.len() / 2])
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panicked".to_owned())
}

// ---- static graph! ----------------------------------------------------------------

/// The shapes `graph!` can write (unrolled loops, no indexing of nodes), at 10^3.
fn static_run(workload: Workload, p: u64, micros: u64) -> Result<u64, Missing> {
    match (workload, p, micros) {
        (Workload::Chain, 1000, 0) => {
            let g = graph!(|x: u64| -> u64 {
                let mut y = inc(x);
                for _ in 1..1000 {
                    y = inc(y);
                }
                y
            });
            Ok(g.compute(black_box(0)))
        }
        // Leaves in parallel, folded by a chain of adds: 2n − 1 tasks like the tree (in
        // two loops: one may make at most 1,500 nodes).
        (Workload::FanIn, 1000, 0) => {
            let g = graph!(|x: u64| -> u64 {
                let mut acc = inc(x);
                for i in 1..500 {
                    acc = add(acc, inc(x + i));
                }
                for i in 500..1000 {
                    acc = add(acc, inc(x + i));
                }
                acc
            });
            Ok(g.compute(black_box(0)))
        }
        (Workload::FanIn, 1000, 10) => {
            let g = graph!(|x: u64| -> u64 {
                let mut acc = inc_work(x, 10);
                for i in 1..500 {
                    acc = add_work(acc, inc_work(x + i, 10), 0);
                }
                for i in 500..1000 {
                    acc = add_work(acc, inc_work(x + i, 10), 0);
                }
                acc
            });
            Ok(g.compute(black_box(0)))
        }
        (Workload::Chain | Workload::FanIn, _, _) => Err(Missing::NotExpressible),
        _ => Err(Missing::NotExpressible),
    }
}

// ---- dynamic Delayed --------------------------------------------------------------

fn leaf_d(i: u64, micros: u64) -> Delayed<u64> {
    if micros == 0 {
        delay!(inc(i))
    } else {
        delay!(inc_work(i, micros))
    }
}

/// `inc` of `x`, moved into the task: a caller that reads `x` again passes a clone
/// (a node read twice is counted per read, as in any program).
fn inc_d(x: Delayed<u64>, micros: u64) -> Delayed<u64> {
    if micros == 0 {
        delay!(inc(x))
    } else {
        delay!(inc_work(x, micros))
    }
}

/// `add` of `a` and `b`, moved into the task (as [`inc_d`]).
fn add_d(a: Delayed<u64>, b: Delayed<u64>, micros: u64) -> Delayed<u64> {
    if micros == 0 {
        delay!(add(a, b))
    } else {
        delay!(add_work(a, b, micros))
    }
}

fn sum_d(parts: Vec<Delayed<u64>>) -> u64 {
    taskweave::compute(parts.as_slice())
        .into_iter()
        .fold(0, u64::wrapping_add)
}

fn dynamic_run(workload: Workload, p: u64, micros: u64) -> u64 {
    match workload {
        // Each node is moved into the task that reads it last, as a user writes a
        // chain or consumes a tree's level; a node read again later is passed as a
        // clone (the wavefront's left neighbour, the binary tree's first child).
        Workload::Chain => {
            let mut x = leaf_d(0, micros);
            for _ in 1..p {
                x = inc_d(x, micros);
            }
            x.compute()
        }
        Workload::FanIn => {
            let mut level: Vec<Delayed<u64>> = (0..p).map(|i| leaf_d(i, micros)).collect();
            while level.len() > 1 {
                let mut pairs = std::mem::take(&mut level).into_iter();
                while let Some(a) = pairs.next() {
                    level.push(match pairs.next() {
                        Some(b) => add_d(a, b, 0),
                        None => a,
                    });
                }
            }
            level[0].compute()
        }
        Workload::Wavefront => {
            let side = p as usize;
            let mut row: Vec<Delayed<u64>> = (0..side).map(|_| leaf_d(0, micros)).collect();
            for _ in 1..side {
                // The row above is read for the last time: its cells are moved.
                let mut above = std::mem::replace(&mut row, Vec::with_capacity(side)).into_iter();
                let first = above.next().expect("side > 0");
                row.push(inc_d(first, micros));
                for up in above {
                    let left = row.last().expect("a cell").clone();
                    row.push(add_d(up, left, micros));
                }
            }
            row[side - 1].compute()
        }
        Workload::BinaryTree => {
            let mut level = vec![leaf_d(0, micros)];
            for _ in 1..p {
                level = level
                    .into_iter()
                    .flat_map(|n| [inc_d(n.clone(), micros), inc_d(n, micros)])
                    .collect();
            }
            sum_d(level)
        }
        Workload::Parallel => sum_d((0..p).map(|i| leaf_d(i, micros)).collect()),
    }
}

// ---- futures ----------------------------------------------------------------------

fn futures_run(client: &Client, workload: Workload, p: u64, micros: u64) -> u64 {
    let leaf = |i: u64| client.submit(inc_work, (i, micros));
    let inc_f = |x: &Future<u64>| client.submit(inc_work, (x, micros));
    let add_f = |a: &Future<u64>, b: &Future<u64>| client.submit(add_work, (a, b, micros));
    let sum = |all: Vec<Future<u64>>| {
        client
            .gather(&all)
            .expect("no task fails")
            .into_iter()
            .fold(0, u64::wrapping_add)
    };
    match workload {
        Workload::Chain => {
            let mut x = leaf(0);
            for _ in 1..p {
                x = inc_f(&x);
            }
            x.result().expect("no task fails")
        }
        Workload::FanIn => {
            let mut level: Vec<Future<u64>> = (0..p).map(leaf).collect();
            while level.len() > 1 {
                level = level
                    .chunks(2)
                    .map(|pair| match pair {
                        [a, b] => client.submit(add_work, (a, b, 0)),
                        [a] => a.clone(),
                        _ => unreachable!(),
                    })
                    .collect();
            }
            level[0].result().expect("no task fails")
        }
        Workload::Wavefront => {
            let side = p as usize;
            let mut row: Vec<Future<u64>> = (0..side).map(|_| leaf(0)).collect();
            for _ in 1..side {
                let mut next = vec![inc_f(&row[0])];
                for j in 1..side {
                    let cell = add_f(&row[j], &next[j - 1]);
                    next.push(cell);
                }
                row = next;
            }
            row[side - 1].result().expect("no task fails")
        }
        Workload::BinaryTree => {
            let mut level = vec![leaf(0)];
            for _ in 1..p {
                level = level.iter().flat_map(|n| [inc_f(n), inc_f(n)]).collect();
            }
            sum(level)
        }
        Workload::Parallel => sum(client.map(move |i: u64| inc_work(i, micros), 0..p)),
    }
}

// ---- rayon by hand ----------------------------------------------------------------

fn rayon_fan_in(lo: u64, hi: u64, micros: u64) -> u64 {
    if hi - lo == 1 {
        return inc_work(lo, micros);
    }
    let mid = lo + (hi - lo).div_ceil(2);
    let (a, b) = rayon::join(
        || rayon_fan_in(lo, mid, micros),
        || rayon_fan_in(mid, hi, micros),
    );
    add_work(a, b, 0)
}

fn rayon_tree(value: u64, depth: u64, micros: u64) -> u64 {
    let v = inc_work(value, micros);
    if depth == 1 {
        return v;
    }
    let (a, b) = rayon::join(
        || rayon_tree(v, depth - 1, micros),
        || rayon_tree(v, depth - 1, micros),
    );
    a.wrapping_add(b)
}

fn rayon_run(workload: Workload, p: u64, micros: u64) -> u64 {
    use rayon::prelude::*;
    match workload {
        Workload::Chain => (0..p).fold(0, |x, _| inc_work(x, micros)),
        Workload::FanIn => rayon_fan_in(0, p, micros),
        // Anti-diagonal by anti-diagonal: every cell of one runs in parallel.
        Workload::Wavefront => {
            let side = p as usize;
            let mut grid = vec![0u64; side * side];
            for d in 0..(2 * side - 1) {
                let cells: Vec<(usize, usize)> = (0..side)
                    .filter_map(|i| d.checked_sub(i).filter(|&j| j < side).map(|j| (i, j)))
                    .collect();
                let values: Vec<u64> = cells
                    .par_iter()
                    .map(|&(i, j)| match (i, j) {
                        (0, _) => inc_work(0, micros),
                        (_, 0) => inc_work(grid[(i - 1) * side], micros),
                        _ => add_work(grid[(i - 1) * side + j], grid[i * side + j - 1], micros),
                    })
                    .collect();
                for (&(i, j), v) in cells.iter().zip(values) {
                    grid[i * side + j] = v;
                }
            }
            grid[side * side - 1]
        }
        Workload::BinaryTree => {
            // The root's value is 1; leaves at depth p − 1 hold p.
            rayon_tree(0, p, micros)
        }
        Workload::Parallel => (0..p)
            .into_par_iter()
            .map(|i| inc_work(i, micros))
            .reduce(|| 0, u64::wrapping_add),
    }
}

// ---- dagx -------------------------------------------------------------------------

struct Leaf(u64, u64);
#[dagx::task]
impl Leaf {
    async fn run(&self) -> u64 {
        inc_work(self.0, self.1)
    }
}

struct IncT(u64);
#[dagx::task]
impl IncT {
    async fn run(&self, x: &u64) -> u64 {
        inc_work(*x, self.0)
    }
}

struct AddT(u64);
#[dagx::task]
impl AddT {
    async fn run(&self, a: &u64, b: &u64) -> u64 {
        add_work(*a, *b, self.0)
    }
}

fn dagx_run(rt: &tokio::runtime::Runtime, workload: Workload, p: u64, micros: u64) -> u64 {
    use dagx::{DagRunner, TaskHandle};
    let dag = DagRunner::new();
    let leaf = |i: u64| -> TaskHandle<u64> { (&dag.add_task(Leaf(i, micros))).into() };
    let inc_h =
        |x: &TaskHandle<u64>| -> TaskHandle<u64> { dag.add_task(IncT(micros)).depends_on(x) };
    let add_h = |a: &TaskHandle<u64>, b: &TaskHandle<u64>| -> TaskHandle<u64> {
        dag.add_task(AddT(micros)).depends_on((a, b))
    };
    let outputs: Vec<TaskHandle<u64>> = match workload {
        Workload::Chain => {
            let mut x = leaf(0);
            for _ in 1..p {
                x = inc_h(&x);
            }
            vec![x]
        }
        Workload::FanIn => {
            let mut level: Vec<TaskHandle<u64>> = (0..p).map(leaf).collect();
            while level.len() > 1 {
                level = level
                    .chunks(2)
                    .map(|pair| match pair {
                        [a, b] => dag.add_task(AddT(0)).depends_on((a, b)),
                        [a] => *a,
                        _ => unreachable!(),
                    })
                    .collect();
            }
            level
        }
        Workload::Wavefront => {
            let side = p as usize;
            let mut row: Vec<TaskHandle<u64>> = (0..side).map(|_| leaf(0)).collect();
            for _ in 1..side {
                let mut next = vec![inc_h(&row[0])];
                for j in 1..side {
                    let cell = add_h(&row[j], &next[j - 1]);
                    next.push(cell);
                }
                row = next;
            }
            vec![row[side - 1]]
        }
        Workload::BinaryTree => {
            let mut level = vec![leaf(0)];
            for _ in 1..p {
                level = level.iter().flat_map(|n| [inc_h(n), inc_h(n)]).collect();
            }
            level
        }
        Workload::Parallel => (0..p).map(leaf).collect(),
    };
    rt.block_on(dag.run(|fut| {
        tokio::spawn(fut);
    }))
    .expect("dagx runs");
    outputs
        .iter()
        .map(|h| dag.get(h).expect("a result"))
        .fold(0, u64::wrapping_add)
}

// ---- Dask -------------------------------------------------------------------------

/// `workload -> ns per task` from the Dask peer (threads scheduler), or why not.
fn dask(n: u64) -> Result<BTreeMap<String, (u64, f64)>, String> {
    // This package is `benches/` of the repository; the peer sits beside the repository.
    let peer = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/peers/dask_peer.py"
    );
    if !std::path::Path::new(peer).exists() {
        return Err(format!("{peer} not found"));
    }
    let ok = Command::new("python3")
        .args(["-c", "import dask, distributed"])
        .output();
    if !ok.is_ok_and(|o| o.status.success()) {
        return Err("Dask is not installed: `pip install dask distributed`".to_owned());
    }
    let out = Command::new("python3")
        .args([peer, "--n", &n.to_string()])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "the Dask peer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut lines = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines().skip(1) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let [name, tasks, _, ns] = parts[..] {
            if let (Ok(tasks), Ok(ns)) = (tasks.parse(), ns.parse()) {
                lines.insert(name.to_owned(), (tasks, ns));
            }
        }
    }
    Ok(lines)
}

/// C++ Taskflow on the same shapes (`benches/peers/taskflow_peer.cpp`), when the
/// environment's `TASKWEAVE_TASKFLOW` names its built binary: one build + run + destroy
/// per shape and size, ns per task by (workload, tasks).
fn taskflow(threads: usize, sizes: &[u64]) -> Result<BTreeMap<(String, u64), f64>, String> {
    let Some(peer) = std::env::var_os("TASKWEAVE_TASKFLOW") else {
        return Err("TASKWEAVE_TASKFLOW is not set (build the peer as \
                    benches/peers/taskflow_peer.cpp says)"
            .to_owned());
    };
    let sizes: Vec<String> = sizes.iter().map(u64::to_string).collect();
    let out = Command::new(&peer)
        .args(["--threads", &threads.to_string(), "--reps", "1"])
        .args(["--sizes", &sizes.join(",")])
        .output()
        .map_err(|e| format!("{}: {e}", peer.to_string_lossy()))?;
    if !out.status.success() {
        return Err(format!(
            "the Taskflow peer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut lines = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let [name, tasks, ns] = parts[..] {
            if let (Ok(tasks), Ok(ns)) = (tasks.parse(), ns.parse()) {
                lines.insert((name.to_owned(), tasks), ns);
            }
        }
    }
    Ok(lines)
}

// ---- memory -----------------------------------------------------------------------

/// The process's peak resident set size, in bytes (Linux).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// In a child process: the peak of a 1,000-step chain of fresh 8 MB vectors, in values.
// dagx hands a dependency's output to the next task as a reference to its type.
#[allow(clippy::ptr_arg)]
fn memory_child(engine: &str) {
    let steps = if engine == "dagx" { 100 } else { 1000 };
    let before = peak_rss().unwrap_or(0);
    let last = match engine {
        "static" => {
            let g = graph!(|v: Vec<u8>| -> Vec<u8> {
                let mut x = step8(v);
                for _ in 1..1000 {
                    x = step8(x);
                }
                x
            });
            g.compute(vec![0u8; 1])[0]
        }
        "dynamic" => {
            let mut x = delay!(step8(vec![0u8; 1]));
            for _ in 1..steps {
                x = delay!(step8(x));
            }
            x.compute()[0]
        }
        "futures" => {
            let client = Client::builder().threads(2).build().expect("a client");
            let mut x = client.submit(step8, (vec![0u8; 1],));
            for _ in 1..steps {
                x = client.submit(step8, (x,));
            }
            x.result_shared().expect("no task fails")[0]
        }
        "rayon" => (0..steps).fold(vec![0u8; 1], |v, _| step8(v))[0],
        _ => {
            struct Step;
            #[dagx::task]
            impl Step {
                async fn run(v: &Vec<u8>) -> Vec<u8> {
                    step8(v.clone())
                }
            }
            struct First;
            #[dagx::task]
            impl First {
                async fn run() -> Vec<u8> {
                    step8(vec![0u8; 1])
                }
            }
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .expect("tokio");
            let dag = dagx::DagRunner::new();
            let mut x: dagx::TaskHandle<Vec<u8>> = (&dag.add_task(First)).into();
            for _ in 1..steps {
                x = dag.add_task(Step).depends_on(x);
            }
            rt.block_on(dag.run(|f| {
                tokio::spawn(f);
            }))
            .expect("dagx runs");
            dag.get(x).expect("a result")[0]
        }
    };
    black_box(last);
    let peak = peak_rss().unwrap_or(0).saturating_sub(before);
    println!("peak {} steps {}", peak, steps);
}

/// In a child process: the peak resident growth per node of a dynamic fan-in of 10^6
/// `u64` leaves summed pairwise (2 * 10^6 - 1 nodes), built, computed and dropped.
fn node_bytes_child() -> ! {
    let before = peak_rss().unwrap_or(0);
    let leaves = 1_000_000u64;
    let p = Workload::FanIn.param(leaves);
    let tasks = Workload::FanIn.tasks(p);
    black_box(dynamic_run(Workload::FanIn, p, 0));
    let peak = peak_rss().unwrap_or(0).saturating_sub(before);
    println!("{:.0}", peak as f64 / tasks as f64);
    std::process::exit(0);
}

/// Bytes per dynamic node (peak resident growth; see [`node_bytes_child`]).
/// The line both reports end with: a dynamic node's bytes, measured in a child process.
fn write_node_bytes(md: &mut String) {
    let _ = writeln!(
        md,
        "\nDynamic graph: {} bytes per node (peak resident growth of a fan-in of 10^6 `u64` leaves, built, computed and dropped).",
        node_bytes_row()
    );
}

fn node_bytes_row() -> String {
    let exe = std::env::current_exe().expect("this program");
    match Command::new(exe)
        .args(["--memory-child", "dynamic-nodes"])
        .output()
    {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        Ok(_) | Err(_) => "failed".to_owned(),
    }
}

fn memory_row(engine: &str) -> String {
    let exe = std::env::current_exe().expect("this program");
    match Command::new(exe).args(["--memory-child", engine]).output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let mut parts = text.split_whitespace();
            let peak: f64 = parts
                .nth(1)
                .and_then(|p| p.parse().ok())
                .unwrap_or(f64::NAN);
            let steps = parts.nth(1).unwrap_or("?");
            format!("{:.2} values ({steps} steps)", peak / (8u64 << 20) as f64)
        }
        Ok(out) => format!(
            "failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        Err(e) => format!("failed: {e}"),
    }
}

// ---- the report -------------------------------------------------------------------

struct Options {
    quick: bool,
    compare: bool,
    /// `--compare` times each run right after an untimed one of the same workload on
    /// the same engine (caches, allocator and threads warm, as in a program that
    /// computes graphs in a loop, and as the Taskflow peer times its runs).
    warm: bool,
    /// `--compare` runs each engine of each round in a process of its own, as the
    /// Taskflow and Dask peers run: no engine's threads share the machine with another
    /// engine's (each timed run comes right after an untimed one).
    isolated: bool,
    /// The engines `--compare` runs (`--engines dynamic,rayon`); all by default.
    engines: Option<Vec<Engine>>,
    /// In a child process of `--isolated`: the engine (its index) to run.
    compare_child: Option<usize>,
    threads: usize,
    scaling: Option<Vec<usize>>,
    markdown: Option<String>,
}

impl Options {
    /// Whether `--compare` runs `engine` (see `--engines`).
    fn runs(&self, engine: Engine) -> bool {
        self.engines.as_ref().is_none_or(|e| e.contains(&engine))
    }
}

fn options() -> Options {
    let mut args = std::env::args().skip(1);
    let mut o = Options {
        quick: false,
        compare: false,
        warm: false,
        isolated: false,
        compare_child: None,
        engines: None,
        threads: 2,
        scaling: None,
        markdown: None,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => o.quick = true,
            "--compare" => o.compare = true,
            "--warm" => o.warm = true,
            "--isolated" => o.isolated = true,
            "--engines" => {
                let names = args.next().expect("--engines dynamic,rayon");
                o.engines = Some(
                    names
                        .split(',')
                        .map(|name| {
                            let engine = Engine::ALL.into_iter().find(|e| e.key() == name);
                            engine.unwrap_or_else(|| {
                                panic!(
                                    "unknown engine {name}: static, dynamic, futures, rayon \
                                     or dagx"
                                )
                            })
                        })
                        .collect(),
                )
            }
            "--compare-child" => {
                let engine = args.next().and_then(|e| e.parse().ok());
                o.compare_child = Some(engine.expect("--compare-child ENGINE"));
            }
            "--threads" => {
                o.threads = args
                    .next()
                    .and_then(|t| t.parse().ok())
                    .expect("--threads N")
            }
            "--scaling" => {
                o.scaling = Some(
                    args.next()
                        .expect("--scaling 1,2,4")
                        .split(',')
                        .map(|t| t.parse().expect("thread counts"))
                        .collect(),
                )
            }
            "--markdown" => o.markdown = args.next(),
            "--memory-child" => {
                let engine = args.next().expect("an engine");
                if engine == "dynamic-nodes" {
                    node_bytes_child();
                }
                memory_child(&engine);
                std::process::exit(0);
            }
            "--help" | "-h" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => {
                eprint!("bench_report: unknown argument `{other}`\n\n{USAGE}");
                std::process::exit(2);
            }
        }
    }
    o
}

/// What `--help` prints (the forms of the module docs).
const USAGE: &str = "\
usage: bench_report [--quick] [--compare [--warm] [--isolated] [--engines LIST]]
                    [--scaling THREADS] [--threads N] [--markdown FILE]

  --quick            smaller sizes, fewer repetitions
  --compare          engines alternated round by round: medians and ratios with spreads
  --warm             (with --compare) each timed run after an untimed one
  --isolated         (with --compare) each engine in a process of its own
  --engines LIST     some engines only: static,dynamic,futures,rayon,dagx
  --scaling 1,2,4    10 us tasks on each thread count
  --threads N        threads of the overhead tables (default 2)
  --markdown FILE    also write the tables to FILE

C++ Taskflow joins --compare when TASKWEAVE_TASKFLOW names its built peer; Dask joins
when `python3 -c \"import dask, distributed\"` works.
";

fn cell(outcome: &Outcome, tasks: u64) -> String {
    match outcome {
        Ok(t) => format!("{:.0}", t.as_nanos() as f64 / tasks as f64),
        Err(Missing::NotExpressible) => "—".to_owned(),
        Err(Missing::Failed(why)) => format!("FAILED ({why})"),
    }
}

fn ns(outcome: &Outcome, tasks: u64) -> Option<f64> {
    outcome
        .as_ref()
        .ok()
        .map(|t| t.as_nanos() as f64 / tasks as f64)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "—".to_owned(),
    }
}

fn main() {
    // The trivial-task workloads are tiny tasks on purpose.
    taskweave::set_warnings(false);
    let o = options();
    let mut md = String::new();
    if let Some(engine) = o.compare_child {
        return compare_child(&o, engine);
    }
    if let Some(threads) = &o.scaling {
        scaling(threads, &mut md);
    } else if o.compare {
        compare(&o, &mut md);
    } else {
        overhead(&o, &mut md);
    }
    print!("{md}");
    if let Some(path) = &o.markdown {
        std::fs::write(path, &md).expect("write the markdown");
        println!("\nwritten to {path}");
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}

fn overhead(o: &Options, md: &mut String) {
    let engines = Engines::started(o.threads);
    let sizes: &[u64] = if o.quick {
        &[1_000, 10_000]
    } else {
        &[1_000, 10_000, 100_000]
    };
    let _ = writeln!(md, "# taskweave benchmark report\n");
    let _ = writeln!(
        md,
        "Machine: {}. Threads per engine: {}.\n",
        machine(),
        engines.threads
    );
    let _ = writeln!(
        md,
        "## Overhead: trivial tasks, ns per task (median of several runs; build + run)\n"
    );
    let dask_n = *sizes.last().expect("a size");
    let dask = dask(dask_n);
    if let Err(why) = &dask {
        let _ = writeln!(md, "Dask skipped: {why}\n");
    }
    let _ = writeln!(
        md,
        "| workload | tasks | static | dynamic | futures | rayon | dagx | Dask | static/rayon | dynamic/rayon | dagx/dynamic | Dask/dynamic |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for workload in Workload::ALL {
        for &n in sizes {
            let p = workload.param(n);
            let tasks = workload.tasks(p);
            let results: Vec<(Engine, Outcome)> = Engine::ALL
                .iter()
                .map(|&e| (e, engines.measure(e, workload, p, 0, o.quick)))
                .collect();
            let get = |e: Engine| &results.iter().find(|r| r.0 == e).expect("measured").1;
            // The Dask peer caps its sizes (10^4 by default): compare where it ran at
            // about this many tasks.
            let dask_ns = dask.as_ref().ok().and_then(|d| {
                d.get(&format!("delayed/threads/{}", workload.name()))
                    .filter(|(t, _)| (*t as f64 / tasks as f64 - 1.0).abs() < 0.2)
                    .map(|(_, ns)| *ns)
            });
            let dyn_ns = ns(get(Engine::Dynamic), tasks);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                workload.name(),
                tasks,
                cell(get(Engine::Static), tasks),
                cell(get(Engine::Dynamic), tasks),
                cell(get(Engine::Futures), tasks),
                cell(get(Engine::Rayon), tasks),
                cell(get(Engine::Dagx), tasks),
                dask_ns.map_or("—".to_owned(), |v| format!("{v:.0}")),
                ratio(
                    ns(get(Engine::Static), tasks),
                    ns(get(Engine::Rayon), tasks)
                ),
                ratio(dyn_ns, ns(get(Engine::Rayon), tasks)),
                ratio(ns(get(Engine::Dagx), tasks), dyn_ns),
                ratio(dask_ns, dyn_ns),
            );
            eprintln!("measured {} at {} tasks", workload.name(), tasks);
        }
    }
    if let Ok(d) = &dask {
        let _ = writeln!(
            md,
            "\nDask futures (ns per task): {}",
            d.iter()
                .filter(|(k, _)| k.starts_with("futures/"))
                .map(|(k, (t, ns))| format!("{k} {ns:.0} at {t} tasks"))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    let _ = writeln!(md, "\n— : the engine cannot express the shape at that size (graph! is written for 10^3 tasks; shapes that index nodes need Delayed). Dask runs at most 10^4 tasks per workload (its cost per task grows with the graph).\n");
    let _ = writeln!(
        md,
        "## Scaling: 10 µs tasks, 1 and {} threads\n",
        engines.threads
    );
    scaling_rows(&[1, engines.threads], md, o.quick);
    let _ = writeln!(
        md,
        "\n## Memory: peak resident growth of a chain of fresh 8 MB values\n"
    );
    let _ = writeln!(md, "| engine | peak |");
    let _ = writeln!(md, "|---|---|");
    for engine in ["static", "dynamic", "futures", "rayon", "dagx"] {
        let _ = writeln!(md, "| {engine} | {} |", memory_row(engine));
    }
    write_node_bytes(md);
}

fn scaling(threads: &[usize], md: &mut String) {
    let _ = writeln!(md, "# taskweave scaling report\n");
    let _ = writeln!(md, "Machine: {}.\n", machine());
    scaling_rows(threads, md, false);
}

/// Fan-in of 1,999 and a 64 × 64 wavefront of 10 µs tasks on each thread count.
///
/// Rounds alternate: each runs every workload once on every engine at every thread
/// count (engines in an order rotated each round), so a burst of load from elsewhere
/// slows one round of every column rather than all runs of one; a cell gives the
/// median time of its rounds and, as the speed-up, the median of the per-round ratios
/// to one thread (both runs seconds apart).
fn scaling_rows(threads: &[usize], md: &mut String, quick: bool) {
    const ENGINES: [Engine; 4] = [
        Engine::Static,
        Engine::Dynamic,
        Engine::Rayon,
        Engine::Futures,
    ];
    let rounds = if quick { 5 } else { 11 };
    // Fan-in: the 10 µs are in the leaves (the combines are trivial), so the shape's
    // critical path is short and every engine can scale; the wavefront's cells all work.
    let cases = [(Workload::FanIn, 1_000), (Workload::Wavefront, 64 * 64)];
    // The baseline is one thread, measured in the same rounds whether asked for or not.
    let mut counts = vec![1];
    counts.extend(threads.iter().copied().filter(|&t| t != 1));
    let engines: Vec<Engines> = counts.iter().map(|&t| Engines::started(t)).collect();
    // Seconds: [case][engine][thread count][round] (`None`: failed or not expressible).
    let mut times = vec![vec![vec![Vec::new(); counts.len()]; ENGINES.len()]; cases.len()];
    let mut missing: BTreeMap<(usize, usize), Missing> = BTreeMap::new();
    for round in 0..=rounds {
        for (c, &(workload, n)) in cases.iter().enumerate() {
            let p = workload.param(n);
            for k in 0..ENGINES.len() {
                let e = (k + round) % ENGINES.len();
                if missing.contains_key(&(c, e)) {
                    continue;
                }
                for (i, on) in engines.iter().enumerate() {
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        on.run_once(ENGINES[e], workload, p, 10)
                    }))
                    .unwrap_or_else(|e| Err(Missing::Failed(panic_text(&*e))));
                    match outcome {
                        // Round 0 warms every engine up and is not kept.
                        Ok(time) if round > 0 => times[c][e][i].push(time.as_secs_f64()),
                        Ok(_) => {}
                        Err(why) => {
                            missing.insert((c, e), why);
                            break;
                        }
                    }
                }
            }
        }
        eprintln!("scaling round {round} of {rounds} done");
    }
    let shown: Vec<usize> = threads
        .iter()
        .map(|t| counts.iter().position(|c| c == t).expect("a thread count"))
        .collect();
    let _ = writeln!(
        md,
        "{rounds} rounds after a warm-up, thread counts and engines alternated; each cell: \
         median time of the rounds, median per-round speed-up over 1 thread (its \
         interquartile range), and that speed-up per thread.\n"
    );
    let _ = writeln!(
        md,
        "| workload | tasks | engine | {} |",
        threads
            .iter()
            .map(|t| format!("{t} threads"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(md, "|---|---|---|{}", "---|".repeat(threads.len()));
    for (c, &(workload, n)) in cases.iter().enumerate() {
        let tasks = workload.tasks(workload.param(n));
        for (e, engine) in ENGINES.iter().enumerate() {
            let cells: Vec<String> = match missing.get(&(c, e)) {
                Some(Missing::NotExpressible) => continue,
                Some(Missing::Failed(why)) => vec![format!("FAILED ({why})"); threads.len()],
                None => shown
                    .iter()
                    .map(|&i| {
                        let base = &times[c][e][0];
                        let runs = &times[c][e][i];
                        let mut ratios =
                            sorted(base.iter().zip(runs).map(|(b, r)| b / r).collect());
                        if ratios.is_empty() {
                            ratios.push(f64::NAN);
                        }
                        let speedup = quantile(&ratios, 0.5);
                        format!(
                            "{:.1} ms, {:.2}x [{:.2}–{:.2}] ({:.0}%)",
                            quantile(&sorted(runs.clone()), 0.5) * 1e3,
                            speedup,
                            quantile(&ratios, 0.25),
                            quantile(&ratios, 0.75),
                            100.0 * speedup / counts[i] as f64
                        )
                    })
                    .collect(),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                workload.name(),
                tasks,
                engine.name(),
                cells.join(" | ")
            );
        }
    }
}

// ---- compare: engines alternated round by round -----------------------------------

/// The `q` quantile (0..=1) of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// `median [min–max]` of one engine's rounds.
fn spread_cell(rounds: &[Option<f64>]) -> String {
    let v: Vec<f64> = rounds.iter().flatten().copied().collect();
    if v.is_empty() {
        return "—".to_owned();
    }
    let v = sorted(v);
    format!(
        "{:.0} [{:.0}–{:.0}]",
        quantile(&v, 0.5),
        v[0],
        v[v.len() - 1]
    )
}

/// The median of the per-round ratios `a / b` with their interquartile range.
fn ratio_cell(a: &[Option<f64>], b: &[Option<f64>]) -> String {
    let v: Vec<f64> = a
        .iter()
        .zip(b)
        .filter_map(|(a, b)| Some(a.as_ref()? / b.filter(|b| *b > 0.0)?))
        .collect();
    if v.is_empty() {
        return "—".to_owned();
    }
    let v = sorted(v);
    format!(
        "{:.2} [{:.2}–{:.2}]",
        quantile(&v, 0.5),
        quantile(&v, 0.25),
        quantile(&v, 0.75)
    )
}

/// The sizes `--compare` runs at.
fn compare_sizes(o: &Options) -> &'static [u64] {
    if o.quick {
        &[1_000, 10_000]
    } else {
        &[1_000, 10_000, 100_000]
    }
}

/// `--compare`'s cases: each workload at each size, with its parameter and task count.
fn compare_cases(o: &Options) -> Vec<(Workload, u64, u64)> {
    Workload::ALL
        .iter()
        .flat_map(|&w| {
            compare_sizes(o)
                .iter()
                .map(move |&n| (w, w.param(n), w.tasks(w.param(n))))
        })
        .collect()
}

/// One run of `engine` on `workload` (a panic is a failure), in ns per task.
fn compare_run(engines: &Engines, engine: Engine, workload: Workload, p: u64) -> Outcome {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        engines.run_once(engine, workload, p, 0)
    }))
    .unwrap_or_else(|e| Err(Missing::Failed(panic_text(&*e))))
}

/// In a child process of `--compare --isolated`: one round of one engine, every case
/// timed right after an untimed run of it; one line per case on stdout, `case ns` (or
/// `case -` with no figure; a failure also on stderr).
fn compare_child(o: &Options, engine: usize) {
    let engines = Engines::new(o.threads);
    let engine = Engine::ALL[engine];
    for (c, &(workload, p, tasks)) in compare_cases(o).iter().enumerate() {
        let _ = compare_run(&engines, engine, workload, p);
        let outcome = compare_run(&engines, engine, workload, p);
        if let Err(Missing::Failed(why)) = &outcome {
            eprintln!("{} {}: {why}", engine.name(), workload.name());
        }
        match ns(&outcome, tasks) {
            Some(ns) => println!("{c} {ns}"),
            None => println!("{c} -"),
        }
    }
}

/// One round of `engine` in a child process of its own (see [`compare_child`]): its ns
/// per task for each case.
fn compare_isolated(o: &Options, engine: usize, cases: usize) -> Vec<Option<f64>> {
    let exe = std::env::current_exe().expect("this program's path");
    let mut command = Command::new(exe);
    command
        .args(["--compare-child", &engine.to_string()])
        .args(["--threads", &o.threads.to_string()]);
    if o.quick {
        command.arg("--quick");
    }
    let out = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("run this program as a child");
    let mut times = vec![None; cases];
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((c, ns)) = line.split_once(' ') {
            if let (Ok(c), Ok(ns)) = (c.parse::<usize>(), ns.parse::<f64>()) {
                if c < cases {
                    times[c] = Some(ns);
                }
            }
        }
    }
    times
}

fn compare(o: &Options, md: &mut String) {
    let engines = if o.isolated {
        Engines::new(o.threads)
    } else {
        Engines::started(o.threads)
    };
    let rounds = if o.quick { 5 } else { 9 };
    let sizes = compare_sizes(o);
    let cases = compare_cases(o);
    // ns per task: [case][engine][round]; Dask's: [case][round].
    let mut times = vec![vec![Vec::with_capacity(rounds); Engine::ALL.len()]; cases.len()];
    let mut dask_times = vec![Vec::with_capacity(rounds); cases.len()];
    let dask_n = *sizes.last().expect("a size");
    let mut dask_skipped = None;
    // C++ Taskflow's, when its peer is built: [case][round].
    let mut taskflow_times = vec![Vec::with_capacity(rounds); cases.len()];
    let mut taskflow_skipped = None;
    // Isolated, every round starts each engine afresh: no warm-up round.
    for round in usize::from(o.isolated)..=rounds {
        if o.isolated {
            for k in 0..Engine::ALL.len() {
                let e = (k + round) % Engine::ALL.len();
                if !o.runs(Engine::ALL[e]) {
                    continue;
                }
                for (c, t) in compare_isolated(o, e, cases.len()).into_iter().enumerate() {
                    times[c][e].push(t);
                }
            }
        }
        for (c, &(workload, p, tasks)) in cases.iter().enumerate() {
            if o.isolated {
                break;
            }
            for k in 0..Engine::ALL.len() {
                let e = (k + round) % Engine::ALL.len();
                if !o.runs(Engine::ALL[e]) {
                    continue;
                }
                if o.warm {
                    let _ = compare_run(&engines, Engine::ALL[e], workload, p);
                }
                let outcome = compare_run(&engines, Engine::ALL[e], workload, p);
                // Round 0 warms every engine up and is not kept.
                if round > 0 {
                    times[c][e].push(ns(&outcome, tasks));
                }
            }
        }
        if round > 0 && dask_skipped.is_none() {
            match dask(dask_n) {
                Ok(d) => {
                    for (c, &(workload, _, tasks)) in cases.iter().enumerate() {
                        let got = d
                            .get(&format!("delayed/threads/{}", workload.name()))
                            .filter(|(t, _)| (*t as f64 / tasks as f64 - 1.0).abs() < 0.2)
                            .map(|(_, ns)| *ns);
                        dask_times[c].push(got);
                    }
                }
                Err(why) => dask_skipped = Some(why),
            }
        }
        if round > 0 && taskflow_skipped.is_none() {
            match taskflow(engines.threads, sizes) {
                Ok(t) => {
                    for (c, &(workload, _, tasks)) in cases.iter().enumerate() {
                        let got = t.get(&(workload.name().to_owned(), tasks)).copied();
                        taskflow_times[c].push(got);
                    }
                }
                Err(why) => taskflow_skipped = Some(why),
            }
        }
        eprintln!("round {round} of {rounds} done");
    }
    let _ = writeln!(md, "# taskweave comparison, engines alternated\n");
    let _ = writeln!(
        md,
        "Machine: {}. Threads per engine: {}. {rounds} rounds after a warm-up; each round \
         runs every workload once on every engine, in an order rotated each round{}.\n",
        machine(),
        engines.threads,
        if o.isolated {
            ", each engine in a process of its own per round, as the peers' (`--isolated`: \
             no other engine's threads beside it), each timed run right after an untimed \
             one of the same workload"
        } else if o.warm {
            ", each timed run right after an untimed one of the same workload and engine \
             (`--warm`)"
        } else {
            ""
        }
    );
    if let Some(why) = &dask_skipped {
        let _ = writeln!(md, "Dask skipped: {why}\n");
    }
    if let Some(why) = &taskflow_skipped {
        let _ = writeln!(md, "C++ Taskflow skipped: {why}\n");
    }
    let _ = writeln!(
        md,
        "ns per task, median [min–max] of the rounds; ratios: median of the per-round \
         ratios [interquartile range].\n"
    );
    let _ = writeln!(
        md,
        "| workload | tasks | static | dynamic | futures | rayon | dagx | Dask | Taskflow | dynamic/rayon | futures/rayon | static/rayon | dagx/dynamic | Dask/dynamic | dynamic/Taskflow |"
    );
    let _ = writeln!(
        md,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let at = |e: Engine| Engine::ALL.iter().position(|&x| x == e).expect("an engine");
    for (c, &(workload, _, tasks)) in cases.iter().enumerate() {
        let t = &times[c];
        let (st, dy, fu, ra, da) = (
            &t[at(Engine::Static)],
            &t[at(Engine::Dynamic)],
            &t[at(Engine::Futures)],
            &t[at(Engine::Rayon)],
            &t[at(Engine::Dagx)],
        );
        let dask = &dask_times[c];
        let taskflow = &taskflow_times[c];
        let _ = writeln!(
            md,
            "| {} | {tasks} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            workload.name(),
            spread_cell(st),
            spread_cell(dy),
            spread_cell(fu),
            spread_cell(ra),
            spread_cell(da),
            spread_cell(dask),
            spread_cell(taskflow),
            ratio_cell(dy, ra),
            ratio_cell(fu, ra),
            ratio_cell(st, ra),
            ratio_cell(da, dy),
            ratio_cell(dask, dy),
            ratio_cell(dy, taskflow),
        );
    }
    write_node_bytes(md);
}
