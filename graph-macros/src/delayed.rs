//! `#[delayed]`: keeps the function as it is and adds a companion type of the same
//! name (in the type namespace only) that tells `graph!` how each parameter is read:
//! lent (`&T` parameters) or given by value.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{FnArg, ItemFn, ReturnType, Type};

use crate::ctxt::Ctxt;
use crate::graph::check;
use crate::names::{arg_reader, parse_crate_path, Runtime};

/// How a task reads one parameter.
enum ParamMode {
    /// `&T`: borrowed from the value's slot.
    Lend,
    /// `T`: moved out of the slot, or cloned when other tasks still need it.
    Give,
}

/// A checked `#[delayed]` function.
struct Task {
    item: ItemFn,
    modes: Vec<ParamMode>,
    /// Whether it is written inside an `impl` block (it takes `self` or names `Self`),
    /// where the companion type cannot go.
    in_impl: bool,
}

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut cx = Ctxt::default();
    let parser = |input: ParseStream<'_>| parse_options(input, &args);
    let Options {
        pure,
        retries,
        remote,
        runtime,
    } = match parser.parse2(args.clone()) {
        Ok(options) => options,
        Err(error) => {
            cx.push(error);
            Options::default()
        }
    };
    let item: ItemFn = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(_) => {
            // Not a free function: leave the item as it was, plus one clear error on
            // the keyword that says what it is.
            let (what, span) = item_kind(&item);
            let error = syn::Error::new(
                span,
                format!(
                    "`#[delayed]` marks a free function (`fn name(args) -> T {{ … }}`) as a \
                     task, not {what}; write the work as a free function and mark that \
                     `#[delayed]`, or wrap an existing function: \
                     `#[delayed] fn step(x: T) -> U {{ existing(x) }}`"
                ),
            );
            let error = error.to_compile_error();
            return quote!(#error #item);
        }
    };
    let task = validate(&mut cx, item);
    // A registered remote task's companion gets its `__remote` (what `delay!` records
    // of a call) from the registration; every other companion a local one.
    let registration = match remote {
        Some(remote) if !task.in_impl => registration(&mut cx, &task, remote, &runtime),
        _ => None,
    };
    // In an `impl` block the companion type would be one more error (structs are not
    // allowed there): the error above is the whole story.
    // Named like a primitive type, it would hide that type in the whole module: the
    // error above alone.
    let companion = if task.in_impl || names_a_primitive(&task.item.sig.ident) {
        TokenStream::new()
    } else {
        companion(&task, pure, retries, registration.is_none(), &runtime)
    };
    let errors = cx.into_compile_errors();
    let item = &task.item;
    quote! {
        #errors
        #item
        #companion
        #registration
    }
}

/// The options of `#[delayed(…)]`, in any order: `pure`, `retries = n`, `crate = path`.
#[derive(Default)]
struct Options {
    /// `pure`: equal arguments, one node.
    pure: bool,
    /// `retries = n`: a panicking call runs again, up to `n` more times.
    retries: u32,
    /// `remote`: a worker process may run it by name (feature `hyperqueue`); the
    /// word's span, where a missing feature is reported.
    remote: Option<proc_macro2::Span>,
    /// `crate = path`: where the generated code finds taskweave.
    runtime: Runtime,
}

/// The message for an option `#[delayed]` does not take.
const UNKNOWN_OPTION: &str = "`#[delayed]` takes `pure` (equal arguments, one node, as Dask's \
     `pure=True`), `retries = n` (a panicking call runs again, up to n more times), \
     `remote` (a worker process of this program may run it by name), \
     `crate = path` (where taskweave is, when renamed or re-exported) or nothing: write \
     `#[delayed]`, `#[delayed(pure)]`, `#[delayed(retries = 2)]` or `#[delayed(pure, crate = tw)]`";

