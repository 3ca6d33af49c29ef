//! Tasks imported from another file, by glob and renamed, are tasks; a plain function
//! from there may still be called on constants.
use taskweave::prelude::*;

mod support;
use support::*;

mod named {
    pub(crate) use super::support::triple as thrice;
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let a = triple(x);
        let b = named::thrice(a);
        b + offset(1)
    });
    assert_eq!(g.compute(1), 9 + 101);
}
