// Generic `#[delayed]` functions: inferred from their arguments, or given a turbofish.
use std::fmt::Display;
use taskweave::prelude::*;

#[delayed]
fn identity<T: Send>(x: T) -> T {
    x
}

#[delayed]
fn describe<T: Display>(x: &T) -> String {
    format!("<{x}>")
}

#[delayed]
fn parse_as<T: std::str::FromStr + Send>(s: &str) -> Option<T> {
    s.parse().ok()
}

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let g = graph!(|x: i64| -> (i64, String, Option<u8>, String) {
        let a = identity(inc(x));
        (
            a,
            describe(&a),
            parse_as::<u8>("42"),
            identity::<String>(String::from("s")),
        )
    });
    let a = identity(inc(1));
    let expected = (a, describe(&a), parse_as::<u8>("42"), "s".to_owned());
    assert_eq!(g.compute(1), expected);
    assert_eq!(g.compute_with(Scheduler::Sync, 1), expected);
}
