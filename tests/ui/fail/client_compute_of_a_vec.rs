// `client.compute` takes one `&Delayed`, a tuple of references or a slice.
use taskweave::prelude::*;

fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let client = Client::new();
    let a = delayed(inc).call(1);
    let b = delayed(inc).call(2);
    let f = client.compute(vec![a, b]);
    let _ = f.result();
}
