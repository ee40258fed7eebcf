//! The typed table of host functions the generated code calls, in the
//! manner of Cranelift's `LibCall`: one [`HostFn`] variant per function,
//! and from it the symbol, the address and the signature. Lowering asks
//! for `HostFn::Math(MathFn::Exp, Float::F64)`-style keys, so there is no
//! lookup by name that could miss.
//!
//! The math functions are the reference implementations of Rust's `std`
//! (the libm math mode), so JIT results equal the interpreter's bit for bit
//! in that mode. (With `poly_math`, kernels that do not inline the
//! polynomials call out-of-line compiled ones instead, keyed by the same
//! [`MathFn`] and [`Float`]: see lower/math.rs.)

use adjoint_ir::{DType, UnaryOp};

/// A float type of a math function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Float {
    /// `f32`.
    F32,
    /// `f64`.
    F64,
}

impl Float {
    /// Both float types.
    #[cfg(test)]
    pub const ALL: [Float; 2] = [Float::F32, Float::F64];

    /// The float type of `dt` (`f64` for `f64`, `f32` otherwise: bools
    /// never reach a math function).
    pub fn of(dt: DType) -> Float {
        match dt {
            DType::F64 => Float::F64,
            DType::F32 | DType::Bool => Float::F32,
        }
    }

    /// The dtype.
    pub fn dtype(self) -> DType {
        match self {
            Float::F32 => DType::F32,
            Float::F64 => DType::F64,
        }
    }
}

/// A scalar math function the generated code may call (as a host
/// function, or as an out-of-line polynomial).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum MathFn {
    /// `exp(x)`
    Exp,
    /// `ln(x)`
    Log,
    /// `sin(x)`
    Sin,
    /// `cos(x)`
    Cos,
    /// `tanh(x)`
    Tanh,
    /// `pow(x, y)`
    Pow,
}

impl MathFn {
    /// Every math function.
    #[cfg(test)]
    pub const ALL: [MathFn; 6] = [
        MathFn::Exp,
        MathFn::Log,
        MathFn::Sin,
        MathFn::Cos,
        MathFn::Tanh,
        MathFn::Pow,
    ];

    /// The unary op this function computes (`None`: `pow`).
    pub fn unary(self) -> Option<UnaryOp> {
        match self {
            MathFn::Exp => Some(UnaryOp::Exp),
            MathFn::Log => Some(UnaryOp::Log),
            MathFn::Sin => Some(UnaryOp::Sin),
            MathFn::Cos => Some(UnaryOp::Cos),
            MathFn::Tanh => Some(UnaryOp::Tanh),
            MathFn::Pow => None,
        }
    }

    /// The number of arguments.
    pub fn arity(self) -> usize {
        match self {
            MathFn::Pow => 2,
            MathFn::Exp | MathFn::Log | MathFn::Sin | MathFn::Cos | MathFn::Tanh => 1,
        }
    }

    /// The name of the out-of-line polynomial function of `self` in `t`.
    pub fn poly_name(self, t: Float) -> &'static str {
        match (self, t) {
            (MathFn::Exp, Float::F64) => "poly_exp_f64",
            (MathFn::Exp, Float::F32) => "poly_exp_f32",
            (MathFn::Log, Float::F64) => "poly_log_f64",
            (MathFn::Log, Float::F32) => "poly_log_f32",
            (MathFn::Sin, Float::F64) => "poly_sin_f64",
            (MathFn::Sin, Float::F32) => "poly_sin_f32",
            (MathFn::Cos, Float::F64) => "poly_cos_f64",
            (MathFn::Cos, Float::F32) => "poly_cos_f32",
            (MathFn::Tanh, Float::F64) => "poly_tanh_f64",
            (MathFn::Tanh, Float::F32) => "poly_tanh_f32",
            (MathFn::Pow, Float::F64) => "poly_pow_f64",
            (MathFn::Pow, Float::F32) => "poly_pow_f32",
        }
    }
}

/// The shape of a host function's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostSig {
    /// `fn(t) -> t` of the dtype.
    Unary(DType),
    /// `fn(t, t) -> t` of the dtype.
    Binary(DType),
    /// `fn(desc, a, b, c)`, four pointers.
    MatMul,
    /// `fn(kernel, ins, outs, arena, n, grain, threads)`: seven
    /// pointer-sized words.
    ParallelFor,
    /// `fn() -> ptr`.
    Counters,
    /// `fn(desc, table)`, two pointers.
    Revolve,
}

