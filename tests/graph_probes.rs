//! Probes of `graph!` with code the design allows (generic, const-generic and
//! `impl Trait` tasks, raw and non-ASCII names, names like the expansion's own, many
//! arguments, `?` in loops, blocks, `#[cfg]` on statements, `mut` constants changed by
//! constant code): each graph checked against the same body run as plain code.
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}
#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}
#[delayed]
fn pair(x: i64) -> (i64, i64) {
    (x, x * 2)
}
#[delayed]
fn unit(_x: i64) {}
#[delayed]
fn checked(x: i64) -> Result<i64, String> {
    if x < 100 {
        Ok(x + 1)
    } else {
        Err(format!("too big: {x}"))
    }
}
#[delayed]
fn sum_ref(x: &i64, y: &i64) -> i64 {
    *x + *y
}
#[allow(clippy::too_many_arguments)]
#[delayed]
fn many(
    a: i64,
    b: i64,
    c: i64,
    d: i64,
    e: i64,
    f: i64,
    g: i64,
    h: i64,
    i: i64,
    j: i64,
    k: i64,
    l: i64,
    m: i64,
    n: i64,
) -> i64 {
    a + b + c + d + e + f + g + h + i + j + k + l + m + n
}
#[delayed]
fn gen_id<T: Clone + Send>(x: T) -> T {
    x
}
#[delayed]
fn arr_sum<const N: usize>(a: [i64; N]) -> i64 {
    a.iter().sum()
}
#[delayed]
fn show(x: impl std::fmt::Display) -> String {
    x.to_string()
}
#[delayed]
fn r#type(x: i64) -> i64 {
    x * 3
}
#[delayed]
fn größe(x: i64) -> i64 {
    x + 7
}
#[delayed]
fn table(x: i64) -> i64 {
    x + 11
}
#[delayed]
fn pending(x: i64) -> i64 {
    x + 13
}
#[delayed]
fn state(x: i64) -> i64 {
    x + 17
}

#[test]
fn many_arguments() {
    let g =
        graph!(|x: i64| -> i64 { many(x, inc(x), 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, inc(14)) });
    assert_eq!(
        g.compute(1),
        many(1, inc(1), 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, inc(14))
    );
}

#[test]
fn unit_task_and_split() {
    let g = graph!(|x: i64| -> i64 {
        let (a, b) = pair(inc(x));
        let u = unit(a);
        let _ = u;
        add(a, b)
    });
    let (a, b) = pair(inc(2));
    assert_eq!(g.compute(2), add(a, b));
}

#[test]
fn refs_of_nodes() {
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        let b = inc(a);
        sum_ref(&a, &b) + sum_ref(&a, &a)
    });
    let (a, b) = (inc(3), inc(inc(3)));
    assert_eq!(g.compute(3), sum_ref(&a, &b) + sum_ref(&a, &a));
}

#[test]
fn generic_const_generic_impl_trait() {
    let g = graph!(|x: i64| -> (i64, i64, String, String) {
        let a = gen_id(inc(x));
        (a, arr_sum([a, x, 3]), show(a), show("lit"))
    });
    let a = gen_id(inc(5));
    assert_eq!(g.compute(5), (a, arr_sum([a, 5, 3]), show(a), show("lit")));
}

