//! Random cycles of waits through every place a wait for a future can be made: each
//! task of a ring of one to four futures tasks waits for the next one's future
//! (`result`, `gather`, `wait` for all or any, `as_completed`), in its own code, in a
//! task of a `Delayed` graph it computes (run on its thread, or on rayon's pool), in a
//! `graph!` it computes (alone, or nested in a `Delayed` graph's task), or in a graph
//! its client computes (`client.compute`), or through an argument (a task it submits,
//! a `Delayed` graph it or its client computes, reading the next future; the graph it
//! computes may follow the task, `stop_when`), inside `secede`, in a task it submits
//! or in those of a `client.map`, on one or two clients of one or two threads, some of
//! them held for a moment so that the tasks queue and a waiter runs the one it waits
//! for itself. One of the waits could never end: it fails, saying so, the others read
//! its message as their value, and everything ends. Some rings have a wait with a
//! timeout, a task cancelled from outside, or their clients dropped, which ends them
//! another way: everything ends all the same.
//! Each case runs under a watchdog, so a hang fails the test rather than CI.
//!
//! A fixed ring of such sites hung (a `graph!` in a `Delayed` graph's task, on the
//! thread of a task that then ran the next task inline; see
//! `adversarial_across::a_cycle_of_waits_through_two_clients_and_graphs_is_broken_when_the_first_runs_inline`):
//! this covers the combinations of sites, placements and timings around it.
//!
//! `WAIT_CYCLES_SEED=n` shifts the cases' seeds by `n` (a single case: with
//! `WAIT_CYCLES_CASES=1`), `WAIT_CYCLES_CASES` sets their number (a longer hunt).
//! (A wait in the items of a task's own rayon `par_iter` is left out: those run on
//! rayon's threads, outside the task, and the README says a cycle through them is not
//! seen.)

#[path = "support/random.rs"]
mod random;
#[path = "support/watchdog.rs"]
mod watchdog;

use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use random::Rng;
use taskweave::prelude::*;
use taskweave::{RunOptions, WaitMode};

/// Where the next task's future is handed over, once submitted.
type Slot = Arc<OnceLock<Future<String>>>;

/// How long one case may take.
const LIMIT: Duration = Duration::from_secs(30);

/// How long a held client's threads stay held.
const HOLD: Duration = Duration::from_millis(15);

/// Where a task waits for the next one's future.
#[derive(Clone, Copy, Debug)]
enum Site {
    /// In its own code.
    Task,
    /// In the one task of a `Delayed` graph it computes (run on its own thread).
    DelayedHere,
    /// In one of two tasks side by side of a `Delayed` graph it computes (run on
    /// rayon's pool).
    DelayedPool,
    /// In a `graph!` it computes.
    Graph,
    /// In a `graph!` that the one task of a `Delayed` graph it computes computes.
    GraphInDelayed,
    /// In a `Delayed` graph's task that its client computes (`client.compute`), whose
    /// future it waits for.
    ClientCompute,
    /// Through an argument: it submits a task that reads the next one's future as its
    /// argument, and waits for that task.
    Argument,
    /// Through a `Delayed` graph it computes that reads the next one's future as an
    /// argument (the graph waits for it before it starts).
    GraphReads,
    /// Through a `Delayed` graph that reads the next one's future, which its client
    /// computes (`client.compute`), and whose future it waits for.
    ClientComputeReads,
    /// As `GraphReads`, the run following the task (`stop_when(taskweave::cancelled)`):
    /// the graph waits for the future before it starts, asking whether the task was
    /// cancelled meanwhile.
    GraphReadsFollowing,

    /// In its own code, inside `secede` (its thread's place handed over meanwhile).
    Seceded,
    /// In a task it submits to its client, and waits for.
    Subtask,
    /// In the tasks of a `client.map` it makes, then gathers.
    Map,
    /// In the tasks of a `client.map` it makes, then waits for any of (as drawn: a
    /// wait for all stands for a wait for the first exception).
    MapAny,
}

