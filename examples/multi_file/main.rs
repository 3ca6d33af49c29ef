//! An example in two files: `crate::util::step` below is this example's own
//! `util.rs`, a task, so the graph has one node per call of it.
//!
//! Issue 15: `graph!` used to decide from the files it read whether a call was a task,
//! and `crate::` in a multi-file binary of a package with a library was read as the
//! library: `step(step(x))` compiled to an empty node table, `step` called inline.
//! Now every call of a free function inside `graph!` is a node, reached through the
//! companion `#[delayed]` makes, so what `step` is comes from rustc alone. The plain
//! `legacy::step` next to the task cannot change the result.
//!
//! ```text
//! cargo run --example multi_file
//! ```

mod util;

use crate::util::step;
use taskweave::prelude::*;

fn main() {
    let g = graph!(|x: i64| -> i64 { step(step(x)) });
    let info = g.info();
    let names: Vec<&str> = info.nodes().iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["step", "step"], "one node per call of the task");
    assert_eq!(info.edges(), [(0, 1)]);

    let x = 5;
    let result = g.compute(x);
    // The same calls made one after the other, and not what the plain namesake gives.
    assert_eq!(result, step(step(x)));
    assert_ne!(result, util::legacy::step(util::legacy::step(x)));
    println!(
        "multi_file: graph! nodes {names:?}, edges {:?}; step(step({x})) = {result}",
        info.edges()
    );

    let d = delay!(step(step(x)));
    println!(
        "multi_file: delay! nodes {}; result {}",
        d.info().len(),
        d.compute()
    );
}
