//! What a graph may still call that is not a task: inside `graph!` and `delay!` every
//! call of a free function is a node, so a plain function of your own is called before
//! the graph and its value captured; standard library functions, associated functions,
//! constructors and functions declared in the graph's body run as ordinary code on
//! constants; a task of the same name in an inner scope shadows a plain function.
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn offset(x: i64) -> i64 {
    x * 10
}

fn step(x: i64) -> i64 {
    x - 1
}

mod tasks {
    use taskweave::prelude::*;

    #[delayed]
    pub(crate) fn step(x: i64) -> i64 {
        x + 100
    }
}

fn main() {
    // A plain function called before the graph; the graph captures its value.
    let o = offset(3);
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        a + o
    });
    assert_eq!(g.compute(1), 2 + 30);
    assert_eq!(g.info().len(), 2, "inc and the addition; `o` is a constant");

    let o = offset(2);
    let d = delay!(inc(o));
    assert_eq!(d.compute(), 21);

    // The standard library, associated functions and constructors, on constants.
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        let k = std::cmp::max(2, 3) + i64::from(4i32) + Some(5).unwrap_or(0);
        a + k
    });
    assert_eq!(g.compute(1), 2 + 12);
    let d = delay!(inc(i64::from(2i32)));
    assert_eq!(d.compute(), 3);

    // A function declared in the graph's body is known to be plain code.
    let g = graph!(|x: i64| -> i64 {
        fn tenfold(x: i64) -> i64 {
            x * 10
        }
        inc(x) + tenfold(2)
    });
    assert_eq!(g.compute(1), 2 + 20);

    {
        // The task `step` shadows the plain `step` of the module in this block.
        use tasks::step;
        let g = graph!(|x: i64| -> i64 { step(inc(x)) });
        assert_eq!(g.compute(1), 102);
    }
    assert_eq!(step(1), 0);
}
