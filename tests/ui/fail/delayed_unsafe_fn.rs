use taskweave::prelude::*;

#[delayed]
unsafe fn read(p: usize) -> u8 {
    p as u8
}

fn main() {}
