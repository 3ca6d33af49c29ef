// A parameter under `#[cfg]`: arguments are passed by position, so which parameters
// exist cannot depend on the build.
use taskweave::prelude::*;

#[delayed]
fn count(#[cfg(any())] label: &str, text: String) -> usize {
    text.len()
}

fn main() {
    let _ = count(String::from("abc"));
}
