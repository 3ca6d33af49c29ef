// Floats (and `Vec`s, `Option`s and arrays of them) are pure arguments in both forms,
// keyed by their exact bits; so are `Hash` values and nodes.
use taskweave::prelude::*;

#[delayed(pure)]
fn scale(x: f64, factor: f32) -> f64 {
    x * f64::from(factor)
}

#[delayed(pure)]
fn norm(v: Vec<f64>, fallback: Option<f64>, pair: [f32; 2], label: &str) -> f64 {
    let _ = (pair, label);
    v.iter().map(|x| x * x).sum::<f64>().max(fallback.unwrap_or(0.0))
}

fn main() {
    let a = delay!(scale(1.5, 2.0));
    let b = delay!(scale(&a, 0.5));
    let c = delay!(norm(vec![1.0, 2.0], Some(0.0), [1.0, 2.0], "l2"));
    let d = delayed(|x: f64, y: f64| x + y).pure().call(&b, 2.5);
    let e = delayed(|v: Vec<f64>| v.len()).pure().call(vec![a, c, d]);
    let _ = e.compute();
}
