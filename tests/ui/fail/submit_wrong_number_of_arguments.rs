// One item of the argument tuple per parameter of the function.
use taskweave::prelude::*;

fn add(x: i64, y: i64) -> i64 {
    x + y
}

fn main() {
    let client = Client::new();
    let f = client.submit(add, (1,));
    let _ = f.result();
}
