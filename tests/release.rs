//! Release, as Dask does it: a future whose last handle is dropped, or that is
//! cancelled, releases its task's arguments at once, and upstream futures that only
//! it held are released in turn, so their tasks never run; nothing a waiter leaves on
//! a future (`as_completed`, a `wait` that timed out) keeps it alive.

#[path = "support/watchdog.rs"]
mod watchdog;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use taskweave::prelude::*;
use taskweave::{FutureError, Status};
use watchdog::within;

const LIMIT: Duration = Duration::from_secs(60);

/// A one-thread client whose thread is held by a task until `release` is sent.
fn busy_client() -> (Client, mpsc::Sender<()>, Future<()>) {
    let client = Client::builder().threads(1).name("busy").build().unwrap();
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    let hold = client.submit(move || released.lock().unwrap().recv().unwrap(), ());
    // The thread has taken the holding task before anything else is queued.
    while hold.status() == Status::Pending {
        std::thread::yield_now();
    }
    (client, release, hold)
}

/// Counts its drops: an argument kept by a task.
struct Guard(Arc<AtomicUsize>);

impl Clone for Guard {
    fn clone(&self) -> Self {
        Guard(self.0.clone())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Ten stages, each counting its runs and holding a `Guard`; the last future only.
fn stages(client: &Client, runs: &Arc<AtomicUsize>, dropped: &Arc<AtomicUsize>) -> Future<u64> {
    let stage = {
        let runs = runs.clone();
        move |x: u64, _guard: Guard| {
            runs.fetch_add(1, Ordering::SeqCst);
            x + 1
        }
    };
    let mut x = client.submit(stage.clone(), (0u64, Guard(dropped.clone())));
    for _ in 1..10 {
        x = client.submit(stage.clone(), (x, Guard(dropped.clone())));
    }
    x
}

#[test]
fn dropping_the_last_handle_releases_every_upstream_stage() {
    within(LIMIT, "drop releases", || {
        let (client, release, hold) = busy_client();
        let runs = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let last = stages(&client, &runs, &dropped);
        drop(last);
        // At once, while the thread is still busy: every stage's arguments are gone.
        assert_eq!(dropped.load(Ordering::SeqCst), 10);
        release.send(()).unwrap();
        hold.result().unwrap();
        // Whatever was queued has had its turn: a task submitted now runs after it.
        client.submit(|| (), ()).result().unwrap();
        assert_eq!(
            runs.load(Ordering::SeqCst),
            0,
            "no stage runs once released"
        );
    });
}

#[test]
fn cancelling_releases_every_upstream_stage_that_only_it_needed() {
    within(LIMIT, "cancel releases", || {
        let (client, release, hold) = busy_client();
        let runs = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let last = stages(&client, &runs, &dropped);
        last.cancel();
        assert_eq!(dropped.load(Ordering::SeqCst), 10);
        assert!(matches!(last.result(), Err(FutureError::Cancelled { .. })));
        release.send(()).unwrap();
        hold.result().unwrap();
        client.submit(|| (), ()).result().unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn an_upstream_future_still_held_elsewhere_is_not_released() {
    within(LIMIT, "shared upstream", || {
        let (client, release, hold) = busy_client();
        let runs = Arc::new(AtomicUsize::new(0));
        let count = {
            let runs = runs.clone();
            move |x: u64| {
                runs.fetch_add(1, Ordering::SeqCst);
                x * 2
            }
        };
        let shared = client.submit(count.clone(), (21u64,));
        let reader = client.submit(count.clone(), (&shared,));
        drop(reader);
        release.send(()).unwrap();
        hold.result().unwrap();
        // `shared` was still held here: it runs, the dropped reader does not.
        assert_eq!(shared.result().unwrap(), 42);
        client.submit(|| (), ()).result().unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn a_long_chain_is_released_when_its_tail_is_dropped() {
    within(LIMIT, "long chain released", || {
        let (client, release, hold) = busy_client();
        let dropped = Arc::new(AtomicUsize::new(0));
        let mut x = client.submit(|g: Guard| drop(g), (Guard(dropped.clone()),));
        for _ in 0..200_000 {
            x = client.submit(|(): ()| (), (x,));
        }
        drop(x);
        // The whole chain, down to the first task's argument, in constant stack.
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        release.send(()).unwrap();
        hold.result().unwrap();
    });
}

#[test]
fn dropping_as_completed_drops_what_it_had_not_yielded() {
    within(LIMIT, "as_completed released", || {
        let (client, release, hold) = busy_client();
        let runs = Arc::new(AtomicUsize::new(0));
        let count = {
            let runs = runs.clone();
            move |x: u64| {
                runs.fetch_add(1, Ordering::SeqCst);
                x
            }
        };
        let mut futures = vec![client.scatter(0u64)];
        futures.extend((1..=40u64).map(|i| client.submit(count.clone(), (i,))));
        let mut completed = as_completed(futures);
        let first = completed.next().unwrap();
        assert_eq!(first.result().unwrap(), 0);
        assert_eq!(completed.remaining(), 40);
        drop(completed);
        release.send(()).unwrap();
        hold.result().unwrap();
        client.submit(|| (), ()).result().unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 0, "the 40 unyielded tasks ran");
    });
}

#[test]
fn as_completed_still_yields_everything_it_holds() {
    within(LIMIT, "as_completed all", || {
        let client = Client::builder().threads(2).build().unwrap();
        let mut completed = as_completed(client.map(|x: u64| x * 3, 0..50u64));
        let mut seen: Vec<u64> = completed
            .by_ref()
            .take(10)
            .map(|f| f.result().unwrap())
            .collect();
        completed.add(client.submit(|| 1_000u64, ()));
        seen.extend(completed.map(|f| f.result().unwrap()));
        seen.sort_unstable();
        let mut want: Vec<u64> = (0..50).map(|x| x * 3).collect();
        want.push(1_000);
        assert_eq!(seen, want);
    });
}
