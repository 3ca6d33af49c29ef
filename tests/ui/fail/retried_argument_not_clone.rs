// A task with `retries` passes each by-value argument again, as a clone, to every
// attempt but the last: in `graph!`, a value that is not `Clone` cannot be given to it
// by value (borrowing it, `&Token`, compiles). (In `delay!` every node value is shared,
// so a by-value argument is `Clone` whether or not the task has retries.)
use taskweave::prelude::*;

struct Token(i64);

#[delayed]
fn make(x: i64) -> Token {
    Token(x)
}

#[delayed(retries = 2)]
fn spend(token: Token) -> i64 {
    token.0
}

#[delayed(retries = 2)]
fn look(token: &Token) -> i64 {
    token.0
}

fn main() {
    let g = graph!(|x: i64| -> i64 { spend(make(x)) });
    let _ = g.compute(1);
    let fine = graph!(|x: i64| -> i64 { look(&make(x)) });
    let _ = fine.compute(1);
}
