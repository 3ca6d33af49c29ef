// Several values computed together may include one value twice, and each request gets
// its own copy: every output of a tuple of two or more must be `Clone`.
use taskweave::prelude::*;

struct Token(u64);

fn main() {
    let t = delayed(Token).call(7);
    let n = delayed(|x: u64| x).call(7);
    let _ = taskweave::compute((&t, &n));
}
