// Macros that read no value of the names in them (`stringify!`, `cfg!`) keep their
// tokens as written, whatever a node or constant of that name is; a labeled block of
// graph code is a block; an `unsafe` block of constant code stays constant code.
// Each result is compared with the same code run without `graph!`.
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn tag(x: i64, s: String) -> String {
    format!("{s}={x}")
}

fn main() {
    let g = graph!(|x: i64| -> (String, String, bool, String, i64) {
        let a = inc(x);
        let k = 3;
        let named = stringify!(a);
        let in_format = format!("{}-{}", stringify!(a + k), k);
        let test = cfg!(test);
        let t = tag(a, String::from(stringify!(k)));
        let b = 'outer: { inc(a) };
        // SAFETY: the pointer is to a live, aligned `i64`.
        let c = unsafe { core::ptr::read(&7_i64) };
        let d = inc(b) + c;
        (named.to_string(), in_format, test, t, d)
    });
    let plain = |x: i64| {
        let a = x + 1;
        let k = 3;
        let b = a + 1;
        (
            stringify!(a).to_string(),
            format!("{}-{}", stringify!(a + k), k),
            cfg!(test),
            format!("{}={a}", stringify!(k)),
            b + 1 + 7,
        )
    };
    assert_eq!(g.compute(1), plain(1));
    assert_eq!(g.compute(1).0, "a");
}