/// Parses the options; `args`, all of them, is where an unknown one is reported (so
/// that the message shows the list).
fn parse_options(input: ParseStream<'_>, args: &TokenStream) -> syn::Result<Options> {
    let mut options = Options::default();
    let (mut pure, mut krate, mut retries) = (None, None, None);
    while !input.is_empty() {
        if input.peek(syn::Token![crate]) {
            let keyword: syn::Token![crate] = input.parse()?;
            if !input.peek(syn::Token![=]) {
                return Err(syn::Error::new(
                    keyword.span,
                    "expected `=` after `crate`: `#[delayed(crate = tw)]`",
                ));
            }
            let eq: syn::Token![=] = input.parse()?;
            let path = parse_crate_path(input, "delayed", eq.span)?;
            if krate.replace(keyword.span).is_some() {
                return Err(syn::Error::new(keyword.span, "`crate` is given twice"));
            }
            options.runtime = Runtime::at_path(path);
        } else if input.peek(syn::Ident) && input.fork().parse::<syn::Ident>()? == "retries" {
            let word: syn::Ident = input.parse()?;
            if !input.peek(syn::Token![=]) {
                return Err(syn::Error::new(
                    word.span(),
                    "expected `=` after `retries`: `#[delayed(retries = 2)]`",
                ));
            }
            input.parse::<syn::Token![=]>()?;
            let count: syn::LitInt = input.parse().map_err(|error| {
                syn::Error::new(
                    error.span(),
                    "`retries` takes a whole number of retries: `#[delayed(retries = 2)]`",
                )
            })?;
            let n = retry_count(&count)?;
            if retries.replace(word.span()).is_some() {
                return Err(syn::Error::new(word.span(), "`retries` is given twice"));
            }
            options.retries = n;
        } else if input.peek(syn::Ident) && input.fork().parse::<syn::Ident>()? == "remote" {
            let word: syn::Ident = input.parse()?;
            if options.remote.replace(word.span()).is_some() {
                return Err(syn::Error::new(word.span(), "`remote` is given twice"));
            }
        } else if input.peek(syn::Ident) && input.fork().parse::<syn::Ident>()? == "pure" {
            let word: syn::Ident = input.parse()?;
            if pure.replace(word.span()).is_some() {
                return Err(syn::Error::new(word.span(), "`pure` is given twice"));
            }
            options.pure = true;
        } else {
            return Err(syn::Error::new_spanned(args, UNKNOWN_OPTION));
        }
        if !input.is_empty() {
            input.parse::<syn::Token![,]>().map_err(|error| {
                syn::Error::new(
                    error.span(),
                    "expected `,` between the options of `#[delayed]`",
                )
            })?;
        }
    }
    Ok(options)
}

/// The number `retries = n` gives. Its literal is read here and never reaches rustc,
/// which would otherwise reject a suffix that is no integer type (`3i7`, or `0b1e5`:
/// the binary `0b1` with the suffix `e5`) and a value its suffix's type cannot hold
/// (`300u8`): each is an error on the literal, not a count read from its digits.
fn retry_count(count: &syn::LitInt) -> syn::Result<u32> {
    let written = count.to_string();
    if !check::is_integer_suffix(count.suffix()) {
        let message = check::integer_suffix(&written, count.suffix());
        return Err(syn::Error::new(count.span(), message));
    }
    let too_large = || {
        syn::Error::new(
            count.span(),
            "`retries` takes a whole number from 0 to 4294967295: `#[delayed(retries = 2)]`",
        )
    };
    let value = count.base10_parse::<i128>().map_err(|_| too_large())?;
    if let Some(message) = check::integer_out_of_range(&written, value, count.suffix()) {
        return Err(syn::Error::new(count.span(), message));
    }
    u32::try_from(value).map_err(|_| too_large())
}

