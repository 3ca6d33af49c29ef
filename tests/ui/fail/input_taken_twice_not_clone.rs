use taskweave::prelude::*;

struct Big(Vec<u8>);

#[delayed]
fn consume(b: Big) -> usize {
    b.0.len()
}

#[delayed]
fn peek(b: &Big) -> usize {
    b.0.len()
}

fn main() {
    // Read once, by value: moved into its task (compiles).
    let once = graph!(|b: Big| -> usize { consume(b) });
    let _ = once.compute(Big(vec![1]));
    // Read twice, one of them by value: cloned for it, so `Big` must be `Clone`.
    let twice = graph!(|b: Big| -> usize { peek(&b) + consume(b) });
    let _ = twice.compute(Big(vec![1]));
}
