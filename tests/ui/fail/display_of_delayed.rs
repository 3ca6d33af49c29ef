use taskweave::prelude::*;

#[delayed]
fn halve(x: f64) -> f64 {
    x / 2.0
}

fn main() {
    let d = delay!(halve(4.0));
    println!("{d}");
}