/// Checks what a task may not be, and reads each parameter's mode.
fn validate(cx: &mut Ctxt, item: ItemFn) -> Task {
    let sig = &item.sig;
    if let Some(asyncness) = &sig.asyncness {
        cx.error_at(
            asyncness,
            "a task cannot be an `async fn`: the engine runs tasks on threads, not on an \
             executor; make it a plain `fn` (block on the future inside it if you must)",
        );
    }
    if let Some(unsafety) = &sig.unsafety {
        cx.error_at(
            unsafety,
            "a task cannot be an `unsafe fn`: the graph calls it from safe code; keep the \
             `unsafe` block inside a safe function",
        );
    }
    if let Some(variadic) = &sig.variadic {
        cx.error_at(variadic, "a task cannot be variadic");
    }
    let name = &sig.ident;
    let mut modes = Vec::new();
    let mut in_impl = false;
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => {
                in_impl = true;
                let param = if receiver.mutability.is_some() || receiver.reference.is_none() {
                    "value: YourType"
                } else {
                    "value: &YourType"
                };
                cx.error_at(
                    receiver,
                    format!(
                        "`#[delayed]` goes on free functions, not on methods: a task's inputs \
                         are nodes of the graph, passed as ordinary parameters; move `{name}` \
                         out of the `impl` block as `#[delayed] fn {name}({param}, …)`"
                    ),
                );
            }
            FnArg::Typed(pat) => {
                let conditional = pat.attrs.iter().find(|a| may_remove(a));
                if let Some(attr) = conditional {
                    cx.error_at(
                        attr,
                        "a task's parameter cannot be conditional: `graph!` and `delay!` \
                         pass a task's arguments by position, which a parameter removed by \
                         `#[cfg]` would shift; write the task twice, each under its own \
                         `#[cfg]`, or take an `Option`",
                    );
                }
                modes.push(param_mode(cx, &pat.ty));
            }
        }
    }
    if !in_impl {
        let mut finder = FindSelf(None);
        finder.visit_signature(sig);
        finder.visit_block(&item.block);
        if let Some(self_type) = finder.0 {
            in_impl = true;
            cx.error_at(
                self_type,
                format!(
                    "`#[delayed]` goes on free functions, not on associated functions: \
                     `graph!` calls a task by its name alone; move `{name}` out of the \
                     `impl` block (writing the type's name for `Self`) and mark that \
                     `#[delayed]`"
                ),
            );
        }
    }
    if names_a_primitive(&sig.ident) {
        cx.error_at(
            &sig.ident,
            format!(
                "a task cannot be named `{0}`: its companion type (what `graph!` and `delay!` \
                 call) would hide the primitive type `{0}` in this module; rename the function",
                syn::ext::IdentExt::unraw(&sig.ident)
            ),
        );
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        if let Some(borrow) = find_borrow(ty) {
            cx.push(syn::Error::new(
                borrow,
                "a task cannot return a borrowed value: its result outlives the arguments \
                 it was computed from; return an owned value (`String`, `Vec<T>`, `Arc<T>`, \
                 `Cow<'static, str>`)",
            ));
        }
    }
    Task {
        item,
        modes,
        in_impl,
    }
}

/// Whether an attribute of a parameter may remove it: `#[cfg(…)]`, or a
/// `#[cfg_attr(pred, …)]` that gives a `cfg` (or another `cfg_attr`, or that cannot be
/// read). `#[cfg_attr(pred, allow(unused))]` only adds a lint level.
fn may_remove(attr: &syn::Attribute) -> bool {
    if attr.path().is_ident("cfg") {
        return true;
    }
    if !attr.path().is_ident("cfg_attr") {
        return false;
    }
    let parser = syn::punctuated::Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated;
    match attr.parse_args_with(parser) {
        Ok(metas) => metas
            .iter()
            .skip(1)
            .any(|meta| meta.path().is_ident("cfg") || meta.path().is_ident("cfg_attr")),
        Err(_) => true,
    }
}

/// Whether `name` is a primitive type's, which a companion type of that name would hide.
fn names_a_primitive(name: &syn::Ident) -> bool {
    const PRIMITIVES: &[&str] = &[
        "bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32",
        "i64", "i128", "isize", "f32", "f64",
    ];
    // `r#bool` is `bool` too: a raw identifier names the same type.
    PRIMITIVES.contains(&syn::ext::IdentExt::unraw(name).to_string().as_str())
}

/// The first `Self` in a function (outside of nested items): it is in an `impl`.
struct FindSelf(Option<syn::Ident>);

impl Visit<'_> for FindSelf {
    fn visit_ident(&mut self, ident: &syn::Ident) {
        if self.0.is_none() && ident == "Self" {
            self.0 = Some(ident.clone());
        }
    }

    fn visit_item(&mut self, _: &syn::Item) {}
}