const SITES: [Site; 14] = [
    Site::Task,
    Site::DelayedHere,
    Site::DelayedPool,
    Site::Graph,
    Site::GraphInDelayed,
    Site::ClientCompute,
    Site::Argument,
    Site::GraphReads,
    Site::ClientComputeReads,
    Site::GraphReadsFollowing,
    Site::Seceded,
    Site::Subtask,
    Site::Map,
    Site::MapAny,
];

/// How a task waits for the next one's future.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `result()`.
    Result,
    /// `client.gather(&[next])`.
    Gather,
    /// `wait(&[next], AllCompleted, None)`, then `result()`.
    WaitAll,
    /// `wait(&[next], FirstCompleted, None)`, then `result()`.
    WaitAny,
    /// The first of `as_completed([next])`, then `result()`.
    AsCompleted,
    /// `result_timeout(TIMEOUT)`: a wait that ends, so the ring is no cycle of waits
    /// that could never end (none of them fails so; the timeout ends it).
    Timeout,
}

const KINDS: [Kind; 6] = [
    Kind::Result,
    Kind::Gather,
    Kind::WaitAll,
    Kind::WaitAny,
    Kind::AsCompleted,
    Kind::Timeout,
];

/// The timeout of [`Kind::Timeout`].
const TIMEOUT: Duration = Duration::from_millis(30);

/// The awaited future's value, or the error of the wait, as text.
fn text(result: Result<String, FutureError>) -> String {
    result.unwrap_or_else(|error| error.to_string())
}

/// Waits as `kind` says for the future in `slot` (once it is there). A `wait` or an
/// `as_completed` that could never end panics, failing the task with its message.
fn wait_for(kind: Kind, slot: &Slot) -> String {
    wait_on(kind, slot.wait())
}

/// Waits as `kind` says for `next`.
fn wait_on(kind: Kind, next: &Future<String>) -> String {
    match kind {
        Kind::Result => text(next.result()),
        Kind::Gather => {
            let client = taskweave::get_client().expect("a task's client");
            text(
                client
                    .gather(std::slice::from_ref(next))
                    .map(|mut v| v.remove(0)),
            )
        }
        Kind::WaitAll | Kind::WaitAny => {
            let mode = match kind {
                Kind::WaitAll => WaitMode::AllCompleted,
                _ => WaitMode::FirstCompleted,
            };
            let (done, not_done) = taskweave::wait(std::slice::from_ref(next), mode, None);
            assert!(done.len() == 1 && not_done.is_empty());
            text(next.result())
        }
        Kind::AsCompleted => {
            let first = taskweave::as_completed([next.clone()]).next();
            text(first.expect("one future").result())
        }
        Kind::Timeout => text(next.result_timeout(TIMEOUT)),
    }
}

#[delayed]
fn wait_node(kind: Kind, slot: Slot) -> String {
    wait_for(kind, &slot)
}

