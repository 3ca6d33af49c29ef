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

/// Dask (run): `r = wait([a, a])` gives `len(r.done) == 1` and `wait([p, p],
/// return_when="FIRST_COMPLETED")` the same: `done` and `not_done` are sets. Here they
/// are `Vec`s in the caller's order, one entry per entry of the list, a future given
/// twice among them twice (documented on `wait`).
#[test]
fn wait_keeps_a_future_given_twice_twice() {
    watchdog::within(LIMIT, "wait with duplicates", || {
        let client = client(2);
        let a = client.submit(|x: i64| x + 1, (1,));
        let (done, not_done) = wait(&[a.clone(), a.clone()], WaitMode::AllCompleted, None);
        assert_eq!((done.len(), not_done.len()), (2, 0));
        assert!(done.iter().all(|f| *f == a));
        let (open, p) = gated(&client);
        let (done, not_done) = wait(
            &[p.clone(), a.clone(), p.clone()],
            WaitMode::FirstCompleted,
            None,
        );
        assert_eq!(done, std::slice::from_ref(&a));
        assert_eq!(not_done, [p.clone(), p.clone()]);
        open.send(()).unwrap();
        assert_eq!(p.result().unwrap(), 7);
    });
}

/// Dask (run): for a cancelled future `s`, `s.exception()` and `s.traceback()` are
/// both `None`, as for a finished one, while `s.result()` raises
/// `FutureCancelledError`. Here `exception()` and `traceback()` are
/// `Err(FutureError::Cancelled)`, as `result()` is, so that a task with no result
/// never reads as "no error" (documented on both).
#[test]
fn exception_and_traceback_of_a_cancelled_future_are_its_cancel() {
    watchdog::within(LIMIT, "exception of a cancelled future", || {
        let client = client(1);
        let (open, running) = gated(&client);
        let queued = client.submit(|| 0_i64, ());
        queued.cancel();
        assert!(matches!(
            queued.exception(),
            Err(FutureError::Cancelled { .. })
        ));
        assert!(matches!(
            queued.traceback(),
            Err(FutureError::Cancelled { .. })
        ));
        open.send(()).unwrap();
        assert!(running.exception().unwrap().is_none());
        assert!(running.traceback().unwrap().is_none());
    });
}

/// Dask (run): `as_completed([a, b], with_results=True)` with `b` erred raises
/// `ValueError('boom 1')` out of the loop (`raise_errors=True`, the default); with
/// `raise_errors=False` it yields `(b, (ValueError, ValueError('boom 1'), tb))`; a
/// cancelled `s` is yielded as `(s, FutureCancelledError())` either way. Here each
/// comes as its `Result`: the error is an item, not the end of the loop (documented
/// on `with_results`).
#[test]
fn as_completed_with_results_yields_errors_as_items() {
    watchdog::within(LIMIT, "with_results", || {
        let client = client(2);
        let good = client.submit(|x: i64| x + 1, (1,));
        let bad = client.submit(|x: i64| -> i64 { panic!("boom {x}") }, (1,));
        let (open, held) = gated(&client);
        let cancelled = client.submit(|x: i64| x, (&held,));
        cancelled.cancel();
        let _ = wait(&[good.clone(), bad.clone()], WaitMode::AllCompleted, None);
        let mut seen: Vec<(Status, Result<i64, String>)> =
            as_completed([good.clone(), bad.clone(), cancelled.clone()])
                .with_results()
                .map(|(f, r)| (f.status(), r.map(|v| *v).map_err(|e| e.to_string())))
                .collect();
        seen.sort_by_key(|(status, _)| status.to_string());
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0].0, Status::Cancelled);
        assert!(seen[0].1.as_ref().unwrap_err().contains("was cancelled"));
        assert_eq!(seen[1].0, Status::Error);
        assert!(seen[1].1.as_ref().unwrap_err().contains("boom 1"));
        assert_eq!(seen[2], (Status::Finished, Ok(2)));
        open.send(()).unwrap();
        assert_eq!(held.result().unwrap(), 7);
    });
}

