//! `delay!(f(args))`: one node of a dynamic graph, for a `#[delayed]` function.
//!
//! Each argument is converted by autoref specialization (a node, a collection of
//! nodes, or a constant) and read through the function's own argument readers, so a
//! `&T` parameter borrows the value and a `T` parameter takes it.

use proc_macro2::{Delimiter, Group, Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

use crate::ctxt::Ctxt;
use crate::names::{
    attempt_reads, hidden, is_associated, is_primitive, is_standard, split_crate_option,
    starts_lowercase, tidy, AttemptReads, Runtime,
};
use crate::scope::InScope;

/// A call of a (lowercase, free) function as one of `delay!`'s arguments: a node, reached
/// through its companion like the outer call, whatever the file scan says. Calls of
/// constructors (`Some(x)`), associated functions (`String::from(s)`) and the standard
/// library's functions are plain code.
///
/// Parentheses (and a macro's invisible groups) around the call change nothing: the
/// call is still the argument. A call inside a larger expression (`f(x) + 1`, a block)
/// is that expression's code, run when `delay!` runs, as Dask's `delayed(add)(f(x) +
/// 1, 2)` calls `f` at once.
fn nested_task_call(mut expr: &syn::Expr) -> Option<&syn::ExprCall> {
    while let syn::Expr::Paren(syn::ExprParen { expr: inner, .. })
    | syn::Expr::Group(syn::ExprGroup { expr: inner, .. }) = expr
    {
        expr = inner;
    }
    let syn::Expr::Call(call) = expr else {
        return None;
    };
    let syn::Expr::Path(func) = &*call.func else {
        return None;
    };
    let path = &func.path;
    let task = func.qself.is_none()
        && path
            .segments
            .last()
            .is_some_and(|s| starts_lowercase(&s.ident))
        && !is_associated(path)
        && !is_standard(path);
    task.then_some(call)
}

/// What the file scan is certain a called name is, when it cannot be a task (so its
/// companion path could not resolve).
#[derive(Clone, Copy)]
enum NotATask {
    /// A plain function.
    Plain,
    /// A local variable (a closure, a function pointer), bound before the macro.
    Local,
}

/// What the file scan is certain a call's function is, when it is a single name that
/// cannot be a task; a local variable shadows a function of its name.
fn scanned<'e>(call: &'e syn::ExprCall, names: &InScope) -> Option<(&'e syn::Ident, NotATask)> {
    let syn::Expr::Path(func) = &*call.func else {
        return None;
    };
    let ident = func.path.get_ident().filter(|_| func.qself.is_none())?;
    let name = ident.to_string();
    if names.locals.contains(&name) {
        Some((ident, NotATask::Local))
    } else if names.plain.contains(&name) {
        Some((ident, NotATask::Plain))
    } else {
        None
    }
}

/// A function that is not a task called in an argument of `delay!`: that call is a node
/// too.
fn not_a_task_in_argument(func: &syn::Ident, what: NotATask, nested: &syn::ExprCall) -> String {
    let call = tidy(&nested.to_token_stream());
    let args = tidy(&nested.args.to_token_stream());
    match what {
        NotATask::Plain => format!(
            "`{func}` is not a task: in `delay!`, a call in an argument is a node too, which \
             needs `#[delayed]`; compute `{call}` before `delay!` and pass the value \
             (`let v = {call};`, then `v` as the argument), or mark `fn {func}` with \
             `#[delayed]`"
        ),
        NotATask::Local => format!(
            "`{func}` is a local variable, not a task: in `delay!`, a call in an argument is \
             a node too, which needs a `#[delayed]` function; compute `{call}` before \
             `delay!` and pass the value (`let v = {call};`, then `v` as the argument), or \
             make a node of it with `delayed({func}).call({args})` and pass that"
        ),
    }
}

/// Expands `delay!`; `names` are the plain functions and local variables the file scan is
/// certain of, for
/// the wording of errors only (see [`crate::scope`]).
pub(crate) fn expand(input: TokenStream, names: &InScope) -> TokenStream {
    match split_crate_option(input, "delay") {
        Ok((runtime, call)) => expand_call(call, &runtime, names),
        Err(error) => error.to_compile_error(),
    }
}

