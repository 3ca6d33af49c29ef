// `crate = "path"` with a suffix on the string: the macro reads the literal and rustc
// never sees it, so the suffix was dropped silently. Now one error on the literal, in
// each macro.
use taskweave::prelude::*;

#[delayed(crate = "taskweave"suffix)]
fn inc(x: i64) -> i64 {
    x + 1
}

fn in_graph() {
    let _ = graph!(crate = "taskweave"s; |x: i64| -> i64 { inc(x) });
}

fn in_delay() {
    let _ = delay!(crate = "taskweave"s; inc(1));
}

fn main() {
    in_graph();
    in_delay();
}
