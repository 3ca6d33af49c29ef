// `submit` as a statement drops the only handle of the future, which cancels the task
// at once: `#[must_use]` on `Future` turns that into this error (a warning by default).
// `map` returns a `Vec` of futures, so the attribute is on the method.
#![deny(unused_must_use)]

use taskweave::Client;

fn f(x: u32) -> u32 {
    x + 1
}

fn main() {
    let client = Client::builder().threads(1).build().unwrap();
    client.submit(f, (1,));
    client.map(f, 0..3);
}
