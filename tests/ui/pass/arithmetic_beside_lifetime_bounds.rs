// Linking taskweave changes nothing for arithmetic that does not involve it: numbers
// added, multiplied or shifted in functions and impls with lifetime bounds (`'b: 'a`,
// `T: 'a`), where a generic `impl<B> Add<&Delayed<B>> for usize` sent rustc's trait
// search into an overflow (E0275). A constant on the left of a `Delayed` still works.
use taskweave::prelude::*;

fn f<'a, 'b: 'a>(x: usize, y: usize, _: &'a (), _: &'b ()) -> usize {
    x + y
}

fn g<'a, 'b: 'a>(x: f64, y: i64, _: &'a (), _: &'b ()) -> f64 {
    2.0 * x - (y * 3 - 1) as f64 + (1u32 << y) as f64
}

fn h<'a, T: 'a>(_: &'a T, n: usize) -> usize {
    n % 7 + (n >> 1) + (n & 3)
}

struct Pair<'a, 'b: 'a>(&'a u8, &'b u8);

impl<'a, 'b: 'a> Pair<'a, 'b> {
    fn sum(&self) -> u8 {
        *self.0 + *self.1
    }
}

#[delayed]
fn lengths<'a, 'b: 'a>(x: &'a str, y: &'b str) -> usize {
    x.len() + y.len()
}

fn main() {
    assert_eq!(f(1, 2, &(), &()), 3);
    assert_eq!(g(1.5, 2, &(), &()), 3.0 - 5.0 + 4.0);
    assert_eq!(h(&"x", 10), 3 + 5 + 2);
    assert_eq!(Pair(&1, &2).sum(), 3);
    assert_eq!(delay!(lengths("ab", "c")).compute(), 3);
    let x = delay!(lengths("ab", "cd"));
    assert_eq!((10 - &x).compute(), 6);
    assert_eq!((2.0 * delayed(|v: usize| v as f64).call(x.clone())).compute(), 8.0);
    assert_eq!((1usize << &x).compute(), 16);
}
