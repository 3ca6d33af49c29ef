use taskweave::prelude::*;

#[delayed]
fn label(x: i64) -> String {
    format!("  {x}  ")
}

#[delayed]
fn shout(s: &str) -> String {
    s.to_uppercase()
}

fn main() {
    // `n.trim()` borrows the node's value, which lives only inside the node that
    // computes it: rustc's error on it (it spanned the whole `graph!`).
    let g = graph!(|x: i64| -> String {
        let n = label(x);
        let s = n.trim();
        shout(s)
    });
    let _ = g.compute(1);
}
