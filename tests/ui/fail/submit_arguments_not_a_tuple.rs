// `client.submit` takes the task's arguments as one tuple: `(1,)`.
use taskweave::prelude::*;

fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let client = Client::new();
    let f = client.submit(inc, 1);
    let _ = f.result();
}
