// Tasks and graphs in a `#![no_implicit_prelude]` module: the expansions name nothing
// through the prelude (`#[delayed]`'s check that a result is `Send` used a
// `#[diagnostic]` attribute, which rustc does not resolve there: E0433, "cannot find
// module or crate `diagnostic`").
#[no_implicit_prelude]
mod bare {
    use ::taskweave::prelude::*;

    #[delayed]
    pub fn double(x: u32) -> u32 {
        x * 2
    }

    #[delayed]
    pub fn checked(x: u32) -> ::core::result::Result<u32, ::std::string::String> {
        ::core::result::Result::Ok(x + 1)
    }

    pub fn run(x: u32) -> (::core::result::Result<u32, ::std::string::String>, u32) {
        let g = graph!(|x: u32| -> ::core::result::Result<u32, ::std::string::String> {
            let a = double(x);
            let b = checked(a)?;
            ::core::result::Result::Ok(double(b) + a)
        });
        (g.compute(x), delay!(double(double(x))).compute())
    }

    pub fn plain(x: u32) -> (::core::result::Result<u32, ::std::string::String>, u32) {
        let a = double(x);
        let b = checked(a).unwrap();
        (::core::result::Result::Ok(double(b) + a), double(double(x)))
    }
}

fn main() {
    assert_eq!(bare::run(3), bare::plain(3));
}
