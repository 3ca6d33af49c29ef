use taskweave::prelude::*;

#[delayed]
fn halve(x: f64) -> f64 {
    x / 2.0
}

fn main() {
    let g = graph!(|x: f64| -> Result<f64, String> {
        let a = halve(x)?;
        Ok(a)
    });
    let _ = g.compute(4.0);
}
