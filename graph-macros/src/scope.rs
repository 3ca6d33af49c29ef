//! The plain (not `#[delayed]`) functions in scope where a macro is invoked, read from
//! its source file.
//!
//! `graph!` and `delay!` reach a task through its companion type (`plain::__arg0`), so a
//! node passed to a plain function would otherwise fail with rustc's "cannot find module
//! or crate `plain`", which does not say what to do. A proc macro cannot ask rustc what
//! a name resolves to, but it can read the file it is invoked in (`Span::local_file`,
//! Rust 1.88): when the nearest definition of the name around the invocation, within
//! its module, is a function without `#[delayed]` (there, or in the module file an
//! import leads to, see [`Paths`]), the call gets the teaching error. Anything the files
//! do not settle (other crates, globs that cannot be followed, macro-generated code, a
//! file that cannot be read or parsed) is left to rustc, as before: this only ever adds
//! a message where the name certainly means a plain function.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use syn::visit::Visit;

use crate::names::is_delayed;

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
    let paths = Paths::new(file, &parsed);
    let mut finder = Finder {
        name,
        paths: &paths,
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
    paths: &'a Paths,
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
            _ => self.paths.module(path, self.top).map(Rc::new),
        }
    }

    /// What the item at `path` (an explicit import's) is, when certain.
    fn item(&self, path: &[&str]) -> Def {
        match path {
            ["super", name] => self
                .parent
                .and_then(|p| p.names.get(*name).copied())
                .unwrap_or(Def::Other),
            [.., name] => {
                let module: Vec<String> = path[..path.len() - 1]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                if module.is_empty() || module[0] == "super" {
                    return Def::Other;
                }
                self.paths
                    .module(&module, self.top)
                    .and_then(|m| m.names.get(*name).copied())
                    .unwrap_or(Def::Other)
            }
            [] => Def::Other,
        }
    }
}

