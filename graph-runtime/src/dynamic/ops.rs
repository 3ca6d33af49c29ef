//! Operators on `Delayed` values: each makes a node, like Dask's operator overloads.

use core::ops::{Add, BitAnd, BitOr, BitXor, Div, Mul, Neg, Not, Rem, Shl, Shr, Sub};

use super::{task_here, Delayed};
use crate::slot::give;

macro_rules! binary {
    ($($trait:ident $method:ident $name:literal),*) => {$(
        impl<A, B> $trait<Delayed<B>> for Delayed<A>
        where
            A: $trait<B> + Clone + Send + Sync + 'static,
            B: Clone + Send + Sync + 'static,
            A::Output: Send + Sync + 'static,
        {
            type Output = Delayed<A::Output>;
            #[track_caller]
            fn $method(self, rhs: Delayed<B>) -> Self::Output {
                (&self).$method(&rhs)
            }
        }

        impl<A, B> $trait<&Delayed<B>> for &Delayed<A>
        where
            A: $trait<B> + Clone + Send + Sync + 'static,
            B: Clone + Send + Sync + 'static,
            A::Output: Send + Sync + 'static,
        {
            type Output = Delayed<A::Output>;
            #[track_caller]
            fn $method(self, rhs: &Delayed<B>) -> Self::Output {
                task_here($name, "operator", [self.node.clone(), rhs.node.clone()], |env| {
                    let mut cursor = 0;
                    let a = give(&mut env.input::<A>(&mut cursor).shared());
                    let b = give(&mut env.input::<B>(&mut cursor).shared());
                    $trait::$method(a, b)
                })
            }
        }

        impl<A, B> $trait<&Delayed<B>> for Delayed<A>
        where
            A: $trait<B> + Clone + Send + Sync + 'static,
            B: Clone + Send + Sync + 'static,
            A::Output: Send + Sync + 'static,
        {
            type Output = Delayed<A::Output>;
            #[track_caller]
            fn $method(self, rhs: &Delayed<B>) -> Self::Output {
                (&self).$method(rhs)
            }
        }

        impl<A, B> $trait<Delayed<B>> for &Delayed<A>
        where
            A: $trait<B> + Clone + Send + Sync + 'static,
            B: Clone + Send + Sync + 'static,
            A::Output: Send + Sync + 'static,
        {
            type Output = Delayed<A::Output>;
            #[track_caller]
            fn $method(self, rhs: Delayed<B>) -> Self::Output {
                self.$method(&rhs)
            }
        }

        impl<A, B> $trait<B> for &Delayed<A>
        where
            A: $trait<B> + Clone + Send + Sync + 'static,
            B: Constant,
            A::Output: Send + Sync + 'static,
        {
            type Output = Delayed<A::Output>;
            #[track_caller]
            fn $method(self, rhs: B) -> Self::Output {
                task_here($name, "operator", [self.node.clone()], move |env| {
                    let mut cursor = 0;
                    let a = give(&mut env.input::<A>(&mut cursor).shared());
                    $trait::$method(a, rhs.clone())
                })
            }
        }

        impl<A, B> $trait<B> for Delayed<A>
        where
            A: $trait<B> + Clone + Send + Sync + 'static,
            B: Constant,
            A::Output: Send + Sync + 'static,
        {
            type Output = Delayed<A::Output>;
            #[track_caller]
            fn $method(self, rhs: B) -> Self::Output {
                (&self).$method(rhs)
            }
        }
    )*};
}

/// Plain values an operator on a `Delayed` accepts on its right (numbers, `bool`,
/// `char`, `String`, `&'static str`): kept in the node, cloned for every run.
pub trait Constant: Clone + Send + Sync + 'static {}
macro_rules! constants {
    ($($t:ty),*) => {$(impl Constant for $t {})*};
}
constants!(
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    f32,
    f64,
    bool,
    char,
    String,
    &'static str
);

binary!(
    Add add "add", Sub sub "sub", Mul mul "mul", Div div "div", Rem rem "rem",
    BitAnd bitand "bitand", BitOr bitor "bitor", BitXor bitxor "bitxor", Shl shl "shl", Shr shr "shr"
);

macro_rules! unary {
    ($($trait:ident $method:ident $name:literal),*) => {$(
        impl<A> $trait for &Delayed<A>
        where
            A: $trait + Clone + Send + Sync + 'static,
            A::Output: Send + Sync + 'static,
        {
            type Output = Delayed<A::Output>;
            #[track_caller]
            fn $method(self) -> Self::Output {
                task_here($name, "operator", [self.node.clone()], |env| {
                    let mut cursor = 0;
                    $trait::$method(give(&mut env.input::<A>(&mut cursor).shared()))
                })
            }
        }

        impl<A> $trait for Delayed<A>
        where
            A: $trait + Clone + Send + Sync + 'static,
            A::Output: Send + Sync + 'static,
        {
            type Output = Delayed<A::Output>;
            #[track_caller]
            fn $method(self) -> Self::Output {
                $trait::$method(&self)
            }
        }
    )*};
}

unary!(Neg neg "neg", Not not "not");
