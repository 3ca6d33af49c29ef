// A task runs after the call that builds it, on another thread: it cannot borrow a
// local. A `&T` parameter borrows the task's own copy: pass the value.
use taskweave::prelude::*;

fn count(names: &Vec<String>) -> usize {
    names.len()
}

fn main() {
    let names = vec!["a".to_string(), "b".to_string()];
    let n = delayed(count).call(&names);
    assert_eq!(n.compute(), 2);
}
