//! The tasks of the `multi_file` example, in a module file of its own.

use taskweave::prelude::*;

/// A task: inside `graph!` and `delay!`, each call of it is a node.
#[delayed]
pub(crate) fn step(x: i64) -> i64 {
    x * 3 + 1
}

/// A plain function of the same name in another module: it is not in scope where the
/// graphs are built, and nothing about it can make their calls of `step` plain.
pub(crate) mod legacy {
    /// Not a task.
    pub(crate) fn step(x: i64) -> i64 {
        x - 1
    }
}