/// What an item that is not a function is, and the span of its keyword.
fn item_kind(tokens: &TokenStream) -> (&'static str, proc_macro2::Span) {
    let first = tokens
        .clone()
        .into_iter()
        .next()
        .map_or_else(proc_macro2::Span::call_site, |t| t.span());
    let Ok(item) = syn::parse2::<syn::Item>(tokens.clone()) else {
        return ("this item", first);
    };
    match &item {
        syn::Item::Struct(i) => ("a struct", i.struct_token.span),
        syn::Item::Enum(i) => ("an enum", i.enum_token.span),
        syn::Item::Union(i) => ("a union", i.union_token.span),
        syn::Item::Trait(i) => ("a trait", i.trait_token.span),
        syn::Item::Impl(i) => ("an `impl` block", i.impl_token.span),
        syn::Item::Mod(i) => ("a module", i.mod_token.span),
        syn::Item::Const(i) => ("a constant", i.const_token.span),
        syn::Item::Static(i) => ("a static", i.static_token.span),
        syn::Item::Type(i) => ("a type alias", i.type_token.span),
        syn::Item::Use(i) => ("a `use`", i.use_token.span),
        syn::Item::ForeignMod(i) => ("an `extern` block", i.abi.extern_token.span),
        syn::Item::Macro(i) => ("a macro", i.mac.path.span()),
        _ => ("this item", first),
    }
}

fn param_mode(cx: &mut Ctxt, ty: &Type) -> ParamMode {
    match ty {
        Type::Reference(r) if r.mutability.is_some() => {
            cx.error_at(
                r,
                "a task cannot take `&mut`: its inputs are results of other tasks, shared \
                 between threads and never mutated; take `&T` or an owned value and \
                 return the new value",
            );
            ParamMode::Lend
        }
        Type::Reference(_) => ParamMode::Lend,
        Type::Group(g) => param_mode(cx, &g.elem),
        Type::Paren(p) => param_mode(cx, &p.elem),
        _ => ParamMode::Give,
    }
}

