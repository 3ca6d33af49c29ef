use taskweave::prelude::*;

#[delayed]
fn parse_as<T: std::str::FromStr>(s: &str) -> Option<T> {
    s.parse().ok()
}

fn main() {}
