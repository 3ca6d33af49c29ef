// A field of the graph's own constant is not assigned in place; the message names the
// constant (it said "a captured variable", which `settings` is not).
use taskweave::prelude::*;

#[delayed]
fn scale(x: i64, by: u32) -> i64 {
    x * by as i64
}

#[derive(Clone)]
pub struct Settings {
    factor: u32,
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let mut settings = Settings { factor: 3 };
        settings.factor = 4;
        scale(x, settings.factor)
    });
    let _ = g.compute(1);
}
