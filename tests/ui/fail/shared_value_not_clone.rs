use taskweave::prelude::*;

struct Big(Vec<u8>);

#[delayed]
fn make(n: usize) -> Big {
    Big(vec![0; n])
}

#[delayed]
fn consume(b: Big) -> usize {
    b.0.len()
}

fn main() {
    let g = graph!(|n: usize| -> usize {
        let b = make(n);
        consume(b) + consume(b)
    });
    let _ = g.compute(1);
}
