// A node read by several tasks: lent as `&T` to `&T` parameters, cloned for by-value
// ones (the last consumer takes it by move), shared cheaply through `Arc`.
use std::sync::Arc;
use taskweave::prelude::*;

#[delayed]
fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

#[delayed]
fn join(parts: &[String]) -> String {
    parts.join("+")
}

#[delayed]
fn count(parts: Vec<String>) -> usize {
    parts.len()
}

#[delayed]
fn table(n: usize) -> Arc<Vec<u64>> {
    Arc::new((0..n as u64).collect())
}

#[delayed]
fn total(t: Arc<Vec<u64>>) -> u64 {
    t.iter().sum()
}

#[delayed]
fn longest(t: &[u64]) -> u64 {
    t.iter().copied().max().unwrap_or(0)
}

fn main() {
    let g = graph!(
        |s: String, n: usize| -> (String, String, usize, u64, u64, u64) {
            let w = words(&s);
            let t = table(n);
            (
                join(&w),
                join(&w),
                count(w),
                total(t),
                total(t),
                longest(&t),
            )
        }
    );
    let (w, t) = (words("a b c"), table(5));
    let expected = (
        join(&w),
        join(&w),
        count(w.clone()),
        total(t.clone()),
        total(t.clone()),
        longest(&t),
    );
    assert_eq!(g.compute("a b c".into(), 5), expected);
    assert_eq!(g.compute_with(Scheduler::Sync, "a b c".into(), 5), expected);
}
