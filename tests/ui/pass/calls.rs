// Calls of `#[delayed]` functions: one node per call, nested calls, a task with no
// inputs, a task run for its effect, and the same task called several times.
use std::sync::atomic::{AtomicUsize, Ordering};
use taskweave::prelude::*;

static EFFECTS: AtomicUsize = AtomicUsize::new(0);

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[delayed]
fn seven() -> i64 {
    7
}

#[delayed]
fn record(x: i64) -> i64 {
    EFFECTS.fetch_add(1, Ordering::SeqCst);
    x
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        record(x);
        let a = inc(inc(x));
        let b = add(a, seven());
        add(inc(b), a)
    });
    assert_eq!(
        g.compute(1),
        add(inc(add(inc(inc(1)), seven())), inc(inc(1)))
    );
    assert_eq!(g.compute_with(Scheduler::Sync, 1), g.compute(1));
    assert_eq!(EFFECTS.load(Ordering::SeqCst), 3);
    assert_eq!(g.len(), 7);
}
