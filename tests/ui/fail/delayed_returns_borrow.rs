use taskweave::prelude::*;

#[delayed]
fn first(v: &[String]) -> &str {
    &v[0]
}

fn main() {}
