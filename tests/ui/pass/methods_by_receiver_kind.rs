// Methods of the user's on nodes, by receiver: `&self` and `self` on a node by name, and
// `&mut self` on a temporary (a task's result written in place), as the same code
// runs without `graph!`.
use taskweave::prelude::*;

#[derive(Clone, Debug, PartialEq)]
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

    fn into_n(self) -> i64 {
        self.n
    }
}

#[delayed]
fn make(n: i64) -> Stats {
    Stats { n }
}

fn main() {
    let g = graph!(|x: i64| -> (i64, i64, i64, i64) {
        let s = make(x);
        let a = s.get();
        let b = make(x).bump();
        let c = s.clone().into_n();
        let d = s.into_n();
        (a, b, c, d)
    });
    let plain = |x: i64| {
        let s = Stats { n: x };
        let a = s.get();
        let b = (Stats { n: x }).bump();
        let c = s.clone().into_n();
        let d = s.into_n();
        (a, b, c, d)
    };
    assert_eq!(g.compute(3), plain(3));
}