/// Dask (run): `d1 = delayed(inc)(1); d2 = delayed(inc)(d1)`; `client.compute([d1,
/// d2])` is a list of two `Future`s, `[2, 3]` gathered; `client.compute(d2)` one
/// `Future`. Here `client.compute((&d1, &d2))` is one future of the tuple, from one
/// run in which `d1` runs once (documented on `Client::compute`): for a future per
/// value, compute each, or persist the shared part first.
#[test]
fn client_compute_of_several_values_is_one_future_of_all() {
    watchdog::within(LIMIT, "client.compute of several", || {
        let client = client(2);
        let d1 = delayed(|x: i64| x + 1).call(1);
        let d2 = delayed(|x: i64| x + 1).call(&d1);
        let both: Future<(i64, i64)> = client.compute((&d1, &d2));
        assert_eq!(both.result().unwrap(), (2, 3));
        let one: Future<i64> = client.compute(&d2);
        assert_eq!(one.result().unwrap(), 3);
    });
}

/// Dask 2026.8.0 (`dask/dot.py`, `graphviz_to_file`): `x.visualize("graph.dot")`
/// writes DOT, `"graph.png"`, `".pdf"`, `".jpeg"`, `".jpg"` (any case) the image
/// Graphviz draws in that format, and any other name gets `.png` appended. Here
/// `visualize` wrote SVG whatever the name, so a Dask user's `visualize("graph.png")`
/// or `("graph.dot")` made a file no viewer or Graphviz reads. Now a `.dot` path gets
/// the DOT text, the raster formats (not drawn here) are refused with `InvalidInput`
/// and no file, and any other path is written as SVG, as given (no extension
/// appended).
#[test]
fn visualize_picks_the_format_from_the_extension_as_dask_does() {
    let dir = std::env::temp_dir().join(format!("taskweave-dask-vis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = delayed(|x: i64| x + 1).call(1);
    let b = delayed(|x: i64, y: i64| x * y).call(&a, 3);
    let info = b.info();

    for name in ["graph.dot", "GRAPH.DOT"] {
        let path = dir.join(name);
        b.visualize(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            info.to_dot(),
            "{name}"
        );
    }
    for name in ["graph.svg", "graph"] {
        let path = dir.join(name);
        b.visualize(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            info.to_svg(),
            "{name}"
        );
    }
    for name in ["graph.png", "graph.PDF", "graph.jpeg", "graph.jpg"] {
        let path = dir.join(name);
        let error = b.visualize(&path).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{name}");
        assert!(error.to_string().contains(".svg"), "{error}");
        assert!(!path.exists(), "{name}: nothing written");
    }
    // Every kind of graph writes through the same `GraphInfo::visualize`.
    let client = client(1);
    let f = client.submit(|x: i64| x, (1,));
    let path = dir.join("future.dot");
    f.visualize(&path).unwrap();
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .starts_with("digraph"));
    taskweave::visualize((&a, &b), dir.join("both.dot")).unwrap();
    assert!(taskweave::visualize((&a, &b), dir.join("both.png")).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Dask 2026.8.0 (run, synchronous scheduler): `x = delayed(inc)(1,
/// dask_key_name="k"); y = delayed(inc)(2, dask_key_name="k")` gives `x.key == y.key
/// == "k"` and `dask.compute(x, y) == (2, 2)`: the graph holds one task per key, so
/// `y`'s task silently stands for `x`'s. Here a name is the key's text, not the
/// node's identity: calls that differ, named alike, stay two nodes and compute
/// `(2, 3)`, their `key()`s the same text; equal pure calls named alike are one node,
/// as in Dask (documented on `Delayed::named`).
#[test]
fn differing_calls_named_alike_stay_separate_nodes() {
    fn inc(x: i64) -> i64 {
        x + 1
    }
    let x = delayed(inc).call(1).named("k");
    let y = delayed(inc).call(2).named("k");
    assert_eq!((x.key(), y.key()), ("k".to_string(), "k".to_string()));
    assert_eq!(taskweave::compute((&x, &y)), (2, 3));
    let x = delayed(inc).pure().call(1).named("k");
    let y = delayed(inc).pure().call(2).named("k");
    assert_eq!(taskweave::compute((&x, &y)), (2, 3));
    let x = delayed(inc).pure().call(1).named("k");
    let y = delayed(inc).pure().call(1).named("k");
    assert_eq!(taskweave::prepare((&x, &y)).len(), 1);
    assert_eq!(taskweave::compute((&x, &y)), (2, 2));
}

/// Dask (run): `fire_and_forget([c.submit(rec, 1), c.submit(rec, 'two')])` and
/// `fire_and_forget((c.submit(rec, 3), c.submit(rec, 4.0)))`, the handles dropped at
/// once, printed `ran 1`, `ran two`, `ran 3`, `ran 4.0`: Dask's takes a future or any
/// collection of them. `fire_and_forget` takes a `Vec`, a tuple of futures of
/// different types and a slice by reference (it took one future a call); a queued task
/// whose last handle is dropped without it is cancelled, and never runs.
#[test]
fn fire_and_forget_takes_collections_of_futures() {
    watchdog::within(LIMIT, "fire_and_forget of collections", || {
        let client = client(1);
        // The only thread held: every task below is still queued when its handles go.
        let (open, blocker) = gated(&client);
        let (ran, told) = mpsc::channel::<String>();
        let rec = |client: &Client, x: i64| {
            let ran = ran.clone();
            client.submit(
                move |x: i64| {
                    ran.send(x.to_string()).unwrap();
                    x
                },
                (x,),
            )
        };
        client.fire_and_forget(vec![rec(&client, 1), rec(&client, 2)]);
        let ran_two = ran.clone();
        let text = client.submit(
            move || {
                ran_two.send("three".to_owned()).unwrap();
                "three".to_owned()
            },
            (),
        );
        client.fire_and_forget((rec(&client, 4), text));
        client.fire_and_forget([rec(&client, 5)]);
        let kept = vec![rec(&client, 6), rec(&client, 7)];
        client.fire_and_forget(&kept[..]);
        drop(kept);
        let dropped = rec(&client, 8);
        drop(dropped);
        drop(ran);
        open.send(()).unwrap();
        assert_eq!(blocker.result().unwrap(), 7);
        let mut seen: Vec<String> = told.iter().collect();
        seen.sort();
        assert_eq!(seen, ["1", "2", "4", "5", "6", "7", "three"]);
    });
}

/// Dask (run): `repr(a)` of `a = c.submit(inc, 1)` printed `<Future: pending, key:
/// inc-dc03…>`, then `<Future: finished, type: int, key: inc-dc03…>` once it ended.
/// `Future`'s `Debug` shows the same: its key, its status and its result's type (it
/// showed the name and the status only).
#[test]
fn a_future_debug_shows_its_key_status_and_type_as_dask_repr() {
    watchdog::within(LIMIT, "Debug of a future", || {
        let client = client(1);
        let (open, gated) = gated(&client);
        let queued = client.task(|x: i64| x + 1).named("inc").submit((1,));
        let shown = format!("{queued:?}");
        assert_eq!(
            shown,
            format!(
                "Future {{ key: {:?}, status: Pending, type: \"i64\" }}",
                queued.key()
            )
        );
        assert!(queued.key().starts_with("inc-"), "{}", queued.key());
        open.send(()).unwrap();
        assert_eq!(queued.result().unwrap(), 2);
        assert_eq!(gated.result().unwrap(), 7);
        let text = client.submit(|| String::from("x"), ());
        text.result().unwrap();
        assert_eq!(
            format!("{text:?}"),
            format!(
                "Future {{ key: {:?}, status: Finished, type: \"alloc::string::String\" }}",
                text.key()
            )
        );
    });
}
