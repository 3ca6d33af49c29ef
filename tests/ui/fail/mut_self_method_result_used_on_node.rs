// A standard library `&mut self` method (`Vec::pop`) on a node, its result used: the
// receiver's type decides, and on a standard library collection the method mutates the
// node: `MutateNode`'s message on the method's name (a `&self` method so named, of a
// type of the user's, compiles). It was rustc's "cannot borrow `v` as mutable", whose
// help, `let mut v`, led to "`mut mut v`".
use taskweave::prelude::*;

#[delayed]
fn load(n: i64) -> Vec<i64> {
    vec![n; 2]
}

fn main() {
    let g = graph!(|x: i64| -> Option<i64> {
        let v = load(x);
        let last = v.pop();
        last
    });
    let _ = g.compute(1);
}
