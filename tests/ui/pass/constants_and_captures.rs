// Constants: literals, inputs, captured variables (cloned on every run), constant
// `let`s, and plain code on constants (`if`, `match`, closures, macros, functions that
// are not tasks), all evaluated where they are used.
use taskweave::prelude::*;

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[delayed]
fn label(prefix: String, n: i64) -> String {
    format!("{prefix}{n}")
}

fn main() {
    let offset = 100;
    let prefix = String::from("n=");
    let g = graph!(|x: i64, big: bool| -> (i64, String, i64, i64) {
        let k = if big { 10 } else { 1 };
        let m = match x {
            0 => 5,
            _ => 7,
        };
        let sq = |v: i64| v * v;
        let text = format!("{x}!");
        let a = add(x, offset);
        let b = add(a, k * m + sq(3) + std::cmp::max(x, 2) + i64::from(big));
        (b, label(prefix.clone() + &text, a), std::cmp::min(x, 1), m)
    });
    let direct = |x: i64, big: bool| {
        let k = if big { 10 } else { 1 };
        let m = if x == 0 { 5 } else { 7 };
        let a = add(x, offset);
        let b = add(a, k * m + 9 + std::cmp::max(x, 2) + i64::from(big));
        (b, label(format!("n={x}!"), a), std::cmp::min(x, 1), m)
    };
    assert_eq!(g.compute(3, true), direct(3, true));
    assert_eq!(g.compute(0, false), direct(0, false));
    assert_eq!(g.compute_with(Scheduler::Sync, 3, false), direct(3, false));
}
