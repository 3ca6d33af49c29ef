//! Paths and names the generated code uses, which calls are tasks, and how tokens are
//! quoted in messages.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::parse::ParseStream;

/// Where the generated code reaches the runtime: `::taskweave`, or the path a
/// `crate = path` option gives (a renamed dependency, a re-export), then the runtime's
/// hidden module under the name of this version of the macros, `__private::v0_1_0`.
///
/// The version in the module's name keeps the macros and the runtime in lockstep: the
/// facade pins both crates with `=`, the runtime names the module after its own version
/// (its `build.rs`), these macros after theirs, so that code expanded by macros of
/// another version fails to resolve `__private::vX_Y_Z` rather than at whichever item
/// changed between the versions.
#[derive(Clone, Default)]
pub(crate) struct Runtime {
    /// The `crate = path` option; `None` for `::taskweave`.
    krate: Option<syn::Path>,
}

impl Runtime {
    /// The runtime through `path` (`crate = path`) instead of `::taskweave`.
    pub(crate) fn at_path(path: syn::Path) -> Self {
        Runtime { krate: Some(path) }
    }

    /// The path of one of the macros (`::taskweave::graph`, or `tw::graph` with
    /// `crate = tw`), for a macro that expands to itself.
    pub(crate) fn macro_path(&self, name: &str) -> TokenStream {
        let name = syn::Ident::new(name, Span::call_site());
        match &self.krate {
            None => quote::quote!(::taskweave::#name),
            Some(path) => quote::quote!(#path::#name),
        }
    }

    /// The `crate = path;` option as written, or nothing.
    pub(crate) fn option_tokens(&self) -> TokenStream {
        match &self.krate {
            None => TokenStream::new(),
            Some(path) => quote::quote!(crate = #path;),
        }
    }

    /// The runtime's private module.
    pub(crate) fn private(&self) -> TokenStream {
        self.private_at(Span::call_site())
    }

    /// The runtime's private module, located at the user's tokens (so that an error in
    /// an expression built with it is reported on those tokens). A `crate = path` keeps
    /// its own hygiene: it resolves where the user wrote it.
    pub(crate) fn private_at(&self, span: Span) -> TokenStream {
        let module = syn::Ident::new(&version_module(VERSION), span);
        match &self.krate {
            None => quote::quote_spanned!(span=> ::taskweave::__private::#module),
            Some(path) => {
                // A module path (no generics, so no groups): every token relocated,
                // each keeping its hygiene.
                let path: TokenStream = path
                    .to_token_stream()
                    .into_iter()
                    .map(|mut token| {
                        token.set_span(token.span().located_at(span));
                        token
                    })
                    .collect();
                quote::quote_spanned!(span=> #path::__private::#module)
            }
        }
    }
}

/// This crate's version: the one the runtime's hidden module must be named after.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The hidden module named after a version: `0.1.0` → `v0_1_0`, `1.0.0-rc.1` →
/// `v1_0_0_rc_1` (graph-runtime's build script applies the same rule to its version).
pub(crate) fn version_module(version: &str) -> String {
    let mut name = String::from("v");
    name.extend(
        version
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
    );
    name
}

/// The `crate = path` option of `graph!` and `delay!`, before a `;` that ends it:
/// `graph!(crate = tw; |x: i64| …)`. `None` when the input does not start with `crate =`
/// (code may start with `crate::`, never with `crate` followed by anything else).
pub(crate) fn parse_crate_option(
    input: ParseStream<'_>,
    name: &str,
) -> syn::Result<Option<Runtime>> {
    if !input.peek(syn::Token![crate]) || input.peek2(syn::Token![::]) {
        return Ok(None);
    }
    let keyword: syn::Token![crate] = input.parse()?;
    if !input.peek(syn::Token![=]) {
        return Err(syn::Error::new(
            keyword.span,
            format!("expected `=` after `crate`: `{name}!(crate = path; …)`"),
        ));
    }
    let eq: syn::Token![=] = input.parse()?;
    let path = parse_crate_path(input, name, eq.span)?;
    if !input.peek(syn::Token![;]) {
        return Err(input.error(format!(
            "expected `;` after the `crate = path` option: `{name}!(crate = path; …)`"
        )));
    }
    input.parse::<syn::Token![;]>()?;
    Ok(Some(Runtime::at_path(path)))
}

/// Splits a leading `crate = path;` option off a function-like macro's input: the
/// runtime it names (`::taskweave` without one) and the rest of the input.
pub(crate) fn split_crate_option(
    tokens: TokenStream,
    name: &str,
) -> syn::Result<(Runtime, TokenStream)> {
    let parser = |input: ParseStream<'_>| {
        let runtime = parse_crate_option(input, name)?.unwrap_or_default();
        Ok((runtime, input.parse::<TokenStream>()?))
    };
    syn::parse::Parser::parse2(parser, tokens)
}

/// The path of a `crate = …` option: a path (`tw`, `crate::tw`, `::my_crate::tw`) or,
/// as tokio's and serde's attributes take it, a string literal holding one (`"tw"`).
/// A missing path is reported on the `=` (`eq`).
pub(crate) fn parse_crate_path(
    input: ParseStream<'_>,
    name: &str,
    eq: Span,
) -> syn::Result<syn::Path> {
    let usage = format!(
        "`crate = path` names the `taskweave` crate as your code sees it (a renamed \
         dependency or a re-export), as in `{}`",
        match name {
            "delayed" => "#[delayed(crate = tw)]",
            "graph" => "graph!(crate = tw; |x: i64| …)",
            _ => "delay!(crate = tw; f(x))",
        }
    );
    if input.peek(syn::LitStr) {
        let text: syn::LitStr = input.parse()?;
        // The literal never reaches rustc, which rejects a suffix on a string.
        if !text.suffix().is_empty() {
            return Err(syn::Error::new(
                text.span(),
                format!(
                    "invalid suffix `{}` for the string literal `{}`: a string takes no \
                     suffix; write `crate = \"{}\"` or `crate = {}`",
                    text.suffix(),
                    text.token(),
                    text.value(),
                    text.value()
                ),
            ));
        }
        let not_a_path = || {
            syn::Error::new(
                text.span(),
                format!("`{}` is not a path; {usage}", text.value()),
            )
        };
        // Inside a macro, rustc's lexer reports what it rejects in the string (`"0b1e5"`)
        // at the invocation, next to this error: an ASCII string it would reject is no
        // path, said once. (Non-ASCII paths are beyond what `lexable` vouches for.)
        let value = text.value();
        if value.is_ascii() && !crate::lexable::lexes_cleanly(&value) {
            return Err(not_a_path());
        }
        return text
            .parse_with(syn::Path::parse_mod_style)
            .map_err(|_| not_a_path());
    }
    if input.is_empty() || input.peek(syn::Token![;]) || input.peek(syn::Token![,]) {
        return Err(syn::Error::new(
            eq,
            format!("missing the path after `crate =`; {usage}"),
        ));
    }
    input.call(syn::Path::parse_mod_style).map_err(|error| {
        syn::Error::new(
            error.span(),
            format!("expected a path after `crate =`; {usage}"),
        )
    })
}

/// A generated identifier, invisible to the user's code (mixed-site hygiene).
pub(crate) fn hidden(name: &str) -> syn::Ident {
    syn::Ident::new(name, Span::mixed_site())
}

/// The reader of argument `index` a `#[delayed]` fn's companion type provides (for one
/// attempt of a call: lent, or given), spanned where the argument is written (so a
/// type error lands there).
pub(crate) fn arg_reader(index: usize, span: Span) -> syn::Ident {
    syn::Ident::new(&format!("__arg{index}"), span)
}

/// How one attempt of a task's call reads its arguments, shared by `graph!` and
/// `delay!`: the closure that `f::__call` runs per attempt is
/// `|handles, last, companion| { let (h0, …) = handles; <reads> f(v0, …) }`.
pub(crate) struct AttemptReads {
    /// The companion value the closure is handed (its readers are its methods).
    pub(crate) companion: syn::Ident,
    /// One handle per argument, bound from the handles' tuple.
    pub(crate) handles: Vec<syn::Ident>,
    /// `let v{i} = companion.__arg{i}(h{i}, last);`, in the arguments' order.
    pub(crate) reads: Vec<TokenStream>,
    /// What the call is given: `v{i}`, each located at its argument.
    pub(crate) values: Vec<syn::Ident>,
}

/// The reads of one attempt of a call whose arguments are written at `spans`, as seen
/// from the call's own tokens at `call` (see [`AttemptReads`]).
///
/// Each argument is read into a variable first and the call is given the variables,
/// each located at its argument: rustc's errors and suggestions about an argument (one
/// missing, one of another type) quote that argument alone, where a reader call in
/// the argument list (`f::__arg0(h0, last)`) would quote everything from `f` to it.
/// The reads are the macro's own (mixed site, located at the argument), so that an
/// unmet bound of a reader (an argument that is not `Clone` for a retried task) lands
/// on the argument without rustc suggesting a `&` there; the variables are resolved as
/// the call's tokens are, so that rustc does not blame the macro for an error on them.
pub(crate) fn attempt_reads(spans: &[Span], call: Span, last: &syn::Ident) -> AttemptReads {
    let mut reads = AttemptReads {
        companion: hidden("__companion"),
        handles: Vec::with_capacity(spans.len()),
        reads: Vec::with_capacity(spans.len()),
        values: Vec::with_capacity(spans.len()),
    };
    for (i, &at) in spans.iter().enumerate() {
        let own = Span::mixed_site().located_at(at);
        let handle = syn::Ident::new(&format!("__s{i}"), own);
        let companion = syn::Ident::new("__companion", own);
        let reader = arg_reader(i, own);
        let value = syn::Ident::new(&format!("__v{i}"), at.resolved_at(call));
        reads
            .reads
            .push(quote::quote_spanned!(own=> let #value = #companion.#reader(#handle, #last);));
        reads.handles.push(handle);
        reads.values.push(value);
    }
    reads
}

// ---- which calls are tasks: shared by `graph!` and `delay!` --------------------------

/// A builtin attribute that cannot make a function a task: doc comments, lint levels,
/// `inline`, `cold`, `must_use`, `track_caller`, `deprecated`, tool attributes. No
/// macro can stand for them (rustc rejects a macro of a builtin's name as ambiguous),
/// so a function carrying only these is what its own tokens say.
pub(crate) fn is_inert(attr: &syn::Attribute) -> bool {
    const INERT: &[&str] = &[
        "doc",
        "allow",
        "warn",
        "deny",
        "forbid",
        "expect",
        "inline",
        "cold",
        "must_use",
        "track_caller",
        "deprecated",
    ];
    let path = attr.path();
    let tool = path.segments.len() > 1
        && path
            .segments
            .first()
            .is_some_and(|s| s.ident == "rustfmt" || s.ident == "clippy");
    tool || INERT.iter().any(|name| path.is_ident(name))
}

/// A lowercase name: a function or a variable (not a type, a constructor or a constant).
pub(crate) fn starts_lowercase(ident: &syn::Ident) -> bool {
    let name = ident.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name);
    name.starts_with(|c: char| c.is_lowercase() || c == '_')
}

/// Primitive types, whose associated functions (`f64::from`) are not tasks.
pub(crate) fn is_primitive(ident: &syn::Ident) -> bool {
    matches!(
        ident.to_string().as_str(),
        "bool"
            | "char"
            | "str"
            | "f32"
            | "f64"
            | "i8"
            | "i16"
            | "i32"
            | "i64"
            | "i128"
            | "isize"
            | "u8"
            | "u16"
            | "u32"
            | "u64"
            | "u128"
            | "usize"
    )
}

/// A path to an associated function (`Point::new`, `f64::from`): not a task.
pub(crate) fn is_associated(path: &syn::Path) -> bool {
    path.segments
        .iter()
        .rev()
        .skip(1)
        .any(|s| !starts_lowercase(&s.ident) || is_primitive(&s.ident))
}

/// A function of the standard library (`std::cmp::max`): not a task.
pub(crate) fn is_standard(path: &syn::Path) -> bool {
    path.segments
        .first()
        .is_some_and(|s| matches!(s.ident.to_string().as_str(), "std" | "core" | "alloc"))
}

/// Tokens as a user would write them, for messages: `inc(x + 1)`, `v.len()`.
pub(crate) fn tidy(tokens: &TokenStream) -> String {
    let text = tokens.to_string();
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let prev = out.chars().last().unwrap_or(' ');
            let next = chars.get(i + 1).copied().unwrap_or(' ');
            let word = |c: char| c.is_alphanumeric() || c == '_' || c == '!' || c == '>';
            let glue_after = matches!(prev, '(' | '[' | '.' | '&' | ':')
                && !(prev == '&' && out.ends_with(" &"));
            let glue_before = matches!(next, ')' | ']' | ',' | '.' | '?' | ';' | ':')
                || (matches!(next, '(' | '[') && word(prev));
            if glue_after || glue_before {
                continue;
            }
        }
        out.push(c);
    }
    out
}
