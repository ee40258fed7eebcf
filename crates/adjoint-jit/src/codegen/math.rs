//! Math lowering: unary and binary ops, transcendental functions as inline
//! polynomials ([`crate::vmath`], [`crate::vpow`]), as out-of-line
//! polynomial functions, or as host calls ([`crate::libcall`]).

use super::clif::{scalar_ty, splat_const};
use super::context::{Callee, Ctx, Env, PolyFn};
use crate::kernel_ir::{KExpr, Kernel};
use crate::libcall::{Float, HostFn, MathFn};
use crate::{vmath, vpow, JitOptions};
use adjoint_ir::{BinaryOp, DType, Error, Result, UnaryOp};
use cranelift_codegen::ir::{AbiParam, FuncRef, InstBuilder, Signature, Value};
use cranelift_frontend::FunctionBuilder;
use cranelift_module::{Linkage, Module};
use std::collections::HashMap;

/// A kernel with fewer elements than this is "small" for the compile-time
/// budget of polynomial functions.
pub(super) const SMALL_KERNEL_ELEMS: usize = 1024;

/// The most polynomial functions a small kernel inlines (`pow` counts as
/// four).
pub(super) const MAX_POLYS_SMALL_KERNEL: usize = 16;

/// The transcendental functions a kernel evaluates per element, counted in
/// `exp`s of code (a `pow` is about four).
pub(super) fn transcendentals(k: &Kernel) -> usize {
    k.exprs
        .iter()
        .map(|e| match e {
            KExpr::Unary(
                UnaryOp::Exp
                | UnaryOp::Log
                | UnaryOp::Tanh
                | UnaryOp::Sigmoid
                | UnaryOp::Sin
                | UnaryOp::Cos,
                _,
            ) => 1,
            KExpr::Binary(BinaryOp::Pow, ..) => 4,
            _ => 0,
        })
        .sum()
}

/// Whether a kernel's transcendental functions are inlined polynomials
/// (else host calls): always, unless `poly_math` is off or a small loop has
/// very many of them (their code would cost far more compile time than
/// their run time saves). This is a compile-time decision only: with
/// `poly_math` the host functions are the same polynomials
/// (`adjoint_ir::math`, see runtime.rs), so the results are the same bits
/// either way and never depend on a kernel's neighbours.
pub(super) fn kernel_inlines_math(opts: &JitOptions, k: &Kernel) -> bool {
    opts.poly_math
        && (transcendentals(k) <= MAX_POLYS_SMALL_KERNEL || k.numel() >= SMALL_KERNEL_ELEMS)
}

