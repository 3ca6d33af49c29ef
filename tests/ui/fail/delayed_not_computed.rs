// A `Delayed` built and dropped never runs: `#[must_use]` on `Delayed` says so, for
// `delay!` and for `delayed(f).call(…)` alike.
#![deny(unused_must_use)]

use taskweave::prelude::*;

#[delayed]
fn halve(x: f64) -> f64 {
    x / 2.0
}

fn main() {
    delay!(halve(4.0));
    delayed(|x: f64| x * 2.0).call(4.0);
}