#[test]
fn raw_and_unicode_and_internal_names() {
    let g = graph!(|x: i64| -> i64 {
        let r#type = r#type(x);
        let größe = größe(r#type);
        let t = table(größe);
        let p = pending(t);
        state(p)
    });
    assert_eq!(g.compute(1), state(pending(table(größe(r#type(1))))));
}

/// A type of the user's named like the macros' own check of a result's `Send`
/// (`TaskResult`) is the user's (the check's local trait shadowed it: "expected a
/// type, found a trait").
#[derive(Debug, PartialEq)]
pub struct TaskResult(i64);

#[delayed]
fn wrap(x: i64) -> TaskResult {
    TaskResult(x * 10)
}

#[test]
fn a_result_type_named_like_the_macros_own_items() {
    let g = graph!(|x: i64| -> TaskResult { wrap(inc(x)) });
    assert_eq!(g.compute(1), TaskResult(20));
}

#[test]
fn question_mark_in_loops() {
    let g = graph!(|x: i64| -> Result<i64, String> {
        let mut acc = checked(x)?;
        for _ in 0..5 {
            acc = checked(acc)?;
        }
        Ok(acc)
    });
    let seq = |x: i64| -> Result<i64, String> {
        let mut acc = checked(x)?;
        for _ in 0..5 {
            acc = checked(acc)?;
        }
        Ok(acc)
    };
    assert_eq!(g.compute(1), seq(1));
    assert_eq!(g.compute(97), seq(97));
}

#[test]
fn block_with_tasks() {
    let g = graph!(|x: i64| -> i64 {
        let y = {
            let t = inc(x);
            add(t, 1)
        };
        inc(y)
    });
    assert_eq!(g.compute(1), inc(add(inc(1), 1)));
    assert_eq!(g.info().len(), 3, "{:?}", g.info());
}

#[test]
fn shadowing_in_nested_block() {
    let g = graph!(|x: i64| -> (i64, i64) {
        let a = inc(x);
        let k = 10;
        let b = {
            let a = add(a, k);
            let k = 20;
            add(a, k)
        };
        (add(a, k), b)
    });
    let seq = |x: i64| {
        let a = inc(x);
        let k = 10;
        let b = {
            let a = add(a, k);
            let k = 20;
            add(a, k)
        };
        (add(a, k), b)
    };
    assert_eq!(g.compute(1), seq(1));
}

#[test]
fn cfg_on_statements() {
    let g = graph!(|x: i64| -> i64 {
        let mut a = inc(x);
        #[cfg(not(test))]
        {
            a = inc(a);
        }
        #[cfg(test)]
        {
            a = add(a, 2);
        }
        #[cfg(not(test))]
        let a = add(a, 1000);
        #[cfg(test)]
        let a = add(a, 5);
        a
    });
    let seq = |x: i64| {
        let mut a = inc(x);
        #[cfg(not(test))]
        {
            a = inc(a);
        }
        #[cfg(test)]
        {
            a = add(a, 2);
        }
        #[cfg(not(test))]
        let a = add(a, 1000);
        #[cfg(test)]
        let a = add(a, 5);
        a
    };
    assert_eq!(g.compute(1), seq(1));
    assert_eq!(g.info().len(), 3, "{:?}", g.info());
}

/// `#[cfg_attr(predicate, cfg(…))]` on a statement is settled as the `#[cfg]` it
/// stands for where the predicate holds, and drops nothing where it does not (the
/// attribute was ignored: every statement kept).
#[test]
fn cfg_attr_on_statements() {
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        #[cfg_attr(all(), cfg(any()))]
        let a = inc(a);
        #[cfg_attr(any(), cfg(any()))]
        let a = add(a, 10);
        #[cfg_attr(test, allow(unused), cfg(not(test)))]
        let a = add(a, 1000);
        a
    });
    let seq = |x: i64| {
        let a = inc(x);
        #[cfg_attr(all(), cfg(any()))]
        let a = inc(a);
        #[cfg_attr(any(), cfg(any()))]
        let a = add(a, 10);
        #[cfg_attr(test, allow(unused), cfg(not(test)))]
        let a = add(a, 1000);
        a
    };
    assert_eq!(seq(1), 12);
    assert_eq!(g.compute(1), seq(1));
    assert_eq!(g.info().len(), 2, "{:?}", g.info());
}

#[derive(Clone, Debug, PartialEq)]
struct Pt {
    x: i64,
    y: i64,
}

#[test]
#[allow(clippy::never_loop)]
fn literals_methods_loops_nested() {
    let g = graph!(|x: i64| -> (i64, i64, Pt, (i64, i64), [i64; 2], i64, i64) {
        let k = loop {
            break 3;
        };
        let mut m = 0;
        while m < 4 {
            m += 1;
        }
        let a = inc(x);
        let s = Pt { x: a, y: k };
        let t = (a, m);
        let arr = [a, a];
        let abs = (a - 100).abs();
        let inner = inc(k);
        (k, m, s, t, arr, abs, inner)
    });
    let a = inc(2);
    assert_eq!(
        g.compute(2),
        (3, 4, Pt { x: a, y: 3 }, (a, 4), [a, a], (a - 100).abs(), 4)
    );
}

#[test]
fn long_unrolled_loop() {
    let g = graph!(|x: i64| -> i64 {
        let mut acc = inc(x);
        for i in 0..300 {
            acc = add(acc, i);
        }
        acc
    });
    assert_eq!(g.compute(0), 1 + (0..300).sum::<i64>());
}

#[test]
fn internal_like_names() {
    let __table = 5;
    let __run = 6;
    let g = graph!(|__pending: i64, __out: i64| -> i64 {
        let __node = inc(__pending);
        let __const_1 = 4;
        let __c0 = add(__node, __out);
        add(add(__c0, __const_1), __table + __run)
    });
    assert_eq!(g.compute(1, 2), add(add(add(inc(1), 2), 4), 11));
}

#[test]
fn mutable_constant_changed_after_a_node_reads_it() {
    let g = graph!(|x: i64| -> (i64, i64) {
        let mut m = 1;
        let a = add(x, m);
        while m < 4 {
            m += 1;
        }
        (a, add(a, m))
    });
    let seq = |x: i64| {
        let mut m = 1;
        let a = add(x, m);
        while m < 4 {
            m += 1;
        }
        (a, add(a, m))
    };
    assert_eq!(g.compute(10), seq(10));
}

#[delayed]
fn text_len(s: String) -> i64 {
    s.len() as i64
}

/// A macro's arguments that are expressions are read as Rust reads them: a closure
/// among them binds its own parameters (a constant `k` was put in for the parameter
/// `k` used in the closure's body: 4 for 8), and a format macro's named argument keeps
/// its name (`v = 3` had `v` replaced: "named argument never used").
#[test]
#[allow(clippy::redundant_closure_call, clippy::useless_vec)]
fn names_inside_macro_arguments() {
    let g = graph!(|x: i64| -> (i64, i64) {
        let k = x + 1;
        let v = vec![(|k: i64| k * 2)(3)];
        let a = add(inc(k), v[0]);
        let w = 7;
        let s = format!("{w}{w}", w = 123);
        (a, text_len(s))
    });
    let seq = |x: i64| {
        let k = x + 1;
        let v = [(|k: i64| k * 2)(3)];
        let a = add(inc(k), v[0]);
        let w = 7;
        let _ = w;
        let s = format!("{w}{w}", w = 123);
        (a, text_len(s))
    };
    assert_eq!(seq(1), (9, 6));
    assert_eq!(g.compute(1), seq(1));
}

/// A binding of constant code named like a node (a `match` arm's, an `if let`'s) is
/// that binding: the code is constant, not a branch on the node (it was rejected as
/// "`match` around tasks").
#[test]
#[allow(clippy::match_single_binding, irrefutable_let_patterns)]
fn bindings_named_like_a_node_are_their_own() {
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        let k = match 3 {
            a => a + 1,
        };
        let o = Some(10);
        let m = if let Some(a) = o { a * 2 } else { 0 };
        add(add(a, k), m)
    });
    let seq = |x: i64| {
        let a = inc(x);
        let k = match 3 {
            a => a + 1,
        };
        let o = Some(10);
        let m = if let Some(a) = o { a * 2 } else { 0 };
        add(add(a, k), m)
    };
    assert_eq!(seq(1), 26);
    assert_eq!(g.compute(1), seq(1));
}

/// A graph's constant named as a format width or precision (`{x:>w$}`, `{y:.p$}`) is
/// that constant: it was not put in, so the name read a variable of the same name
/// around the graph (`[ 1]` for `[       1]`).
#[test]
fn format_width_and_precision_named_by_constants() {
    let (w, p) = (2, 1);
    let _ = (w, p);
    let g = graph!(|x: i64| -> (String, String) {
        let w = 8;
        let p = 5;
        let y = 1.0;
        (
            show(format!("[{x:>w$}]")),
            show(format!("[{y:.p$}|{:.*}|{x:0w$.p$}]", 2, y)),
        )
    });
    let seq = |x: i64| {
        let w = 8;
        let p = 5;
        let y = 1.0;
        (
            show(format!("[{x:>w$}]")),
            show(format!("[{y:.p$}|{:.*}|{x:0w$.p$}]", 2, y)),
        )
    };
    assert_eq!(seq(1).0, "[       1]");
    assert_eq!(g.compute(1), seq(1));
}

/// `let r = &v;` of a constant is a constant borrow, as the code wrote it (it was made
/// a node whose value borrowed a temporary: rustc's E0515 on the whole `graph!`).
#[test]
fn a_borrow_of_a_constant_bound_by_let() {
    let g = graph!(|x: i64| -> (i64, i64) {
        let v = vec![1i64, 2];
        let r = &v;
        let s = String::from("ab");
        let t: &str = &s;
        (add(r[0], x), add(t.len() as i64, inc(x)))
    });
    let seq = |x: i64| {
        let v = [1i64, 2];
        let r = &v;
        let s = String::from("ab");
        let t: &str = &s;
        (add(r[0], x), add(t.len() as i64, inc(x)))
    };
    assert_eq!(g.compute(5), seq(5));
}

/// A `mut` input is a mutable constant of the graph, as a closure's `mut` parameter is
/// (its `mut` was dropped: rustc's "cannot borrow `x` as mutable", with a help to write
/// `mut mut x`).
#[test]
fn a_mut_input_changed_by_constant_code() {
    let g = graph!(|mut v: Vec<i64>, k: i64| -> i64 {
        v.push(k);
        let a = inc(v[0]);
        v.push(v.len() as i64);
        add(a, v.iter().sum::<i64>())
    });
    let seq = |mut v: Vec<i64>, k: i64| {
        v.push(k);
        let a = inc(v[0]);
        v.push(v.len() as i64);
        add(a, v.iter().sum::<i64>())
    };
    assert_eq!(g.compute(vec![10, 20], 3), seq(vec![10, 20], 3));
}

static BUMPS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

#[delayed]
fn bump(x: i64) -> i64 {
    x + BUMPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
}

#[delayed]
fn total(v: Vec<i64>) -> i64 {
    v.iter().sum()
}

#[delayed]
fn total3(v: [(i64, i64); 3]) -> i64 {
    v.iter().map(|(a, b)| a * b).sum()
}

/// `vec![a; 3]` and `[x; 3]` of nodes are three copies of one value, the item computed
/// once as without `graph!` (`vec![a; 3]` was rejected with the `println!` message).
#[test]
fn repeated_nodes_in_vec_and_array() {
    let g = graph!(|x: i64| -> (i64, i64, i64) {
        let a = inc(x);
        let v = total(vec![a; 3]);
        let w = total(vec![bump(x); 4]);
        let t = total3([(a, x); 3]);
        (v, w, t)
    });
    let seq = |x: i64| {
        let a = inc(x);
        let v = total(vec![a; 3]);
        let w = total(vec![bump(x); 4]);
        let t = total3([(a, x); 3]);
        (v, w, t)
    };
    use std::sync::atomic::Ordering::SeqCst;
    let before = BUMPS.load(SeqCst);
    let from_graph = g.compute(2);
    assert_eq!(BUMPS.load(SeqCst), before + 1, "bump runs once");
    BUMPS.store(before, SeqCst);
    assert_eq!(from_graph, seq(2));
}

#[delayed]
fn conv<T: From<u8> + Send>(v: u8) -> T {
    T::from(v)
}

#[delayed]
fn zero<T: Default + Send>() -> T {
    T::default()
}

/// A generic task whose result's type is known only from where the result goes (a
/// `let`'s type, the graph's result, the parameter of the task that reads it) is
/// inferred as in plain code (rustc's E0284 named the internal `Itself` projection).
#[test]
fn a_generic_result_inferred_from_where_it_goes() {
    let g = graph!(|| -> (i64, i64, i64, u16) {
        let c: i64 = conv(3);
        let d = inc(conv(4));
        let z: u16 = zero();
        (c, d, add(conv(5), c), z)
    });
    let seq = || {
        let c: i64 = conv(3);
        let d = inc(conv(4));
        let z: u16 = zero();
        (c, d, add(conv(5), c), z)
    };
    assert_eq!(g.compute(), seq());
    let e: Delayed<i64> = delay!(conv(6));
    assert_eq!((e.compute(), delay!(inc(conv(6))).compute()), (6, 7));
    let r = graph!(|| -> i64 { conv(9) });
    assert_eq!(r.compute(), 9);
}

/// A type of the user's with a method named `compute`.
#[derive(Clone, Debug)]
pub struct Model {
    w: i64,
}

impl Model {
    fn compute(&self, x: i64) -> i64 {
        self.w * x
    }
}

#[delayed]
fn model(w: i64) -> Model {
    Model { w }
}

/// A method of the user's named `compute` that takes arguments other than taskweave's
/// `compute()` is the user's (it was "`.compute()` inside `graph!` would run a graph").
#[test]
fn a_users_method_named_compute() {
    let g = graph!(|x: i64| -> i64 {
        let m = model(x);
        m.compute(2)
    });
    assert_eq!(g.compute(3), Model { w: 3 }.compute(2));
}

/// A tuple assignment of names (`(a, b) = (b, a);`, `(a, _) = pair(x);`) rebinds each
/// name, every value on the right read first, as Rust does (it was "this assignment is
/// not supported").
#[test]
fn tuple_assignment_rebinds_each_name() {
    let g = graph!(|x: i64| -> (i64, i64) {
        let mut a = inc(x);
        let mut b = add(x, 10);
        (a, b) = (b, a);
        let c = add(a * 10, b);
        (a, _) = pair(c);
        (b, a) = pair(a);
        (a, b)
    });
    let seq = |x: i64| {
        let mut a = inc(x);
        let mut b = add(x, 10);
        (a, b) = (b, a);
        let c = add(a * 10, b);
        (a, _) = pair(c);
        (b, a) = pair(a);
        (a, b)
    };
    assert_eq!(g.compute(1), seq(1));
}

/// An unrolled `for` bounded by an enclosing one's counter (`for j in 0..i`) is
/// unrolled in each copy, where the counter is a literal (it was "needs a literal
/// range").
#[test]
fn a_for_bounded_by_an_enclosing_counter() {
    let g = graph!(|x: i64| -> i64 {
        let mut a = inc(x);
        for i in 0..4 {
            for j in 0..i {
                a = add(a, j);
            }
            for k in i..=3 {
                a = add(a, k * 10);
            }
        }
        a
    });
    let seq = |x: i64| {
        let mut a = inc(x);
        for i in 0..4 {
            for j in 0..i {
                a = add(a, j);
            }
            for k in i..=3 {
                a = add(a, k * 10);
            }
        }
        a
    };
    assert_eq!(g.compute(1), seq(1));
}

/// A task of the user's named `drop`, brought in by `use` (the module `imported`) or
/// defined beside the graph (`defined`), called bare: a node, as in plain code (it was
/// "`drop` of a node is not needed", the prelude's `drop` assumed).
mod drop_tasks {
    pub(crate) mod tasks {
        use taskweave::prelude::*;

        #[delayed]
        pub(crate) fn drop(v: i64) -> i64 {
            v * 100
        }
    }

    mod imported {
        use super::tasks::drop;
        use taskweave::prelude::*;

        #[test]
        fn an_imported_task_named_drop() {
            let g = graph!(|x: i64| -> i64 {
                let a = super::super::inc(x);
                drop(a)
            });
            assert_eq!(g.compute(1), drop(super::super::inc(1)));
        }
    }

    mod defined {
        use taskweave::prelude::*;

        #[delayed]
        fn drop(v: i64) -> i64 {
            v - 100
        }

        #[test]
        fn a_task_named_drop_beside_the_graph() {
            let g = graph!(|x: i64| -> i64 { drop(x * 2) });
            assert_eq!(g.compute(1), drop(2));
        }
    }
}

/// A persistent vector, whose `push` and `insert` take `&self` and return a new vector
/// (as `rpds` and `im` have them).
#[derive(Clone, Debug, PartialEq)]
pub struct Persistent(Vec<i64>);

impl Persistent {
    fn push(&self, v: i64) -> Persistent {
        let mut items = self.0.clone();
        items.push(v);
        Persistent(items)
    }

    fn insert(&self, at: usize, v: i64) -> Persistent {
        let mut items = self.0.clone();
        items.insert(at, v);
        Persistent(items)
    }

    fn sort(&self) -> Persistent {
        let mut items = self.0.clone();
        items.sort();
        Persistent(items)
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

#[delayed]
fn persistent(x: i64) -> Persistent {
    Persistent(vec![x, x * 3])
}

#[delayed]
fn size(p: Persistent) -> usize {
    p.len()
}

/// `&self` methods of the user's named like the standard library's `&mut self` ones
/// (`push`, `insert`, `sort`), their result used (bound, an argument, the graph's
/// result), on a node and on a captured value with a node as argument: called as in
/// plain code (it was "`.push()` takes `&mut self`", a false claim).
#[test]
fn users_methods_named_like_std_mutators() {
    let base = Persistent(vec![7]);
    let captured = base.clone();
    let g = graph!(|x: i64| -> (Persistent, usize, Persistent, Persistent) {
        let p = persistent(x);
        let q = p.push(1);
        let n = size(p.insert(0, x));
        let b = captured.push(inc(x));
        (q, n, b, q.sort())
    });
    let seq = |x: i64| {
        let p = persistent(x);
        let q = p.push(1);
        let n = size(p.insert(0, x));
        let b = base.push(inc(x));
        (q.clone(), n, b, q.sort())
    };
    assert_eq!(g.compute(-2), seq(-2));
}

/// A method on a place in a captured value or an input (`nums[0]`, `p.0`), another
/// argument reading the same name (`nums[1]`, `p.1`): the argument reads the name, not
/// the receiver's value (bound under that name, see `Op::Method`; `p.1` was a field of
/// an `i64`).
#[test]
fn an_argument_naming_the_receivers_root() {
    let nums = [5_i64, 9];
    let g = graph!(|x: i64, p: (i64, i64)| -> (i64, i64) {
        let a = inc(x);
        (nums[0].clamp(nums[1], a), p.0.clamp(p.1, a))
    });
    let seq = |x: i64, p: (i64, i64)| {
        let a = inc(x);
        (nums[0].clamp(nums[1], a), p.0.clamp(p.1, a))
    };
    assert_eq!(g.compute(20, (1, 3)), seq(20, (1, 3)));
}

impl Persistent {
    /// A graph built in a method, calling one on `self` with a node as argument.
    fn pushed_in_a_graph(&self, x: i64) -> Persistent {
        graph!(|x: i64| -> Persistent { self.push(inc(x)) }).compute(x)
    }
}

/// `self` as a method's receiver inside `graph!` (read in its place: no `let` can bind
/// `self`).
#[test]
fn a_method_on_self() {
    let p = Persistent(vec![4]);
    assert_eq!(p.pushed_in_a_graph(1), p.push(inc(1)));
}

/// A type of the user's whose methods are named like taskweave's that run a graph, with
/// the same arguments (`compute()`, `persist()`).
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    n: i64,
}

impl Stats {
    fn compute(&self) -> i64 {
        self.n * 2
    }

    fn persist(&self) -> Stats {
        Stats { n: self.n + 1 }
    }
}

#[delayed]
fn stats(n: i64) -> Stats {
    Stats { n }
}

/// On a node, `compute()` and `persist()` of the user's run as written: the value's
/// type decides, not the name (it was "`.compute()` inside `graph!` would run a graph").
#[test]
fn users_methods_named_like_compute() {
    let g = graph!(|x: i64| -> (i64, Stats, i64) {
        let s = stats(x);
        (s.compute(), s.persist(), stats(x + 1).compute())
    });
    let seq = |x: i64| {
        let s = stats(x);
        (s.compute(), s.persist(), stats(x + 1).compute())
    };
    assert_eq!(g.compute(4), seq(4));
}