/// The body of a task that waits at `site` as `kind` says for the future in `next`.
fn wait_at(site: Site, kind: Kind, next: Slot) -> String {
    let wait_for = move |next: &Slot| wait_for(kind, next);
    match site {
        Site::Task => wait_for(&next),
        Site::DelayedHere => delayed(move |_: u64| wait_for(&next)).call(0u64).compute(),
        Site::DelayedPool => {
            let waits = delayed(move |_: u64| wait_for(&next)).call(0u64);
            let beside = delayed(|x: u64| x + 1).call(1u64);
            delayed(|text: String, _: u64| text)
                .call(waits, beside)
                .compute()
        }
        Site::Graph => {
            let g = graph!(|k: Kind, s: Slot| -> String { wait_node(k, s) });
            g.compute(kind, next)
        }
        Site::GraphInDelayed => {
            let g = graph!(|k: Kind, s: Slot| -> String { wait_node(k, s) });
            delayed(move |_: u64| g.compute(kind, next.clone()))
                .call(0u64)
                .compute()
        }
        Site::ClientCompute => {
            let client = taskweave::get_client().expect("a task's client");
            let waits = delayed(move |_: u64| wait_for(&next)).call(0u64);
            wait_on(kind, &client.compute(&waits))
        }
        Site::Argument => {
            let client = taskweave::get_client().expect("a task's client");
            let reads = client.submit(|text: String| text, (next.wait(),));
            wait_on(kind, &reads)
        }
        Site::GraphReads => delayed(|text: String| text).call(next.wait()).compute(),
        Site::GraphReadsFollowing => {
            let options = RunOptions::new().stop_when(taskweave::cancelled);
            let reads = delayed(|text: String| text).call(next.wait());
            reads
                .try_compute_with(options)
                .unwrap_or_else(|error| error.to_string())
        }

        Site::ClientComputeReads => {
            let client = taskweave::get_client().expect("a task's client");
            let reads = delayed(|text: String| text).call(next.wait());
            wait_on(kind, &client.compute(&reads))
        }
        Site::Seceded => taskweave::secede(|| wait_for(&next)),
        Site::Subtask => {
            let client = taskweave::get_client().expect("a task's client");
            let waits = client.submit(move || wait_for(&next), ());
            wait_on(kind, &waits)
        }
        Site::Map => {
            let client = taskweave::get_client().expect("a task's client");
            let waits = client.map(move |_: u64| wait_for(&next), 0..2u64);
            match client.gather(&waits) {
                Ok(texts) => texts.concat(),
                Err(error) => error.to_string(),
            }
        }
        Site::MapAny => {
            let client = taskweave::get_client().expect("a task's client");
            let waits = client.map(move |_: u64| wait_for(&next), 0..2u64);
            let mode = match kind {
                Kind::WaitAll => WaitMode::FirstException,
                _ => WaitMode::FirstCompleted,
            };
            match kind {
                Kind::AsCompleted | Kind::Result => {
                    let first = taskweave::as_completed(waits).next();
                    text(first.expect("two futures").result())
                }
                _ => {
                    let (done, _) = taskweave::wait(&waits, mode, None);
                    text(done[0].result())
                }
            }
        }
    }
}

/// Holds every thread of `client` until `HOLD` has passed: a task submitted meanwhile
/// queues. Returns the holding futures, which end once let go.
fn hold(client: &Client, threads: usize) -> Vec<Future<()>> {
    let (started, all_started) = mpsc::channel::<()>();
    let started = Arc::new(Mutex::new(started));
    let held: Vec<Future<()>> = (0..threads)
        .map(|_| {
            let started = started.clone();
            client.submit(
                move || {
                    started.lock().unwrap().send(()).unwrap();
                    std::thread::sleep(HOLD);
                },
                (),
            )
        })
        .collect();
    for _ in 0..threads {
        all_started
            .recv_timeout(LIMIT)
            .expect("the holding tasks start");
    }
    held
}

/// One random ring.
struct Case {
    /// Each task's client (index into `clients`), site and kind of wait.
    tasks: Vec<(usize, Site, Kind)>,
    /// Each client's threads, and whether it is held while the tasks are submitted.
    clients: Vec<(usize, bool)>,
    /// A task of the ring cancelled from outside, after a pause (in ms) once all are
    /// submitted: the ring's waits end all the same.
    cancel: Option<(usize, u64)>,
    /// The clients dropped by the test, after a pause (in ms) once all tasks are
    /// submitted: each cancels its tasks and shuts down (waiting for those running,
    /// which the cancels end) unless a task still holds it (`get_client()`).
    drop_clients: Option<u64>,
}

