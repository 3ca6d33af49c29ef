//! Maps and nested `Vec`s of nodes as arguments of dynamic tasks, as Dask's `delayed`
//! traverses dicts and nested lists (`delayed(f)({'a': x, 'b': y})`,
//! `delayed(f)([[x, y], [z]])`): through `delayed(f).call(…)` and `delay!`, by value,
//! by reference and lent, each compared with the same function called on the plain
//! values; a failing value fails the task with the failing task's name; inspection
//! shows one edge per node, as for a `Vec` of the same nodes; pure calls key the maps
//! by their entries, in any order.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use taskweave::prelude::*;

#[path = "support/watchdog.rs"]
mod watchdog;

const LIMIT: Duration = Duration::from_secs(60);

/// The map's entries, sorted, each value scaled by its key's length: depends on the
/// keys as well as the values.
fn weigh(map: HashMap<String, i64>) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = map
        .into_iter()
        .map(|(k, v)| {
            let w = k.len() as i64;
            (k, v * w)
        })
        .collect();
    out.sort();
    out
}

fn weigh_ref(map: &HashMap<String, i64>) -> Vec<(String, i64)> {
    weigh(map.clone())
}

/// The entries in the map's order: a `BTreeMap` is given sorted.
fn spell(map: BTreeMap<u32, i64>) -> String {
    map.iter().map(|(k, v)| format!("{k}={v};")).collect()
}

fn spell_ref(map: &BTreeMap<u32, i64>) -> String {
    spell(map.clone())
}

fn row_sums(rows: Vec<Vec<i64>>) -> Vec<i64> {
    rows.iter().map(|row| row.iter().sum()).collect()
}

fn row_sums_slice(rows: &[Vec<i64>]) -> Vec<i64> {
    row_sums(rows.to_vec())
}

#[allow(clippy::ptr_arg)] // a `&T` parameter on purpose, next to `&[T]` above
fn row_sums_ref(rows: &Vec<Vec<i64>>) -> Vec<i64> {
    row_sums(rows.clone())
}

#[delayed]
fn square(x: i64) -> i64 {
    x * x
}

#[delayed]
fn weigh_d(map: HashMap<String, i64>) -> Vec<(String, i64)> {
    weigh(map)
}

#[delayed]
fn weigh_lent(map: &HashMap<String, i64>) -> Vec<(String, i64)> {
    weigh_ref(map)
}

#[delayed]
fn spell_d(map: BTreeMap<u32, i64>) -> String {
    spell(map)
}

#[delayed]
fn spell_lent(map: &BTreeMap<u32, i64>) -> String {
    spell_ref(map)
}

#[delayed]
fn row_sums_d(rows: Vec<Vec<i64>>) -> Vec<i64> {
    row_sums(rows)
}

#[delayed]
fn row_sums_lent(rows: &[Vec<i64>]) -> Vec<i64> {
    row_sums_slice(rows)
}

#[delayed(pure)]
fn spell_pure(map: BTreeMap<u32, i64>) -> String {
    spell(map)
}

/// Names `0..n` as keys of different lengths.
fn name(i: i64) -> String {
    "k".repeat(i as usize % 5 + 1) + &i.to_string()
}

/// A map of `n` nodes (`i ↦ square(i)`) and the plain map of their values.
fn hash_maps(n: i64) -> (HashMap<String, Delayed<i64>>, HashMap<String, i64>) {
    let nodes = (0..n).map(|i| (name(i), delay!(square(i)))).collect();
    let plain = (0..n).map(|i| (name(i), i * i)).collect();
    (nodes, plain)
}

fn btree_maps(n: u32) -> (BTreeMap<u32, Delayed<i64>>, BTreeMap<u32, i64>) {
    // Inserted in reverse: the task's map is in the keys' order all the same.
    let nodes = (0..n)
        .rev()
        .map(|i| (i, delayed(|x: i64| x - 1).call(i64::from(i))))
        .collect();
    let plain = (0..n).rev().map(|i| (i, i64::from(i) - 1)).collect();
    (nodes, plain)
}

fn nested(lens: &[usize]) -> (Vec<Vec<Delayed<i64>>>, Vec<Vec<i64>>) {
    let mut next = 0;
    let mut nodes = Vec::new();
    let mut plain = Vec::new();
    for &len in lens {
        let values: Vec<i64> = (next..next + len as i64).collect();
        next += len as i64;
        nodes.push(values.iter().map(|&v| delay!(square(v))).collect());
        plain.push(values.iter().map(|v| v * v).collect());
    }
    (nodes, plain)
}

