//! The plain (not `#[delayed]`) functions in scope where a macro is invoked, read from
//! its source file.
//!
//! `graph!` and `delay!` reach a task through its companion type (`plain::__arg0`), so a
//! node passed to a plain function would otherwise fail with rustc's "cannot find module
//! or crate `plain`", which does not say what to do. A proc macro cannot ask rustc what
//! a name resolves to, but it can read the file it is invoked in (`Span::local_file`,
//! Rust 1.88): when the nearest definition of the name around the invocation, within
//! its module, is a function without `#[delayed]`, the call gets the teaching error.
//! Anything the file does not settle (imports, globs, macro-generated code, a file that
//! cannot be read or parsed) is left to rustc, as before: this only ever adds a message
//! where the name certainly means a plain function.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// The names of plain functions in scope at this invocation of the macro `name`, whose
/// input is `input`. Empty outside a proc macro, or when the file does not settle it.
pub(crate) fn plain_fns_at(name: &str, input: &proc_macro::TokenStream) -> HashSet<String> {
    if !proc_macro::is_available() {
        return HashSet::new();
    }
    let Some(file) = proc_macro::Span::call_site().local_file() else {
        return HashSet::new();
    };
    let key = squeeze(&input.to_string());
    // One parse per file and macro for the whole build of a crate: every invocation in
    // the file is summarised at once, as plain strings (no token may outlive the
    // invocation that made it).
    thread_local! {
        static FILES: RefCell<HashMap<(PathBuf, String), Summary>> = RefCell::new(HashMap::new());
    }
    FILES.with(|files| {
        let mut files = files.borrow_mut();
        let found = files
            .entry((file.clone(), name.to_owned()))
            .or_insert_with(|| summarise(&file, name));
        found.get(&key).cloned().unwrap_or_default()
    })
}

/// For each invocation of a macro in a file: its squeezed input, and the plain functions
/// in scope there.
type Summary = HashMap<String, HashSet<String>>;

/// The [`Summary`] of the invocations of `name!` in `file`. An input met twice in
/// different scopes is left out.
fn summarise(file: &Path, name: &str) -> Summary {
    let Ok(source) = std::fs::read_to_string(file) else {
        return HashMap::new();
    };
    let Ok(parsed) = syn::parse_file(&source) else {
        return HashMap::new();
    };
    let mut finder = Finder {
        name,
        frames: vec![Frame::module(&parsed.items)],
        found: HashMap::new(),
        ambiguous: HashSet::new(),
    };
    finder.visit_file(&parsed);
    let mut found = finder.found;
    for key in finder.ambiguous {
        found.remove(&key);
    }
    found
}

/// Source text without whitespace: how an invocation found in the file is matched to
/// the one being expanded (both printed by rustc, spacing aside).
fn squeeze(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// What a name in the value namespace is defined as, in one scope.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Def {
    /// A function without `#[delayed]`.
    Plain,
    /// A task, an import, a constant…: not something to flag.
    Other,
}

/// One scope on the way to an invocation: a module's or a block's items.
struct Frame {
    names: HashMap<String, Def>,
    /// A module: the scopes outside it are not visible inside.
    module: bool,
    /// A glob import or an item macro may define any name here (shadowing the scopes
    /// outside, but not the explicit items beside it).
    opaque: bool,
}

impl Frame {
    fn module(items: &[syn::Item]) -> Frame {
        Frame {
            names: names(items.iter()),
            module: true,
            opaque: items.iter().any(is_opaque),
        }
    }

    fn block(block: &syn::Block) -> Frame {
        let items: Vec<&syn::Item> = block
            .stmts
            .iter()
            .filter_map(|s| match s {
                syn::Stmt::Item(item) => Some(item),
                _ => None,
            })
            .collect();
        let item_macro = block.stmts.iter().any(|s| match s {
            syn::Stmt::Macro(m) => may_define_items(&m.mac),
            _ => false,
        });
        Frame {
            names: names(items.iter().copied()),
            module: false,
            opaque: item_macro || items.iter().copied().any(is_opaque),
        }
    }
}

