//! Tasks for the ui cases that import from another file.

use taskweave::prelude::*;

/// A task.
#[delayed]
pub fn triple(x: i64) -> i64 {
    x * 3
}

/// A plain function of the same module.
pub fn offset(x: i64) -> i64 {
    x + 100
}