impl Frame {
    /// A scope of `items` (and item macros, `macros`).
    fn new<'a>(
        items: impl Iterator<Item = &'a syn::Item> + Clone,
        macros: bool,
        module: bool,
        cx: &Context<'_>,
    ) -> Frame {
        let mut globs = Vec::new();
        let mut opaque = macros;
        for item in items.clone() {
            match item {
                syn::Item::Use(u) => {
                    if let Some(path) = glob_of(&u.tree, &[]) {
                        match cx.module(&path) {
                            Some(names) => globs.push(names),
                            None => opaque = true,
                        }
                    }
                }
                syn::Item::Macro(m) => opaque |= may_define_items(&m.mac),
                _ => {}
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
fn names<'a>(items: impl Iterator<Item = &'a syn::Item>, cx: &Context<'_>) -> HashMap<String, Def> {
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
                // `use super::plain;` is the parent's `plain`, `use crate::a::plain;`
                // what `a` defines; an import that cannot be followed is not a flag.
                let def = cx.item(path);
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

/// Follows `use` paths into the crate's other files where the path is certain: `crate::…`
/// from the crate's root file, and paths relative to the invoking file's top module
/// through the modules it declares (`mod helpers;` in `helpers.rs` or
/// `helpers/mod.rs`). A `#[path]`, a module declared twice (under `cfg`s), a file that
/// is missing or does not parse, or a root that cannot be told: not followed.
struct Paths {
    /// The invoking file's top-level items, and where its child modules' files may be.
    here: (Vec<syn::Item>, Vec<PathBuf>),
    /// The crate root's items and directory, when the root is certain.
    root: Option<(Vec<syn::Item>, Vec<PathBuf>)>,
}

impl Paths {
    fn new(file: &Path, parsed: &syn::File) -> Paths {
        let here = (parsed.items.clone(), child_dirs(file));
        let root = crate_root(file).and_then(|root| {
            if root == file {
                return Some((parsed.items.clone(), child_dirs(file)));
            }
            let items = parse(&root)?.items;
            Some((items, child_dirs(&root)))
        });
        Paths { here, root }
    }

    /// The names of the module at `path` (`crate::a::b`, `self::a`, `a::b`), when certain;
    /// relative paths only from the invoking file's top module (`top`).
    fn module(&self, path: &[String], top: bool) -> Option<ModuleNames> {
        let (items, dirs, rest): (&[syn::Item], &[PathBuf], &[String]) =
            match path.first().map(String::as_str) {
                Some("crate") => {
                    let (items, dirs) = self.root.as_ref()?;
                    (items, dirs, &path[1..])
                }
                Some("self") if top => (&self.here.0, &self.here.1, &path[1..]),
                Some(_) if top => (&self.here.0, &self.here.1, path),
                _ => return None,
            };
        let mut items = items.to_vec();
        let mut dirs = dirs.to_vec();
        for segment in rest {
            let mut declared = items.iter().filter_map(|item| match item {
                syn::Item::Mod(m) if m.ident == segment => Some(m),
                _ => None,
            });
            let (Some(module), None) = (declared.next(), declared.next()) else {
                return None;
            };
            if module.attrs.iter().any(|a| a.path().is_ident("path")) {
                return None;
            }
            (items, dirs) = match &module.content {
                Some((_, inner)) => (
                    inner.clone(),
                    dirs.iter().map(|d| d.join(segment)).collect(),
                ),
                None => {
                    // Exactly one file where rustc may look, or it is not followed.
                    let mut files = dirs.iter().flat_map(|d| {
                        [
                            d.join(format!("{segment}.rs")),
                            d.join(segment).join("mod.rs"),
                        ]
                        .into_iter()
                        .filter(|f| f.is_file())
                        .map(move |f| (f, d.join(segment)))
                    });
                    let (Some((file, dir)), None) = (files.next(), files.next()) else {
                        return None;
                    };
                    (parse(&file)?.items, vec![dir])
                }
            };
        }
        let cx = Context {
            parent: None,
            paths: &Paths {
                here: (Vec::new(), Vec::new()),
                root: None,
            },
            top: false,
        };
        let frame = Frame::new(items.iter(), false, true, &cx);
        Some(ModuleNames {
            names: frame.names,
            opaque: frame.opaque || !frame.globs.is_empty(),
        })
    }
}

fn parse(file: &Path) -> Option<syn::File> {
    syn::parse_file(&std::fs::read_to_string(file).ok()?).ok()
}

/// Where the modules a file declares with `mod name;` may be: next to it for a crate
/// root or a `mod.rs`, in the folder named after it for another module; both when the
/// file could be either (a module's file is then followed only if one of them has it).
fn child_dirs(file: &Path) -> Vec<PathBuf> {
    let (Some(parent), Some(stem)) = (file.parent(), file.file_stem()) else {
        return Vec::new();
    };
    let is_mod_rs = file.file_name().is_some_and(|n| n == "mod.rs");
    if is_crate_root(file) || is_mod_rs {
        vec![parent.to_path_buf()]
    } else if file
        .ancestors()
        .any(|d| d.file_name().is_some_and(|n| n == "src"))
    {
        // Under `src/`, a file other than the roots is a module.
        vec![parent.join(stem)]
    } else {
        vec![parent.join(stem), parent.to_path_buf()]
    }
}

/// Whether cargo compiles `file` as a crate root by its conventions: `src/lib.rs`,
/// `src/main.rs`, `src/bin/*.rs`, or a file directly in `tests/`, `examples/` or
/// `benches/`.
fn is_crate_root(file: &Path) -> bool {
    let (Some(name), Some(folder)) = (
        file.file_name().and_then(|n| n.to_str()),
        file.parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str()),
    ) else {
        return false;
    };
    match folder {
        "src" => name == "lib.rs" || name == "main.rs",
        "bin" | "tests" | "examples" | "benches" => name != "mod.rs",
        _ => false,
    }
}

/// The crate root of `file`, when certain: the file itself if it is one, else the
/// `src/lib.rs` or `src/main.rs` above it when exactly one of them exists.
fn crate_root(file: &Path) -> Option<PathBuf> {
    if is_crate_root(file) {
        return Some(file.to_path_buf());
    }
    let src = file
        .ancestors()
        .find(|d| d.file_name().is_some_and(|n| n == "src"))?;
    let (lib, main) = (src.join("lib.rs"), src.join("main.rs"));
    match (lib.is_file(), main.is_file()) {
        (true, false) => Some(lib),
        (false, true) => Some(main),
        _ => None,
    }
}

struct Finder<'n> {
    name: &'n str,
    paths: &'n Paths,
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

    /// How to follow imports in a scope whose `super` is `parent`, in the invoking
    /// file's top module or not (`top`).
    fn context<'a>(&'a self, parent: Option<&'a Rc<ModuleNames>>, top: bool) -> Context<'a> {
        Context {
            parent,
            paths: self.paths,
            top,
        }
    }

    fn enter_module(&mut self, items: &[syn::Item]) {
        // The file's own items are its top module; an inline module is another one,
        // whose relative paths are not followed.
        let top = self.modules.is_empty();
        let cx = self.context(self.modules.last(), top);
        let frame = Frame::new(items.iter(), false, true, &cx);
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
        // `super` in a block is the parent of the module the block is in.
        let parent = self.modules.len().checked_sub(2).map(|i| &self.modules[i]);
        let top = self.modules.len() == 1;
        let frame = Frame::new(items, macros, false, &self.context(parent, top));
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
        root
    }

    /// The plain functions flagged at the one `graph!` of `file`.
    fn flagged(file: &Path) -> Vec<String> {
        let summary = summarise(file, "graph");
        assert_eq!(summary.len(), 1, "one graph! in {}", file.display());
        let mut names: Vec<String> = summary.into_values().next().unwrap().into_iter().collect();
        names.sort();
        names
    }

    #[test]
    fn follows_crate_paths_and_module_files() {
        let root = tree(
            "crate",
            &[
                ("src/lib.rs", "mod util;\nmod pipeline;\n"),
                ("src/util.rs", "pub fn plain(x: i64) -> i64 { x }\n#[delayed]\npub fn task(x: i64) -> i64 { x }\n"),
                (
                    "src/pipeline.rs",
                    "use crate::util::{plain, task};\nfn run() { let _ = graph!(|x: i64| task(plain(x))); }\n",
                ),
            ],
        );
        // `run`, a plain fn of the module, is in scope too.
        assert_eq!(flagged(&root.join("src/pipeline.rs")), ["plain", "run"]);
    }

    #[test]
    fn an_inline_module_does_not_see_the_file_top_modules() {
        // `helpers` inside `inner` is its own module: the top-level `mod helpers;` file
        // must not be read for it.
        let root = tree(
            "inline",
            &[
                (
                    "src/lib.rs",
                    "mod helpers;\nmod inner {\n    mod helpers { #[delayed] pub fn step(x: i64) -> i64 { x } }\n    use helpers::step;\n    fn run() { let _ = graph!(|x: i64| step(x)); }\n}\n",
                ),
                ("src/helpers.rs", "pub fn step(x: i64) -> i64 { x }\n"),
            ],
        );
        assert!(!flagged(&root.join("src/lib.rs")).contains(&"step".to_owned()));
    }

    #[test]
    fn unfollowable_globs_and_inner_tasks_are_never_flagged() {
        let root = tree(
            "globs",
            &[(
                "src/lib.rs",
                "use other_crate::*;\nmod a { pub fn only_from_glob(x: i64) -> i64 { x } }\nuse a::*;\nfn shadowed(x: i64) -> i64 { x }\nfn run() {\n    #[delayed]\n    fn shadowed(x: i64) -> i64 { x }\n    let _ = graph!(|x: i64| shadowed(only_from_glob(x)));\n}\n",
            )],
        );
        // `only_from_glob` comes through a glob next to one that cannot be followed;
        // `shadowed` is a task in the block around the graph.
        assert_eq!(flagged(&root.join("src/lib.rs")), ["run"]);
    }
}
