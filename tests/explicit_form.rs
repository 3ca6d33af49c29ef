//! The explicit form `delayed(f).call(…)` takes what `delay!` takes (issue 14, items 6
//! and 7): `&T`, `&[T]` and `&str` parameters borrow their argument's value; builders
//! are named with a `String` as well as a `&'static str`; futures and tuples of nodes are
//! arguments of both forms; and several values are inspected in one picture.

use std::collections::BTreeSet;

use taskweave::prelude::*;

// `&Vec<u64>` on purpose: a `&T` parameter, next to `&[T]` below.
#[allow(clippy::ptr_arg)]
fn total(v: &Vec<u64>) -> u64 {
    v.iter().sum()
}

fn total_slice(v: &[u64]) -> u64 {
    v.iter().sum()
}

fn shout(s: &str) -> String {
    s.to_uppercase()
}

fn weigh(pair: &(u64, String)) -> u64 {
    pair.0 * pair.1.len() as u64
}

fn numbers(n: u64) -> Vec<u64> {
    (1..=n).collect()
}

#[delayed]
fn load(n: u64) -> Vec<u64> {
    numbers(n)
}

#[delayed]
fn combine(pair: (u64, Vec<u64>)) -> u64 {
    pair.0 + pair.1.iter().sum::<u64>()
}

#[delayed]
fn combine3(t: (u64, u64, String)) -> String {
    format!("{}-{}-{}", t.0, t.1, t.2)
}

#[delayed]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[delayed]
fn length(v: &[u64]) -> usize {
    v.len()
}

#[test]
fn ref_and_slice_parameters_borrow_a_node() {
    let node = delayed(numbers).call(10);
    // `&Vec<u64>` and `&[u64]` parameters, from `&node` and from `node`.
    let by_ref = delayed(total).call(&node);
    let by_slice = delayed(total_slice).call(&node);
    let moved = delayed(total).call(node.clone());
    assert_eq!(by_ref.compute(), total(&numbers(10)));
    assert_eq!(by_slice.compute(), total_slice(&numbers(10)));
    assert_eq!(moved.compute(), 55);
    // One run, three readers of one value: lent to all three.
    let (a, b, c) = taskweave::compute((&by_ref, &by_slice, &moved));
    assert_eq!((a, b, c), (55, 55, 55));
}

#[test]
fn ref_parameters_take_collections_tuples_constants_and_strings() {
    let parts: Vec<Delayed<u64>> = (1..=4u64)
        .map(|i| delayed(|x: u64| x * x).call(i))
        .collect();
    // A `&[u64]` parameter from a `Vec` of nodes, a slice of them, an array of them.
    let from_vec = delayed(total_slice).call(&parts);
    let from_slice = delayed(total_slice).call(&parts[..2]);
    let from_array = delayed(total_slice).call([parts[0].clone(), parts[3].clone()]);
    // A `&Vec<u64>` parameter from a `Vec` of nodes, and from a plain `Vec`.
    let as_vec = delayed(total).call(parts.clone());
    let constant = delayed(total).call(vec![1, 2, 3]);
    assert_eq!(from_vec.compute(), total_slice(&[1, 4, 9, 16]));
    assert_eq!(from_slice.compute(), 5);
    assert_eq!(from_array.compute(), 17);
    assert_eq!(as_vec.compute(), 30);
    assert_eq!(constant.compute(), total(&vec![1, 2, 3]));

    // A `&str` parameter from a `Delayed<String>` and from a `String`.
    let word = delayed(|n: u64| "ab".repeat(n as usize)).call(2);
    assert_eq!(delayed(shout).call(&word).compute(), shout("abab"));
    assert_eq!(delayed(shout).call(String::from("x")).compute(), "X");

    // A `&(u64, String)` parameter from a pair of nodes.
    let n = delayed(|| 3u64).call();
    assert_eq!(
        delayed(weigh).call((&n, &word)).compute(),
        weigh(&(3, "abab".into()))
    );
}

