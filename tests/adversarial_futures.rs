//! Adversarial probes of the futures front end, on ground the other futures tests do
//! not cover: each shape that could hang or overflow runs under the watchdog.

#[path = "support/watchdog.rs"]
mod watchdog;

use std::sync::{mpsc, Mutex};
use std::time::Duration;

use taskweave::prelude::*;

const LIMIT: Duration = Duration::from_secs(60);

fn client(threads: usize) -> Client {
    Client::builder()
        .threads(threads)
        .name("adversarial-futures")
        .build()
        .unwrap()
}

fn inc(x: i64) -> i64 {
    x + 1
}

/// A task that holds its thread until the sender is dropped or sends.
fn blocker(client: &Client) -> (Future<()>, mpsc::Sender<()>, mpsc::Receiver<()>) {
    let (tx, rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let rx = Mutex::new(rx);
    let started_tx = Mutex::new(started_tx);
    let f = client.submit(
        move || {
            started_tx.lock().unwrap().send(()).unwrap();
            let _ = rx.lock().unwrap().recv();
        },
        (),
    );
    (f, tx, started_rx)
}

/// A done callback of a future that fails waits for a dependent a thousand links down
/// the failure. It hung: the ends of the links between were queued on the thread that
/// ran the callback, to be told once it returned.
#[test]
fn a_done_callback_of_a_failing_future_waits_for_a_dependent_far_down() {
    watchdog::within(LIMIT, "callback waits far down a failure", || {
        let client = client(2);
        let (gate, release, started) = blocker(&client);
        started.recv().unwrap();
        let root = client.submit(|_: ()| -> i64 { panic!("root broke") }, (&gate,));
        let mut bottom = client.submit(inc, (&root,));
        for _ in 0..1_000 {
            bottom = client.submit(inc, (bottom,));
        }
        let (tell, told) = mpsc::channel();
        root.add_done_callback(move |_| {
            let _ = tell.send(bottom.result().map_err(|e| e.to_string()));
        });
        release.send(()).unwrap();
        let seen = told.recv().expect("the callback's wait returned");
        assert!(seen.unwrap_err().contains("root broke"));
    });
}

/// A done callback of a future cancelled from outside the pool waits for a dependent
/// two links down: it hung as the failure's did.
#[test]
fn a_done_callback_of_a_cancelled_future_waits_for_a_dependent_two_links_down() {
    watchdog::within(LIMIT, "callback waits two links down a cancel", || {
        let client = client(2);
        let (gate, release, started) = blocker(&client);
        started.recv().unwrap();
        let root = client.submit(|_: ()| 1i64, (&gate,));
        let middle = client.submit(inc, (&root,));
        let bottom = client.submit(inc, (&middle,));
        let (tell, told) = mpsc::channel();
        root.add_done_callback(move |_| {
            let _ = tell.send(bottom.result().map_err(|e| e.to_string()));
        });
        root.cancel();
        let seen = told.recv().expect("the callback's wait returned");
        assert!(seen.unwrap_err().contains("cancelled"));
        release.send(()).unwrap();
    });
}
