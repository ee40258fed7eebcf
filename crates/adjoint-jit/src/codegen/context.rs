//! The lowering context: the module being built, the plan, the host
//! functions declared in it, and the per-function state ([`Env`]); the
//! shape of a vector step ([`VecStep`]) is passed down explicitly.

use super::clif::flags;
use crate::kernel_ir::{BufId, BufKind, Plan};
use crate::libcall::{Float, HostFn, MathFn};
use crate::{JitOptions, OptLevel};
use adjoint_ir::DType;
use cranelift_codegen::ir::types::I64;
use cranelift_codegen::ir::{FuncRef, InstBuilder, Signature, Value};
use cranelift_frontend::FunctionBuilder;
use cranelift_jit::JITModule;
use cranelift_module::{FuncId, Module};
use std::collections::HashMap;

/// The result of lowering: the module, the entry function and the CLIF
/// text if requested.
pub(crate) struct Lowered {
    pub module: JITModule,
    pub entry: *const u8,
    pub clif: Option<String>,
    pub disasm: Option<String>,
    pub parallel_kernels: usize,
    pub opt_level: OptLevel,
    pub single_pass_regalloc: bool,
    /// Functions generated (`main`, step chunks, parallel kernels).
    pub functions: usize,
    /// Bytes of machine code of those functions.
    pub code_bytes: usize,
}

/// Host-side addresses the code refers to.
pub(crate) struct Addresses {
    pub consts: Vec<usize>,
    pub descs: Vec<usize>,
}

/// The lowering context of one plan: the module being built and what every
/// function of it refers to.
pub(super) struct Ctx<'a> {
    pub(super) module: JITModule,
    pub(super) plan: &'a Plan,
    pub(super) addrs: &'a Addresses,
    /// The declared host functions, indexed by [`HostFn::index`].
    pub(super) host: Vec<FuncId>,
    pub(super) opts: &'a JitOptions,
    pub(super) clif: Option<String>,
    pub(super) disasm: Option<String>,
    pub(super) threads: usize,
    pub(super) kernel_sig: Signature,
    pub(super) next_fn: u32,
    pub(super) parallel_kernels: usize,
    /// Whether the polynomial functions fuse their multiply-adds (the
    /// resolved math mode, [`JitOptions::math_mode`]).
    pub(super) fma: bool,
    /// Whether the kernel being emitted inlines the polynomial functions:
    /// the one per-kernel setting, made by `emit_kernel` for each kernel
    /// (`math::kernel_inlines_math`) and by `define_math_fns` while it
    /// defines the out-of-line polynomials.
    pub(super) kernel_poly: bool,
    /// The out-of-line polynomial functions called so far (defined after
    /// `main`): kernels that do not inline the polynomials call these.
    pub(super) math_fns: Vec<PolyFn>,
    /// Bytes of machine code defined so far.
    pub(super) code_bytes: usize,
}

/// The shape of one vector step of a loop: what [`Ctx::eval_vector`]
/// evaluates.
#[derive(Clone, Copy, Debug)]
pub(super) struct VecStep {
    /// The dtype of the lanes.
    pub(super) dt: DType,
    /// The step covers this many groups of four elements (see
    /// [`super::kernel::WIDE_MIN_ELEMS`]).
    pub(super) wide: usize,
    /// Whether vector lanes run along the last outer loop (transposed
    /// reductions) instead of the inner loop.
    pub(super) lane_outer: bool,
}

impl VecStep {
    /// Lanes along the inner loop, `wide` groups of four a step.
    pub(super) fn new(dt: DType, wide: usize) -> VecStep {
        VecStep {
            dt,
            wide,
            lane_outer: false,
        }
    }
}

/// One out-of-line polynomial function, `fn(x) -> t` (or `fn(x, y) -> t`
/// for `pow`) of the float type: the same code as the inline one, compiled
/// once per module.
#[derive(Clone, Copy, Debug)]
pub(super) struct PolyFn {
    pub(super) f: MathFn,
    pub(super) t: Float,
    pub(super) id: FuncId,
}

/// A function a generated function refers to: a host function or an
/// out-of-line polynomial one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Callee {
    Host(HostFn),
    Poly(MathFn, Float),
}

/// Per-function state: the entry values and imported function refs.
pub(super) struct Env {
    pub(super) ins: Value,
    pub(super) outs: Value,
    pub(super) arena: Value,
    pub(super) refs: HashMap<Callee, FuncRef>,
}

impl Ctx<'_> {
    pub(super) fn host_ref(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        h: HostFn,
    ) -> FuncRef {
        let key = Callee::Host(h);
        if let Some(&r) = env.refs.get(&key) {
            return r;
        }
        let r = self
            .module
            .declare_func_in_func(self.host[h.index()], b.func);
        env.refs.insert(key, r);
        r
    }

    pub(super) fn buf_base(&self, b: &mut FunctionBuilder, env: &Env, buf: BufId) -> Value {
        match self.plan.bufs[buf].kind {
            BufKind::Input(i) => {
                b.ins()
                    .load(I64, flags().with_readonly(), env.ins, (8 * i) as i32)
            }
            BufKind::Output(i) => {
                b.ins()
                    .load(I64, flags().with_readonly(), env.outs, (8 * i) as i32)
            }
            BufKind::Const(i) => b.ins().iconst(I64, self.addrs.consts[i] as i64),
            BufKind::Arena { offset } => b.ins().iadd_imm_s(env.arena, offset as i64),
        }
    }
}
