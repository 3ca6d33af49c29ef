// A method of the user's that takes `&mut self`, called on a node whose result is used:
// it would change the task's copy of the node only, so later reads would not see it.
// rustc's error, as without `graph!`: the node is not declared `mut`. Bound `let mut`
// (which a graph allows, for rebinding: `y = f(y)`), it is read through a binding that
// is not `mut` all the same, and rustc's help, to add `mut`, reads `mut mut`: no help
// can apply, the method would change the task's copy only (docs/compile_errors.md says
// so; a standard library collection's method gets a message of its own).
use taskweave::prelude::*;

#[derive(Clone)]
pub struct Stats {
    n: i64,
}

impl Stats {
    fn bump(&mut self) -> i64 {
        self.n += 1;
        self.n
    }

    fn get(&self) -> i64 {
        self.n
    }
}

#[delayed]
fn make(n: i64) -> Stats {
    Stats { n }
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let stats = make(x);
        let n = stats.bump();
        n + stats.get()
    });
    let _ = g.compute(1);
    let h = graph!(|x: i64| -> i64 {
        let mut stats = make(x);
        stats.bump()
    });
    let _ = h.compute(1);
}
