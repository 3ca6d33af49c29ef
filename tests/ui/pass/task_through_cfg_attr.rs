//! A task marked through an attribute that expands to `#[delayed]` is a task inside
//! `graph!` and `delay!`: every call of it is a node (issue 15: both rejected it as
//! "not a task", having read `#[cfg_attr(..)]` in the file and taken it for plain).
use taskweave::prelude::*;

#[cfg_attr(all(), delayed)]
fn double(x: i64) -> i64 {
    x * 2
}

fn names(info: &taskweave::GraphInfo) -> Vec<&str> {
    info.nodes().iter().map(|n| n.name.as_str()).collect()
}

fn main() {
    let g = graph!(|x: i64| -> i64 { double(double(x)) });
    let info = g.info();
    assert_eq!(names(&info), ["double", "double"]);
    assert_eq!(info.edges(), [(0, 1)]);
    assert_eq!(g.compute(3), double(double(3)));

    let d = delay!(double(double(3)));
    let info = d.info();
    assert_eq!(names(&info), ["double", "double"]);
    assert_eq!(info.edges(), [(0, 1)]);
    assert_eq!(d.compute(), 12);
}
