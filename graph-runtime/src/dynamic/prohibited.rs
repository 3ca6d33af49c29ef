//! Formatting a value that does not exist yet, as an error that says why and what to
//! write instead.
//!
//! `Delayed<T>` implements `Display` only under a bound no type meets: `println!("{d}")`
//! then fails on that bound, and its trait's `#[diagnostic::on_unimplemented]` is the
//! message, where rustc alone would only say that `Display` is not implemented. (The
//! same bound on `IntoIterator`, the comparisons or the compound assignments would not
//! help: rustc reports those on the operator or the `for`, without the bound's message.)

use core::fmt;

use super::Delayed;

/// Never implemented: formatting a `Delayed` with `{}`.
#[diagnostic::on_unimplemented(
    message = "a `Delayed<{Self}>` cannot be formatted: its value does not exist until the graph runs (Dask would print `Delayed('…')`)",
    label = "no value to format yet",
    note = "format the result of `d.compute()`, or use `{{:?}}` for the node's name and key"
)]
pub trait FormatAfterCompute {}

impl<T: FormatAfterCompute> fmt::Display for Delayed<T> {
    // Never called: no `T` meets the bound.
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}