/// The first borrow in a result type, outside of `fn(…)` pointer types and `Fn(…)`
/// bounds: a `&` without `'static`, or a lifetime other than `'static`
/// (`Cow<'_, str>`, `Parser<'a>`). `&'static str` borrows nothing of the arguments.
fn find_borrow(ty: &Type) -> Option<Span> {
    struct Borrow(Option<Span>);
    impl<'a> Visit<'a> for Borrow {
        fn visit_type_reference(&mut self, r: &'a syn::TypeReference) {
            match &r.lifetime {
                Some(l) if l.ident == "static" => syn::visit::visit_type(self, &r.elem),
                _ => {
                    self.0.get_or_insert(r.and_token.span);
                }
            }
        }
        fn visit_lifetime(&mut self, l: &'a syn::Lifetime) {
            if l.ident != "static" {
                self.0.get_or_insert(l.span());
            }
        }
        fn visit_type_bare_fn(&mut self, _: &'a syn::TypeBareFn) {}
        fn visit_parenthesized_generic_arguments(
            &mut self,
            _: &'a syn::ParenthesizedGenericArguments,
        ) {
        }
        fn visit_bound_lifetimes(&mut self, _: &'a syn::BoundLifetimes) {}
    }
    let mut borrow = Borrow(None);
    borrow.visit_type(ty);
    borrow.0
}

/// The companion type: `struct name {}` with one argument reader per parameter.
fn companion(task: &Task, pure: bool, retries: u32, local: bool, runtime: &Runtime) -> TokenStream {
    let private = runtime.private();
    let sig = &task.item.sig;
    let vis = &task.item.vis;
    let name = &sig.ident;
    // How a call runs, for `graph!` and `delay!`: `__call` takes the arguments' handles
    // and runs the call once per attempt (`last` true for the one whose panic is the
    // task's), and `__arg{i}` passes argument `i` to an attempt: lent, or given (a clone
    // for an attempt that may be followed by another, when the task has retries).
    // The readers are methods of the companion value `__call` hands each attempt, so
    // that a call names the companion at the function's name only (a misspelt name is
    // one unresolved path), and each argument is read on its own, apart from the call
    // (see `names::attempt_reads`): rustc's errors and suggestions about an argument
    // quote that argument.
    // With no retries, `attempts` runs the last attempt only: one inlined call.
    // The attempt is an `&mut dyn FnMut` written where `__call` is called: a closure
    // passed for a generic parameter leaves rustc an obligation until the end of type
    // checking the whole function around it, which every later step examines again,
    // so that thousands of calls in one `graph!` took time growing with their square.
    // The result type is a projection (`Itself`), so that a `let`'s declared type is
    // checked against the call, as for a plain function (see `__private::Itself`).
    // A generic function's result is left plain: its type parameters may be known only
    // from where the result goes (`let c: i64 = conv(3);`), which rustc does not solve
    // backwards through the projection.
    let generic = sig
        .generics
        .params
        .iter()
        .any(|p| !matches!(p, syn::GenericParam::Lifetime(_)));
    let result = match generic {
        true => quote!(__R),
        false => quote!(<__R as #private::Itself>::Out),
    };
    let attempts = quote! {
        #[inline(always)]
        pub fn __call<__H, __R>(
            mut __handles: __H,
            __run: &mut dyn ::core::ops::FnMut(&mut __H, bool, Self) -> __R,
        ) -> #result {
            #private::attempts(#retries, |__last| __run(&mut __handles, __last, Self {}))
        }
    };
    let again = task.modes.iter().enumerate().map(|(i, mode)| {
        let reader = arg_reader(i, proc_macro2::Span::call_site());
        match mode {
            ParamMode::Give if retries == 0 => quote! {
                #[inline(always)]
                pub fn #reader<__S: #private::Give + ?::core::marker::Sized>(&self, __source: &mut __S, _: bool) -> __S::Target {
                    #private::give(__source)
                }
            },
            ParamMode::Give => quote! {
                #[inline(always)]
                pub fn #reader<__S, __T>(&self, __source: &mut __S, __last: bool) -> __T
                where
                    __S: #private::Give<Target = __T> + #private::Lend<Target = __T> + ?::core::marker::Sized,
                    __T: #private::Again,
                {
                    #private::give_again(__source, __last)
                }
            },
            ParamMode::Lend => quote! {
                #[inline(always)]
                pub fn #reader<'__s, __S: #private::Lend + ?::core::marker::Sized>(&self, __source: &'__s mut __S, _: bool) -> &'__s __S::Target {
                    #private::lend(__source)
                }
            },
        }
    });
    // The result must cross threads; checked on the return type's own tokens, through
    // the runtime's trait that says why and what to use instead.
    let send_check = match &sig.output {
        // An opaque result (`-> impl Iterator<Item = u8> + Send`) cannot be named in a
        // type argument: its `Send` is checked where a graph or a task reads it.
        // `-> !` cannot be named as a type argument on stable Rust, and never crosses.
        ReturnType::Type(_, ty) if has_impl_trait(ty) || matches!(**ty, Type::Never(_)) => {
            TokenStream::new()
        }
        ReturnType::Type(_, ty) => {
            let (impl_generics, _, where_clause) = sig.generics.split_for_impl();
            // The runtime's trait, not one of this expansion's: a `#[diagnostic]`
            // attribute does not resolve in a `#![no_implicit_prelude]` module.
            let check = quote_spanned! {ty.span()=>
                #private::require_send::<#ty, Self>()
            };
            quote! {
                #[allow(dead_code)]
                fn __result_is_send #impl_generics () #where_clause {
                    #check
                }
            }
        }
        ReturnType::Default => TokenStream::new(),
    };
    // The key of one argument of `delay!(name(..))`: a pure function's arguments must
    // have one (`PureKey`, an error on the argument otherwise); another's are not keyed.
    let key = if pure {
        quote! {
            #[inline(always)]
            pub fn __key<__A: ?::core::marker::Sized, __M>(
                __arg: &__A,
                __hasher: &mut dyn ::core::hash::Hasher,
            ) where __A: #private::dynamic::PureKey<__M> {
                #private::dynamic::pure_arg_key(__arg, __hasher)
            }
        }
    } else {
        quote! {
            #[inline(always)]
            pub fn __key<__A: ?::core::marker::Sized>(
                _: &__A,
                _: &mut dyn ::core::hash::Hasher,
            ) {
            }
        }
    };
    // What `delay!` records of a call for a cluster backend: nothing, for a local task
    // (a registered remote task's comes with its registration).
    let remote = if local {
        quote! {
            #[inline(always)]
            pub fn __remote<const __N: usize>(
                _: [#private::dynamic::ArgShape<'_>; __N],
            ) -> #private::dynamic::RemoteSpec {
                #private::dynamic::RemoteSpec::NONE
            }
        }
    } else {
        TokenStream::new()
    };
    // The result's type, for `graph!` to declare the slot of a call's result with:
    // named when the signature names it, left to inference otherwise (a generic
    // function's, an opaque `impl Trait`, `!`, and a borrow, already an error).
    let output = match &sig.output {
        ReturnType::Type(_, ty)
            if sig.generics.params.is_empty()
                && !has_impl_trait(ty)
                && !matches!(**ty, Type::Never(_))
                && find_borrow(ty).is_none() =>
        {
            quote! {
                #[inline(always)]
                #[allow(private_interfaces)]
                pub fn __output() -> ::core::marker::PhantomData<#ty> {
                    ::core::marker::PhantomData
                }
            }
        }
        ReturnType::Default if sig.generics.params.is_empty() => quote! {
            #[inline(always)]
            pub fn __output() -> ::core::marker::PhantomData<()> {
                ::core::marker::PhantomData
            }
        },
        _ => quote! {
            #[inline(always)]
            pub fn __output<__T>() -> ::core::marker::PhantomData<__T> {
                ::core::marker::PhantomData
            }
        },
    };
    let doc = format!("The `#[delayed]` task `{name}`, as `graph!` sees it.");
    quote! {
        #[doc = #doc]
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        #vis struct #name {}

        #[doc(hidden)]
        #[allow(dead_code, unreachable_pub)]
        impl #name {
            /// Whether calls with equal arguments are one node (`#[delayed(pure)]`).
            pub const __PURE: bool = #pure;
            /// How many more times a panicking call runs (`#[delayed(retries = n)]`).
            pub const __RETRIES: u32 = #retries;
            /// The function's identity in a pure call's key: this type's, one per
            /// function (its short name may be another function's too).
            #[inline(always)]
            pub fn __identity(instance: u64) -> u64 {
                #private::dynamic::fn_identity::<Self>(instance)
            }
            #key
            #remote
            #attempts
            #output
            #(#again)*
            #send_check
        }
    }
}

