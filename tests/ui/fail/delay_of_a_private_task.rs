// `delay!` of a task private to another module: one privacy error, naming the function
// (not its companion type or the items `delay!` reaches through it).
use taskweave::prelude::*;

mod m {
    use taskweave::prelude::*;

    #[delayed]
    fn hidden(x: u64) -> u64 {
        x + 1
    }

    pub fn eager() -> u64 {
        hidden(1)
    }
}

fn main() {
    let _ = m::eager();
    let d = delay!(m::hidden(1));
    let _ = d.compute();
}
