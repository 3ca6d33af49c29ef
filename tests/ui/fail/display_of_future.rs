// A future's result may not exist yet, or may be an error.
use taskweave::prelude::*;

fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let client = Client::new();
    let f = client.submit(inc, (1,));
    println!("{f}");
}
