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

/// Cancelling a finished root whose cancel reaches a pending dependent first, whose
/// done callback waits for a pending dependent of another finished dependent of the
/// root: the cancel goes on to that one only after the callback.
#[test]
fn a_done_callback_run_by_a_cancel_waits_for_a_dependent_the_cancel_reaches_later() {
    watchdog::within(LIMIT, "callback waits for a later cancel", || {
        let client = client(2);
        let (gate, release, started) = blocker(&client);
        started.recv().unwrap();
        let root = client.submit(|| 1i64, ());
        root.result().unwrap();
        let finished = client.submit(inc, (&root,));
        finished.result().unwrap();
        let far = client.submit(|x: i64, _: ()| x, (&finished, &gate));
        let near = client.submit(|x: i64, _: ()| x, (&root, &gate));
        let (tell, told) = mpsc::channel();
        near.add_done_callback(move |_| {
            let _ = tell.send(far.result().map_err(|e| e.to_string()));
        });
        root.cancel();
        let seen = told.recv().expect("the callback's wait returned");
        assert!(seen.unwrap_err().contains("cancelled"));
        assert!(near.cancelled() && finished.cancelled());
        release.send(()).unwrap();
    });
}

/// `client.cancel(&[a, b])`: `a`'s done callback waits for `b`, which the same call
/// cancels after `a`.
#[test]
fn a_done_callback_run_by_a_cancel_of_several_waits_for_a_later_one() {
    watchdog::within(
        LIMIT,
        "callback waits for a later future of the cancel",
        || {
            let client = client(2);
            let (gate, release, started) = blocker(&client);
            started.recv().unwrap();
            let a = client.submit(|_: ()| 1i64, (&gate,));
            let b = client.submit(|_: ()| 2i64, (&gate,));
            let (tell, told) = mpsc::channel();
            let waited = b.clone();
            a.add_done_callback(move |_| {
                let _ = tell.send(waited.result().map_err(|e| e.to_string()));
            });
            client.cancel(&[a, b]);
            let seen = told.recv().expect("the callback's wait returned");
            assert!(seen.unwrap_err().contains("cancelled"));
            release.send(()).unwrap();
        },
    );
}

/// Dropping the last client while a pending task's done callback waits for other
/// pending tasks, which the shutdown cancels after it (the running task that holds
/// them back is let go once every callback has returned).
#[test]
fn a_done_callback_run_by_a_shutdown_waits_for_tasks_it_cancels_later() {
    watchdog::within(
        LIMIT,
        "callback waits for a later task of the shutdown",
        || {
            let client = client(1);
            let (gate, release, started) = blocker(&client);
            started.recv().unwrap();
            let (tell, told) = mpsc::channel();
            let mut futures: Vec<_> = (0..8i64)
                .map(|i| client.submit(move |_: ()| i, (&gate,)))
                .collect();
            for (at, future) in futures.iter().enumerate() {
                let others: Vec<_> = futures.iter().skip(at + 1).cloned().collect();
                let tell = tell.clone();
                future.add_done_callback(move |_| {
                    for other in others {
                        let _ = tell.send(other.result().map_err(|e| e.to_string()));
                    }
                });
            }
            drop(tell);
            for future in futures.drain(..) {
                client.fire_and_forget(future);
            }
            let releaser = std::thread::spawn(move || {
                let seen: Vec<_> = told.iter().take(28).collect();
                release.send(()).unwrap();
                seen
            });
            drop(gate);
            drop(client);
            let seen = releaser.join().unwrap();
            assert_eq!(seen.len(), 28);
            assert!(seen
                .iter()
                .all(|r| r.as_ref().unwrap_err().contains("cancelled")));
        },
    );
}
