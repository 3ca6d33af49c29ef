use taskweave::prelude::*;

#[delayed]
fn parse(s: &str) -> Result<i64, String> {
    s.parse().map_err(|_| format!("not a number: {s}"))
}

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    // The graph returns `i64`: a `?` has nowhere to send the error.
    let g = graph!(|s: String| -> i64 {
        let a = parse(&s)?;
        inc(a)
    });
    let _ = g.compute("1".into());
}
