// A pure submission is keyed by its arguments; a plain value that is neither `Hash`
// nor a float has no key. The error names the value's own type.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use taskweave::Client;

fn main() {
    let client = Client::builder().threads(1).build().unwrap();
    let counter = Arc::new(AtomicUsize::new(0));
    let _ = client
        .task(|c: Arc<AtomicUsize>| c.load(Ordering::SeqCst))
        .pure()
        .submit((counter,));
}
