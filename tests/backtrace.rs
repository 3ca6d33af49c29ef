//! Backtraces of task panics (Dask's `future.traceback()`), when the environment
//! enables them. One test in its own binary: it enables them for this process before
//! anything reads the setting.

use taskweave::prelude::*;

#[inline(never)]
fn explode_in_a_future(x: u64) -> u64 {
    if x > 0 {
        panic!("future exploded");
    }
    x
}

#[inline(never)]
fn explode_in_a_graph(x: u64) -> u64 {
    if x > 0 {
        panic!("graph exploded");
    }
    x
}

#[test]
fn task_panics_keep_their_backtrace_when_backtraces_are_enabled() {
    // Read once per process, at the first backtrace taken: before any task runs.
    std::env::set_var("RUST_LIB_BACKTRACE", "1");

    let client = Client::builder().threads(2).build().unwrap();
    let failed = client.submit(explode_in_a_future, (1u64,));
    assert!(failed.result().is_err());
    let trace = failed
        .traceback()
        .unwrap()
        .expect("a backtrace")
        .to_string();
    assert!(trace.contains("explode_in_a_future"), "{trace}");
    // A dependent's error is its dependency's, backtrace included.
    let dependent = client.submit(|x: u64| x + 1, (&failed,));
    assert!(dependent.result().is_err());
    assert!(dependent
        .traceback()
        .unwrap()
        .expect("the dependency's backtrace")
        .to_string()
        .contains("explode_in_a_future"));
    // A finished future has none.
    let fine = client.submit(explode_in_a_future, (0u64,));
    assert_eq!(fine.result().unwrap(), 0);
    assert!(fine.traceback().unwrap().is_none());

    // Graphs too.
    let error = delayed(explode_in_a_graph)
        .call(3u64)
        .try_compute()
        .unwrap_err();
    let trace = error.backtrace().expect("a backtrace").to_string();
    assert!(trace.contains("explode_in_a_graph"), "{trace}");
}