#[test]
fn the_explicit_form_takes_maps_and_nested_vecs_of_nodes() {
    let (map, plain) = hash_maps(12);
    let by_ref = delayed(weigh).call(&map);
    let lent = delayed(weigh_ref).call(&map);
    let lent_moved = delayed(weigh_ref).call(map.clone());
    let moved = delayed(weigh).call(map);
    for scheduler in [Scheduler::Threads, Scheduler::Sync] {
        let expected = weigh(plain.clone());
        assert_eq!(by_ref.try_compute_with(scheduler).unwrap(), expected);
        assert_eq!(lent.try_compute_with(scheduler).unwrap(), expected);
        assert_eq!(lent_moved.try_compute_with(scheduler).unwrap(), expected);
        assert_eq!(moved.try_compute_with(scheduler).unwrap(), expected);
    }
    // One run, four readers of the same nodes.
    let all = taskweave::compute((&by_ref, &lent, &lent_moved, &moved));
    let expected = weigh(plain);
    assert_eq!(
        all,
        (
            expected.clone(),
            expected.clone(),
            expected.clone(),
            expected
        )
    );

    // The map's own hasher comes through to the task.
    type Fixed = BuildHasherDefault<std::collections::hash_map::DefaultHasher>;
    let fixed: HashMap<u8, Delayed<i64>, Fixed> = (0..4u8)
        .map(|k| (k, delay!(square(i64::from(k)))))
        .collect();
    let keys = delayed(|m: HashMap<u8, i64, Fixed>| {
        let mut v: Vec<(u8, i64)> = m.into_iter().collect();
        v.sort();
        v
    })
    .call(fixed);
    assert_eq!(keys.compute(), [(0, 0), (1, 1), (2, 4), (3, 9)]);

    let (map, plain) = btree_maps(9);
    let expected = spell(plain);
    assert_eq!(delayed(spell).call(&map).compute(), expected);
    assert_eq!(delayed(spell_ref).call(&map).compute(), expected);
    assert_eq!(delayed(spell_ref).call(map.clone()).compute(), expected);
    assert_eq!(delayed(spell).call(map).compute(), expected);

    // Empty rows and an empty outer `Vec` too.
    for lens in [&[2, 0, 3, 1][..], &[], &[0], &[5]] {
        let (rows, plain) = nested(lens);
        let expected = row_sums(plain.clone());
        assert_eq!(delayed(row_sums).call(&rows).compute(), expected);
        assert_eq!(delayed(row_sums_slice).call(&rows).compute(), expected);
        assert_eq!(delayed(row_sums_ref).call(&rows).compute(), expected);
        assert_eq!(
            delayed(row_sums_slice).call(rows.clone()).compute(),
            expected
        );
        assert_eq!(delayed(row_sums_ref).call(rows.clone()).compute(), expected);
        assert_eq!(delayed(row_sums).call(rows).compute(), expected);
        // The values in place, not only their sums.
        let (rows, _) = nested(lens);
        assert_eq!(delayed(|r: Vec<Vec<i64>>| r).call(rows).compute(), plain);
    }
}

#[test]
fn delay_takes_maps_and_nested_vecs_of_nodes() {
    let (map, plain) = hash_maps(7);
    let expected = weigh(plain);
    assert_eq!(delay!(weigh_d(&map)).compute(), expected);
    assert_eq!(delay!(weigh_lent(&map)).compute(), expected);
    assert_eq!(delay!(weigh_lent(map.clone())).compute(), expected);
    assert_eq!(delay!(weigh_d(map)).compute(), expected);

    let (map, plain) = btree_maps(6);
    let expected = spell(plain);
    assert_eq!(delay!(spell_d(&map)).compute(), expected);
    assert_eq!(delay!(spell_lent(&map)).compute(), expected);
    assert_eq!(delay!(spell_d(map)).compute(), expected);

    let (rows, plain) = nested(&[3, 0, 2]);
    let expected = row_sums(plain);
    assert_eq!(delay!(row_sums_d(&rows)).compute(), expected);
    assert_eq!(delay!(row_sums_lent(&rows)).compute(), expected);
    assert_eq!(delay!(row_sums_lent(rows.clone())).compute(), expected);
    assert_eq!(delay!(row_sums_d(rows)).compute(), expected);
}

#[test]
fn one_node_under_two_keys_runs_once_and_gives_both() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let x = delayed(|| {
        RUNS.fetch_add(1, Ordering::SeqCst);
        5i64
    })
    .call();
    let y = delay!(square(3));
    let map = HashMap::from([("a".to_string(), x.clone()), ("b".to_string(), x.clone())]);
    let tree = BTreeMap::from([(1u32, x.clone()), (2, y.clone()), (3, x.clone())]);
    let rows = vec![vec![x.clone(), y.clone()], vec![x.clone()]];
    let (m, t, r) = taskweave::compute((
        &delayed(weigh).call(map),
        &delayed(spell).call(tree),
        &delayed(row_sums).call(rows),
    ));
    assert_eq!(m, [("a".to_string(), 5), ("b".to_string(), 5)]);
    assert_eq!(t, "1=5;2=9;3=5;");
    assert_eq!(r, [14, 5]);
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
}

