use taskweave::prelude::*;

#[delayed]
struct Loader {
    path: String,
}

fn main() {}