impl Case {
    fn draw(seed: u64) -> Case {
        let mut rng = Rng(seed);
        let clients: Vec<(usize, bool)> = (0..1 + rng.below(2))
            .map(|_| (1 + rng.below(2), rng.percent(40)))
            .collect();
        let tasks = (0..1 + rng.below(4))
            .map(|_| {
                let client = rng.below(clients.len());
                let site = SITES[rng.below(SITES.len())];
                (client, site, KINDS[rng.below(KINDS.len())])
            })
            .collect::<Vec<_>>();
        let cancel = rng
            .percent(20)
            .then(|| (rng.below(tasks.len()), rng.below(4) as u64));
        let drop_clients = rng.percent(15).then(|| rng.below(4) as u64);
        Case {
            tasks,
            clients,
            cancel,
            drop_clients,
        }
    }

    fn run(&self) {
        let clients: Vec<Client> = (self.clients.iter().enumerate())
            .map(|(at, &(threads, _))| {
                Client::builder()
                    .threads(threads)
                    .name(format!("c{at}"))
                    .build()
                    .unwrap()
            })
            .collect();
        let held: Vec<Future<()>> = (self.clients.iter().zip(&clients))
            .filter(|((_, held), _)| *held)
            .flat_map(|(&(threads, _), client)| hold(client, threads))
            .collect();
        let n = self.tasks.len();
        let slots: Vec<Slot> = (0..n).map(|_| Arc::new(OnceLock::new())).collect();
        let futures: Vec<Future<String>> = (self.tasks.iter().enumerate())
            .map(|(at, &(client, site, kind))| {
                let next = slots[(at + 1) % n].clone();
                clients[client]
                    .task(move || wait_at(site, kind, next.clone()))
                    .named(format!("t{at}"))
                    .submit(())
            })
            .collect();
        for (slot, future) in slots.iter().zip(&futures) {
            assert!(slot.set(future.clone()).is_ok());
        }
        if let Some((at, pause)) = self.cancel {
            std::thread::sleep(Duration::from_millis(pause));
            futures[at].cancel();
        }
        if let Some(pause) = self.drop_clients {
            std::thread::sleep(Duration::from_millis(pause));
            drop(clients);
        }
        // (A task whose `wait` or `as_completed` could never end fails, with the
        // message.)
        let values: Vec<String> = futures.iter().map(|f| text(f.result())).collect();
        let timed = self
            .tasks
            .iter()
            .any(|&(_, _, kind)| matches!(kind, Kind::Timeout));
        if !timed && self.cancel.is_none() && self.drop_clients.is_none() {
            assert!(
                values.iter().any(|v| v.contains("the wait would never end")
                    || v.contains("and the waits would never end")),
                "no wait of the ring failed: {values:?}"
            );
        }
        for held in held {
            match held.result() {
                Ok(()) => {}
                // Its client dropped before it ended.
                Err(FutureError::Cancelled { .. }) if self.drop_clients.is_some() => {}
                Err(error) => panic!("a holding task failed: {error}"),
            }
        }
    }
}

/// Reads an environment variable as a number.
fn env(name: &str) -> Option<u64> {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().expect("a number"))
}

#[test]
fn random_cycles_of_waits_through_graphs_and_clients_are_broken() {
    let from = env("WAIT_CYCLES_SEED").unwrap_or(0);
    let count = env("WAIT_CYCLES_CASES").unwrap_or(300);
    for seed in from..from + count {
        let case = Case::draw(seed);
        let what = format!(
            "wait_cycles_random seed {seed}: tasks {:?}, clients (threads, held) {:?}, \
             cancelled {:?}, clients dropped {:?}",
            case.tasks, case.clients, case.cancel, case.drop_clients
        );
        let body_what = what.clone();
        let ran = std::panic::catch_unwind(|| watchdog::within(LIMIT, &what, move || case.run()));
        if let Err(payload) = ran {
            eprintln!("{body_what}");
            std::panic::resume_unwind(payload);
        }
    }
}
