// A borrow of a local passed where a task takes an owned value.
use taskweave::prelude::*;

fn count(names: Vec<String>) -> usize {
    names.len()
}

fn main() {
    let names = vec!["a".to_string(), "b".to_string()];
    let n = delayed(count).call(&names);
    assert_eq!(n.compute(), 2);
}
