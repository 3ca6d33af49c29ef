// A submitted task runs after `submit` returns, on another thread: it cannot borrow
// the caller's locals.
use taskweave::prelude::*;

fn count(names: &Vec<String>) -> usize {
    names.len()
}

fn main() {
    let client = Client::new();
    let names = vec!["a".to_string(), "b".to_string()];
    let n = client.submit(count, (&names,));
    assert_eq!(n.result().unwrap(), 2);
}
