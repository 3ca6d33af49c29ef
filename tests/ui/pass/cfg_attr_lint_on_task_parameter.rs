// A `#[cfg_attr(pred, allow(…))]` on a task's parameter only adds a lint level: the
// parameter is there in every build, so the task is accepted (it was refused as a
// parameter "removed by `#[cfg]`", which only a `cfg_attr` giving `cfg` can do).
use taskweave::prelude::*;

#[delayed]
fn weigh(
    #[cfg_attr(all(), allow(unused_variables))] unit: u32,
    #[cfg_attr(any(), allow(unused_variables))] n: u32,
) -> u32 {
    n * 2
}

fn main() {
    let g = graph!(|x: u32| -> u32 { weigh(1, weigh(2, x)) });
    assert_eq!(g.compute(5), weigh(1, weigh(2, 5)));
    assert_eq!(delay!(weigh(1, 3)).compute(), weigh(1, 3));
}
