use taskweave::prelude::*;

#[delayed]
fn halve(x: f64) -> f64 {
    x / 2.0
}

fn main() {
    let g = graph!(|x: f64| -> f64 {
        let (a, _b) = halve(x);
        a
    });
    let _ = g.compute(1.0);
}
