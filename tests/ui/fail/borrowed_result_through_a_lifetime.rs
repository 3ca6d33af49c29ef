// A result that borrows through a lifetime (`Cow<'_, str>`) outlives the arguments
// it was computed from, as a `&str` would: an error on the lifetime.
use std::borrow::Cow;
use taskweave::prelude::*;

#[delayed]
fn first(s: &str) -> Cow<'_, str> {
    Cow::Borrowed(&s[..1])
}

fn main() {
    let _ = first("abc");
}
