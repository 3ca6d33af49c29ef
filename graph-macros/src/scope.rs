//! The wording of one error, and nothing else: which plain (not `#[delayed]`) functions
//! are certainly in scope where `graph!` or `delay!` is invoked, read from the crate's
//! source files, and (for `delay!`) which local variables are bound before it, such as
//! a closure called in its arguments. Also whether a bare `drop` there is certainly the
//! user's (see the end of the next paragraph).
//!
//! **What this may affect.** Whether a call inside `graph!` or `delay!` is a task node
//! never depends on this module. A call of a lowercase free function (not from
//! `std`/`core`/`alloc`, not `Type::f`, not a name bound or a function declared in the
//! macro's own input) is always a node, reached through the companion type that
//! `#[delayed]` generates (`step::__arg0`): what rustc resolves decides, and a plain
//! function there fails to compile with rustc's ``cannot find module or crate `step` ``.
//! The one thing a name found here does is replace that error, which would be raised
//! anyway, with one that says what to do. It can turn one error into another; it can
//! never make code compile, fail to compile where rustc would accept it (when it is
//! right), or change what a graph computes. One name is the exception: a bare `drop`
//! is called like any function of the user's (a `#[delayed] fn drop` is a task) where
//! this module is certain that a scope around the invocation defines or imports one by
//! name; anywhere else it is the prelude's, plain code (`drop(a)` of a node is the
//! macro's own error, whose message says how to call a task so named, and `drop` of a
//! constant runs before the graph), as rustc resolves it unless a glob brings in
//! another.
//!
//! **How, and where it gives up.** A proc macro cannot ask rustc what a name resolves
//! to, but it can read the file it is invoked in (`Span::local_file`, Rust 1.88). A name
//! is flagged when its nearest definition around the invocation, within its module, is
//! a function whose attributes cannot make it a task (doc comments and builtin lint,
//! `inline`, `must_use`… attributes, which no macro can stand for), there or in the
//! module file an import leads to. Anything it cannot settle is not flagged (rustc's
//! own error, or success):
//! - a function with any other attribute (`cfg_attr`, `cfg`, an attribute macro);
//! - an invocation inside an item that carries an attribute macro, or inside another
//!   macro's arguments;
//! - a scope with item macros (they may define the name), or glob imports it cannot
//!   follow (another crate's);
//! - a file whose place in the crate is not certain. The crate root is the target
//!   cargo is compiling (`CARGO_MANIFEST_DIR`, `CARGO_CRATE_NAME`, `CARGO_BIN_NAME` and
//!   the targets of that `Cargo.toml`), and the invoking file must be that root or a
//!   module file reached from it through `mod name;` declarations without `#[path]`:
//!   anything else (a file under `src/bin/`, an `include!`d file, a module reached by
//!   `#[path]`, a root cargo's variables do not name) is left alone;
//! - `use super::…` out of the invoking file, `#[path]` modules, two candidate files
//!   for one module, files that are missing or do not parse;
//! - files that do not lex cleanly ([`crate::lexable`]): inside a macro, rustc's lexer
//!   reports what it rejects at the invocation, a second time after the file's own
//!   report; and files nested deeper than the macro's stack can parse.
//!
//! Each file is parsed once per process, into names only (no token may outlive the
//! invocation that made it), and cached by a hash of its text, not its path: an
//! editor's long-lived macro server sees a saved change as a new file.

use std::cell::RefCell;
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use syn::visit::Visit;

use crate::lexable::lexes_cleanly;
use crate::names::is_inert;

/// What the files say is certainly in scope at one invocation, for the wording of an
/// error only (see the module doc).
#[derive(Default)]
pub(crate) struct InScope {
    /// Plain functions.
    pub(crate) plain: HashSet<String>,
    /// Local variables bound before the invocation (by `let`, or as a parameter of the
    /// function or closure around it), which shadow any function of their name.
    pub(crate) locals: HashSet<String>,
    /// A bare `drop` here is certainly the user's: a scope around the invocation
    /// defines or imports one by name, or a local variable is so named. `false` where
    /// the files say nothing of it, or cannot settle it (a glob the scan cannot follow,
    /// an item macro): the prelude's `drop` is assumed there, as rustc would resolve it
    /// in the common case, and the macro's message says how to call a task so named.
    pub(crate) user_drop: bool,
}

/// What is certainly in scope at this invocation of the macro `name`, whose input is
/// `input`, for the wording of an error only (see the module doc). Empty outside a proc
/// macro, or when the files do not settle it.
pub(crate) fn names_at(name: &str, input: &proc_macro::TokenStream) -> InScope {
    if !proc_macro::is_available() {
        return InScope::default();
    }
    let Some(file) = proc_macro::Span::call_site().local_file() else {
        return InScope::default();
    };
    let Some(target) = Target::from_env() else {
        return InScope::default();
    };
    names_in(&file, &target, name, &squeeze(&input.to_string()))
}

/// The plain functions [`names_in`] finds.
#[cfg(test)]
fn plain_fns_in(file: &Path, target: &Target, name: &str, key: &str) -> HashSet<String> {
    names_in(file, target, name, key).plain
}

/// [`names_at`] for the invocation of `name!` whose squeezed input is `key`, in `file`,
/// compiled as part of `target`.
fn names_in(file: &Path, target: &Target, name: &str, key: &str) -> InScope {
    let Ok(file) = file.canonicalize() else {
        return InScope::default();
    };
    let Some(paths) = Paths::new(&file, target) else {
        return InScope::default();
    };
    let Some(scope) = skeleton(&file) else {
        return InScope::default();
    };
    find(&scope, &paths, name, key)
}

/// What is in scope at the invocation of `name!` whose squeezed input is `key`, in the
/// file whose skeleton is `scope` and whose place in the crate is `paths`.
fn find(scope: &Scope, paths: &Paths, name: &str, key: &str) -> InScope {
    let mut finder = Finder {
        name,
        key,
        paths,
        frames: Vec::new(),
        modules: Vec::new(),
        found: None,
        ambiguous: false,
    };
    finder.scope(scope);
    match finder.found {
        // The same input met twice in different scopes: which one this is is unknown.
        Some(found) if !finder.ambiguous => found,
        _ => InScope::default(),
    }
}

/// The scan of source text alone, for the fuzzer: `text` read as a crate root in a
/// folder that does not exist (so `mod name;` and `use` paths lead nowhere), and what is
/// in scope at each of its first 16 invocations (each is a walk of the whole file);
/// `None` when the text is not scanned (it does not lex cleanly or parse).
#[cfg(test)]
pub(crate) fn scan_text(text: &str) -> Option<Vec<(String, InScope)>> {
    let scope = parse_skeleton(text)?;
    let dir = PathBuf::from("/nonexistent/taskweave-scan-fuzz");
    let root = (scope.items.clone(), dir);
    let paths = Paths {
        here: root.clone(),
        root,
    };
    let mut invocations = Vec::new();
    fn collect(scope: &Scope, out: &mut Vec<(String, String)>) {
        for (name, key, _, _) in &scope.invocations {
            out.push((name.clone(), key.clone()));
        }
        for child in &scope.children {
            collect(child, out);
        }
    }
    collect(&scope, &mut invocations);
    Some(
        invocations
            .into_iter()
            .take(16)
            .map(|(name, key)| {
                let found = find(&scope, &paths, &name, &key);
                (format!("{name}!({key})"), found)
            })
            .collect(),
    )
}