/// The value-namespace names `items` define.
fn names<'a>(items: impl Iterator<Item = &'a syn::Item>) -> HashMap<String, Def> {
    let mut names = HashMap::new();
    let mut other = |ident: &syn::Ident| {
        names.insert(ident.to_string(), Def::Other);
    };
    let mut plain = Vec::new();
    for item in items {
        match item {
            syn::Item::Fn(f) => {
                if f.attrs.iter().any(is_delayed) {
                    other(&f.sig.ident);
                } else {
                    plain.push(f.sig.ident.to_string());
                }
            }
            syn::Item::Const(c) => other(&c.ident),
            syn::Item::Static(s) => other(&s.ident),
            syn::Item::Struct(s) => other(&s.ident),
            syn::Item::Mod(m) => other(&m.ident),
            syn::Item::Use(u) => use_names(&u.tree, &mut other),
            syn::Item::ExternCrate(e) => other(e.rename.as_ref().map_or(&e.ident, |r| &r.1)),
            syn::Item::ForeignMod(m) => {
                for item in &m.items {
                    if let syn::ForeignItem::Fn(f) = item {
                        other(&f.sig.ident);
                    }
                }
            }
            _ => {}
        }
    }
    // A name defined twice in one scope does not compile anyway: no flag for it.
    for name in plain {
        names.entry(name).or_insert(Def::Plain);
    }
    names
}

/// The names a `use` brings in (a glob brings in unknown ones: nothing is flagged then,
/// see [`Finder::lookup`]).
fn use_names(tree: &syn::UseTree, other: &mut impl FnMut(&syn::Ident)) {
    match tree {
        syn::UseTree::Path(p) => use_names(&p.tree, other),
        syn::UseTree::Name(n) => other(&n.ident),
        syn::UseTree::Rename(r) => other(&r.rename),
        syn::UseTree::Glob(_) => {}
        syn::UseTree::Group(g) => {
            for tree in &g.items {
                use_names(tree, other);
            }
        }
    }
}

/// Whether `item` may define names the file does not show: a glob import, or a macro
/// invoked in item position.
fn is_opaque(item: &syn::Item) -> bool {
    fn has_glob(tree: &syn::UseTree) -> bool {
        match tree {
            syn::UseTree::Path(p) => has_glob(&p.tree),
            syn::UseTree::Glob(_) => true,
            syn::UseTree::Group(g) => g.items.iter().any(has_glob),
            syn::UseTree::Name(_) | syn::UseTree::Rename(_) => false,
        }
    }
    match item {
        syn::Item::Use(u) => has_glob(&u.tree),
        syn::Item::Macro(m) => may_define_items(&m.mac),
        _ => false,
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

fn is_delayed(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "delayed")
}

struct Finder<'n> {
    name: &'n str,
    frames: Vec<Frame>,
    found: HashMap<String, HashSet<String>>,
    ambiguous: HashSet<String>,
}

impl Finder<'_> {
    /// The plain functions visible here: each name's nearest definition, from the
    /// innermost scope out to the innermost module.
    fn plain_in_scope(&self) -> HashSet<String> {
        let mut seen = HashSet::new();
        let mut plain = HashSet::new();
        for frame in self.frames.iter().rev() {
            for (name, def) in &frame.names {
                if seen.insert(name.clone()) && *def == Def::Plain {
                    plain.insert(name.clone());
                }
            }
            if frame.module || frame.opaque {
                break;
            }
        }
        plain
    }
}

impl<'ast> Visit<'ast> for Finder<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        let Some((_, items)) = &m.content else {
            return;
        };
        self.frames.push(Frame::module(items));
        syn::visit::visit_item_mod(self, m);
        self.frames.pop();
    }

    fn visit_block(&mut self, block: &'ast syn::Block) {
        self.frames.push(Frame::block(block));
        syn::visit::visit_block(self, block);
        self.frames.pop();
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let is_it = mac
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == self.name);
        if is_it {
            let key = squeeze(&mac.tokens.to_string());
            let plain = self.plain_in_scope();
            if let Some(before) = self.found.get(&key) {
                if *before != plain {
                    self.ambiguous.insert(key.clone());
                }
            }
            self.found.insert(key, plain);
        }
        syn::visit::visit_macro(self, mac);
    }
}