#[test]
fn a_map_of_ten_thousand_nodes() {
    watchdog::within(LIMIT, "a map of 10,000 nodes", || {
        let n = 10_000;
        let (map, plain) = hash_maps(n);
        let total = delayed(|m: &HashMap<String, i64>| {
            m.iter().map(|(k, v)| v * k.len() as i64).sum::<i64>()
        });
        let node = total.call(map);
        let info = node.info();
        assert_eq!(info.len(), n as usize + 1);
        assert_eq!(info.edges().len(), n as usize);
        let expected: i64 = plain.iter().map(|(k, v)| v * k.len() as i64).sum();
        for scheduler in [Scheduler::Threads, Scheduler::Sync] {
            assert_eq!(node.try_compute_with(scheduler).unwrap(), expected);
        }

        let (tree, plain) = btree_maps(n as u32);
        assert_eq!(delayed(spell).call(tree).compute(), spell(plain));
        let lens = vec![10; n as usize / 10];
        let (rows, plain) = nested(&lens);
        assert_eq!(delayed(row_sums).call(rows).compute(), row_sums(plain));
    });
}

#[test]
fn a_failing_value_in_a_map_fails_the_task_naming_it() {
    static RAN: AtomicUsize = AtomicUsize::new(0);
    fn boom(x: i64) -> i64 {
        if x == 3 {
            panic!("no {x}");
        }
        x
    }
    let values = |i: i64| {
        let node = delayed(boom).call(i);
        if i == 3 {
            node.named("boom-3")
        } else {
            node
        }
    };
    let map: HashMap<String, Delayed<i64>> = (0..6).map(|i| (name(i), values(i))).collect();
    let tree: BTreeMap<u32, Delayed<i64>> = (0..6).map(|i| (i as u32, values(i))).collect();
    let rows: Vec<Vec<Delayed<i64>>> = vec![vec![values(0)], vec![values(1), values(3)]];
    let counted = |m: HashMap<String, i64>| {
        RAN.fetch_add(1, Ordering::SeqCst);
        m.len()
    };
    let nodes = [
        delayed(counted).call(map),
        delayed(move |t: &BTreeMap<u32, i64>| {
            RAN.fetch_add(1, Ordering::SeqCst);
            t.len()
        })
        .call(tree),
        delayed(move |r: Vec<Vec<i64>>| {
            RAN.fetch_add(1, Ordering::SeqCst);
            r.len()
        })
        .call(rows),
    ];
    for node in &nodes {
        for scheduler in [Scheduler::Threads, Scheduler::Sync] {
            let error = node.try_compute_with(scheduler).unwrap_err();
            assert_eq!(error.task(), "boom-3");
            assert_eq!(error.message(), "no 3");
        }
    }
    assert_eq!(RAN.load(Ordering::SeqCst), 0);
}

#[test]
fn inspection_shows_one_edge_per_value_as_for_a_vec() {
    fn shape(info: &GraphInfo) -> (usize, usize, usize, usize, Vec<(String, String)>) {
        let nodes = info.nodes();
        let mut edges: Vec<(String, String)> = info
            .edges()
            .iter()
            .map(|&(from, to)| (nodes[from].name.clone(), nodes[to].name.clone()))
            .collect();
        edges.sort();
        (
            info.len(),
            info.edges().len(),
            info.depth(),
            info.width(),
            edges,
        )
    }
    let leaves = |n: i64| -> Vec<Delayed<i64>> { (0..n).map(|i| delay!(square(i))).collect() };
    let as_vec = delayed(|v: Vec<i64>| v.len())
        .named("collect")
        .call(leaves(8));
    let as_map = delayed(|m: HashMap<String, i64>| m.len())
        .named("collect")
        .call(
            leaves(8)
                .into_iter()
                .enumerate()
                .map(|(i, d)| (i.to_string(), d))
                .collect::<HashMap<_, _>>(),
        );
    let as_tree = delayed(|m: BTreeMap<usize, i64>| m.len())
        .named("collect")
        .call(
            leaves(8)
                .into_iter()
                .enumerate()
                .collect::<BTreeMap<_, _>>(),
        );
    let as_rows = delayed(|r: Vec<Vec<i64>>| r.len()).named("collect").call({
        let mut all = leaves(8);
        let rest = all.split_off(3);
        vec![all, vec![], rest]
    });
    let expected = shape(&as_vec.info());
    assert_eq!(expected.0, 9);
    assert_eq!(expected.1, 8);
    assert_eq!(shape(&as_map.info()), expected);
    assert_eq!(shape(&as_tree.info()), expected);
    assert_eq!(shape(&as_rows.info()), expected);
    // The same through `delay!`.
    let map: HashMap<String, Delayed<i64>> = leaves(8)
        .into_iter()
        .enumerate()
        .map(|(i, d)| (name(i as i64), d))
        .collect();
    let info = delay!(weigh_d(map)).info();
    assert_eq!((info.len(), info.edges().len()), (9, 8));
}