/// A host function the generated code may call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum HostFn {
    /// A math function of `std` (the libm math mode).
    Math(MathFn, Float),
    /// `c = a @ b` through the GEMM crate (`runtime::adj_matmul`).
    MatMul,
    /// The thread pool's parallel-for (`pool::adj_parallel_for`).
    ParallelFor,
    /// The running call's body-evaluation counters
    /// (`call_stats::adj_body_counters`).
    BodyCounters,
    /// The driver of `revolve` (`control_flow::revolve::adj_revolve`).
    Revolve,
}

impl HostFn {
    /// Every host function, in [`HostFn::index`] order (the order they
    /// are declared in each module).
    pub const ALL: [HostFn; 16] = {
        use Float::{F32, F64};
        use MathFn::{Cos, Exp, Log, Pow, Sin, Tanh};
        [
            HostFn::Math(Exp, F64),
            HostFn::Math(Log, F64),
            HostFn::Math(Sin, F64),
            HostFn::Math(Cos, F64),
            HostFn::Math(Tanh, F64),
            HostFn::Math(Exp, F32),
            HostFn::Math(Log, F32),
            HostFn::Math(Sin, F32),
            HostFn::Math(Cos, F32),
            HostFn::Math(Tanh, F32),
            HostFn::Math(Pow, F64),
            HostFn::Math(Pow, F32),
            HostFn::MatMul,
            HostFn::ParallelFor,
            HostFn::BodyCounters,
            HostFn::Revolve,
        ]
    };

    /// The position of `self` in [`HostFn::ALL`].
    pub fn index(self) -> usize {
        use Float::{F32, F64};
        use MathFn::{Cos, Exp, Log, Pow, Sin, Tanh};
        match self {
            HostFn::Math(Exp, F64) => 0,
            HostFn::Math(Log, F64) => 1,
            HostFn::Math(Sin, F64) => 2,
            HostFn::Math(Cos, F64) => 3,
            HostFn::Math(Tanh, F64) => 4,
            HostFn::Math(Exp, F32) => 5,
            HostFn::Math(Log, F32) => 6,
            HostFn::Math(Sin, F32) => 7,
            HostFn::Math(Cos, F32) => 8,
            HostFn::Math(Tanh, F32) => 9,
            HostFn::Math(Pow, F64) => 10,
            HostFn::Math(Pow, F32) => 11,
            HostFn::MatMul => 12,
            HostFn::ParallelFor => 13,
            HostFn::BodyCounters => 14,
            HostFn::Revolve => 15,
        }
    }

    /// The symbol the function is registered under in each JIT module.
    pub fn symbol(self) -> &'static str {
        match self {
            HostFn::Math(f, t) => match (f, t) {
                (MathFn::Exp, Float::F64) => "adj_exp_f64",
                (MathFn::Exp, Float::F32) => "adj_exp_f32",
                (MathFn::Log, Float::F64) => "adj_log_f64",
                (MathFn::Log, Float::F32) => "adj_log_f32",
                (MathFn::Sin, Float::F64) => "adj_sin_f64",
                (MathFn::Sin, Float::F32) => "adj_sin_f32",
                (MathFn::Cos, Float::F64) => "adj_cos_f64",
                (MathFn::Cos, Float::F32) => "adj_cos_f32",
                (MathFn::Tanh, Float::F64) => "adj_tanh_f64",
                (MathFn::Tanh, Float::F32) => "adj_tanh_f32",
                (MathFn::Pow, Float::F64) => "adj_pow_f64",
                (MathFn::Pow, Float::F32) => "adj_pow_f32",
            },
            HostFn::MatMul => "adj_matmul",
            HostFn::ParallelFor => "adj_parallel_for",
            HostFn::BodyCounters => "adj_body_counters",
            HostFn::Revolve => "adj_revolve",
        }
    }

    /// The function's address.
    pub fn addr(self) -> *const u8 {
        match self {
            HostFn::Math(f, t) => match (f, t) {
                (MathFn::Exp, Float::F64) => adj_exp_f64 as *const u8,
                (MathFn::Exp, Float::F32) => adj_exp_f32 as *const u8,
                (MathFn::Log, Float::F64) => adj_log_f64 as *const u8,
                (MathFn::Log, Float::F32) => adj_log_f32 as *const u8,
                (MathFn::Sin, Float::F64) => adj_sin_f64 as *const u8,
                (MathFn::Sin, Float::F32) => adj_sin_f32 as *const u8,
                (MathFn::Cos, Float::F64) => adj_cos_f64 as *const u8,
                (MathFn::Cos, Float::F32) => adj_cos_f32 as *const u8,
                (MathFn::Tanh, Float::F64) => adj_tanh_f64 as *const u8,
                (MathFn::Tanh, Float::F32) => adj_tanh_f32 as *const u8,
                (MathFn::Pow, Float::F64) => adj_pow_f64 as *const u8,
                (MathFn::Pow, Float::F32) => adj_pow_f32 as *const u8,
            },
            HostFn::MatMul => crate::runtime::adj_matmul as *const u8,
            HostFn::ParallelFor => crate::pool::adj_parallel_for as *const u8,
            HostFn::BodyCounters => crate::call_stats::adj_body_counters as *const u8,
            HostFn::Revolve => crate::control_flow::revolve::adj_revolve as *const u8,
        }
    }

    /// The function's signature.
    pub fn sig(self) -> HostSig {
        match self {
            HostFn::Math(f, t) if f.arity() == 2 => HostSig::Binary(t.dtype()),
            HostFn::Math(_, t) => HostSig::Unary(t.dtype()),
            HostFn::MatMul => HostSig::MatMul,
            HostFn::ParallelFor => HostSig::ParallelFor,
            HostFn::BodyCounters => HostSig::Counters,
            HostFn::Revolve => HostSig::Revolve,
        }
    }
}

