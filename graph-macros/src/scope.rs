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
use std::rc::Rc;

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
        frames: Vec::new(),
        modules: Vec::new(),
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
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Def {
    /// A function without `#[delayed]`.
    Plain,
    /// A task, an import, a constant…: not something to flag.
    Other,
}

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
    /// `use super::*`: the parent module's names, below the explicit ones.
    super_glob: Option<Rc<ModuleNames>>,
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

impl Frame {
    /// A scope of `items` (and item macros, `macros`), whose `super` is `parent`.
    fn new<'a>(
        items: impl Iterator<Item = &'a syn::Item> + Clone,
        macros: bool,
        module: bool,
        parent: Option<&Rc<ModuleNames>>,
    ) -> Frame {
        let mut super_glob = false;
        let mut opaque = macros;
        for item in items.clone() {
            match item {
                syn::Item::Use(u) => match glob_of(&u.tree, &[]) {
                    Some(path) if path == ["super"] && parent.is_some() => super_glob = true,
                    Some(_) => opaque = true,
                    None => {}
                },
                syn::Item::Macro(m) => opaque |= may_define_items(&m.mac),
                _ => {}
            }
        }
        Frame {
            names: names(items, parent.map(|p| &**p)),
            module,
            super_glob: parent.filter(|_| super_glob).cloned(),
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
        if let Some(parent) = &self.super_glob {
            if let Some(def) = parent.names.get(name) {
                return Seen::Def(*def);
            }
            if parent.opaque {
                return Seen::Unknown;
            }
        }
        Seen::Absent
    }

    /// The names this scope may define as plain functions.
    fn plain_names(&self) -> impl Iterator<Item = &String> {
        let parent = self.super_glob.iter().flat_map(|p| p.names.iter());
        self.names
            .iter()
            .chain(parent)
            .filter(|(_, def)| **def == Def::Plain)
            .map(|(name, _)| name)
    }
}

/// The value-namespace names `items` define; `parent` resolves `use super::name`.
fn names<'a>(
    items: impl Iterator<Item = &'a syn::Item>,
    parent: Option<&ModuleNames>,
) -> HashMap<String, Def> {
    let mut names = HashMap::new();
    let mut plain = Vec::new();
    for item in items {
        let mut other = |ident: &syn::Ident| {
            names.insert(ident.to_string(), Def::Other);
        };
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
            syn::Item::ExternCrate(e) => other(e.rename.as_ref().map_or(&e.ident, |r| &r.1)),
            syn::Item::ForeignMod(m) => {
                for item in &m.items {
                    if let syn::ForeignItem::Fn(f) = item {
                        other(&f.sig.ident);
                    }
                }
            }
            syn::Item::Use(u) => use_names(&u.tree, &mut Vec::new(), &mut |path, name| {
                // `use super::plain;` is the parent's `plain`; any other import is
                // not followed.
                let def = match (path, parent) {
                    (["super", original], Some(parent)) => {
                        parent.names.get(*original).copied().unwrap_or(Def::Other)
                    }
                    _ => Def::Other,
                };
                if def == Def::Plain {
                    plain.push(name.to_owned());
                } else {
                    names.insert(name.to_owned(), def);
                }
            }),
            _ => {}
        }
    }
    // A name defined twice in one scope does not compile anyway: no flag for it.
    for name in plain {
        names.entry(name).or_insert(Def::Plain);
    }
    names
}

/// Calls `found(path, name)` for each name a `use` brings in: the full path (`["super",
/// "plain"]`) and the name it is known by here. Globs bring in nothing here.
fn use_names(tree: &syn::UseTree, prefix: &mut Vec<String>, found: &mut impl FnMut(&[&str], &str)) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_names(&p.tree, prefix, found);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            let path: Vec<&str> = prefix
                .iter()
                .map(String::as_str)
                .chain([name.as_str()])
                .collect();
            found(&path, &name);
        }
        syn::UseTree::Rename(r) => {
            let original = r.ident.to_string();
            let path: Vec<&str> = prefix
                .iter()
                .map(String::as_str)
                .chain([original.as_str()])
                .collect();
            found(&path, &r.rename.to_string());
        }
        syn::UseTree::Glob(_) => {}
        syn::UseTree::Group(g) => {
            for tree in &g.items {
                use_names(tree, prefix, found);
            }
        }
    }
}

/// The path of a glob in a `use` tree (`["super"]` for `use super::*`), if it has one.
fn glob_of(tree: &syn::UseTree, prefix: &[String]) -> Option<Vec<String>> {
    match tree {
        syn::UseTree::Path(p) => {
            let mut prefix = prefix.to_vec();
            prefix.push(p.ident.to_string());
            glob_of(&p.tree, &prefix)
        }
        syn::UseTree::Glob(_) => Some(prefix.to_vec()),
        syn::UseTree::Group(g) => g.items.iter().find_map(|t| glob_of(t, prefix)),
        syn::UseTree::Name(_) | syn::UseTree::Rename(_) => None,
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
    /// The modules around the current point, outermost first: what `super` means.
    modules: Vec<Rc<ModuleNames>>,
    found: HashMap<String, HashSet<String>>,
    ambiguous: HashSet<String>,
}

impl Finder<'_> {
    /// The plain functions visible here: the names whose nearest definition, from the
    /// innermost scope out to the innermost module, is a plain function.
    fn plain_in_scope(&self) -> HashSet<String> {
        let mut scopes = Vec::new();
        for frame in self.frames.iter().rev() {
            scopes.push(frame);
            if frame.module {
                break;
            }
        }
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

    /// The parent of the innermost module, for `use super::…` in a block.
    fn super_of_block(&self) -> Option<&Rc<ModuleNames>> {
        self.modules.len().checked_sub(2).map(|i| &self.modules[i])
    }

    fn enter_module(&mut self, items: &[syn::Item]) {
        let frame = Frame::new(items.iter(), false, true, self.modules.last());
        let names = ModuleNames {
            names: frame.names.clone(),
            opaque: frame.opaque || frame.super_glob.as_ref().is_some_and(|p| p.opaque),
        };
        // A name `use super::*` brings in is the module's too, for its children.
        let mut names = names;
        if let Some(parent) = &frame.super_glob {
            for (name, def) in &parent.names {
                names.names.entry(name.clone()).or_insert(*def);
            }
        }
        self.modules.push(Rc::new(names));
        self.frames.push(frame);
    }
}

impl<'ast> Visit<'ast> for Finder<'_> {
    fn visit_file(&mut self, file: &'ast syn::File) {
        self.enter_module(&file.items);
        syn::visit::visit_file(self, file);
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        let Some((_, items)) = &m.content else {
            return;
        };
        self.enter_module(items);
        syn::visit::visit_item_mod(self, m);
        self.frames.pop();
        self.modules.pop();
    }

    fn visit_block(&mut self, block: &'ast syn::Block) {
        let items = block.stmts.iter().filter_map(|s| match s {
            syn::Stmt::Item(item) => Some(item),
            _ => None,
        });
        let macros = block.stmts.iter().any(|s| match s {
            syn::Stmt::Macro(m) => may_define_items(&m.mac),
            _ => false,
        });
        let frame = Frame::new(items, macros, false, self.super_of_block());
        self.frames.push(frame);
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