/// Source text without whitespace: how an invocation found in the file is matched to
/// the one being expanded (both printed by rustc, spacing aside).
fn squeeze(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

// ---- files: read each time, parsed once per content ----------------------------------

/// A hash of a file's text: the cache key (the same path may hold new text in an
/// editor's macro server; the same text at two paths is parsed once).
fn content_key(text: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// What is known of the Rust file at `path`, from a cache keyed by its text; `None`
/// when it cannot be read, lexed cleanly or parsed.
fn skeleton(path: &Path) -> Option<Rc<Scope>> {
    thread_local! {
        static PARSED: RefCell<HashMap<u64, Option<Rc<Scope>>>> = RefCell::new(HashMap::new());
    }
    let text = std::fs::read_to_string(path).ok()?;
    let key = content_key(&text);
    PARSED.with(|parsed| {
        parsed
            .borrow_mut()
            .entry(key)
            .or_insert_with(|| parse_skeleton(&text).map(Rc::new))
            .clone()
    })
}

/// What is known of a file whose text is `text`; `None` when it does not lex cleanly
/// (see [`crate::lexable`]: inside a macro, rustc's lexer would report what it rejects a
/// second time, at the macro) or does not parse.
fn parse_skeleton(text: &str) -> Option<Scope> {
    if !lexes_cleanly(text) {
        return None;
    }
    let file = syn::parse_file(text).ok()?;
    let mut builder = Builder::default();
    builder.visit_file(&file);
    builder.stack.pop()
}

/// The targets a `Cargo.toml` declares, from a cache keyed by its text.
fn manifest(path: &Path) -> Option<Rc<Vec<Declared>>> {
    thread_local! {
        static PARSED: RefCell<HashMap<u64, Rc<Vec<Declared>>>> = RefCell::new(HashMap::new());
    }
    let text = std::fs::read_to_string(path).ok()?;
    let key = content_key(&text);
    let parsed = PARSED.with(|parsed| {
        parsed
            .borrow_mut()
            .entry(key)
            .or_insert_with(|| Rc::new(declared_targets(&text)))
            .clone()
    });
    Some(parsed)
}

// ---- the skeleton of a file: names and scopes, no tokens -------------------------------

/// What a name in the value namespace is defined as, in one scope.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Def {
    /// A function that is certainly not a task.
    Plain,
    /// A task, an import, a constant, a function whose attributes may make it a task…:
    /// not something to flag.
    Other,
}

/// The items of a module or a block, as names.
#[derive(Default)]
struct Items {
    /// What the items define themselves.
    defs: Vec<(String, Def)>,
    /// Explicit imports: the full path (`["super", "plain"]`) and the name it is known
    /// by here.
    imports: Vec<(Vec<String>, String)>,
    /// The paths of glob imports (`["super"]` for `use super::*`).
    globs: Vec<Vec<String>>,
    /// An item macro that may define names.
    macros: bool,
    /// The modules declared here.
    mods: Vec<ModDecl>,
}

/// `mod name;` or `mod name { … }`.
struct ModDecl {
    name: String,
    /// Without `#[path]` or an attribute macro: its file is where cargo's layout says.
    plain: bool,
    /// An inline module's items.
    inline: Option<Rc<Items>>,
}

/// The items of each inline module of a file, by the module's syntax node: made once,
/// for the scope around the module, and shared with the module's own scope (made again
/// for it, modules nested `n` deep cost `n²`).
type Inline = HashMap<*const syn::ItemMod, Rc<Items>>;

// How many `Items` this thread has made: a test counts the work of a scan with it.
#[cfg(test)]
thread_local! {
    static ITEMS_MADE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl Items {
    fn new<'a>(items: impl Iterator<Item = &'a syn::Item>, inline: &mut Inline) -> Items {
        #[cfg(test)]
        ITEMS_MADE.with(|made| made.set(made.get() + 1));
        let mut out = Items::default();
        for item in items {
            let mut other = |ident: &syn::Ident| out.defs.push((ident.to_string(), Def::Other));
            match item {
                syn::Item::Fn(f) => {
                    // Only attributes that cannot make a task leave the function settled:
                    // `#[cfg_attr(all(), delayed)]` is a task, an attribute macro may be one.
                    let def = if f.attrs.iter().all(is_inert) {
                        Def::Plain
                    } else {
                        Def::Other
                    };
                    out.defs.push((f.sig.ident.to_string(), def));
                }
                syn::Item::Const(c) => other(&c.ident),
                syn::Item::Static(s) => other(&s.ident),
                syn::Item::Struct(s) => other(&s.ident),
                syn::Item::Mod(m) => {
                    other(&m.ident);
                    out.mods.push(ModDecl {
                        name: m.ident.to_string(),
                        plain: m
                            .attrs
                            .iter()
                            .all(|a| is_inert(a) || a.path().is_ident("cfg")),
                        inline: m
                            .content
                            .as_ref()
                            .map(|(_, items)| Items::inline(m, items, inline)),
                    });
                }
                syn::Item::ExternCrate(e) => other(e.rename.as_ref().map_or(&e.ident, |r| &r.1)),
                syn::Item::ForeignMod(m) => {
                    for item in &m.items {
                        if let syn::ForeignItem::Fn(f) = item {
                            other(&f.sig.ident);
                        }
                    }
                }
                syn::Item::Use(u) => {
                    use_names(&u.tree, &mut Vec::new(), &mut |path, name| {
                        out.imports.push((path, name));
                    });
                    globs_of(&u.tree, &mut Vec::new(), &mut out.globs);
                }
                syn::Item::Macro(m) => out.macros |= may_define_items(&m.mac),
                _ => {}
            }
        }
        out
    }
}

impl Items {
    /// The items of the inline module `m`, whose items are `items`.
    fn inline(m: &syn::ItemMod, items: &[syn::Item], inline: &mut Inline) -> Rc<Items> {
        let key: *const syn::ItemMod = m;
        if let Some(made) = inline.get(&key) {
            return made.clone();
        }
        let made = Rc::new(Items::new(items.iter(), inline));
        inline.insert(key, made.clone());
        made
    }
}

/// A module or a block of the invoking file, with the scopes nested in it and the
/// macro invocations made directly in it.
struct Scope {
    module: bool,
    items: Rc<Items>,
    children: Vec<Scope>,
    /// The macro's name, its squeezed input, whether the items around it are settled
    /// (no attribute macro on an enclosing item), and the local variables bound before
    /// it.
    invocations: Vec<(String, String, bool, Rc<Vec<String>>)>,
}

/// Builds a file's [`Scope`] tree.
#[derive(Default)]
struct Builder {
    stack: Vec<Scope>,
    /// How many enclosing items carry an attribute that may rewrite them.
    unsettled: usize,
    /// The local variables bound so far in the function around the current point: by
    /// `let` before it, or as parameters of the function or of closures around it.
    /// Other bindings (`match` arms, `if let`, `for`) are not followed: a name missed
    /// here only keeps rustc's wording.
    bound: Vec<String>,
    /// The inline modules' items made so far.
    inline: Inline,
}

impl Builder {
    fn open(&mut self, module: bool, items: Rc<Items>) {
        self.stack.push(Scope {
            module,
            items,
            children: Vec::new(),
            invocations: Vec::new(),
        });
    }

    fn close(&mut self) {
        let scope = self.stack.pop().expect("an open scope");
        self.stack
            .last_mut()
            .expect("the file's scope")
            .children
            .push(scope);
    }

    /// Visits an item whose attributes may be macros that rewrite it. The local
    /// variables around an item are not visible inside it.
    fn item(&mut self, attrs: &[syn::Attribute], visit: impl FnOnce(&mut Self)) {
        let unsettled = !attrs
            .iter()
            .all(|a| is_inert(a) || a.path().is_ident("cfg") || a.path().is_ident("test"));
        self.unsettled += usize::from(unsettled);
        let outer = std::mem::take(&mut self.bound);
        visit(self);
        self.bound = outer;
        self.unsettled -= usize::from(unsettled);
    }

    /// Binds the names a pattern binds.
    fn bind(&mut self, pat: &syn::Pat) {
        struct Names<'b>(&'b mut Vec<String>);
        impl Visit<'_> for Names<'_> {
            fn visit_pat_ident(&mut self, p: &syn::PatIdent) {
                self.0.push(p.ident.to_string());
                syn::visit::visit_pat_ident(self, p);
            }
        }
        Names(&mut self.bound).visit_pat(pat);
    }

    /// Binds a function's parameters.
    fn bind_params<'a>(&mut self, inputs: impl Iterator<Item = &'a syn::FnArg>) {
        for input in inputs {
            if let syn::FnArg::Typed(typed) = input {
                self.bind(&typed.pat);
            }
        }
    }
}