impl Ctx<'_> {
    /// A reference, in the function being built, to the out-of-line
    /// polynomial function `f` in `t`, declared on first use and defined
    /// after `main` ([`Self::define_math_fns`]).
    pub(super) fn math_fn_ref(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        f: MathFn,
        t: Float,
    ) -> FuncRef {
        let key = Callee::Poly(f, t);
        if let Some(&r) = env.refs.get(&key) {
            return r;
        }
        let id = match self.math_fns.iter().find(|p| p.f == f && p.t == t) {
            Some(p) => p.id,
            None => {
                let sig = self.math_sig(f, t);
                let name = f.poly_name(t);
                // A new name (each is declared once, here) with a local
                // linkage cannot clash with another declaration.
                let id = self
                    .module
                    .declare_function(name, Linkage::Local, &sig)
                    .unwrap_or_else(|e| unreachable!("declaring {name}: {e}"));
                self.math_fns.push(PolyFn { f, t, id });
                id
            }
        };
        let r = self.module.declare_func_in_func(id, b.func);
        env.refs.insert(key, r);
        r
    }

    pub(super) fn math_sig(&self, f: MathFn, t: Float) -> Signature {
        let mut sig = self.module.make_signature();
        for _ in 0..f.arity() {
            sig.params.push(AbiParam::new(scalar_ty(t.dtype())));
        }
        sig.returns.push(AbiParam::new(scalar_ty(t.dtype())));
        sig
    }

    /// Defines the out-of-line polynomial functions the code calls: the
    /// scalar inline code of each, as its own function.
    pub(super) fn define_math_fns(&mut self) -> Result<()> {
        let saved = self.kernel_poly;
        self.kernel_poly = true;
        let fns = self.math_fns.clone();
        for f in fns {
            let sig = self.math_sig(f.f, f.t);
            let dt = f.t.dtype();
            self.define_declared_fn(f.id, f.f.poly_name(f.t), sig, |cx, b, p| {
                let mut env = Env {
                    ins: p[0],
                    outs: p[0],
                    arena: p[0],
                    refs: HashMap::new(),
                };
                let fl = cx.flavor(dt, false);
                let v = match f.f.unary() {
                    Some(u) => cx
                        .inline_math(b, &mut env, u, dt, false, p[0])
                        .ok_or_else(|| Error::jit(format!("no polynomial for {}", u.name())))?,
                    None => vpow::pow(b, fl, p[0], p[1]),
                };
                Ok(vec![v])
            })?;
        }
        self.kernel_poly = saved;
        Ok(())
    }

    /// Whether an expression is lowered to a call of a host function.
    pub(super) fn is_host_call(&self, e: &KExpr) -> bool {
        match e {
            KExpr::Unary(u, _) => match u {
                UnaryOp::Sin | UnaryOp::Cos => !(self.kernel_poly && self.fma),
                UnaryOp::Exp | UnaryOp::Log | UnaryOp::Tanh | UnaryOp::Sigmoid => !self.kernel_poly,
                UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sqrt | UnaryOp::Relu => false,
            },
            KExpr::Binary(op, ..) => *op == BinaryOp::Pow && !self.kernel_poly,
            _ => false,
        }
    }

    pub(super) fn call1(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        h: HostFn,
        x: Value,
    ) -> Value {
        let f = self.host_ref(b, env, h);
        let c = b.ins().call(f, &[x]);
        b.inst_results(c)[0]
    }

    pub(super) fn call2(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        h: HostFn,
        x: Value,
        y: Value,
    ) -> Value {
        let f = self.host_ref(b, env, h);
        let c = b.ins().call(f, &[x, y]);
        b.inst_results(c)[0]
    }

    /// The flavor of inline math for `dt`, scalar or vector.
    pub(super) fn flavor(&self, dt: DType, vector: bool) -> vmath::Flavor {
        vmath::Flavor {
            dtype: dt,
            vector,
            fma: self.fma,
        }
    }

    /// A transcendental function as inline polynomial code (scalar or
    /// vector), when this kernel uses them and the function has one;
    /// `None` otherwise. `sin`/`cos` call the host's function (lane by
    /// lane in vectors) for arguments beyond their polynomial's range.
    pub(super) fn inline_math(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        u: UnaryOp,
        dt: DType,
        vector: bool,
        x: Value,
    ) -> Option<Value> {
        if !self.kernel_poly {
            return None;
        }
        let fl = self.flavor(dt, vector);
        match u {
            UnaryOp::Exp => Some(vmath::exp(b, fl, x)),
            UnaryOp::Log => Some(vmath::log(b, fl, x)),
            UnaryOp::Tanh => Some(vmath::tanh(b, fl, x)),
            UnaryOp::Sigmoid => Some(vmath::sigmoid(b, fl, x)),
            UnaryOp::Sin | UnaryOp::Cos if self.fma => {
                let cos = u == UnaryOp::Cos;
                let f = if cos { MathFn::Cos } else { MathFn::Sin };
                Some(vmath::sincos(b, fl, x, cos, |b, v| {
                    self.libm_unary(b, env, f, dt, vector, v)
                }))
            }
            UnaryOp::Sin
            | UnaryOp::Cos
            | UnaryOp::Neg
            | UnaryOp::Abs
            | UnaryOp::Sqrt
            | UnaryOp::Relu => None,
        }
    }

    /// A unary op on a scalar or (with `vector`) a vector of `dt`.
    pub(super) fn unary(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        u: UnaryOp,
        dt: DType,
        vector: bool,
        x: Value,
    ) -> Value {
        if let Some(v) = self.inline_math(b, env, u, dt, vector, x) {
            return v;
        }
        match u {
            UnaryOp::Neg => b.ins().fneg(x),
            UnaryOp::Abs => b.ins().fabs(x),
            UnaryOp::Sqrt => b.ins().sqrt(x),
            UnaryOp::Relu => {
                let z = splat_const(b, dt, vector, 0.0);
                b.ins().fmax(x, z)
            }
            UnaryOp::Sigmoid => {
                let n = b.ins().fneg(x);
                let e = self.host_unary(b, env, MathFn::Exp, dt, vector, n);
                let one = splat_const(b, dt, vector, 1.0);
                let d = b.ins().fadd(one, e);
                b.ins().fdiv(one, d)
            }
            UnaryOp::Exp => self.host_unary(b, env, MathFn::Exp, dt, vector, x),
            UnaryOp::Log => self.host_unary(b, env, MathFn::Log, dt, vector, x),
            UnaryOp::Sin => self.host_unary(b, env, MathFn::Sin, dt, vector, x),
            UnaryOp::Cos => self.host_unary(b, env, MathFn::Cos, dt, vector, x),
            UnaryOp::Tanh => self.host_unary(b, env, MathFn::Tanh, dt, vector, x),
        }
    }

    /// A transcendental function by a call (lane by lane in vectors): of
    /// the out-of-line polynomial function with `poly_math` (the same bits
    /// as the inline code), else of libm's.
    pub(super) fn host_unary(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        f: MathFn,
        dt: DType,
        vector: bool,
        x: Value,
    ) -> Value {
        // Without FMA the polynomial mode's `sin` and `cos` are libm's.
        let libm_trig = matches!(f, MathFn::Sin | MathFn::Cos) && !self.fma;
        if !self.opts.poly_math || libm_trig {
            return self.libm_unary(b, env, f, dt, vector, x);
        }
        let call = |cx: &mut Self, b: &mut FunctionBuilder, env: &mut Env, a: Value| {
            let f = cx.math_fn_ref(b, env, f, Float::of(dt));
            let c = b.ins().call(f, &[a]);
            b.inst_results(c)[0]
        };
        if vector {
            self.per_lane(b, env, dt, &[x], |cx, b, env, a| call(cx, b, env, a[0]))
        } else {
            call(self, b, env, x)
        }
    }

    /// A transcendental function by libm's function (lane by lane in
    /// vectors).
    pub(super) fn libm_unary(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        f: MathFn,
        dt: DType,
        vector: bool,
        x: Value,
    ) -> Value {
        let h = HostFn::Math(f, Float::of(dt));
        if vector {
            self.per_lane(b, env, dt, &[x], |cx, b, env, a| cx.call1(b, env, h, a[0]))
        } else {
            self.call1(b, env, h, x)
        }
    }

    /// A binary op on scalars or (with `vector`) vectors of `dt`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn binary(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        op: BinaryOp,
        dt: DType,
        vector: bool,
        x: Value,
        y: Value,
    ) -> Value {
        match op {
            BinaryOp::Add => b.ins().fadd(x, y),
            BinaryOp::Sub => b.ins().fsub(x, y),
            BinaryOp::Mul => b.ins().fmul(x, y),
            BinaryOp::Div => b.ins().fdiv(x, y),
            BinaryOp::Max => b.ins().fmax(x, y),
            BinaryOp::Min => b.ins().fmin(x, y),
            BinaryOp::Pow if self.kernel_poly => vpow::pow(b, self.flavor(dt, vector), x, y),
            BinaryOp::Pow => {
                // A call: of the out-of-line polynomial `pow` with
                // `poly_math` (kernels that do not inline it), else libm's.
                let poly = self.opts.poly_math;
                let t = Float::of(dt);
                let call = |cx: &mut Self, b: &mut FunctionBuilder, env: &mut Env, a: &[Value]| {
                    if poly {
                        let f = cx.math_fn_ref(b, env, MathFn::Pow, t);
                        let c = b.ins().call(f, a);
                        b.inst_results(c)[0]
                    } else {
                        cx.call2(b, env, HostFn::Math(MathFn::Pow, t), a[0], a[1])
                    }
                };
                if vector {
                    self.per_lane(b, env, dt, &[x, y], |cx, b, env, a| call(cx, b, env, a))
                } else {
                    call(self, b, env, &[x, y])
                }
            }
        }
    }

    /// Applies a scalar host function lane by lane.
    pub(super) fn per_lane(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        dt: DType,
        xs: &[Value],
        mut f: impl FnMut(&mut Self, &mut FunctionBuilder, &mut Env, &[Value]) -> Value,
    ) -> Value {
        let lanes = 16 / dt.size_bytes();
        let mut out = xs[0];
        for lane in 0..lanes {
            let args: Vec<Value> = xs
                .iter()
                .map(|&x| b.ins().extractlane(x, lane as u8))
                .collect();
            let r = f(self, b, env, &args);
            out = b.ins().insertlane(out, r, lane as u8);
        }
        out
    }
}
