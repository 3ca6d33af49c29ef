// Collections of nodes as one argument: arrays, `vec!`, slices through `&`, tuples;
// bound by `let` or written in the call.
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn sum_slice(parts: &[i64]) -> i64 {
    parts.iter().sum()
}

#[delayed]
fn sum_vec(parts: Vec<i64>) -> i64 {
    parts.iter().sum()
}

#[delayed]
fn sum_array(parts: [i64; 3]) -> i64 {
    parts.iter().sum()
}

#[delayed]
fn sum_pair(pair: (i64, i64)) -> i64 {
    pair.0 + pair.1
}

fn main() {
    let g = graph!(|x: i64| -> (i64, i64, i64, i64, i64) {
        let parts = [inc(x), inc(x + 1), 5];
        let v = vec![inc(x), inc(x + 2)];
        (
            sum_slice(&parts),
            sum_array(parts),
            sum_vec(v),
            sum_vec(vec![inc(x), 1]),
            sum_pair((inc(x), x)),
        )
    });
    let expected = (
        sum_slice(&[inc(2), inc(3), 5]),
        sum_array([inc(2), inc(3), 5]),
        sum_vec(vec![inc(2), inc(4)]),
        sum_vec(vec![inc(2), 1]),
        sum_pair((inc(2), 2)),
    );
    assert_eq!(g.compute(2), expected);
    assert_eq!(g.compute_with(Scheduler::Sync, 2), expected);
}
