//! A watchdog for tests of shapes that used to hang: the body runs on its own thread
//! (with the standard 2 MiB stack, so a stack that grows with the shape still
//! overflows), and a body still running after the limit fails the test instead of
//! hanging CI.

use std::sync::mpsc;
use std::time::Duration;

/// Runs `body` on a new thread and returns its result; fails the test if it has not
/// finished within `limit`, and passes on its panic.
pub(crate) fn within<R: Send + 'static>(
    limit: Duration,
    what: &str,
    body: impl FnOnce() -> R + Send + 'static,
) -> R {
    let (done, finished) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(format!("watched: {what}"))
        .stack_size(2 << 20)
        .spawn(move || {
            let result = body();
            let _ = done.send(());
            result
        })
        .expect("the watched thread starts");
    match finished.recv_timeout(limit) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match thread.join() {
            Ok(result) => result,
            Err(payload) => std::panic::resume_unwind(payload),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: still running after {limit:?}, a hang")
        }
    }
}