/// `#[delayed(remote)]`: registers the function for worker processes (see
/// `graph_runtime::remote`). A remote task's arguments arrive decoded from files, so
/// it takes them by value, and a worker finds it by one name, so it is not generic.
fn registration(
    cx: &mut Ctxt,
    task: &Task,
    remote: proc_macro2::Span,
    runtime: &Runtime,
) -> Option<TokenStream> {
    let sig = &task.item.sig;
    let name = &sig.ident;
    let mut ok = true;
    if let Some(param) = sig.generics.params.first() {
        ok = false;
        cx.error_at(
            param,
            format!(
                "a remote task cannot be generic: a worker finds `{name}` by its name, and a \
                 generic function is one function per type; mark `#[delayed(remote)]` a \
                 non-generic wrapper that calls `{name}::<f64>` (or whichever types you need)"
            ),
        );
    }
    let mut params = Vec::new();
    for (i, input) in sig.inputs.iter().enumerate() {
        let FnArg::Typed(pat) = input else { continue };
        if let Type::Reference(reference) = &*pat.ty {
            ok = false;
            cx.error_at(
                reference,
                "a remote task takes its arguments by value: they arrive decoded from files, \
                 with nothing to borrow from; take `T` instead of `&T` (`String` for `&str`, \
                 `Vec<T>` for `&[T]`)",
            );
        }
        let arg = syn::Ident::new(&format!("__a{i}"), proc_macro2::Span::mixed_site());
        let ty = &pat.ty;
        params.push(quote!(#arg: #ty));
    }
    if params.len() > 6 {
        ok = false;
        cx.error_at(
            &sig.inputs,
            "a remote task takes at most six parameters; pass a struct or a tuple for more",
        );
    }
    if !ok {
        return None;
    }
    let output = match &sig.output {
        ReturnType::Type(_, ty) => quote!(#ty),
        ReturnType::Default => quote!(()),
    };
    let private = runtime.private_at(remote);
    let vis = &task.item.vis;
    Some(quote_spanned! {remote=>
        #private::register_remote!(#vis #name, (#(#params),*) -> #output);
    })
}

/// Whether `ty` has an `impl Trait` in it.
fn has_impl_trait(ty: &syn::Type) -> bool {
    struct Finds(bool);
    impl<'a> syn::visit::Visit<'a> for Finds {
        fn visit_type_impl_trait(&mut self, _: &'a syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut finds = Finds(false);
    syn::visit::Visit::visit_type(&mut finds, ty);
    finds.0
}