impl<'ast> Visit<'ast> for Builder {
    fn visit_file(&mut self, file: &'ast syn::File) {
        let items = Items::new(file.items.iter(), &mut self.inline);
        self.open(true, Rc::new(items));
        syn::visit::visit_file(self, file);
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        let Some((_, items)) = &m.content else {
            return;
        };
        self.item(&m.attrs, |b| {
            let items = Items::inline(m, items, &mut b.inline);
            b.open(true, items);
            syn::visit::visit_item_mod(b, m);
            b.close();
        });
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.item(&f.attrs, |b| {
            b.bind_params(f.sig.inputs.iter());
            syn::visit::visit_item_fn(b, f);
        });
    }

    fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
        self.item(&i.attrs, |b| syn::visit::visit_item_impl(b, i));
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.item(&f.attrs, |b| {
            b.bind_params(f.sig.inputs.iter());
            syn::visit::visit_impl_item_fn(b, f);
        });
    }

    fn visit_item_trait(&mut self, t: &'ast syn::ItemTrait) {
        self.item(&t.attrs, |b| syn::visit::visit_item_trait(b, t));
    }

    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        self.item(&f.attrs, |b| {
            b.bind_params(f.sig.inputs.iter());
            syn::visit::visit_trait_item_fn(b, f);
        });
    }

    fn visit_expr_closure(&mut self, c: &'ast syn::ExprClosure) {
        let len = self.bound.len();
        for input in &c.inputs {
            self.bind(input);
        }
        syn::visit::visit_expr_closure(self, c);
        self.bound.truncate(len);
    }

    fn visit_local(&mut self, local: &'ast syn::Local) {
        // The value first: a `let` binds its names after it.
        if let Some(init) = &local.init {
            self.visit_local_init(init);
        }
        self.bind(&local.pat);
    }

    fn visit_block(&mut self, block: &'ast syn::Block) {
        let items = block.stmts.iter().filter_map(|s| match s {
            syn::Stmt::Item(item) => Some(item),
            _ => None,
        });
        let mut items = Items::new(items, &mut self.inline);
        items.macros |= block.stmts.iter().any(|s| match s {
            syn::Stmt::Macro(m) => may_define_items(&m.mac),
            _ => false,
        });
        self.open(false, Rc::new(items));
        let len = self.bound.len();
        syn::visit::visit_block(self, block);
        self.bound.truncate(len);
        self.close();
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        // Only the macros [`names_at`] is asked about: each one recorded copies the local
        // variables bound before it, and a long function of `let`s and `assert!`s made
        // that quadratic.
        let last = mac.path.segments.last();
        if let Some(last) = last.filter(|s| s.ident == "graph" || s.ident == "delay") {
            let invocation = (
                last.ident.to_string(),
                squeeze(&mac.tokens.to_string()),
                self.unsettled == 0,
                Rc::new(self.bound.clone()),
            );
            let scope = self.stack.last_mut().expect("the file's scope");
            scope.invocations.push(invocation);
        }
        syn::visit::visit_macro(self, mac);
    }
}

/// Calls `found(path, name)` for each name a `use` brings in: the full path (`["super",
/// "plain"]`) and the name it is known by here. Globs bring in nothing here.
fn use_names(
    tree: &syn::UseTree,
    prefix: &mut Vec<String>,
    found: &mut impl FnMut(Vec<String>, String),
) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_names(&p.tree, prefix, found);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            let mut path = prefix.clone();
            path.push(name.clone());
            found(path, name);
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            path.push(r.ident.to_string());
            found(path, r.rename.to_string());
        }
        syn::UseTree::Glob(_) => {}
        syn::UseTree::Group(g) => {
            for tree in &g.items {
                use_names(tree, prefix, found);
            }
        }
    }
}

/// The paths of the globs in a `use` tree (`["super"]` for `use super::*`).
fn globs_of(tree: &syn::UseTree, prefix: &mut Vec<String>, globs: &mut Vec<Vec<String>>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            globs_of(&p.tree, prefix, globs);
            prefix.pop();
        }
        syn::UseTree::Glob(_) => globs.push(prefix.clone()),
        syn::UseTree::Group(g) => {
            for tree in &g.items {
                globs_of(tree, prefix, globs);
            }
        }
        syn::UseTree::Name(_) | syn::UseTree::Rename(_) => {}
    }
}

/// Whether a macro in statement or item position may define items: any but the
/// standard library's expression macros and taskweave's own.
fn may_define_items(mac: &syn::Macro) -> bool {
    const EXPRESSIONS: &[&str] = &[
        "assert",
        "assert_eq",
        "assert_ne",
        "debug_assert",
        "debug_assert_eq",
        "debug_assert_ne",
        "print",
        "println",
        "eprint",
        "eprintln",
        "write",
        "writeln",
        "format",
        "panic",
        "todo",
        "unimplemented",
        "unreachable",
        "dbg",
        "vec",
        "matches",
        "graph",
        "delay",
        "macro_rules",
    ];
    !mac.path
        .segments
        .last()
        .is_some_and(|s| EXPRESSIONS.iter().any(|name| s.ident == name))
}

