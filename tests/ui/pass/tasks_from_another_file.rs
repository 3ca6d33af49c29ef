//! Tasks imported from another file, by glob and renamed, are tasks; a plain function
//! from there is called before the graph, its value captured.
use taskweave::prelude::*;

mod support;
use support::*;

mod named {
    pub(crate) use super::support::triple as thrice;
}

fn main() {
    let o = offset(1);
    let g = graph!(|x: i64| -> i64 {
        let a = triple(x);
        let b = named::thrice(a);
        b + o
    });
    assert_eq!(g.compute(1), 9 + 101);
}