#[test]
fn pure_calls_key_maps_by_their_entries_and_nested_vecs_by_their_shape() {
    let x = delay!(square(2));
    let y = delay!(square(3));
    let z = delay!(square(4));
    let pure_weigh = delayed(weigh).pure();
    // Equal maps built in another order: one node.
    let mut first = HashMap::new();
    first.insert("a".to_string(), x.clone());
    first.insert("bb".to_string(), y.clone());
    let mut second = HashMap::with_capacity(64);
    second.insert("bb".to_string(), y.clone());
    second.insert("a".to_string(), x.clone());
    let one = pure_weigh.call(first.clone());
    assert_eq!(pure_weigh.call(&second).key(), one.key());
    // Another node under a key, or a node under another key: another node.
    let mut other_node = first.clone();
    other_node.insert("bb".to_string(), z.clone());
    let mut other_key = first.clone();
    other_key.remove("bb");
    other_key.insert("cc".to_string(), y.clone());
    assert_ne!(pure_weigh.call(other_node).key(), one.key());
    assert_ne!(pure_weigh.call(other_key).key(), one.key());
    assert_eq!(
        one.compute(),
        weigh(HashMap::from([("a".into(), 4), ("bb".into(), 9)]))
    );

    let pure_spell = delayed(spell).pure();
    let tree = BTreeMap::from([(1u32, x.clone()), (2, y.clone())]);
    let a = pure_spell.call(&tree);
    assert_eq!(pure_spell.call(tree.clone()).key(), a.key());
    assert_ne!(
        pure_spell
            .call(BTreeMap::from([(1u32, y.clone()), (2, x.clone())]))
            .key(),
        a.key()
    );
    // `#[delayed(pure)]` through `delay!`.
    let d = delay!(spell_pure(&tree));
    assert_eq!(delay!(spell_pure(tree.clone())).key(), d.key());
    assert_eq!(d.compute(), "1=4;2=9;");

    let pure_rows = delayed(row_sums).pure();
    let rows = vec![vec![x.clone(), y.clone()], vec![z.clone()]];
    let r = pure_rows.call(&rows);
    assert_eq!(pure_rows.call(rows.clone()).key(), r.key());
    let regrouped = vec![vec![x.clone()], vec![y.clone(), z.clone()]];
    assert_ne!(pure_rows.call(regrouped).key(), r.key());
    assert_eq!(r.compute(), [13, 16]);
}

#[test]
fn a_retried_task_gets_its_map_again() {
    static TRIES: AtomicUsize = AtomicUsize::new(0);
    let (map, plain) = hash_maps(5);
    let flaky = delayed(|m: HashMap<String, i64>| {
        if TRIES.fetch_add(1, Ordering::SeqCst) < 2 {
            panic!("not yet");
        }
        weigh(m)
    })
    .retries(3)
    .call(map);
    assert_eq!(flaky.compute(), weigh(plain));
    assert_eq!(TRIES.load(Ordering::SeqCst), 3);
}

#[test]
fn delay_keeps_an_empty_collection_of_unknown_element_type_a_vec_of_nodes() {
    // `Vec::new()` for a `Vec<T>` parameter matched only `Vec<Delayed<T>>`; beside
    // `Vec<Vec<Delayed<T>>>` it must still, rather than be ambiguous.
    #[delayed]
    fn count(v: Vec<i64>) -> usize {
        v.len()
    }
    #[delayed]
    fn keys(m: HashMap<String, i64>) -> usize {
        m.len()
    }
    let empty = delay!(count(Vec::new()));
    let one = delay!(count(vec![delay!(square(2))]));
    let no_keys = delay!(keys(HashMap::new()));
    let constant = delay!(keys(HashMap::from([("a".to_string(), 1)])));
    assert_eq!(
        taskweave::compute((&empty, &one, &no_keys, &constant)),
        (0, 1, 0, 1)
    );
    let constant_rows = delay!(row_sums_d(vec![vec![1, 2], vec![3]]));
    assert_eq!(constant_rows.compute(), [3, 3]);
    // The explicit form takes empty constants whose type is written.
    let empty_map = delayed(weigh).call(HashMap::<String, i64>::new());
    let empty_rows = delayed(row_sums).call(Vec::<Vec<i64>>::new());
    let constant_map = delayed(spell).call(BTreeMap::from([(1u32, 2i64)]));
    assert_eq!(
        taskweave::compute((&empty_map, &empty_rows, &constant_map)),
        (vec![], vec![], "1=2;".to_string())
    );
}