// ---- where the invoking file sits in its crate -----------------------------------------

/// The target cargo is compiling, from the variables it sets for rustc.
struct Target {
    /// The package's folder.
    manifest_dir: PathBuf,
    package: String,
    /// The crate's name (`-` made `_`).
    crate_name: String,
    /// A binary's or an example's name; `None` for a library, test or bench.
    bin: Option<String>,
}

impl Target {
    fn from_env() -> Option<Target> {
        let var = |name: &str| std::env::var(name).ok();
        Some(Target {
            manifest_dir: PathBuf::from(var("CARGO_MANIFEST_DIR")?),
            package: var("CARGO_PKG_NAME")?,
            crate_name: var("CARGO_CRATE_NAME")?,
            bin: var("CARGO_BIN_NAME"),
        })
    }

    /// The crate root of this target, when exactly one file can be it.
    fn root(&self) -> Option<PathBuf> {
        let dir = self.manifest_dir.canonicalize().ok()?;
        let declared = manifest(&dir.join("Cargo.toml"))?;
        let crate_name = |name: &str| name.replace('-', "_");
        let mut candidates: Vec<PathBuf> = Vec::new();
        let mut add = |path: PathBuf| {
            if let Ok(path) = path.canonicalize() {
                if path.is_file() && !candidates.contains(&path) {
                    candidates.push(path);
                }
            }
        };
        match &self.bin {
            Some(bin) => {
                if *bin == self.package {
                    add(dir.join("src/main.rs"));
                }
                add(dir.join("examples").join(format!("{bin}.rs")));
                add(dir.join("examples").join(bin).join("main.rs"));
                add(dir.join("src/bin").join(format!("{bin}.rs")));
                add(dir.join("src/bin").join(bin).join("main.rs"));
                for t in declared.iter() {
                    if matches!(t.kind, Kind::Bin | Kind::Example) && t.name.as_ref() == Some(bin) {
                        if let Some(path) = &t.path {
                            add(dir.join(path));
                        }
                    }
                }
            }
            None => {
                let lib = declared.iter().find(|t| t.kind == Kind::Lib);
                let lib_name = lib
                    .and_then(|t| t.name.clone())
                    .unwrap_or_else(|| self.package.clone());
                if crate_name(&lib_name) == self.crate_name {
                    match lib.and_then(|t| t.path.as_ref()) {
                        Some(path) => add(dir.join(path)),
                        None => add(dir.join("src/lib.rs")),
                    }
                }
                for folder in ["tests", "benches"] {
                    for entry in std::fs::read_dir(dir.join(folder)).into_iter().flatten() {
                        let Ok(entry) = entry else { continue };
                        let path = entry.path();
                        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
                        if crate_name(stem) != self.crate_name {
                            continue;
                        }
                        if path.extension().is_some_and(|e| e == "rs") {
                            add(path);
                        } else if path.is_dir() {
                            add(path.join("main.rs"));
                        }
                    }
                }
                for t in declared.iter() {
                    let named = t.name.as_deref().map(crate_name) == Some(self.crate_name.clone());
                    if matches!(t.kind, Kind::Test | Kind::Bench) && named {
                        if let Some(path) = &t.path {
                            add(dir.join(path));
                        }
                    }
                }
            }
        }
        match candidates.as_slice() {
            [root] => Some(root.clone()),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Lib,
    Bin,
    Example,
    Test,
    Bench,
}

/// A target table of a `Cargo.toml`: `[lib]`, `[[bin]]`, `[[example]]`, `[[test]]`,
/// `[[bench]]`, with its `name` and `path` when given.
#[derive(Debug)]
struct Declared {
    kind: Kind,
    name: Option<String>,
    path: Option<String>,
}

/// The target tables of a manifest, read line by line (`key = "value"` is how cargo
/// and trybuild write them; a table written otherwise is missed, and a missed root
/// only means nothing is flagged).
fn declared_targets(text: &str) -> Vec<Declared> {
    let mut targets: Vec<Declared> = Vec::new();
    let mut open = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            let kind = match line {
                "[lib]" => Some(Kind::Lib),
                "[[bin]]" => Some(Kind::Bin),
                "[[example]]" => Some(Kind::Example),
                "[[test]]" => Some(Kind::Test),
                "[[bench]]" => Some(Kind::Bench),
                _ => None,
            };
            open = kind.is_some();
            if let Some(kind) = kind {
                targets.push(Declared {
                    kind,
                    name: None,
                    path: None,
                });
            }
            continue;
        }
        let (Some(target), Some((key, value))) = (targets.last_mut(), line.split_once('=')) else {
            continue;
        };
        if !open {
            continue;
        }
        let value = value.trim();
        let Some(value) = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .filter(|v| !v.contains('\\'))
        else {
            continue;
        };
        match key.trim() {
            "name" => target.name = Some(value.to_owned()),
            "path" => target.path = Some(value.to_owned()),
            _ => {}
        }
    }
    targets
}

/// The folder where a module file's `mod name;` declarations find their files: its own
/// for a crate root or a `mod.rs`, the one named after it for another module file.
fn child_dir(file: &Path, is_root: bool) -> Option<PathBuf> {
    let parent = file.parent()?;
    if is_root || file.file_name().is_some_and(|n| n == "mod.rs") {
        Some(parent.to_path_buf())
    } else {
        Some(parent.join(file.file_stem()?))
    }
}

/// The module `name` declared in `items`, whose module file's `mod` declarations look in
/// `dir`: its items and the folder its own declarations look in. `None` unless certain
/// (one declaration, no `#[path]`, exactly one of `name.rs` and `name/mod.rs`).
fn child_module(items: &Items, dir: &Path, name: &str) -> Option<(Rc<Items>, PathBuf, PathBuf)> {
    let mut declared = items.mods.iter().filter(|m| m.name == name);
    let (Some(module), None) = (declared.next(), declared.next()) else {
        return None;
    };
    if !module.plain {
        return None;
    }
    if let Some(inline) = &module.inline {
        return Some((inline.clone(), dir.join(name), dir.join(name)));
    }
    let files = [
        dir.join(format!("{name}.rs")),
        dir.join(name).join("mod.rs"),
    ];
    let mut existing = files.into_iter().filter(|f| f.is_file());
    let (Some(file), None) = (existing.next(), existing.next()) else {
        return None;
    };
    let file = file.canonicalize().ok()?;
    let items = skeleton(&file)?.items.clone();
    let child = child_dir(&file, false)?;
    Some((items, child, file))
}

/// Follows `use` paths into the crate's other files where the path is certain: from the
/// crate root for `crate::…`, from the invoking file's top module for relative paths.
struct Paths {
    /// The invoking file's top-level items, and the folder its `mod` declarations use.
    here: (Rc<Items>, PathBuf),
    /// The crate root's items and folder.
    root: (Rc<Items>, PathBuf),
}