macro_rules! unary_shims {
    ($($name:ident: $t:ty => $f:expr;)*) => {
        $(
            extern "C" fn $name(x: $t) -> $t {
                let f: fn($t) -> $t = $f;
                f(x)
            }
        )*
    };
}

unary_shims! {
    adj_exp_f64: f64 => f64::exp;
    adj_log_f64: f64 => f64::ln;
    adj_sin_f64: f64 => f64::sin;
    adj_cos_f64: f64 => f64::cos;
    adj_tanh_f64: f64 => f64::tanh;
    adj_exp_f32: f32 => f32::exp;
    adj_log_f32: f32 => f32::ln;
    adj_sin_f32: f32 => f32::sin;
    adj_cos_f32: f32 => f32::cos;
    adj_tanh_f32: f32 => f32::tanh;
}

extern "C" fn adj_pow_f64(x: f64, y: f64) -> f64 {
    x.powf(y)
}

extern "C" fn adj_pow_f32(x: f32, y: f32) -> f32 {
    x.powf(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_host_fn_has_one_entry_with_an_address() {
        let all = HostFn::ALL;
        let mut symbols = HashSet::new();
        for (i, h) in all.iter().enumerate() {
            assert_eq!(h.index(), i, "{h:?}");
            assert!(!h.addr().is_null(), "{h:?}");
            assert!(symbols.insert(h.symbol()), "{h:?}: symbol listed twice");
        }
        // Every variant is listed: each math function in each float type,
        // and the two runtime entry points.
        for f in MathFn::ALL {
            for t in Float::ALL {
                assert!(all.contains(&HostFn::Math(f, t)));
                assert_eq!(
                    HostFn::Math(f, t).sig(),
                    if f.arity() == 2 {
                        HostSig::Binary(t.dtype())
                    } else {
                        HostSig::Unary(t.dtype())
                    }
                );
            }
        }
        assert!(all.contains(&HostFn::MatMul));
        assert!(all.contains(&HostFn::ParallelFor));
        assert!(all.contains(&HostFn::BodyCounters));
        assert!(all.contains(&HostFn::Revolve));
    }

    #[test]
    fn math_entries_are_the_std_functions() {
        let h = HostFn::Math(MathFn::Tanh, Float::F64);
        assert_eq!(h.symbol(), "adj_tanh_f64");
        assert_eq!(h.addr(), adj_tanh_f64 as *const u8);
        assert_eq!(adj_tanh_f64(0.5).to_bits(), 0.5f64.tanh().to_bits());
        let p = HostFn::Math(MathFn::Pow, Float::F32);
        assert_eq!(p.addr(), adj_pow_f32 as *const u8);
        assert_eq!(p.sig(), HostSig::Binary(DType::F32));
    }
}
