//! Writes `tests/differential_generated.rs`: seeded random `graph!` programs, each
//! checked against the same functions called directly, then the tree-shaped batches
//! (programs that read every value once, which `graph!` runs as nested joins) and two
//! combs; `--programs` counts the random programs only (see
//! `tests/support/gen_graphs.rs` for what the programs contain).
//!
//! ```sh
//! cargo run --example gen_graphs                          # the checked-in seed
//! cargo run --example gen_graphs -- --seed 12345          # another seed
//! cargo run --example gen_graphs -- --seed 7 --programs 500 --out /tmp/d.rs
//! cargo test --test differential_generated                # run them
//! ```
//!
//! The file is formatted with `rustfmt --edition 2021` when `rustfmt` is installed.

#[path = "../tests/support/gen_graphs.rs"]
mod gen_graphs;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let mut seed = gen_graphs::DEFAULT_SEED;
    let mut programs = gen_graphs::DEFAULT_PROGRAMS;
    let mut out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(gen_graphs::OUTPUT);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        let parsed = match (arg.as_str(), value.as_deref()) {
            ("--seed", Some(v)) => parse_u64(v).map(|v| seed = v),
            ("--programs", Some(v)) => v.parse().ok().map(|v| programs = v),
            ("--out", Some(v)) => {
                out = PathBuf::from(v);
                Some(())
            }
            _ => None,
        };
        if parsed.is_none() {
            eprintln!("usage: gen_graphs [--seed N|0xHEX] [--programs N] [--out PATH]");
            return ExitCode::FAILURE;
        }
    }
    let text = gen_graphs::generate(seed, programs);
    if let Err(e) = std::fs::write(&out, text) {
        eprintln!("cannot write {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    match Command::new("rustfmt")
        .args(["--edition", "2021"])
        .arg(&out)
        .status()
    {
        Ok(status) if status.success() => {}
        Ok(status) => eprintln!("rustfmt failed ({status}): the file is left unformatted"),
        Err(e) => eprintln!("rustfmt not run ({e}): the file is left unformatted"),
    }
    println!(
        "wrote {programs} random programs and the tree-shaped batches with seed {seed:#x} to {}",
        out.display()
    );
    ExitCode::SUCCESS
}

fn parse_u64(text: &str) -> Option<u64> {
    let text = text.replace('_', "");
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}
