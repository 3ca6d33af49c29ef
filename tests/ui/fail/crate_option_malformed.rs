// `crate = path` written wrong, in each macro: each mistake is one error that says what
// the option is and how it is written.
use taskweave::prelude::*;

#[delayed(crate =)]
fn no_path(x: i64) -> i64 {
    x
}

#[delayed(crate = 3)]
fn not_a_path(x: i64) -> i64 {
    x
}

#[delayed(crate = tw, crate = tw)]
fn given_twice(x: i64) -> i64 {
    x
}

#[delayed(crate tw)]
fn no_equals(x: i64) -> i64 {
    x
}

fn graph_without_path() {
    let _ = graph!(crate = ; |x: i64| -> i64 { no_path(x) });
}

fn graph_without_semicolon() {
    let _ = graph!(crate = tw |x: i64| -> i64 { no_path(x) });
}

fn delay_of_a_string_that_is_no_path() {
    let _ = delay!(crate = "a b"; no_path(1));
}

fn delay_without_equals() {
    let _ = delay!(crate tw; no_path(1));
}

fn main() {
    graph_without_path();
    graph_without_semicolon();
    delay_of_a_string_that_is_no_path();
    delay_without_equals();
}
