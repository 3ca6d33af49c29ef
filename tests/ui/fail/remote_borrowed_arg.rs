use taskweave::prelude::*;

#[delayed(remote)]
fn count_words(text: &str, limit: usize) -> usize {
    text.split_whitespace().take(limit).count()
}

fn main() {}
