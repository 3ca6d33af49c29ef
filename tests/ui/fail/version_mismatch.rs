// How macros and a runtime of different versions read: the macros name the runtime's
// hidden module after their own version (`__private::v0_1_0` for 0.1.0), the runtime
// after its own, so the expansion does not resolve, on that name. (Here a module of
// another name stands for a runtime of another version, reached through `crate = tw`;
// the stderr names this version, so a version bump re-blesses it.)

mod tw {
    pub use taskweave::*;

    /// A runtime of another version: its module has another name.
    pub mod __private {
        pub mod v0_0_9 {}
    }
}

#[tw::delayed(crate = tw)]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {}