#[test]
fn builders_are_named_with_a_string_or_a_static_str() {
    let nodes: Vec<Delayed<u64>> = (0..3u64)
        .map(|i| delayed(|x: u64| x + 1).named(format!("step-{i}")).call(i))
        .collect();
    let fixed = delayed(total_slice).named("sum").call(&nodes);
    assert_eq!(fixed.compute(), 6);
    assert_eq!(nodes[1].name(), "step-1");
    // A builder's name is the task's name; its key still gets a number of its own.
    assert!(nodes[1].key().starts_with("step-1-"), "{}", nodes[1].key());
    assert_eq!(fixed.name(), "sum");
    let names: BTreeSet<String> = fixed
        .info()
        .nodes()
        .iter()
        .map(|n| n.name.clone())
        .collect();
    let expected: BTreeSet<String> = ["step-0", "step-1", "step-2", "sum"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(names, expected);
    // A node of a named builder renamed with `Delayed::named` has that whole key.
    let renamed = delayed(|x: u64| x)
        .named(String::from("a"))
        .call(1)
        .named("b");
    assert_eq!((renamed.name(), renamed.key()), ("b", "b".to_owned()));
}

#[test]
fn futures_are_arguments_of_both_forms() {
    let client = Client::builder().threads(2).build().unwrap();
    let ten = client.submit(|| 10u64, ());
    let list = client.submit(numbers, (4u64,));
    // `delay!` with a future by reference and by value, next to a node.
    let a = delay!(add(&ten, 5));
    let b = delay!(add(ten.clone(), a.clone()));
    // The explicit form: by value, by reference, lent to `&Vec<u64>` and `&[u64]`.
    let c = delayed(|x: u64, y: u64| x * y).call(&ten, &a);
    let d = delayed(total).call(&list);
    let e = delayed(total_slice).call(list.clone());
    let f = delay!(length(&list));
    let (a, b, c, d, e, f) = taskweave::compute((&a, &b, &c, &d, &e, &f));
    assert_eq!(a, add(10, 5));
    assert_eq!(b, add(10, add(10, 5)));
    assert_eq!(c, 10 * 15);
    assert_eq!(d, total(&numbers(4)));
    assert_eq!(e, total_slice(&numbers(4)));
    assert_eq!(f, 4);
}

#[test]
fn a_task_waits_for_its_future() {
    let client = Client::builder().threads(2).build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    let rx = std::sync::Mutex::new(rx);
    let gate = client.submit(move || rx.lock().unwrap().recv().unwrap(), ());
    let node = delay!(add(&gate, 1));
    let sender = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        tx.send(41).unwrap();
    });
    assert_eq!(node.compute(), 42);
    sender.join().unwrap();
}

#[test]
fn a_failed_or_cancelled_future_fails_the_task_with_its_error() {
    let client = Client::builder().threads(2).build().unwrap();
    let bad = client.submit(
        |x: u64| -> u64 {
            if x > 0 {
                panic!("sensor {x} is offline")
            }
            x
        },
        (7u64,),
    );
    let node = delayed(|x: u64| x + 1).named("after_sensor").call(&bad);
    let error = node.try_compute().unwrap_err();
    assert_eq!(error.task(), "after_sensor");
    assert!(error.message().contains(&bad.key()), "{error}");
    assert!(error.message().contains("sensor 7 is offline"), "{error}");
    // The same through `delay!`, next to a healthy input.
    let via_macro = delay!(add(5, bad.clone()));
    let error = via_macro.try_compute().unwrap_err();
    assert_eq!(error.task(), "add");
    assert!(error.message().contains("sensor 7 is offline"), "{error}");

    // One thread, held by `blocker`: `pending` waits in the queue and is cancelled
    // there.
    let single = Client::builder().threads(1).build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let rx = std::sync::Mutex::new(rx);
    let blocker = single.submit(move || rx.lock().unwrap().recv().ok(), ());
    let pending = single.submit(|x: u64| x, (3u64,));
    pending.cancel();
    let node = delay!(add(&pending, 1));
    let error = node.try_compute().unwrap_err();
    assert!(error.message().contains("cancelled"), "{error}");
    tx.send(()).unwrap();
    let _ = blocker.result();
}