impl Paths {
    /// Where `file` sits in the crate `target` compiles; `None` unless it is the crate
    /// root or a module file reached from it through `mod name;` declarations.
    fn new(file: &Path, target: &Target) -> Option<Paths> {
        let manifest_dir = target.manifest_dir.canonicalize().ok()?;
        if file.starts_with(manifest_dir.join("src").join("bin")) {
            return None;
        }
        let root_file = target.root()?;
        let root_dir = root_file.parent()?.to_path_buf();
        let root = (skeleton(&root_file)?.items.clone(), root_dir.clone());
        if file == root_file {
            return Some(Paths {
                here: root.clone(),
                root,
            });
        }
        // `src/a/b.rs` and `src/a/b/mod.rs` are both `crate::a::b`: walk there.
        let relative = file.strip_prefix(&root_dir).ok()?;
        let mut segments: Vec<String> = relative
            .parent()?
            .components()
            .map(|c| c.as_os_str().to_str().map(str::to_owned))
            .collect::<Option<_>>()?;
        if file.file_name()? != "mod.rs" {
            segments.push(file.file_stem()?.to_str()?.to_owned());
        }
        let (mut items, mut dir) = (root.0.clone(), root.1.clone());
        let mut reached = None;
        for segment in &segments {
            let (next, next_dir, module_file) = child_module(&items, &dir, segment)?;
            (items, dir, reached) = (next, next_dir, Some(module_file));
        }
        (reached.as_deref() == Some(file)).then_some(Paths {
            here: (items, dir),
            root,
        })
    }

    /// The names of the module at `path` (`crate::a::b`, `self::a`, `a::b`), when certain;
    /// relative paths only from the invoking file's top module (`top`).
    fn module(&self, path: &[String], top: bool) -> Option<ModuleNames> {
        let ((items, dir), rest) = match path.first().map(String::as_str) {
            Some("crate") => (&self.root, &path[1..]),
            Some("self") if top => (&self.here, &path[1..]),
            Some(_) if top => (&self.here, path),
            _ => return None,
        };
        let (mut items, mut dir) = (items.clone(), dir.clone());
        for segment in rest {
            (items, dir, _) = child_module(&items, &dir, segment)?;
        }
        let cx = Context {
            parent: None,
            paths: None,
            top: false,
        };
        let frame = Frame::new(&items, true, &cx);
        Some(ModuleNames {
            names: frame.names,
            opaque: frame.opaque || !frame.globs.is_empty(),
        })
    }
}

// ---- the names in scope at an invocation ------------------------------------------------

/// The names a module defines itself (what `use super::*` brings into its children).
#[derive(Default)]
struct ModuleNames {
    names: HashMap<String, Def>,
    /// It has glob imports or item macros: names it does not show may exist.
    opaque: bool,
}

/// One scope on the way to an invocation: a module's or a block's items.
struct Frame {
    names: HashMap<String, Def>,
    /// A module: the scopes outside it are not visible inside.
    module: bool,
    /// Glob imports this file or [`Paths`] can see through (`use super::*`,
    /// `use crate::helpers::*`): their modules' names, below the explicit ones.
    globs: Vec<Rc<ModuleNames>>,
    /// Another glob import, or an item macro: any name may be defined here (shadowing
    /// the scopes outside, but not the explicit items beside it).
    opaque: bool,
}

/// What one scope says about a name.
enum Seen {
    Def(Def),
    /// Maybe defined here, by a glob or a macro.
    Unknown,
    /// Not defined here: look further out.
    Absent,
}

/// How to follow a `use` path from one scope: its parent module (for `super`), and
/// whether paths relative to the invoking file's top module may be followed.
struct Context<'a> {
    parent: Option<&'a Rc<ModuleNames>>,
    paths: Option<&'a Paths>,
    top: bool,
}

impl Context<'_> {
    /// The names of the module at `path` (a glob's), when certain.
    fn module(&self, path: &[String]) -> Option<Rc<ModuleNames>> {
        // taskweave's prelude defines no function a user's plain one could be confused
        // with: a name both it and another glob bring in is ambiguous to rustc anyway.
        if path == ["taskweave", "prelude"] {
            return Some(Rc::new(ModuleNames::default()));
        }
        match path.first().map(String::as_str) {
            Some("super") if path.len() == 1 => self.parent.cloned(),
            Some("super") => None,
            _ => self.paths?.module(path, self.top).map(Rc::new),
        }
    }

    /// What the item at `path` (an explicit import's) is, when certain.
    fn item(&self, path: &[String]) -> Def {
        let Some((name, module)) = path.split_last() else {
            return Def::Other;
        };
        match module {
            [first] if first == "super" => self
                .parent
                .and_then(|p| p.names.get(name).copied())
                .unwrap_or(Def::Other),
            [] => Def::Other,
            [first, ..] if first == "super" => Def::Other,
            module => self
                .paths
                .and_then(|paths| paths.module(module, self.top))
                .and_then(|m| m.names.get(name).copied())
                .unwrap_or(Def::Other),
        }
    }
}

impl Frame {
    /// The scope of `items`.
    fn new(items: &Items, module: bool, cx: &Context<'_>) -> Frame {
        let mut globs = Vec::new();
        let mut opaque = items.macros;
        for path in &items.globs {
            match cx.module(path) {
                Some(names) => globs.push(names),
                None => opaque = true,
            }
        }
        Frame {
            names: names(items, cx),
            module,
            globs,
            opaque,
        }
    }

    fn seen(&self, name: &str) -> Seen {
        if let Some(def) = self.names.get(name) {
            return Seen::Def(*def);
        }
        if self.opaque {
            return Seen::Unknown;
        }
        let mut found = None;
        for glob in &self.globs {
            match (glob.names.get(name), found) {
                (Some(def), None) => found = Some(*def),
                // Two globs that disagree: rustc calls it ambiguous; no flag.
                (Some(def), Some(before)) if *def != before => return Seen::Unknown,
                (None, _) if glob.opaque => return Seen::Unknown,
                _ => {}
            }
        }
        found.map_or(Seen::Absent, Seen::Def)
    }

    /// The names this scope may define as plain functions.
    fn plain_names(&self) -> impl Iterator<Item = &String> {
        let globs = self.globs.iter().flat_map(|g| g.names.iter());
        self.names
            .iter()
            .chain(globs)
            .filter(|(_, def)| **def == Def::Plain)
            .map(|(name, _)| name)
    }
}

/// The value-namespace names `items` define; `cx` follows their imports.
fn names(items: &Items, cx: &Context<'_>) -> HashMap<String, Def> {
    let mut names = HashMap::new();
    let mut plain = Vec::new();
    let imports = items
        .imports
        .iter()
        .map(|(path, name)| (name, cx.item(path)));
    for (name, def) in items.defs.iter().map(|(n, d)| (n, *d)).chain(imports) {
        if def == Def::Plain {
            plain.push(name.clone());
        } else {
            names.insert(name.clone(), def);
        }
    }
    // A name defined twice in one scope does not compile anyway: no flag for it.
    for name in plain {
        names.entry(name).or_insert(Def::Plain);
    }
    names
}

