// `retries = n` written wrong: each mistake is one error that says how it is written.
use taskweave::prelude::*;

#[delayed(retries)]
fn no_count(x: i64) -> i64 {
    x
}

#[delayed(retries = "2")]
fn not_a_number(x: i64) -> i64 {
    x
}

#[delayed(retries = -1)]
fn negative(x: i64) -> i64 {
    x
}

#[delayed(retries = 1, retries = 2)]
fn given_twice(x: i64) -> i64 {
    x
}

fn main() {}
