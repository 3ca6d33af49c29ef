use taskweave::prelude::*;

#[delayed]
async fn fetch(id: u32) -> u32 {
    id
}

fn main() {}
