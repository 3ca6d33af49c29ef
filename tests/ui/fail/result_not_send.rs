use std::rc::Rc;
use taskweave::prelude::*;

#[delayed]
fn share(x: i64) -> Rc<i64> {
    Rc::new(x)
}

fn main() {}
