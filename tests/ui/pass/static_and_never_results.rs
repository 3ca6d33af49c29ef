// Results that borrow nothing of the arguments (`&'static str`, `Cow<'static, str>`),
// and a task that never returns (`-> !`), are tasks like any other.
use std::borrow::Cow;
use taskweave::prelude::*;

#[delayed]
fn sign(x: i64) -> &'static str {
    if x > 0 {
        "positive"
    } else {
        "not positive"
    }
}

#[delayed]
fn text(x: i64) -> Cow<'static, str> {
    Cow::Owned(format!("{x}"))
}

#[delayed]
fn fail(x: i64) -> ! {
    panic!("always fails on {x}")
}

fn main() {
    let g = graph!(|x: i64| -> (&'static str, Cow<'static, str>) { (sign(x), text(x)) });
    assert_eq!(g.compute(1), ("positive", Cow::Borrowed("1")));
    assert_eq!(delay!(sign(-1)).compute(), "not positive");
    let error = delay!(fail(1)).try_compute().err().expect("it fails");
    assert!(error.to_string().contains("fail"));
}
