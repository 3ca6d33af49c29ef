use taskweave::prelude::*;

#[delayed(remote)]
fn total<T: Into<f64>>(values: Vec<T>) -> f64 {
    values.into_iter().map(Into::into).sum()
}

fn main() {}
