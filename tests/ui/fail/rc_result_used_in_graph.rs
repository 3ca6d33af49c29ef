use std::rc::Rc;
use taskweave::prelude::*;

#[delayed]
fn share(x: i64) -> Rc<i64> {
    Rc::new(x)
}

#[delayed]
fn read(x: &i64) -> i64 {
    *x
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let s = share(x);
        read(&s)
    });
    let _ = g.compute(1);
}
