// `crate = path`: taskweave reached through a path of the user's crate (a re-export, as
// a crate that wraps taskweave has; a renamed dependency is the same to the macros).
// Each macro, with the path as one name or as `crate::…`, alone or next to `pure`.
// (That the expansion really goes through the path, and not through `::taskweave`, is
// tested in graph-macros, and by tests/ui/fail/version_mismatch.rs.)

/// The re-export, as a crate that wraps taskweave writes it.
mod tw {
    pub use taskweave::*;
}

#[tw::delayed(crate = tw)]
fn inc(x: i64) -> i64 {
    x + 1
}

mod nested {
    #[crate::tw::delayed(pure, crate = crate::tw)]
    pub fn double(x: i64) -> i64 {
        x * 2
    }

    // The string form, as tokio's and serde's attributes take it.
    #[crate::tw::delayed(crate = "crate::tw")]
    pub fn add(a: i64, b: i64) -> i64 {
        a + b
    }

    /// `graph!` in another module, through `crate::tw`.
    pub fn run(x: i64) -> i64 {
        let g = crate::tw::graph!(crate = crate::tw; |x: i64| -> i64 {
            add(double(x), super::inc(x))
        });
        g.compute(x)
    }
}

fn main() {
    use nested::{add, double};

    let g = tw::graph!(crate = tw; |x: i64| -> i64 {
        let y = inc(x);
        double(y) + inc(y)
    });
    assert_eq!(g.compute(3), double(inc(3)) + inc(inc(3)));
    assert_eq!(g.info().len(), 4);

    // The block form.
    let b = tw::graph!(crate = tw; {
        let a = inc(1);
        add(a, a)
    });
    assert_eq!(b.compute(), 4);

    assert_eq!(nested::run(5), 16);

    // `delay!`, with a nested call (a node too), and a pure task: equal calls, one node.
    let d = tw::delay!(crate = tw; add(inc(1), 10));
    assert_eq!(d.compute(), 12);
    let (p, q) = (tw::delay!(crate = tw; double(4)), tw::delay!(crate = crate::tw; double(4)));
    assert_eq!(p.key(), q.key());
    assert_eq!(tw::compute((&p, &q)), (8, 8));
}
