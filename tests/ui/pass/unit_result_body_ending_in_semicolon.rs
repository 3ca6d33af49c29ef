// A graph that declares no result, or `()` (through an alias too, which the macro cannot
// see through), may end in `;`: it returns `()`, as a block does (only a graph that
// declares another result is told to remove the `;`).
use std::sync::atomic::{AtomicI64, Ordering};
use taskweave::prelude::*;

static SEEN: AtomicI64 = AtomicI64::new(0);

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn record(x: i64) {
    SEEN.fetch_add(x, Ordering::SeqCst);
}

type Nothing = ();

fn main() {
    let aliased = graph!(|x: i64| -> Nothing {
        record(inc(x));
    });
    let declared = graph!(|x: i64| -> () {
        let y = inc(x);
        record(y);
    });
    let inferred = graph!(|x: i64| {
        record(inc(x));
    });
    declared.compute(1);
    inferred.compute(10);
    aliased.compute(100);
    assert_eq!(SEEN.load(Ordering::SeqCst), 2 + 11 + 101);
}
