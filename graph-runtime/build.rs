//! Names the runtime's hidden module after this crate's version: `__private::v0_1_0`
//! for 0.1.0, the path the macros' expansions take (graph-macros names it after its own
//! version, `graph-macros/src/names.rs`, `version_module`). Code expanded by macros of
//! another version then fails on that one name, not on whichever function changed.

use std::path::PathBuf;

fn main() {
    let version = std::env::var("CARGO_PKG_VERSION").expect("cargo sets CARGO_PKG_VERSION");
    // The rule of graph-macros' `version_module`: `v`, then the version with every
    // character that cannot be in an identifier made `_`.
    let module: String = std::iter::once('v')
        .chain(
            version
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
        )
        .collect();
    let code = format!(
        "/// This module under the name the macros of version {version} expand to.\n\
         pub use crate::__private as {module};\n\
         /// The name above.\n\
         pub const VERSION_MODULE: &str = \"{module}\";\n"
    );
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("version_module.rs"), code).expect("OUT_DIR is writable");
    println!("cargo::rerun-if-changed=build.rs");
}
