use taskweave::prelude::*;

struct Shape {
    side: f64,
}

impl Shape {
    #[delayed]
    fn square(side: f64) -> Self {
        Shape { side }
    }
}

fn main() {}
