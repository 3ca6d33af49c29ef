// The correct forms of the mistakes in `tests/ui/fail` on `Delayed` and `Future`
// (`python_style_call_of_delayed`, `compute_of_several_arguments`, …) compile and run.
use std::sync::Arc;

use taskweave::prelude::*;

fn inc(x: i64) -> i64 {
    x + 1
}

fn add(x: i64, y: i64) -> i64 {
    x + y
}

fn count(names: &Vec<String>) -> usize {
    names.len()
}

fn parts(n: usize) -> Vec<i64> {
    (0..n as i64).collect()
}

#[delayed]
fn double(x: i64) -> i64 {
    x * 2
}

fn main() {
    // `delayed(inc).call(1)`, or `delay!` of a `#[delayed]` function.
    let a = delayed(inc).call(1);
    let b = delay!(double(a.clone()));
    // Several values in one tuple; a `Vec` of nodes by reference.
    assert_eq!(taskweave::compute((&a, &b)), (2, 4));
    let all = vec![a.clone(), b.clone()];
    assert_eq!(taskweave::compute(&all), vec![2, 4]);
    assert_eq!(taskweave::compute(&all[..]), vec![2, 4]);
    // An owned value for a `&T` parameter: the task lends its own copy.
    let names = vec!["a".to_string(), "b".to_string()];
    assert_eq!(delayed(count).call(names.clone()).compute(), 2);
    // Comparisons, lengths, iteration and unwrapping inside a task, or after compute.
    let big = a.map(|v| *v > 3);
    assert!(!big.compute());
    let p = delayed(parts).call(3);
    assert_eq!(p.map(|v| v.len()).compute(), 3);
    assert_eq!(p.map(|v| v.iter().sum::<i64>()).compute(), 3);
    assert_eq!(p.compute().len(), 3);
    let mut d = delayed(inc).call(1);
    d = d + 1;
    assert_eq!(format!("{}", d.compute()), "3");
    let _ = format!("{d:?}");

    // Futures: one argument tuple, owned or shared values, a future per item.
    let client = Client::new();
    let f = client.submit(inc, (1,));
    let g = client.submit(add, (&f, 10));
    assert_eq!(g.result().unwrap(), 12);
    let shared = client.scatter(names);
    let n = client.submit(|v: Arc<Vec<String>>| v.len(), (&shared,));
    assert_eq!(n.result().unwrap(), 2);
    assert_eq!(format!("{}", f.result().unwrap()), "2");
    let sums = client.map2(add, vec![1, 3], vec![2, 4]);
    assert_eq!(client.gather(&sums).unwrap(), vec![3, 7]);
    // `client.compute` of one value, or of a slice.
    assert_eq!(client.compute(&a).result().unwrap(), 2);
    assert_eq!(client.compute(&all[..]).result().unwrap(), vec![2, 4]);
}
