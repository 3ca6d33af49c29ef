//! Dask semantics checked against Dask itself (dask and distributed 2026.8.0, run with
//! `distributed.Client(processes=False)` and the synchronous scheduler): each test's
//! comment gives the Python probe and what it printed, and the test asserts what
//! taskweave does in its place, the same or the difference its docs state.

#[path = "support/watchdog.rs"]
mod watchdog;

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use taskweave::prelude::*;
use taskweave::Status;

const LIMIT: Duration = Duration::from_secs(60);

fn client(threads: usize) -> Client {
    Client::builder()
        .threads(threads)
        .name("dask-semantics")
        .build()
        .unwrap()
}

/// A task of `client` that runs until the returned sender opens its gate.
fn gated(client: &Client) -> (mpsc::Sender<()>, Future<i64>) {
    let (open, gate) = mpsc::channel::<()>();
    let gate = Arc::new(Mutex::new(gate));
    let future = client.submit(
        move || {
            let _ = gate.lock().unwrap().recv();
            7
        },
        (),
    );
    (open, future)
}

/// Dask (run): `a.status, b.status, s.status, p.status` for a finished, an erred, a
/// cancelled and a queued future printed `finished error cancelled pending`, strings
/// a Dask program compares and prints. `Status` displays the same words (it had only
/// `Debug`, `Finished`); a running task is `running` here, where Dask's future says
/// `pending` until it ends (documented on `Status`).
#[test]
fn status_displays_as_dask_spells_it() {
    watchdog::within(LIMIT, "statuses", || {
        let client = client(1);
        let finished = client.submit(|x: i64| x + 1, (1,));
        finished.result().unwrap();
        let failed = client.submit(|| -> i64 { panic!("boom") }, ());
        let _ = failed.exception();
        let (open, running) = gated(&client);
        // One thread, held by `running`: this one stays queued.
        let queued = client.submit(|| 0_i64, ());
        let cancelled = client.submit(|| 0_i64, ());
        cancelled.cancel();
        while running.status() != Status::Running {
            std::thread::sleep(Duration::from_millis(1));
        }
        let shown: Vec<String> = [&finished, &failed, &cancelled, &queued, &running]
            .iter()
            .map(|f| f.status().to_string())
            .collect();
        assert_eq!(
            shown,
            ["finished", "error", "cancelled", "pending", "running"]
        );
        // `{}` in a message, as Dask's `f"{fut.status}"`; an erased future too.
        assert_eq!(format!("{}", finished.erase().status()), "finished");
        open.send(()).unwrap();
        assert_eq!(running.result().unwrap(), 7);
        assert_eq!(queued.result().unwrap(), 0);
    });
}
