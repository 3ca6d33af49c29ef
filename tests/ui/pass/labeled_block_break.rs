// A labeled block and its `break 'label value` in constant code.
use taskweave::prelude::*;

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn main() {
    let g = graph!(|n: i64| -> i64 {
        let k = 'blk: {
            if n > 0 {
                break 'blk 1;
            }
            2
        };
        add(n, k)
    });
    assert_eq!((g.compute(5), g.compute(-5)), (6, -3));
}
