use taskweave::prelude::*;

fn total(v: &Vec<u64>) -> u64 {
    v.iter().sum()
}

fn main() {
    // A node of another type than the parameter's.
    let words = delayed(|| String::from("a b")).call();
    let _ = delayed(total).call(&words);
}
