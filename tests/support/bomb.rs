//! A value whose `Drop` panics, and tasks that make it and read it, for the tests of
//! where such a panic is reported (`#[path]`-included by tests/failures_and_drops.rs
//! and tests/dynamic.rs).

// Each includer uses part of this module.
#![allow(dead_code)]

use taskweave::prelude::*;

/// A value whose `Drop` panics (unless a panic unwinds already).
#[derive(Clone, Debug)]
pub(crate) struct Bomb(pub(crate) i64);

impl Drop for Bomb {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("bomb {} went off", self.0);
        }
    }
}

#[delayed]
pub(crate) fn arm(x: i64) -> Bomb {
    Bomb(x)
}

#[delayed]
pub(crate) fn look(b: &Bomb) -> i64 {
    b.0
}

#[delayed]
pub(crate) fn look_again(b: &Bomb) -> i64 {
    b.0 + 1
}

/// Takes the value and drops it in its own code.
#[delayed]
pub(crate) fn defuse(b: Bomb) -> i64 {
    b.0
}