#[test]
fn tuples_of_nodes_are_one_argument() {
    let n = delayed(|| 2u64).call();
    let v = delay!(load(3));
    let s = delayed(|| String::from("z")).call();
    // `delay!` with a pair of nodes and of references; the explicit form with both.
    let a = delay!(combine((n.clone(), v.clone())));
    let b = delay!(combine((&n, &v)));
    let c = delayed(|p: (u64, Vec<u64>)| p.0 * p.1.len() as u64).call((&n, &v));
    let d = delayed(|p: (u64, Vec<u64>)| p.0).call((n.clone(), v.clone()));
    let e = delay!(combine3((&n, &n, &s)));
    let f = delayed(|t: &(u64, u64, String)| t.2.len() as u64 + t.0).call((&n, &n, &s));
    let (a, b, c, d, e, f) = taskweave::compute((&a, &b, &c, &d, &e, &f));
    assert_eq!(a, combine((2, load(3))));
    assert_eq!(b, a);
    assert_eq!(c, 6);
    assert_eq!(d, 2);
    assert_eq!(e, combine3((2, 2, "z".into())));
    assert_eq!(f, 3);
    // Each member of a tuple is a parent of the task.
    assert_eq!(delay!(combine((&n, &v))).info().len(), 3);
}

#[test]
#[cfg(feature = "svg")]
fn several_values_in_one_picture() {
    let shared = delay!(load(4));
    let sum = delayed(total).named("sum").call(&shared);
    let count = delay!(length(&shared));
    let info = taskweave::info((&sum, &count));
    assert_eq!(info.len(), 3, "the shared input once, and both outputs");
    let path = std::env::temp_dir().join(format!("taskweave-two-{}.svg", std::process::id()));
    taskweave::visualize((&sum, &count), &path).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("the SVG is well-formed XML");
    let boxes: BTreeSet<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("g") && n.attribute("class") == Some("node"))
        .filter_map(|g| {
            g.children()
                .find(|c| c.has_tag_name("text"))
                .and_then(|t| t.text())
                .map(str::to_owned)
        })
        .collect();
    let expected: BTreeSet<String> = ["load", "sum", "length"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(boxes, expected, "{svg}");
    let edges = doc
        .descendants()
        .filter(|n| n.has_tag_name("path") && n.attribute("class") == Some("edge"))
        .count();
    assert_eq!(edges, 2, "load feeds both outputs");
    // A slice of values, and a single one, are inspected the same way.
    let parts = vec![sum.clone(), sum.clone()];
    assert_eq!(taskweave::info(&parts).len(), 2);
    assert_eq!(taskweave::info(&count).len(), count.info().len());
}

#[allow(clippy::ptr_arg)]
fn scaled(k: u64) -> impl Fn(u64, &Vec<u64>) -> u64 + Send + Sync + 'static {
    move |x, v| k * x + v.len() as u64
}

fn build_generic<F>(f: F, node: &Delayed<Vec<u64>>) -> Delayed<u64>
where
    F: Fn(u64, &Vec<u64>) -> u64 + Send + Sync + 'static,
{
    delayed(f).call(2, node)
}

#[test]
fn functions_known_only_by_a_bound_take_literals_and_lent_nodes() {
    let node = delayed(numbers).call(3);
    // An `impl Fn` and a generic `F`, with an untyped literal next to a lent node.
    let a = delayed(scaled(10)).call(1, &node);
    let b = build_generic(scaled(100), &node);
    assert_eq!(a.compute(), scaled(10)(1, &numbers(3)));
    assert_eq!(b.compute(), scaled(100)(2, &numbers(3)));
}
