//! Operators on `Delayed` values: each makes a node, like Dask's operator overloads.
//!
//! Operators are pure, as in Dask: an operator node is keyed by the operator, its
//! operand types and its inputs' keys (nodes' keys, constants' values), so equal
//! subexpressions (`&e + &e` written twice) are one node, computed once.

use core::ops::{Add, BitAnd, BitOr, BitXor, Div, Mul, Neg, Not, Rem, Shl, Shr, Sub};
use std::hash::{Hash, Hasher};

use super::{fn_identity, pure_key, task_here, Delayed, KeyPart};
use crate::engine::slot::give;

/// An input of an operator's key: a node's key, or a constant (tagged apart, so that a
/// constant never keys like a node).
fn node_part<T>(node: &Delayed<T>) -> impl Fn(&mut dyn Hasher) + '_ {
    move |h: &mut dyn Hasher| {
        h.write_u8(0);
        h.write_u64(node.node.meta().key);
    }
}

fn constant_part<B: Constant>(value: &B) -> impl Fn(&mut dyn Hasher) + '_ {
    move |h: &mut dyn Hasher| {
        h.write_u8(1);
        value.constant_key(h);
    }
}

/// The pure key of an operator node: the operator's name, the operand types `Sig` and
/// the inputs' keys, in order.
fn op_key<Sig: ?Sized + 'static>(name: &'static str, inputs: &[&KeyPart<'_>]) -> Option<u64> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    fn_identity::<Sig>(0).hash(&mut hasher);
    name.hash(&mut hasher);
    Some(pure_key(hasher.finish(), inputs))
}

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
                let key = op_key::<fn(A, B)>($name, &[&node_part(self), &node_part(rhs)]);
                task_here($name, "operator", [self.node.clone(), rhs.node.clone()], key, |env| {
                    let mut cursor = 0;
                    let a = give(&mut env.input::<A>(&mut cursor));
                    let b = give(&mut env.input::<B>(&mut cursor));
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
                let key = op_key::<fn(A, B)>($name, &[&node_part(self), &constant_part(&rhs)]);
                task_here($name, "operator", [self.node.clone()], key, move |env| {
                    let mut cursor = 0;
                    let a = give(&mut env.input::<A>(&mut cursor));
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
/// `char`, `String`, `&'static str`): kept in the node, cloned for every run. A
/// numeric constant may also stand on the left (`1 + a`, `2.0 * x`, `10 - a`).
pub trait Constant: Clone + Send + Sync + 'static {
    /// Feeds the value to an operator's pure key: by its hash, or a float by its exact
    /// bits (as pure calls key floats).
    fn constant_key(&self, hasher: &mut dyn Hasher);
}

macro_rules! constants {
    (hash: $($t:ty),*; bits: $($f:ty),*) => {
        $(impl Constant for $t {
            fn constant_key(&self, hasher: &mut dyn Hasher) {
                let mut inner = std::collections::hash_map::DefaultHasher::new();
                std::any::TypeId::of::<$t>().hash(&mut inner);
                self.hash(&mut inner);
                hasher.write_u64(inner.finish());
            }
        })*
        $(impl Constant for $f {
            fn constant_key(&self, hasher: &mut dyn Hasher) {
                let mut inner = std::collections::hash_map::DefaultHasher::new();
                std::any::TypeId::of::<$f>().hash(&mut inner);
                self.to_bits().hash(&mut inner);
                hasher.write_u64(inner.finish());
            }
        })*
    };
}
constants!(
    hash: i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, bool, char, String,
        &'static str;
    bits: f32, f64
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
                let key = op_key::<fn(A)>($name, &[&node_part(self)]);
                task_here($name, "operator", [self.node.clone()], key, |env| {
                    let mut cursor = 0;
                    $trait::$method(give(&mut env.input::<A>(&mut cursor)))
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

/// `constant op delayed` for the std numeric types (one type on both sides), by value and by reference
/// (Python's reflected operators, `__radd__`, …): `1 + a`, `2.0 * x`, `10 - a`.
macro_rules! reflected {
    ($types:tt; $($trait:ident $method:ident $name:literal),*) => {
        $(reflected!(@one $trait $method $name $types);)*
    };
    // One type on both sides, as std's own impls for these operators have it. Not
    // `impl<B> Add<&Delayed<B>> for usize where usize: Add<B>`: that impl, generic in
    // `B`, satisfies its own bound (`B = &Delayed<_>`, and so on), and rustc's search
    // for `usize: Add<_>` in a function with a lifetime bound (`'b: 'a`, `T: 'a`) never
    // ended (E0275, overflow) in any crate linking taskweave.
    (@one $trait:ident $method:ident $name:literal [$($t:ty),*]) => {$(
        impl $trait<&Delayed<$t>> for $t {
            type Output = Delayed<<$t as $trait>::Output>;
            #[track_caller]
            fn $method(self, rhs: &Delayed<$t>) -> Self::Output {
                let key = op_key::<fn($t, $t)>($name, &[&constant_part(&self), &node_part(rhs)]);
                task_here($name, "operator", [rhs.node.clone()], key, move |env| {
                    let mut cursor = 0;
                    let b = give(&mut env.input::<$t>(&mut cursor));
                    <$t as $trait>::$method(self, b)
                })
            }
        }

        impl $trait<Delayed<$t>> for $t {
            type Output = Delayed<<$t as $trait>::Output>;
            #[track_caller]
            fn $method(self, rhs: Delayed<$t>) -> Self::Output {
                <$t as $trait<&Delayed<$t>>>::$method(self, &rhs)
            }
        }
    )*};
}

reflected!(
    [i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64];
    Add add "add", Sub sub "sub", Mul mul "mul", Div div "div", Rem rem "rem"
);
reflected!(
    [i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize];
    BitAnd bitand "bitand", BitOr bitor "bitor", BitXor bitxor "bitxor", Shl shl "shl", Shr shr "shr"
);