struct Finder<'n> {
    name: &'n str,
    key: &'n str,
    paths: &'n Paths,
    frames: Vec<Frame>,
    /// The modules around the current point, outermost first: what `super` means.
    modules: Vec<Rc<ModuleNames>>,
    /// What is in scope at the invocation looked for.
    found: Option<InScope>,
    /// The invocation was met twice, with different names in scope.
    ambiguous: bool,
}

impl Finder<'_> {
    /// Visits `scope` and the scopes nested in it, noting the invocation looked for.
    fn scope(&mut self, scope: &Scope) {
        if scope.module {
            self.enter_module(&scope.items);
        } else {
            // `super` in a block is the parent of the module the block is in.
            let parent = self.modules.len().checked_sub(2).map(|i| &self.modules[i]);
            let top = self.modules.len() == 1;
            let cx = self.context(parent, top);
            let frame = Frame::new(&scope.items, false, &cx);
            self.frames.push(frame);
        }
        for (name, key, settled, bound) in &scope.invocations {
            if name == self.name && key == self.key {
                let mut found = if *settled {
                    InScope {
                        plain: self.plain_in_scope(),
                        user_drop: self.defined("drop") || bound.iter().any(|b| b == "drop"),
                        locals: bound.iter().cloned().collect(),
                    }
                } else {
                    InScope::default()
                };
                if let Some(before) = &self.found {
                    if before.plain != found.plain || before.user_drop != found.user_drop {
                        self.ambiguous = true;
                    }
                    // Met twice: a name bound at both is a local variable at this one.
                    found.locals.retain(|name| before.locals.contains(name));
                }
                self.found = Some(found);
            }
        }
        for child in &scope.children {
            self.scope(child);
        }
        self.frames.pop();
        if scope.module {
            self.modules.pop();
        }
    }

    /// The scopes whose names are visible here, innermost first: out to the innermost
    /// module (the ones outside it are not seen from inside).
    fn visible(&self) -> Vec<&Frame> {
        let mut scopes = Vec::new();
        for frame in self.frames.iter().rev() {
            scopes.push(frame);
            if frame.module {
                break;
            }
        }
        scopes
    }

    /// Whether a scope visible here certainly defines or imports `name`: the nearest
    /// one that may is certain of it (not a glob the scan cannot follow, nor a macro).
    fn defined(&self, name: &str) -> bool {
        self.visible()
            .iter()
            .map(|frame| frame.seen(name))
            .find(|seen| !matches!(seen, Seen::Absent))
            .is_some_and(|seen| matches!(seen, Seen::Def(_)))
    }

    /// The plain functions visible here: the names whose nearest definition, from the
    /// innermost scope out to the innermost module, is a plain function.
    fn plain_in_scope(&self) -> HashSet<String> {
        let scopes = self.visible();
        let candidates: HashSet<&String> = scopes.iter().flat_map(|f| f.plain_names()).collect();
        candidates
            .into_iter()
            .filter(|name| {
                for frame in &scopes {
                    match frame.seen(name) {
                        Seen::Def(def) => return def == Def::Plain,
                        Seen::Unknown => return false,
                        Seen::Absent => {}
                    }
                }
                false
            })
            .cloned()
            .collect()
    }

    /// How to follow imports in a scope whose `super` is `parent`, in the invoking
    /// file's top module or not (`top`).
    fn context<'a>(&'a self, parent: Option<&'a Rc<ModuleNames>>, top: bool) -> Context<'a> {
        Context {
            parent,
            paths: Some(self.paths),
            top,
        }
    }

    fn enter_module(&mut self, items: &Items) {
        // The file's own items are its top module; an inline module is another one,
        // whose relative paths are not followed.
        let top = self.modules.is_empty();
        let cx = self.context(self.modules.last(), top);
        let frame = Frame::new(items, true, &cx);
        let mut names = ModuleNames {
            names: frame.names.clone(),
            opaque: frame.opaque || frame.globs.iter().any(|g| g.opaque),
        };
        // A name a glob brings in is the module's too, for its children's `super::*`.
        for glob in &frame.globs {
            for (name, def) in &glob.names {
                names.names.entry(name.clone()).or_insert(*def);
            }
        }
        self.modules.push(Rc::new(names));
        self.frames.push(frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `files` (path, text) under a fresh folder; returns the folder.
    fn tree(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("taskweave-scope-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (path, text) in files {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        root.canonicalize().unwrap()
    }

    const MANIFEST: (&str, &str) = ("Cargo.toml", "[package]\nname = \"demo\"\n");

    /// The library target of the package in `dir`.
    fn lib(dir: &Path) -> Target {
        Target {
            manifest_dir: dir.to_path_buf(),
            package: "demo".to_owned(),
            crate_name: "demo".to_owned(),
            bin: None,
        }
    }

    /// The binary or example `name` of the package in `dir`.
    fn bin(dir: &Path, name: &str) -> Target {
        Target {
            bin: Some(name.to_owned()),
            crate_name: name.replace('-', "_"),
            ..lib(dir)
        }
    }

    /// The plain functions flagged at the one `graph!` of `file`, compiled in `target`.
    fn flagged(file: &Path, target: &Target) -> Vec<String> {
        let scope = skeleton(file).expect("a file that parses");
        let mut keys = Vec::new();
        fn collect(scope: &Scope, keys: &mut Vec<String>) {
            for (name, key, _, _) in &scope.invocations {
                if name == "graph" {
                    keys.push(key.clone());
                }
            }
            for child in &scope.children {
                collect(child, keys);
            }
        }
        collect(&scope, &mut keys);
        assert_eq!(keys.len(), 1, "one graph! in {}", file.display());
        let mut names: Vec<String> = plain_fns_in(file, target, "graph", &keys[0])
            .into_iter()
            .collect();
        names.sort();
        names
    }

    #[test]
    fn local_variables_bound_before_an_invocation() {
        let root = tree(
            "locals",
            &[
                MANIFEST,
                (
                    "src/lib.rs",
                    "fn run(n: u64) {\n    let h = |x: u64| x + n;\n    let _ = delay!(inc(h(1)));\n    let later = 1;\n    let g = |y: u64| y;\n    {\n        let inner = 2;\n    }\n}\nfn other() { let _ = delay!(inc(h(2))); }\n",
                ),
            ],
        );
        let file = root.join("src/lib.rs");
        let locals = |key: &str| {
            let mut names: Vec<String> = names_in(&file, &lib(&root), "delay", key)
                .locals
                .into_iter()
                .collect();
            names.sort();
            names
        };
        // Parameters and earlier `let`s; not the later ones, nor another function's.
        assert_eq!(locals("inc(h(1))"), ["h", "n"]);
        assert!(locals("inc(h(2))").is_empty());
    }

    #[test]
    fn whether_a_bare_drop_is_the_users() {
        let root = tree(
            "drop",
            &[
                MANIFEST,
                (
                    "src/lib.rs",
                    "mod tasks { #[delayed] pub fn drop(v: i64) -> i64 { v } }\n\
                     fn a() { let _ = graph!(|x: i64| drop(x)); }\n\
                     mod b { use super::tasks::drop; fn b() { let _ = graph!(|x: i64| drop(x + 1)); } }\n\
                     mod c { #[delayed] fn drop(v: i64) -> i64 { v } fn c() { let _ = graph!(|x: i64| drop(x + 2)); } }\n\
                     mod d { use std::collections::*; fn d() { let _ = graph!(|x: i64| drop(x + 3)); } }\n\
                     fn e(drop: fn(i64)) { let _ = graph!(|x: i64| drop(x + 4)); }\n",
                ),
            ],
        );
        let file = root.join("src/lib.rs");
        let user = |key: &str| names_in(&file, &lib(&root), "graph", key).user_drop;
        // Nothing around defines one (`tasks::drop` is inside its own module).
        assert!(!user("|x:i64|drop(x)"));
        // Imported, defined beside, a parameter.
        assert!(user("|x:i64|drop(x+1)"));
        assert!(user("|x:i64|drop(x+2)"));
        assert!(user("|x:i64|drop(x+4)"));
        // Maybe brought in by a glob: not settled, the prelude's assumed.
        assert!(!user("|x:i64|drop(x+3)"));
    }

    #[test]
    fn follows_crate_paths_and_module_files() {
        let root = tree(
            "crate",
            &[
                MANIFEST,
                ("src/lib.rs", "mod util;\nmod pipeline;\n"),
                ("src/util.rs", "pub fn plain(x: i64) -> i64 { x }\n#[delayed]\npub fn task(x: i64) -> i64 { x }\n"),
                (
                    "src/pipeline.rs",
                    "use crate::util::{plain, task};\nfn run() { let _ = graph!(|x: i64| task(plain(x))); }\n",
                ),
            ],
        );
        // `run`, a plain fn of the module, is in scope too.
        assert_eq!(
            flagged(&root.join("src/pipeline.rs"), &lib(&root)),
            ["plain", "run"]
        );
    }

    #[test]
    fn an_inline_module_does_not_see_the_file_top_modules() {
        // `helpers` inside `inner` is its own module: the top-level `mod helpers;` file
        // must not be read for it.
        let root = tree(
            "inline",
            &[
                MANIFEST,
                (
                    "src/lib.rs",
                    "mod helpers;\nmod inner {\n    mod helpers { #[delayed] pub fn step(x: i64) -> i64 { x } }\n    use helpers::step;\n    fn run() { let _ = graph!(|x: i64| step(x)); }\n}\n",
                ),
                ("src/helpers.rs", "pub fn step(x: i64) -> i64 { x }\n"),
            ],
        );
        assert!(!flagged(&root.join("src/lib.rs"), &lib(&root)).contains(&"step".to_owned()));
    }

    #[test]
    fn unfollowable_globs_and_inner_tasks_are_never_flagged() {
        let root = tree(
            "globs",
            &[
                MANIFEST,
                (
                    "src/lib.rs",
                    "use other_crate::*;\nmod a { pub fn only_from_glob(x: i64) -> i64 { x } }\nuse a::*;\nfn shadowed(x: i64) -> i64 { x }\nfn run() {\n    #[delayed]\n    fn shadowed(x: i64) -> i64 { x }\n    let _ = graph!(|x: i64| shadowed(only_from_glob(x)));\n}\n",
                ),
            ],
        );
        // `only_from_glob` comes through a glob next to one that cannot be followed;
        // `shadowed` is a task in the block around the graph.
        assert_eq!(flagged(&root.join("src/lib.rs"), &lib(&root)), ["run"]);
    }

    #[test]
    fn attributes_that_may_make_a_task_are_never_flagged() {
        let root = tree(
            "attrs",
            &[
                MANIFEST,
                (
                    "src/lib.rs",
                    "#[cfg_attr(all(), delayed)]\nfn double(x: i64) -> i64 { x * 2 }\n#[cfg(all())]\nfn gated(x: i64) -> i64 { x }\n#[some::macro_attr]\nfn rewritten(x: i64) -> i64 { x }\n/// Documented.\n#[inline]\n#[allow(dead_code)]\nfn plain(x: i64) -> i64 { x }\nfn run() { let _ = graph!(|x: i64| plain(rewritten(gated(double(x))))); }\n",
                ),
            ],
        );
        assert_eq!(
            flagged(&root.join("src/lib.rs"), &lib(&root)),
            ["plain", "run"]
        );
    }

    #[test]
    fn nothing_inside_an_item_with_an_attribute_macro() {
        let root = tree(
            "attr-macro",
            &[
                MANIFEST,
                (
                    "src/lib.rs",
                    "fn plain(x: i64) -> i64 { x }\n#[tasks::all]\nmod m {\n    fn run() { let _ = graph!(|x: i64| plain(x)); }\n}\n",
                ),
            ],
        );
        assert!(flagged(&root.join("src/lib.rs"), &lib(&root)).is_empty());
    }

    #[test]
    fn a_binary_under_src_bin_is_left_alone() {
        // The layout: `crate::util` in the binary is its own `util.rs`, not the
        // library's, whose `step` is plain.
        let root = tree(
            "bin",
            &[
                MANIFEST,
                ("src/lib.rs", "pub mod util;\n"),
                ("src/util.rs", "pub fn step(x: i64) -> i64 { x }\n"),
                ("src/bin/tool/util.rs", "#[delayed]\npub fn step(x: i64) -> i64 { x }\n"),
                (
                    "src/bin/tool/main.rs",
                    "mod util;\nuse crate::util::step;\nfn plain(x: i64) -> i64 { x }\nfn main() { let _ = graph!(|x: i64| step(step(x))); }\n",
                ),
            ],
        );
        let main = root.join("src/bin/tool/main.rs");
        assert!(flagged(&main, &bin(&root, "tool")).is_empty());
        // Compiled as anything else (a wrong guess of the root), still nothing.
        assert!(flagged(&main, &lib(&root)).is_empty());
    }

    #[test]
    fn the_root_is_the_target_being_compiled() {
        let root = tree(
            "roots",
            &[
                MANIFEST,
                ("src/lib.rs", "pub mod util;\n"),
                ("src/util.rs", "pub fn step(x: i64) -> i64 { x }\n"),
                ("examples/multi/util.rs", "#[delayed]\npub fn step(x: i64) -> i64 { x }\n"),
                (
                    "examples/multi/main.rs",
                    "mod util;\nuse crate::util::step;\nfn main() { let _ = graph!(|x: i64| step(step(x))); }\n",
                ),
                (
                    "examples/single.rs",
                    "fn plain(x: i64) -> i64 { x }\nfn main() { let _ = graph!(|x: i64| plain(x)); }\n",
                ),
            ],
        );
        let multi = root.join("examples/multi/main.rs");
        // As the example `multi`: its own `util::step`, a task.
        assert_eq!(flagged(&multi, &bin(&root, "multi")), ["main"]);
        // As another target, the file is not that target's root: nothing is settled.
        assert!(flagged(&multi, &lib(&root)).is_empty());
        assert!(flagged(&multi, &bin(&root, "single")).is_empty());
        assert_eq!(
            flagged(&root.join("examples/single.rs"), &bin(&root, "single")),
            ["main", "plain"]
        );
    }

    #[test]
    fn a_root_declared_in_the_manifest() {
        // trybuild's layout: each case is a `[[bin]]` with a path outside the package.
        let root = tree(
            "declared",
            &[
                ("pkg/Cargo.toml", ""),
                ("cases/case.rs", "mod support;\nuse support::halve;\nfn main() { let _ = graph!(|x: i64| halve(x)); }\n"),
                ("cases/support/mod.rs", "pub fn halve(x: i64) -> i64 { x / 2 }\n"),
            ],
        );
        let case = root.join("cases/case.rs");
        let manifest = format!(
            "[package]\nname = \"demo\"\n\n[[bin]]\nname = \"case\"\npath = \"{}\"\n",
            case.display()
        );
        std::fs::write(root.join("pkg/Cargo.toml"), manifest).unwrap();
        assert_eq!(
            flagged(&case, &bin(&root.join("pkg"), "case")),
            ["halve", "main"]
        );
    }

    #[test]
    fn path_modules_and_unreached_files_are_left_alone() {
        let root = tree(
            "path",
            &[
                MANIFEST,
                ("src/lib.rs", "#[path = \"other.rs\"]\nmod util;\n"),
                ("src/other.rs", "pub fn step(x: i64) -> i64 { x }\nfn run() { let _ = graph!(|x: i64| step(x)); }\n"),
                ("src/util.rs", "fn step(x: i64) -> i64 { x }\nfn run() { let _ = graph!(|x: i64| step(x)); }\n"),
            ],
        );
        // `other.rs` is reached only by `#[path]`; `util.rs` is not the module `util`.
        assert!(flagged(&root.join("src/other.rs"), &lib(&root)).is_empty());
        assert!(flagged(&root.join("src/util.rs"), &lib(&root)).is_empty());
    }

    #[test]
    fn the_cache_is_keyed_by_content() {
        let root = tree(
            "content",
            &[
                MANIFEST,
                ("src/lib.rs", "fn step(x: i64) -> i64 { x }\nfn run() { let _ = graph!(|x: i64| step(x)); }\n"),
            ],
        );
        let file = root.join("src/lib.rs");
        assert_eq!(flagged(&file, &lib(&root)), ["run", "step"]);
        // The same path, saved with new text (an editor's macro server lives on).
        std::fs::write(
            &file,
            "#[delayed]\nfn step(x: i64) -> i64 { x }\nfn run() { let _ = graph!(|x: i64| step(x)); }\n",
        )
        .unwrap();
        assert_eq!(flagged(&file, &lib(&root)), ["run"]);
    }

    /// Modules nested `n` deep made each module's items again at each level around it
    /// (the items of an inline module are made for the scope around it, with its own
    /// inline modules, and were made anew for its own scope): `n²/2` for `n` levels, 10 s
    /// for 4,000 (found by the scan's fuzzer). Each is made once now.
    #[test]
    fn nested_modules_are_read_once_each() {
        let n = 300;
        let text = format!(
            "{}fn f() {{ let _ = graph!(|x: i64| inc(x)); }}{}",
            "mod a { ".repeat(n),
            " }".repeat(n)
        );
        let (found, made) = crate::on_own_stack(|| {
            let before = ITEMS_MADE.with(std::cell::Cell::get);
            let found = scan_text(&text).expect("scanned");
            (found, ITEMS_MADE.with(std::cell::Cell::get) - before)
        });
        assert_eq!(found.len(), 1);
        // The file, each module, the function's block.
        assert_eq!(made, n + 2);
    }

    /// Every macro invocation was recorded with a copy of the local variables bound
    /// before it, though only `graph!` and `delay!` are ever looked up: a function of
    /// `n` `let`s, each followed by an `assert!`, copied `n²/2` names.
    #[test]
    fn only_the_macros_looked_up_are_recorded() {
        let mut body = String::new();
        for i in 0..50 {
            body += &format!("let a{i} = {i}; assert!(a{i} >= 0); println!(\"{{a{i}}}\"); ");
        }
        let text = format!("fn f() {{ {body} let _ = delay!(inc(a49)); m::graph!(x); }}");
        let found: Vec<String> = scan_text(&text)
            .expect("scanned")
            .into_iter()
            .map(|(invocation, _)| invocation)
            .collect();
        assert_eq!(found, ["delay!(inc(a49))", "graph!(x)"]);
    }

    /// Nested far deeper than `syn` can parse on the macro's stack (about 27 KiB a level
    /// here: 20,000 levels need 540 MiB of its 256 MiB): refused by the lexer's bound,
    /// where the scan overflowed the stack (a crash of rustc, not an error; rustc itself
    /// parses such a file, growing its stack).
    #[test]
    fn a_file_nested_too_deep_for_the_macros_stack_is_not_scanned() {
        let n = 20_000;
        let text = format!(
            "type T = {}i64{};\nfn f() {{ let _ = graph!(|x: i64| inc(x)); }}",
            "<".repeat(n),
            " as A>::B".repeat(n)
        );
        assert!(crate::on_own_stack(|| scan_text(&text)).is_none());
        // Just below the bound, a shape as costly a level is scanned, on the same stack.
        let n = crate::lexable::MAX_DEPTH - 100;
        let text = format!(
            "type T = {}i64;\nfn f() {{ let _ = graph!(|x: i64| inc(x)); }}",
            "&".repeat(n)
        );
        assert_eq!(
            crate::on_own_stack(|| scan_text(&text)).map(|f| f.len()),
            Some(1)
        );
    }

    /// A file rustc's lexer reports something in (here `0b0e5`, a binary float) is not
    /// scanned: inside the macro, rustc's lexer reported it again, at the invocation
    /// (`for_over_range_with_invalid_integer_suffix` in tests/ui showed it twice).
    #[test]
    fn a_file_rustc_reports_a_lexer_error_in_is_not_scanned() {
        let good = "fn f() { let _ = graph!(|x: i64| { for i in 0..4 {} inc(x) }); }";
        assert_eq!(scan_text(good).map(|f| f.len()), Some(1));
        let bad = good.replace("0..4", "0b0e5..4");
        assert!(scan_text(&bad).is_none());
    }

    #[test]
    fn manifest_targets() {
        let targets = declared_targets(
            "[package]\nname = \"x\"\npath = \"no\"\n[lib]\nname = \"core_x\"\n[[bin]]\nname = \"a\"\npath = \"/abs/a.rs\"\n[dependencies]\npath = \"no\"\n",
        );
        assert_eq!(targets.len(), 2);
        assert_eq!(
            (
                targets[0].kind,
                targets[0].name.as_deref(),
                targets[0].path.as_deref()
            ),
            (Kind::Lib, Some("core_x"), None)
        );
        assert_eq!(
            (
                targets[1].kind,
                targets[1].name.as_deref(),
                targets[1].path.as_deref()
            ),
            (Kind::Bin, Some("a"), Some("/abs/a.rs"))
        );
    }
}