/// Expands the call of `delay!`, after its `crate = path;` option if any.
fn expand_call(input: TokenStream, runtime: &Runtime, scope: &InScope) -> TokenStream {
    match syn::parse2(input) {
        Ok(call) => expand_parsed(&call, runtime, scope),
        Err(error) => {
            let error = syn::Error::new(
                error.span(),
                "`delay!` takes one call of a `#[delayed]` function: `delay!(load(i))`; for \
                 any other function or closure use `delayed(f).call(args)`",
            );
            error.to_compile_error()
        }
    }
}

/// Expands one call, `delay!`'s or a nested one in its arguments (parsed once: each
/// level parsing its arguments' tokens again made a call nested `n` deep parse `n²`
/// tokens).
fn expand_parsed(call: &syn::ExprCall, runtime: &Runtime, scope: &InScope) -> TokenStream {
    let private_at = |span: Span| runtime.private_at(span);
    // Each argument's span, once: a span of syntax is its tokens' (printed anew each
    // time), so that a nested argument's, taken at each level, was again `n²` tokens.
    let spans: Vec<Span> = call.args.iter().map(|arg| arg.span()).collect();
    let syn::Expr::Path(func) = &*call.func else {
        return syn::Error::new_spanned(
            &call.func,
            "`delay!` takes a call of a named `#[delayed]` function; for a closure use \
             `delayed(closure).call(args)`",
        )
        .to_compile_error();
    };
    let path = &func.path;
    let name = path
        .segments
        .last()
        .map(|s| s.ident.to_string())
        .unwrap_or_default();
    // An associated function (`i64::max`, `String::from`) or one of the standard
    // library's has no companion: say so once, rather than rustc's errors on each
    // generated path.
    if func.qself.is_some() || is_associated(path) || is_standard(path) {
        let text = tidy(&path.to_token_stream());
        let args = tidy(&call.args.to_token_stream());
        return syn::Error::new_spanned(
            path,
            format!(
                "`{text}` is not a `#[delayed]` function, so `delay!` cannot call it: make a \
                 node of it with `delayed({text}).call({args})`, or wrap it in a `#[delayed]` \
                 function"
            ),
        )
        .to_compile_error();
    }
    if let Some((ident, what)) = scanned(call, scope) {
        let message = match what {
            NotATask::Plain => format!(
                "`{name}` is not a task: `delay!` takes a call of a `#[delayed]` function; mark \
                 `{name}` `#[delayed]`, or make a node of it with `delayed({name}).call(args)`"
            ),
            NotATask::Local => format!(
                "`{name}` is a local variable, not a task: `delay!` takes a call of a \
                 `#[delayed]` function; make a node of it with `delayed({name}).call({})`",
                tidy(&call.args.to_token_stream())
            ),
        };
        let error = syn::Error::new_spanned(ident, message).to_compile_error();
        // Next to the error, the node that fix would make: no cascade from its type.
        let private = private_at(Span::call_site());
        let args = &call.args;
        return quote!({ #error; #private::dynamic::delayed(#func).call(#args) });
    }
    let mut companion = path.clone();
    for segment in &mut companion.segments {
        segment.arguments = syn::PathArguments::None;
    }
    // Named as a type (`<m::f>::__call`), so that rustc resolves the path `m::f` on its
    // own: a companion the call site cannot see is then the same privacy error, on the
    // same path, as the function named first (`__task` below), and rustc reports it once,
    // naming the function; a name that is a local variable (a closure) is one error
    // that says so (`expected type, found local variable`).
    let companion_at = |span: Span| quote_spanned!(span=> <#companion>);
    let companion = companion_at(Span::call_site());
    let private = private_at(Span::call_site());
    let parents = hidden("__parents");
    let env = hidden("__env");
    let cursor = hidden("__cursor");
    let names: Vec<syn::Ident> = (0..call.args.len())
        .map(|i| hidden(&format!("__a{i}")))
        .collect();
    // Each argument is evaluated first (into a variable located at it, so that an
    // error about its key lands on it), keyed if the function is pure, then converted.
    let values: Vec<syn::Ident> = spans
        .iter()
        .enumerate()
        .map(|(i, &at)| syn::Ident::new(&format!("__v{i}"), Span::mixed_site().located_at(at)))
        .collect();
    let mut cx = Ctxt::default();
    let arguments: Vec<TokenStream> = call
        .args
        .iter()
        .map(|arg| {
            // `delay!(clean(load(i)))`: a nested call of a task is a node too, as in
            // `graph!`, not a call made now.
            match nested_task_call(arg) {
                Some(nested) => match scanned(nested, scope) {
                    Some((ident, what)) => {
                        // It could not resolve as a node; the call made now stands in
                        // next to the error (no cascade from its type).
                        let eager = nested.to_token_stream();
                        cx.error_at(ident, not_a_task_in_argument(ident, what, nested));
                        eager
                    }
                    None => expand_parsed(nested, runtime, scope),
                },
                None => arg.to_token_stream(),
            }
        })
        .collect();
    let evaluations: Vec<TokenStream> = arguments
        .iter()
        .zip(&values)
        .map(|(arg, value)| {
            quote_spanned! {arg.span()=>
                let #value = #arg;
            }
        })
        .collect();
    // Up to `HELD` arguments are passed to the runtime's `hold{n}` as a function's
    // arguments are, and the node is made in a closure that it hands them to, held in
    // place (`Held`): a large value is then held once in the caller's frame, as plain
    // code's `f(big(1))` holds it, and taken into the node inside stack room for it
    // (see `hold1`). Held by value in this frame, it was copied five times in a debug
    // build (the variable, `Wrap`, the converted argument, the task's closure, its
    // call's argument), which overflowed an 8 MiB `main` where plain code runs.
    const HELD: usize = 12;
    let held = !call.args.is_empty() && call.args.len() <= HELD;
    let errors = cx.into_compile_errors();
    // A task cannot be named like a primitive type (`#[delayed]` says so on its name,
    // and makes no companion, which would hide the type): the node the explicit form
    // makes stands in, with no second error here.
    if path.segments.last().is_some_and(|s| is_primitive(&s.ident)) {
        let private = private_at(Span::call_site());
        return quote!({
            #errors
            #(#evaluations)*
            #private::dynamic::delayed(#func).call(#(#values),*)
        });
    }
    let conversions = spans
        .iter()
        .zip(names.iter().zip(&values))
        .map(|(&at, (name, value))| {
            let private = private_at(at);
            // The borrows pick the kind of argument (see `Wrap`): not needless,
            // whatever clippy sees at the argument's span.
            let value = match held {
                true => quote_spanned!(at=> #private::dynamic::Held::take(#value)),
                false => value.to_token_stream(),
            };
            quote_spanned! {at=>
                #[allow(clippy::needless_borrow)]
                let #name = (&&&&#private::dynamic::Wrap::new(#value)).__arg(&mut #parents);
            }
        });
    // `f::__call((handles…), |handles, last, c| { let v0 = c.__arg0(h0, last); … f(v0, …) })`:
    // each argument's handle is made once; every attempt of the call (one, or more for
    // `#[delayed(retries = n)]`) reads it through the companion's `__arg{i}`, a method
    // of the companion value the attempt is handed (see `names::attempt_reads`). An
    // argument the function has no parameter for is read by `SurplusArgs` (in scope
    // below), so that rustc's arity error on the call is the only one.
    let last = hidden("__last");
    let all = hidden("__handles");
    let AttemptReads {
        companion: companion_value,
        handles,
        reads,
        values: read_values,
    } = attempt_reads(&spans, Span::call_site(), &last);
    let sources = spans.iter().zip(&names).map(|(&at, name)| {
        let private = private_at(at);
        quote_spanned! {at=>
            #private::dynamic::Arg::source(&#name, #env, &mut #cursor)
        }
    });
    // `#[delayed(pure)]`: equal arguments (equal nodes, equal `Hash` constants, floats
    // with equal bits) give one node, by key; an argument with no key is an error
    // (`PureKey`). The function is known by its companion type (one per function, at
    // its full path), not by its short name, which functions in other modules may share.
    let key_parts = values.iter().map(|value| {
        // One span for `&value` (the variable's), so that an error lands on the argument.
        let at = value.span();
        let companion = companion_at(at);
        let value = match held {
            true => {
                let private = private_at(at);
                quote_spanned!(at=> #private::dynamic::Held::get(&#value))
            }
            false => quote_spanned!(at=> &#value),
        };
        quote_spanned! {at=>
            &|__hasher: &mut dyn ::core::hash::Hasher| #companion::__key(#value, __hasher)
        }
    });
    // A generic function's instance named by a turbofish (`bits::<u8>()`) is a function
    // of its own: its type parameters may appear in neither its arguments nor its
    // result, so the key names the instance too (its item's type name).
    let turbofish = path
        .segments
        .last()
        .is_some_and(|last| match &last.arguments {
            syn::PathArguments::AngleBracketed(args) => !args
                .args
                .iter()
                .any(|arg| matches!(arg, syn::GenericArgument::Type(syn::Type::Infer(_)))),
            _ => false,
        });
    // The function itself, named first: where the user's path is resolved first, so
    // that a function the call site cannot see is one privacy error that names the
    // function (rustc reports one per path, the first it meets), not its companion.
    let task = syn::Ident::new("__task", Span::mixed_site().located_at(func.span()));
    let instance = match turbofish {
        true => quote!(#private::dynamic::item_identity(&#task)),
        false => quote!(0),
    };
    let key = hidden("__key");
    let remote = hidden("__remote");
    let call_site = quote_spanned! {path.span()=>
        ::core::concat!(::core::file!(), ":", ::core::line!(), ":", ::core::column!())
    };
    // The call located at the function (its path and parentheses): a result that
    // cannot be a node's value (`NodeValue`) is reported there.
    let task_with = {
        let private = private_at(path.span());
        quote_spanned!(path.span()=> #private::dynamic::task_with)
    };
    let mut call_args = Group::new(
        Delimiter::Parenthesis,
        quote! {
                    &const { #private::Label::task(#name, #call_site) },
                    #parents,
                    #key,
                    #remote,
                    move |#env: &#private::dynamic::Env<'_>| {
                        // Stack room for the arguments' values, which the reads and the
                        // call hold by value (the task's run has room for its result).
                        #private::with_room(
                            0usize #(+ #private::dynamic::value_size(&#names))*,
                            || {
                                #[allow(unused_mut, unused_variables)]
                                let mut #cursor = 0usize;
                                #companion::__call(
                                    (#(#sources,)*),
                                    &mut |#all: &mut _, #last: bool, #companion_value| {
                                        let (#(#handles,)*) = #all;
                                        #(#reads)*
                                        #task(#(#read_values),*)
                                    },
                                )
                            },
                        )
                    },
        },
    );
    call_args.set_span(path.span());
    // The block's value is a name of its own, so that the block (the whole `delay!`) is
    // what an unused `Delayed`'s lint points at, not the call located at the function.
    let node = hidden("__node");
    let make = quote! {
            let #key = if #companion::__PURE {
                ::core::option::Option::Some(#private::dynamic::pure_key(
                    #companion::__identity(#instance),
                    &[#(#key_parts),*],
                ))
            } else {
                ::core::option::Option::None
            };
            #[allow(unused_mut)]
            let mut #parents = #private::dynamic::Parents::new();
            #(#conversions)*
            // A `#[delayed(remote)]` function records what its call is, for a cluster
            // backend; any other ignores the shapes.
            let #remote = #companion::__remote([
                #((&&&#private::dynamic::Describe(&#names)).__shape()),*
            ]);
            #task_with #call_args
    };
    let imports = quote! {
            #errors
            #[allow(unused_imports)]
            use #private::dynamic::{
                ShapeOfConst as _, ShapeOfNode as _, ShapeOfOther as _, SurplusArgs as _,
                ViaConst as _, ViaMany as _, ViaNested as _, ViaNode as _,
            };
            let #task = #func;
    };
    if !held {
        return quote! {
            {
                #imports
                #(#evaluations)*
                let #node = { #make };
                #node
            }
        };
    }
    let hold = syn::Ident::new(&format!("hold{}", values.len()), Span::call_site());
    quote! {
        {
            #imports
            // The arguments as written: a block is how a call made now is written in
            // `delay!` (`f({ g(x) })`), not braces to remove.
            #[allow(unused_braces, unused_parens)]
            let #node = #private::dynamic::#hold(
                #(#arguments,)*
                &mut |#(#values: #private::dynamic::Held<'_, _>),*| { #make },
            );
            #node
        }
    }
}
