use taskweave::prelude::*;

#[delayed(remote)]
fn square(x: u64) -> u64 {
    x * x
}

fn main() {
    assert_eq!(delay!(square(3)).compute(), 9);
}
