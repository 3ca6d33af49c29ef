//! Collects every error of one macro invocation, to report them all at once.

use proc_macro2::TokenStream;
use std::fmt::Display;

/// Errors found so far.
#[derive(Default)]
pub(crate) struct Ctxt {
    errors: Vec<syn::Error>,
}

impl Ctxt {
    /// Records an error on the tokens of `at`.
    pub(crate) fn error_at<T: quote::ToTokens, M: Display>(&mut self, at: T, message: M) {
        self.errors.push(syn::Error::new_spanned(at, message));
    }

    /// Records an error.
    pub(crate) fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// How many errors so far: a caller compares counts to tell whether the parts it
    /// lowered already reported a mistake (one mistake, one message).
    pub(crate) fn count(&self) -> usize {
        self.errors.len()
    }

    /// Whether nothing went wrong.
    pub(crate) fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// Every error as `compile_error!` invocations (empty when there is none).
    pub(crate) fn into_compile_errors(self) -> TokenStream {
        let mut iter = self.errors.into_iter();
        let Some(mut first) = iter.next() else {
            return TokenStream::new();
        };
        for error in iter {
            first.combine(error);
        }
        first.to_compile_error()
    }
}
