//! Helpers for the ui cases that import from another file.

/// A helper without `#[delayed]`.
pub fn halve(x: i64) -> i64 {
    x / 2
}
