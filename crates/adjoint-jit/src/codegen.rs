//! Lowering of a [`Plan`] to Cranelift IR.
//!
//! The plan's steps become one entry function
//! `main(ins: *const *const u8, outs: *const *mut u8, arena: *mut u8)`.
//! Loop kernels are emitted inline in it (in a long plan, inline in
//! functions of the same signature that `main` calls in order, each of at
//! most 64 steps: see [`step_chunks`]), except large kernels that are
//! split across threads: those become functions
//! `kernel(ins, outs, arena, lo, hi)` over a range of their outermost loop,
//! run through the host's parallel-for.
//!
//! Inner loops run in one of two modes:
//! - *vector*: four elements a step (`f64x2` twice or `f32x4` once; eight
//!   in long loops, see [`WIDE_MIN_ELEMS`]), when
//!   every load has inner stride 0 or 1, every store stride 1, and the
//!   kernel has no bool memory traffic and no casts; a scalar tail follows.
//!   Values of a padded region read at shifted indices come from the
//!   previous step's vectors when the loop computes them anyway
//!   ([`stencil`]);
//! - *scalar*: one element a step (four for reductions, unrolled so that
//!   element `k` of a reduction goes into partial sum `k mod 4`).
//!
//! Reductions run in blocks of `adjoint_ir::REDUCE_SUM_BLOCK` elements
//! (the reduction order of the IR); a reduction of several blocks without
//! outer loops is split across threads at block boundaries, each block's
//! result left in a scratch slot and the slots folded in order after the
//! threads are done.

use crate::plan::{Access, BufKind, KExpr, Kernel, Plan, ReduceKind, Step};
use crate::ports;
use crate::runtime::{self, HostFn, HostSig};
use crate::stencil::{self, Reuse};
use crate::{vmath, vpow, JitOptions, OptLevel};
use adjoint_ir::{BinaryOp, CompareOp, DType, Error, Result, UnaryOp, REDUCE_SUM_BLOCK};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::{F32, F32X4, F64, F64X2, I32X4, I64, I64X2, I8};
use cranelift_codegen::ir::{
    AbiParam, FuncRef, InstBuilder, MemFlagsData, Signature, StackSlotData, StackSlotKind, Type,
    UserFuncName, Value,
};
use cranelift_codegen::packed_option::ReservedValue;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::JITModule;
use cranelift_module::{FuncId, Linkage, Module};
use std::collections::HashMap;

/// A kernel with fewer elements than this is "small" for the compile-time
/// budget of polynomial functions.
const SMALL_KERNEL_ELEMS: usize = 1024;

/// The most polynomial functions a small kernel inlines (`pow` counts as
/// four).
const MAX_POLYS_SMALL_KERNEL: usize = 16;

/// How many elementwise operations one transcendental function costs, for
/// the decision to split a loop across threads (a polynomial `tanh` takes
/// about as long per element as a dozen additions).
const TRANSCENDENTAL_WEIGHT: usize = 4;

/// The transcendental functions a kernel evaluates per element, counted in
/// `exp`s of code (a `pow` is about four).
fn transcendentals(k: &Kernel) -> usize {
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
fn kernel_inlines_math(opts: &JitOptions, k: &Kernel) -> bool {
    opts.poly_math
        && (transcendentals(k) <= MAX_POLYS_SMALL_KERNEL || k.numel() >= SMALL_KERNEL_ELEMS)
}

/// From this many host calls of transcendental functions on, `OptLevel::Auto`
/// uses Cranelift's single-pass register allocator: in such call-dense code
/// every live value is spilled around each call whichever allocator runs,
/// and the backtracking one took 2-3x the compile time (W7: 31 ms of
/// codegen against 12 ms).
const SINGLE_PASS_MIN_CALLS: usize = 256;

/// The host calls of transcendental functions in the plan's code (call
/// sites, not executions).
fn host_calls(plan: &Plan, opts: &JitOptions) -> usize {
    plan.steps
        .iter()
        .map(|s| match s {
            Step::Kernel(k) if !kernel_inlines_math(opts, k) => transcendentals(k),
            Step::Kernel(_) | Step::MatMul { .. } | Step::Control(_) => 0,
        })
        .sum()
}

/// Vector loops (and reduction blocks) at least this long run eight
/// elements a step before the four-element steps (four `f64x2` or two
/// `f32x4` vectors, their instructions interleaved): more independent work
/// in flight for the out-of-order core (7-9% on the Rosenbrock gradient
/// and value; sixteen a step was slower), at the cost of a larger loop
/// body, which short loops (and compile time) do not pay.
const WIDE_MIN_ELEMS: usize = 1024;

/// The largest arena kept on the stack of the generated code, whatever
/// `JitOptions::stack_arena_max` says (a stack slot's size is 32-bit, and a
/// thread's stack is a few MiB).
pub(crate) const MAX_STACK_ARENA: usize = 1 << 20;

/// Whether an arena of `bytes` lives on the stack of the generated code
/// (else in the calling thread's scratch buffer).
pub(crate) fn arena_on_stack(bytes: usize, opts: &JitOptions) -> bool {
    bytes <= opts.stack_arena_max.min(MAX_STACK_ARENA)
}

/// The most steps one generated function holds.
const MAX_STEPS_PER_FN: usize = 64;

/// The most kernel expressions and accesses one generated function holds
/// (a kernel larger than this gets a function of its own).
const MAX_WEIGHT_PER_FN: usize = 4096;

/// The steps cut into consecutive ranges, one per generated function, of
/// at most [`MAX_STEPS_PER_FN`] steps and [`MAX_WEIGHT_PER_FN`] expressions
/// and accesses. Cranelift's cost grows faster than linearly in the size
/// of one function (a chain of 4,000 loops in one function took 0.3 GB and
/// 5 s to compile, 20,000 ran out of memory), so bounding every function
/// keeps compile time and memory linear in the number of steps. A plan
/// that fits in one range stays in `main`, as before.
fn step_chunks(plan: &Plan) -> Vec<std::ops::Range<usize>> {
    let weight = |s: &Step| match s {
        Step::Kernel(k) => 1 + k.exprs.len() + k.accesses.len(),
        Step::MatMul { .. } | Step::Control(_) => 1,
    };
    let mut out = Vec::new();
    let (mut start, mut w) = (0, 0);
    for (i, s) in plan.steps.iter().enumerate() {
        let sw = weight(s);
        if i > start && (i - start >= MAX_STEPS_PER_FN || w + sw > MAX_WEIGHT_PER_FN) {
            out.push(start..i);
            (start, w) = (i, 0);
        }
        w += sw;
    }
    out.push(start..plan.steps.len());
    out
}

fn cl_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::jit(format!("{what}: {e}"))
}

fn scalar_ty(d: DType) -> Type {
    match d {
        DType::F32 => F32,
        DType::F64 => F64,
        DType::Bool => I8,
    }
}

fn vec_ty(d: DType) -> Type {
    match d {
        DType::F32 => F32X4,
        _ => F64X2,
    }
}

fn mask_ty(d: DType) -> Type {
    match d {
        DType::F32 => I32X4,
        _ => I64X2,
    }
}

/// Vectors per 4-element step.
fn vecs_per_step(d: DType) -> usize {
    match d {
        DType::F32 => 1,
        _ => 2,
    }
}

fn flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

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

struct Ctx<'a> {
    module: JITModule,
    plan: &'a Plan,
    addrs: &'a Addresses,
    host: HashMap<&'static str, (FuncId, HostSig)>,
    opts: &'a JitOptions,
    clif: Option<String>,
    disasm: Option<String>,
    threads: usize,
    kernel_sig: Signature,
    next_fn: u32,
    parallel_kernels: usize,
    /// Whether the polynomial functions fuse their multiply-adds (the
    /// resolved math mode, [`JitOptions::math_mode`]).
    fma: bool,
    /// Whether the kernel being emitted uses the polynomial functions.
    kernel_poly: bool,
    /// The out-of-line polynomial functions called so far (defined after
    /// `main`): kernels that do not inline the polynomials call these.
    math_fns: Vec<MathFn>,
    /// Whether vector lanes run along the last outer loop (transposed
    /// reductions) instead of the inner loop.
    lane_outer: bool,
    /// Vector steps of the loop being emitted cover this many groups of
    /// four elements (see [`WIDE_MIN_ELEMS`]).
    wide: usize,
    /// Bytes of machine code defined so far.
    code_bytes: usize,
}

/// One out-of-line polynomial function, `fn(x) -> t` (or `fn(x, y) -> t`
/// for `pow`) of the dtype: the same code as the inline one, compiled once
/// per module.
#[derive(Clone, Copy, Debug)]
struct MathFn {
    /// The function's name, also its key among a function's refs.
    name: &'static str,
    id: FuncId,
    /// `None` for `pow`.
    op: Option<UnaryOp>,
    dt: DType,
}

/// The name of the out-of-line polynomial function of `op` (`None`:
/// `pow`) in `dt`.
fn math_fn_name(op: Option<UnaryOp>, dt: DType) -> &'static str {
    let f64 = dt == DType::F64;
    match (op, f64) {
        (Some(UnaryOp::Exp), true) => "poly_exp_f64",
        (Some(UnaryOp::Exp), false) => "poly_exp_f32",
        (Some(UnaryOp::Log), true) => "poly_log_f64",
        (Some(UnaryOp::Log), false) => "poly_log_f32",
        (Some(UnaryOp::Sin), true) => "poly_sin_f64",
        (Some(UnaryOp::Sin), false) => "poly_sin_f32",
        (Some(UnaryOp::Cos), true) => "poly_cos_f64",
        (Some(UnaryOp::Cos), false) => "poly_cos_f32",
        (Some(UnaryOp::Tanh), true) => "poly_tanh_f64",
        (Some(UnaryOp::Tanh), false) => "poly_tanh_f32",
        (None, true) => "poly_pow_f64",
        (None, false) => "poly_pow_f32",
        (Some(u), _) => unreachable!("{} has no polynomial function", u.name()),
    }
}

/// Per-function state: the entry values and imported function refs.
struct Env {
    ins: Value,
    outs: Value,
    arena: Value,
    refs: HashMap<&'static str, FuncRef>,
}

pub(crate) fn lower(
    plan: &Plan,
    addrs: &Addresses,
    host_fns: &[HostFn],
    opts: &JitOptions,
    threads: usize,
) -> Result<Lowered> {
    let opt_level = opts.opt_level.resolve(plan.is_scalar());
    let mut flag_builder = cranelift_codegen::settings::builder();
    use cranelift_codegen::settings::Configurable;
    let set = |fb: &mut cranelift_codegen::settings::Builder, k: &str, v: &str| {
        fb.set(k, v).map_err(|e| cl_err("cranelift settings", e))
    };
    set(&mut flag_builder, "opt_level", opt_level.cranelift_name())?;
    let single_pass =
        opts.opt_level == OptLevel::Auto && host_calls(plan, opts) >= SINGLE_PASS_MIN_CALLS;
    if single_pass {
        set(&mut flag_builder, "regalloc_algorithm", "single_pass")?;
    }
    set(&mut flag_builder, "use_colocated_libcalls", "false")?;
    set(&mut flag_builder, "is_pic", "false")?;
    // Cranelift's IR verifier runs in debug builds (the test suite); release
    // builds skip it, as wasmtime does, to halve small compile times.
    let verify = if cfg!(debug_assertions) {
        "true"
    } else {
        "false"
    };
    set(&mut flag_builder, "enable_verifier", verify)?;
    let isa_builder = cranelift_native::builder().map_err(|e| cl_err("host ISA", e))?;
    let isa = isa_builder
        .finish(cranelift_codegen::settings::Flags::new(flag_builder))
        .map_err(|e| cl_err("host ISA", e))?;
    let mut jb =
        cranelift_jit::JITBuilder::with_isa(isa, cranelift_module::default_libcall_names());
    for h in host_fns {
        jb.symbol(h.name, h.ptr);
    }
    let mut module = JITModule::new(jb);
    let ptr = module.target_config().pointer_type();
    let mut host = HashMap::new();
    for h in host_fns {
        let mut sig = module.make_signature();
        match h.sig {
            HostSig::Unary(d) => {
                sig.params.push(AbiParam::new(scalar_ty(d)));
                sig.returns.push(AbiParam::new(scalar_ty(d)));
            }
            HostSig::Binary(d) => {
                sig.params.push(AbiParam::new(scalar_ty(d)));
                sig.params.push(AbiParam::new(scalar_ty(d)));
                sig.returns.push(AbiParam::new(scalar_ty(d)));
            }
            HostSig::MatMul => {
                for _ in 0..4 {
                    sig.params.push(AbiParam::new(ptr));
                }
            }
            HostSig::ParallelFor => {
                for _ in 0..7 {
                    sig.params.push(AbiParam::new(ptr));
                }
            }
        }
        let id = module
            .declare_function(h.name, Linkage::Import, &sig)
            .map_err(|e| cl_err("declare host function", e))?;
        host.insert(h.name, (id, h.sig));
    }
    let mut kernel_sig = module.make_signature();
    for _ in 0..5 {
        kernel_sig.params.push(AbiParam::new(I64));
    }
    let mut cx = Ctx {
        module,
        plan,
        addrs,
        host,
        opts,
        clif: opts.keep_clif.then(String::new),
        disasm: opts.keep_disasm.then(String::new),
        threads,
        kernel_sig,
        next_fn: 0,
        parallel_kernels: 0,
        fma: opts.math_mode() == adjoint_ir::math::MathMode::Poly { fma: true },
        kernel_poly: opts.poly_math,
        math_fns: Vec::new(),
        lane_outer: false,
        wide: 1,
        code_bytes: 0,
    };
    let main = cx.define_main()?;
    cx.define_math_fns()?;
    cx.module
        .finalize_definitions()
        .map_err(|e| cl_err("finalize", e))?;
    let entry = cx.module.get_finalized_function(main);
    Ok(Lowered {
        module: cx.module,
        entry,
        clif: cx.clif,
        disasm: cx.disasm,
        parallel_kernels: cx.parallel_kernels,
        opt_level,
        single_pass_regalloc: single_pass,
        functions: cx.next_fn as usize,
        code_bytes: cx.code_bytes,
    })
}

impl Ctx<'_> {
    /// Declares and defines a local function; `body` emits its code and
    /// gives the values it returns.
    fn define_fn(
        &mut self,
        name: &str,
        sig: Signature,
        body: impl FnOnce(&mut Self, &mut FunctionBuilder, &[Value]) -> Result<Vec<Value>>,
    ) -> Result<FuncId> {
        let id = self
            .module
            .declare_function(name, Linkage::Local, &sig)
            .map_err(|e| cl_err("declare function", e))?;
        self.define_declared_fn(id, name, sig, body)?;
        Ok(id)
    }

    /// Defines the declared local function `id` (see [`Self::define_fn`]).
    fn define_declared_fn(
        &mut self,
        id: FuncId,
        name: &str,
        sig: Signature,
        body: impl FnOnce(&mut Self, &mut FunctionBuilder, &[Value]) -> Result<Vec<Value>>,
    ) -> Result<()> {
        let mut ctx = self.module.make_context();
        ctx.func.signature = sig;
        ctx.func.name = UserFuncName::user(0, self.next_fn);
        self.next_fn += 1;
        let mut fbc = FunctionBuilderContext::new();
        let frontend_config = self.module.target_config();
        {
            let mut b = FunctionBuilder::new(&mut ctx.func, &mut fbc);
            let entry = b.create_block();
            b.append_block_params_for_function_params(entry);
            b.switch_to_block(entry);
            let params = b.block_params(entry).to_vec();
            let rets = body(self, &mut b, &params)?;
            b.ins().return_(&rets);
            b.seal_all_blocks();
            b.finalize(frontend_config);
        }
        if let Some(text) = &mut self.clif {
            text.push_str(&format!("; function {name}\n{}\n", ctx.func.display()));
        }
        ctx.set_disasm(self.disasm.is_some());
        self.module
            .define_function(id, &mut ctx)
            .map_err(|e| cl_err(&format!("compile {name}"), format!("{e:?}")))?;
        self.code_bytes += ctx.compiled_code().map_or(0, |c| c.code_buffer().len());
        if let Some(text) = &mut self.disasm {
            if let Some(v) = ctx.compiled_code().and_then(|c| c.vcode.as_ref()) {
                text.push_str(&format!("; function {name}\n{v}\n"));
            }
        }
        self.module.clear_context(&mut ctx);
        Ok(())
    }

    fn define_main(&mut self) -> Result<FuncId> {
        let mut sig = self.module.make_signature();
        for _ in 0..3 {
            sig.params.push(AbiParam::new(I64));
        }
        // Kernels that run in parallel become functions first.
        let mut par_fns: HashMap<usize, FuncId> = HashMap::new();
        for (i, s) in self.plan.steps.iter().enumerate() {
            if let Step::Kernel(k) = s {
                if self.parallel(k) {
                    let sig = self.kernel_sig.clone();
                    let f = self.define_fn(&format!("kernel{i}"), sig, |cx, b, p| {
                        let mut env = Env {
                            ins: p[0],
                            outs: p[1],
                            arena: p[2],
                            refs: HashMap::new(),
                        };
                        cx.emit_kernel(b, &mut env, k, Some((p[3], p[4])))?;
                        Ok(vec![])
                    })?;
                    par_fns.insert(i, f);
                    self.parallel_kernels += 1;
                }
            }
        }
        // Long programs: the steps are cut into functions of bounded size
        // that `main` calls in order (see `step_chunks`).
        let chunks = step_chunks(self.plan);
        let mut chunk_fns = Vec::new();
        if chunks.len() > 1 {
            for (c, range) in chunks.iter().enumerate() {
                let f = self.define_fn(&format!("steps{c}"), sig.clone(), |cx, b, p| {
                    let mut env = Env {
                        ins: p[0],
                        outs: p[1],
                        arena: p[2],
                        refs: HashMap::new(),
                    };
                    cx.emit_steps(b, &mut env, range.clone(), &par_fns)?;
                    Ok(vec![])
                })?;
                chunk_fns.push(f);
            }
        }
        let arena_bytes = self.plan.arena_bytes;
        let on_stack = arena_bytes > 0 && arena_on_stack(arena_bytes, self.opts);
        self.define_fn("main", sig, |cx, b, p| {
            let arena = if on_stack {
                let slot = b.create_sized_stack_slot(StackSlotData::new(
                    StackSlotKind::ExplicitSlot,
                    arena_bytes as u32,
                    6,
                ));
                b.ins().stack_addr(I64, slot, 0)
            } else {
                p[2]
            };
            let mut env = Env {
                ins: p[0],
                outs: p[1],
                arena,
                refs: HashMap::new(),
            };
            if chunk_fns.is_empty() {
                cx.emit_steps(b, &mut env, 0..cx.plan.steps.len(), &par_fns)?;
                return Ok(vec![]);
            }
            for &f in &chunk_fns {
                let fref = cx.module.declare_func_in_func(f, b.func);
                b.ins().call(fref, &[env.ins, env.outs, env.arena]);
            }
            Ok(vec![])
        })
    }

    /// Emits the plan's steps `range` in order into the function `b`.
    fn emit_steps(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        range: std::ops::Range<usize>,
        par_fns: &HashMap<usize, FuncId>,
    ) -> Result<()> {
        for i in range {
            match &self.plan.steps[i] {
                Step::Kernel(k) => {
                    if let Some(&f) = par_fns.get(&i) {
                        self.emit_parallel_call(b, env, k, f)?;
                    } else {
                        self.emit_kernel(b, env, k, None)?;
                    }
                }
                Step::Control(c) => {
                    crate::control_flow::emit(b, c, &mut |b, buf| self.buf_base(b, env, buf))
                }
                Step::MatMul { desc, a, b: bb, c } => {
                    let d = b.ins().iconst(I64, self.addrs.descs[*desc] as i64);
                    let pa = self.buf_base(b, env, *a);
                    let pb = self.buf_base(b, env, *bb);
                    let pc = self.buf_base(b, env, *c);
                    let f = self.host_ref(b, env, "adj_matmul");
                    b.ins().call(f, &[d, pa, pb, pc]);
                }
            }
        }
        Ok(())
    }

    /// Whether a kernel is split across threads.
    /// The element count is weighted by the transcendental functions per
    /// element, so a `tanh` layer of 32k elements splits while a plain sum of
    /// as many does not (it would not repay the threads' start-up).
    fn parallel(&self, k: &Kernel) -> bool {
        let work = k.numel() * (1 + TRANSCENDENTAL_WEIGHT * transcendentals(k));
        if self.threads < 2 || work < self.opts.parallel_min_elems {
            return false;
        }
        // Reductions keep their order: an outer loop may split, and an
        // inner loop of several blocks splits at block boundaries.
        if !k.reductions.is_empty() {
            return match k.outer.first() {
                Some(&n) => n >= 2,
                None => k.reductions.iter().all(|r| r.scratch.is_some()),
            };
        }
        true
    }

    /// The length of the loop a parallel kernel's range refers to.
    fn split_len(k: &Kernel) -> usize {
        if k.outer.is_empty() {
            k.inner_len()
        } else {
            k.outer[0]
        }
    }

    fn emit_parallel_call(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        k: &Kernel,
        f: FuncId,
    ) -> Result<()> {
        let fref = self.module.declare_func_in_func(f, b.func);
        let fptr = b.ins().func_addr(I64, fref);
        let n = b.ins().iconst(I64, Self::split_len(k) as i64);
        // Split points of an inner loop stay multiples of 4 (whole vector
        // steps), or of the reduction block; outer loops split anywhere.
        let inner_reduce = k.outer.is_empty() && !k.reductions.is_empty();
        let grain = match (k.outer.is_empty(), inner_reduce) {
            (_, true) => REDUCE_SUM_BLOCK as i64,
            (true, false) => 4,
            (false, _) => 1,
        };
        let grain = b.ins().iconst(I64, grain);
        let threads = b.ins().iconst(I64, self.threads as i64);
        let pf = self.host_ref(b, env, "adj_parallel_for");
        b.ins()
            .call(pf, &[fptr, env.ins, env.outs, env.arena, n, grain, threads]);
        if inner_reduce {
            self.fold_block_slots(b, env, k);
        }
        Ok(())
    }

    /// After the threads of a split reduction are done: each result is its
    /// block slots folded left to right.
    fn fold_block_slots(&mut self, b: &mut FunctionBuilder, env: &mut Env, k: &Kernel) {
        let blocks = k.inner_len().div_ceil(REDUCE_SUM_BLOCK) as i64;
        for r in &k.reductions {
            let Some(buf) = r.scratch else { continue };
            let dt = k.tys[r.value];
            let es = dt.size_bytes() as i64;
            let base = self.buf_base(b, env, buf);
            let total = b.declare_var(scalar_ty(dt));
            let id = identity(b, r.kind, dt);
            b.def_var(total, id);
            let zero = b.ins().iconst(I64, 0);
            let end = b.ins().iconst(I64, blocks);
            let (l, j) = begin_loop(b, zero, end, 1);
            let off = b.ins().imul_imm_s(j, es);
            let p = b.ins().iadd(base, off);
            let x = b.ins().load(scalar_ty(dt), flags(), p, 0);
            let acc = b.use_var(total);
            let y = reduce_op(b, r.kind, acc, x);
            b.def_var(total, y);
            end_loop(b, l);
            let dest = &k.accesses[r.dest];
            let dbase = self.buf_base(b, env, dest.buf);
            let t = b.use_var(total);
            let at = b.ins().iadd_imm_s(dbase, dest.offset * es);
            b.ins().store(flags(), t, at, 0);
        }
    }

    /// A reference, in the function being built, to the out-of-line
    /// polynomial function of `op` (`None`: `pow`) in `dt`, declared on
    /// first use and defined after `main` ([`Self::define_math_fns`]).
    fn math_fn_ref(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        op: Option<UnaryOp>,
        dt: DType,
    ) -> FuncRef {
        let name = math_fn_name(op, dt);
        if let Some(&r) = env.refs.get(name) {
            return r;
        }
        let id = match self.math_fns.iter().find(|f| f.name == name) {
            Some(f) => f.id,
            None => {
                let sig = self.math_sig(op, dt);
                // A new name (each is declared once, here) with a local
                // linkage cannot clash with another declaration.
                let id = self
                    .module
                    .declare_function(name, Linkage::Local, &sig)
                    .unwrap_or_else(|e| unreachable!("declaring {name}: {e}"));
                self.math_fns.push(MathFn { name, id, op, dt });
                id
            }
        };
        let r = self.module.declare_func_in_func(id, b.func);
        env.refs.insert(name, r);
        r
    }

    fn math_sig(&self, op: Option<UnaryOp>, dt: DType) -> Signature {
        let mut sig = self.module.make_signature();
        let arity = if op.is_some() { 1 } else { 2 };
        for _ in 0..arity {
            sig.params.push(AbiParam::new(scalar_ty(dt)));
        }
        sig.returns.push(AbiParam::new(scalar_ty(dt)));
        sig
    }

    /// Defines the out-of-line polynomial functions the code calls: the
    /// scalar inline code of each, as its own function.
    fn define_math_fns(&mut self) -> Result<()> {
        let saved = self.kernel_poly;
        self.kernel_poly = true;
        let fns = self.math_fns.clone();
        for f in fns {
            let sig = self.math_sig(f.op, f.dt);
            self.define_declared_fn(f.id, f.name, sig, |cx, b, p| {
                let mut env = Env {
                    ins: p[0],
                    outs: p[0],
                    arena: p[0],
                    refs: HashMap::new(),
                };
                let fl = cx.flavor(f.dt, false);
                let v = match f.op {
                    Some(u) => cx
                        .inline_math(b, &mut env, u, f.dt, false, p[0])
                        .ok_or_else(|| Error::jit(format!("no polynomial for {}", u.name())))?,
                    None => vpow::pow(b, fl, p[0], p[1]),
                };
                Ok(vec![v])
            })?;
        }
        self.kernel_poly = saved;
        Ok(())
    }

    fn host_ref(&mut self, b: &mut FunctionBuilder, env: &mut Env, name: &'static str) -> FuncRef {
        if let Some(&r) = env.refs.get(name) {
            return r;
        }
        let (id, _) = self.host[name];
        let r = self.module.declare_func_in_func(id, b.func);
        env.refs.insert(name, r);
        r
    }

    fn buf_base(&self, b: &mut FunctionBuilder, env: &Env, buf: usize) -> Value {
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

    /// Whether a pure reduction over a strided inner loop can run with its
    /// vector lanes along the last outer loop instead (column sums such as
    /// bias gradients): every load walks that loop with stride 0 or 1, every
    /// result is contiguous along it, and the expressions vectorise. Each
    /// lane keeps its own four partial sums per block, so the order is
    /// unchanged.
    fn transposed_mode(&self, k: &Kernel) -> Option<DType> {
        if !self.opts.simd
            || k.reductions.is_empty()
            || k.outer.is_empty()
            || k.inner.len() != 1
            || *k.outer.last()? < 4
        {
            return None;
        }
        let restricted = k
            .accesses
            .iter()
            .any(|a| a.inner_restricted() || a.outer_valid.iter().any(Option::is_some));
        if restricted {
            return None;
        }
        for r in &k.reductions {
            if k.accesses[r.dest].outer.last() != Some(&1) {
                return None;
            }
        }
        // Stored elementwise values (a gradient kept beside its column sum)
        // are written a vector at a time along the same lanes.
        for &(_, a) in &k.stores {
            let acc = &k.accesses[a];
            if acc.dtype == DType::Bool || acc.outer.last() != Some(&1) {
                return None;
            }
        }
        let mut dt: Option<DType> = None;
        for (i, e) in k.exprs.iter().enumerate() {
            let t = k.tys[i];
            match e {
                KExpr::Load(a) => {
                    let acc = &k.accesses[*a];
                    if acc.dtype == DType::Bool || !matches!(acc.outer.last(), Some(0 | 1)) {
                        return None;
                    }
                }
                KExpr::Const(_) | KExpr::Unary(..) | KExpr::Binary(..) => {}
                KExpr::Compare(..) | KExpr::Select(..) | KExpr::Cast(..) | KExpr::Masked(..) => {
                    return None
                }
            }
            if self.is_host_call(e) {
                return None;
            }
            if t == DType::Bool || dt.is_some_and(|d| d != t) {
                return None;
            }
            dt = Some(t);
        }
        dt
    }

    /// A reduction kernel (with any elementwise stores) with vector lanes along the last outer loop: four
    /// (or with f64, two pairs of) output elements a step, each with its own
    /// four partial sums per block of the reduced loop, block results folded
    /// in order; the remaining outputs run the scalar path.
    // The accumulators are indexed [reduction][partial][vector]; combining
    // walks the partials at a fixed vector index.
    #[allow(clippy::needless_range_loop)]
    fn emit_transposed(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        k: &Kernel,
        split: Option<(Value, Value)>,
        dt: DType,
        bases: &HashMap<usize, Value>,
    ) -> Result<()> {
        let n_out = k.outer.len();
        let mut loops = Vec::new();
        let mut ivs = Vec::new();
        for (d, &n) in k.outer[..n_out - 1].iter().enumerate() {
            let (start, end) = match (d, split) {
                (0, Some((lo, hi))) => (lo, hi),
                _ => (b.ins().iconst(I64, 0), b.ins().iconst(I64, n as i64)),
            };
            let (l, iv) = begin_loop(b, start, end, 1);
            loops.push(l);
            ivs.push(iv);
        }
        let (jstart, jend) = match (n_out, split) {
            (1, Some((lo, hi))) => (lo, hi),
            _ => (
                b.ins().iconst(I64, 0),
                b.ins().iconst(I64, k.outer[n_out - 1] as i64),
            ),
        };
        let vt = vec_ty(dt);
        let vps = vecs_per_step(dt);
        let r_len = k.inner_len() as i64;
        let (jl, j) = begin_loop(b, jstart, jend, 4);
        let mut at = ivs.clone();
        at.push(j);
        let rows = rows_at(b, k, bases, &at);
        let none = HashMap::new();
        // acc[reduction][partial][vector], reset at every block.
        let mut inits: Vec<Value> = Vec::new();
        let mut accs: Vec<Vec<Vec<Variable>>> = Vec::new();
        for r in &k.reductions {
            let init = self.init_scalar(b, r.kind, dt);
            let sp = b.ins().splat(vt, init);
            inits.push(sp);
            let per: Vec<Vec<Variable>> = (0..4)
                .map(|_| (0..vps).map(|_| b.declare_var(vt)).collect())
                .collect();
            accs.push(per);
        }
        self.lane_outer = true;
        let step = |cx: &mut Self,
                    b: &mut FunctionBuilder,
                    env: &mut Env,
                    kidx: Value,
                    p: usize|
         -> Result<()> {
            let vals = cx.eval_vector(b, env, k, &rows, &none, kidx, dt, None, None)?;
            for (ri, r) in k.reductions.iter().enumerate() {
                for (v, &var) in accs[ri][p].iter().enumerate() {
                    let acc = b.use_var(var);
                    let y = reduce_op(b, r.kind, acc, vals[r.value][v]);
                    b.def_var(var, y);
                }
            }
            Ok(())
        };
        // One block [bs, bs + len) of the reduced loop: per reduction and
        // vector, the lanes' block results.
        let block = |cx: &mut Self,
                     b: &mut FunctionBuilder,
                     env: &mut Env,
                     bs: Value,
                     len: i64|
         -> Result<Vec<Vec<Value>>> {
            for (ri, per) in accs.iter().enumerate() {
                for vars in per {
                    for &var in vars {
                        b.def_var(var, inits[ri]);
                    }
                }
            }
            let main_end = b.ins().iadd_imm_s(bs, len - len % 4);
            if len >= 4 {
                let (l, kk) = begin_loop(b, bs, main_end, 4);
                for p in 0..4 {
                    let kp = b.ins().iadd_imm_s(kk, p as i64);
                    step(cx, b, env, kp, p)?;
                }
                end_loop(b, l);
            }
            for p in 0..(len % 4) as usize {
                let kp = b.ins().iadd_imm_s(main_end, p as i64);
                step(cx, b, env, kp, p)?;
            }
            Ok(k.reductions
                .iter()
                .enumerate()
                .map(|(ri, r)| {
                    (0..vps)
                        .map(|v| {
                            let p: Vec<Value> = (0..4).map(|q| b.use_var(accs[ri][q][v])).collect();
                            let a = reduce_op(b, r.kind, p[0], p[1]);
                            let c = reduce_op(b, r.kind, p[2], p[3]);
                            reduce_op(b, r.kind, a, c)
                        })
                        .collect()
                })
                .collect())
        };
        let blk = REDUCE_SUM_BLOCK as i64;
        let zero = b.ins().iconst(I64, 0);
        let results: Vec<Vec<Value>> = if r_len <= blk {
            block(self, b, env, zero, r_len)?
        } else {
            // Several blocks: fold the block results left to right.
            let totals: Vec<Vec<Variable>> = k
                .reductions
                .iter()
                .map(|r| {
                    let id = identity(b, r.kind, dt);
                    let id = b.ins().splat(vt, id);
                    (0..vps)
                        .map(|_| {
                            let v = b.declare_var(vt);
                            b.def_var(v, id);
                            v
                        })
                        .collect()
                })
                .collect();
            let fold = |b: &mut FunctionBuilder, res: &[Vec<Value>]| {
                for ((r, tv), rv) in k.reductions.iter().zip(&totals).zip(res) {
                    for (&t, &x) in tv.iter().zip(rv) {
                        let acc = b.use_var(t);
                        let y = reduce_op(b, r.kind, acc, x);
                        b.def_var(t, y);
                    }
                }
            };
            let last_start = (r_len - 1) / blk * blk;
            let ls = b.ins().iconst(I64, last_start);
            let (l, bs) = begin_loop(b, zero, ls, blk);
            let res = block(self, b, env, bs, blk)?;
            fold(b, &res);
            end_loop(b, l);
            let res = block(self, b, env, ls, r_len - last_start)?;
            fold(b, &res);
            totals
                .iter()
                .map(|tv| tv.iter().map(|&t| b.use_var(t)).collect())
                .collect()
        };
        self.lane_outer = false;
        for (r, res) in k.reductions.iter().zip(&results) {
            for (v, &x) in res.iter().enumerate() {
                b.ins()
                    .store(flags(), x, rows.ptrs[r.dest], (16 * v) as i32);
            }
        }
        let jvar = jl.var;
        end_loop(b, jl);
        // The remaining outputs, one at a time.
        let jt = b.use_var(jvar);
        let (tl, jj) = begin_loop(b, jt, jend, 1);
        let mut at = ivs.clone();
        at.push(jj);
        let rows = rows_at(b, k, bases, &at);
        self.emit_inner(b, env, k, &rows, None, None)?;
        end_loop(b, tl);
        for l in loops.into_iter().rev() {
            end_loop(b, l);
        }
        Ok(())
    }

    /// Whether an expression is lowered to a call of a host function.
    fn is_host_call(&self, e: &KExpr) -> bool {
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

    /// Whether the kernel's inner loop can run four elements a step in SIMD.
    fn vector_mode(&self, k: &Kernel) -> Option<DType> {
        if !self.opts.simd || k.inner.len() != 1 {
            return None;
        }
        // Host calls run lane by lane: a loop dominated by them gains
        // nothing from vectors and only grows its code.
        let host_calls = k.exprs.iter().filter(|e| self.is_host_call(e)).count();
        if host_calls * 4 > k.exprs.len() {
            return None;
        }
        let mut dt: Option<DType> = None;
        let mut same = |d: DType| match dt {
            None => {
                dt = Some(d);
                true
            }
            Some(x) => x == d,
        };
        for a in &k.accesses {
            if a.dtype == DType::Bool || !same(a.dtype) {
                return None;
            }
        }
        for (i, e) in k.exprs.iter().enumerate() {
            match e {
                KExpr::Cast(..) => return None,
                KExpr::Compare(_, a, _) => {
                    if !same(k.tys[*a]) {
                        return None;
                    }
                }
                KExpr::Const(_) | KExpr::Select(..) if k.tys[i] == DType::Bool => return None,
                _ => {
                    if k.tys[i] != DType::Bool && !same(k.tys[i]) {
                        return None;
                    }
                }
            }
        }
        for &(_, a) in &k.stores {
            if k.accesses[a].inner[0] != 1 {
                return None;
            }
        }
        // Reductions keep their partial-sum order: padded operands along the
        // reduced loop are read with per-element tests instead.
        if !k.reductions.is_empty() && k.accesses.iter().any(Access::inner_restricted) {
            return None;
        }
        for e in &k.exprs {
            if let KExpr::Load(a) = e {
                if !matches!(k.accesses[*a].inner[0], 0 | 1) {
                    return None;
                }
            }
        }
        Some(dt.unwrap_or(DType::F64))
    }

    fn emit_kernel(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        k: &Kernel,
        split: Option<(Value, Value)>,
    ) -> Result<()> {
        let outer_n: usize = k.outer.iter().product();
        if outer_n == 0 || (k.inner_len() == 0 && k.reductions.is_empty()) {
            return Ok(());
        }
        // Polynomials are inlined code: a small loop with very many of them
        // (long chains on tiny tensors) compiles much faster with host calls,
        // and its run time is small either way.
        self.kernel_poly = kernel_inlines_math(self.opts, k);
        let mut bases: HashMap<usize, Value> = HashMap::new();
        for a in &k.accesses {
            if let std::collections::hash_map::Entry::Vacant(e) = bases.entry(a.buf) {
                e.insert(self.buf_base(b, env, a.buf));
            }
        }
        let mode = self.vector_mode(k);
        if mode.is_none() {
            if let Some(dt) = self.transposed_mode(k) {
                return self.emit_transposed(b, env, k, split, dt, &bases);
            }
        }
        // Outer loops.
        let mut loops = Vec::new();
        let mut ivs = Vec::new();
        for (d, &n) in k.outer.iter().enumerate() {
            let (start, end) = match (d, split) {
                (0, Some((lo, hi))) => (lo, hi),
                _ => (b.ins().iconst(I64, 0), b.ins().iconst(I64, n as i64)),
            };
            let (l, iv) = begin_loop(b, start, end, 1);
            loops.push(l);
            ivs.push(iv);
        }
        let rows = rows_at(b, k, &bases, &ivs);
        let inner_split = if k.outer.is_empty() { split } else { None };
        self.emit_inner(b, env, k, &rows, mode, inner_split)?;
        for l in loops.into_iter().rev() {
            end_loop(b, l);
        }
        Ok(())
    }

    fn emit_inner(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        k: &Kernel,
        rows: &Rows,
        mode: Option<DType>,
        split: Option<(Value, Value)>,
    ) -> Result<()> {
        let n = k.inner_len() as i64;
        // Loads that do not move along the inner loop are read once a row
        // (only when the inner loop runs: an empty loop reads nothing).
        let mut inv: HashMap<usize, Value> = HashMap::new();
        for (i, e) in k.exprs.iter().enumerate().filter(|_| n > 0) {
            if let KExpr::Load(a) = e {
                let acc = &k.accesses[*a];
                if acc.inner.iter().all(|&s| s == 0) && !acc.inner_restricted() {
                    let mut v = b
                        .ins()
                        .load(scalar_ty(acc.dtype), flags(), rows.ptrs[*a], 0);
                    if let Some(f) = rows.flags[*a] {
                        let z = fconst(b, acc.dtype, 0.0);
                        v = b.ins().select(f, v, z);
                    }
                    inv.insert(i, v);
                }
            }
        }
        let (start, end) = match split {
            Some((lo, hi)) => (lo, hi),
            None => (b.ins().iconst(I64, 0), b.ins().iconst(I64, n)),
        };
        if k.reductions.is_empty() {
            let restricted = k.accesses.iter().any(Access::inner_restricted);
            if mode.is_none() || !restricted {
                let known = split.is_none().then_some((0, n));
                self.emit_segment(b, env, k, rows, &inv, mode, start, end, None, known)?;
                return Ok(());
            }
            // Split the inner range where a padded operand starts or stops
            // being valid; inside each piece every access is either always
            // or never valid, so the vector loop needs no tests.
            let mut cuts = vec![0i64, n];
            for a in &k.accesses {
                if let Some((lo, len)) = a.inner_valid[0] {
                    cuts.push(lo.clamp(0, n));
                    cuts.push((lo + len).clamp(0, n));
                }
            }
            cuts.sort_unstable();
            cuts.dedup();
            for w in cuts.windows(2) {
                let (s0, e0) = (w[0], w[1]);
                let seg: Vec<bool> = k
                    .accesses
                    .iter()
                    .map(|a| match a.inner_valid[0] {
                        Some((lo, len)) => lo <= s0 && e0 <= lo + len,
                        None => true,
                    })
                    .collect();
                let s_v = b.ins().iconst(I64, s0);
                let e_v = b.ins().iconst(I64, e0);
                let (s_v, e_v) = match split {
                    Some(_) => (b.ins().smax(s_v, start), b.ins().smin(e_v, end)),
                    None => (s_v, e_v),
                };
                let known = split.is_none().then_some((s0, e0));
                self.emit_segment(b, env, k, rows, &inv, mode, s_v, e_v, Some(&seg), known)?;
            }
            return Ok(());
        }
        // Reductions, in blocks of REDUCE_SUM_BLOCK elements (see
        // `adjoint_ir::REDUCE_SUM_BLOCK`).
        let blk = REDUCE_SUM_BLOCK as i64;
        if n <= blk {
            let sums = self.emit_block(b, env, k, rows, &inv, mode, start, n)?;
            for (r, s) in k.reductions.iter().zip(sums) {
                b.ins().store(flags(), s, rows.ptrs[r.dest], 0);
            }
            return Ok(());
        }
        let last_start = (n - 1) / blk * blk;
        let last_len = n - last_start;
        let ls = b.ins().iconst(I64, last_start);
        match split {
            // The whole range here: fold the block sums as they come.
            None => {
                let totals: Vec<Variable> = k
                    .reductions
                    .iter()
                    .map(|r| {
                        let v = b.declare_var(scalar_ty(k.tys[r.value]));
                        let id = identity(b, r.kind, k.tys[r.value]);
                        b.def_var(v, id);
                        v
                    })
                    .collect();
                let zero = b.ins().iconst(I64, 0);
                let (l, bs) = begin_loop(b, zero, ls, blk);
                let sums = self.emit_block(b, env, k, rows, &inv, mode, bs, blk)?;
                fold_into(b, k, &totals, &sums);
                end_loop(b, l);
                let sums = self.emit_block(b, env, k, rows, &inv, mode, ls, last_len)?;
                fold_into(b, k, &totals, &sums);
                for (r, &t) in k.reductions.iter().zip(&totals) {
                    let t = b.use_var(t);
                    b.ins().store(flags(), t, rows.ptrs[r.dest], 0);
                }
            }
            // A range of whole blocks on one thread: each block's sum goes
            // to its slot of the scratch buffer, which the caller folds.
            Some(_) => {
                let scratch: Vec<Value> = k
                    .reductions
                    .iter()
                    .map(|r| {
                        let buf = r.scratch.expect("split reductions have block scratch");
                        self.buf_base(b, env, buf)
                    })
                    .collect();
                let full_end = b.ins().smin(end, ls);
                let (l, bs) = begin_loop(b, start, full_end, blk);
                let sums = self.emit_block(b, env, k, rows, &inv, mode, bs, blk)?;
                let slot = b.ins().udiv_imm_s(bs, blk);
                store_slots(b, k, &scratch, slot, &sums);
                end_loop(b, l);
                let has_last = b.ins().icmp(IntCC::SignedGreaterThan, end, ls);
                let last = b.create_block();
                let done = b.create_block();
                b.ins().brif(has_last, last, &[], done, &[]);
                b.switch_to_block(last);
                let sums = self.emit_block(b, env, k, rows, &inv, mode, ls, last_len)?;
                let slot = b.ins().iconst(I64, last_start / blk);
                store_slots(b, k, &scratch, slot, &sums);
                b.ins().jump(done, &[]);
                b.switch_to_block(done);
            }
        }
        Ok(())
    }

    /// The reductions of one block `[start, start + len)` of the inner
    /// loop, returned per reduction: element `start + j` goes into partial
    /// `j mod 4`, combined `(p0 + p1) + (p2 + p3)` (the stores of the
    /// kernel happen along the way).
    #[allow(clippy::too_many_arguments)]
    fn emit_block(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        k: &Kernel,
        rows: &Rows,
        inv: &HashMap<usize, Value>,
        mode: Option<DType>,
        start: Value,
        len: i64,
    ) -> Result<Vec<Value>> {
        let mut parts: Vec<[Variable; 4]> = Vec::with_capacity(k.reductions.len());
        let main_end = b.ins().iadd_imm_s(start, len - len % 4);
        if let Some(dt) = mode {
            let vt = vec_ty(dt);
            let vps = vecs_per_step(dt);
            let mut accs: Vec<Vec<Variable>> = Vec::new();
            for r in &k.reductions {
                let init = self.init_scalar(b, r.kind, k.tys[r.value]);
                let sp = b.ins().splat(vt, init);
                let vars = (0..vps)
                    .map(|_| {
                        let v = b.declare_var(vt);
                        b.def_var(v, sp);
                        v
                    })
                    .collect();
                accs.push(vars);
            }
            if len >= 4 {
                let vinv = self.splat_invariants(b, inv, k, dt);
                // Long blocks run eight elements a step first: the second
                // group of four goes into the same partials after the first,
                // which keeps every partial's order.
                let wide = if len >= WIDE_MIN_ELEMS as i64 { 2 } else { 1 };
                let mut from = start;
                for w in (1..=wide).rev() {
                    let group_end = b.ins().iadd_imm_s(start, len - len % (4 * w));
                    let (l, iv) = begin_loop(b, from, group_end, 4 * w);
                    self.wide = w as usize;
                    let vals = self.eval_vector(b, env, k, rows, &vinv, iv, dt, None, None);
                    self.wide = 1;
                    let vals = vals?;
                    for (r, vars) in k.reductions.iter().zip(&accs) {
                        for (j, x) in vals[r.value].iter().enumerate() {
                            let var = vars[j % vps];
                            let acc = b.use_var(var);
                            let y = reduce_op(b, r.kind, acc, *x);
                            b.def_var(var, y);
                        }
                    }
                    let lv = l.var;
                    end_loop(b, l);
                    from = b.use_var(lv);
                }
            }
            for vars in &accs {
                let lanes = 4 / vps;
                let mut ps = Vec::new();
                for &var in vars {
                    let acc = b.use_var(var);
                    for lane in 0..lanes {
                        ps.push(b.ins().extractlane(acc, lane as u8));
                    }
                }
                let st = scalar_ty(dt);
                let pv: [Variable; 4] = std::array::from_fn(|j| {
                    let v = b.declare_var(st);
                    b.def_var(v, ps[j]);
                    v
                });
                parts.push(pv);
            }
        } else {
            for r in &k.reductions {
                let dt = k.tys[r.value];
                let pv: [Variable; 4] = std::array::from_fn(|_| {
                    let init = self.init_scalar(b, r.kind, dt);
                    let v = b.declare_var(scalar_ty(dt));
                    b.def_var(v, init);
                    v
                });
                parts.push(pv);
            }
            if len >= 4 {
                let (l, iv) = begin_loop(b, start, main_end, 4);
                for j in 0..4 {
                    let kj = b.ins().iadd_imm_s(iv, j);
                    let vals = self.eval_scalar(b, env, k, rows, inv, kj, None)?;
                    for (r, pv) in k.reductions.iter().zip(&parts) {
                        let acc = b.use_var(pv[j as usize]);
                        let y = reduce_op(b, r.kind, acc, vals[r.value]);
                        b.def_var(pv[j as usize], y);
                    }
                }
                end_loop(b, l);
            }
        }
        // Static tail: element start + len - len%4 + j goes into partial j.
        for j in 0..(len % 4) {
            let kj = b.ins().iadd_imm_s(main_end, j);
            let vals = self.eval_scalar(b, env, k, rows, inv, kj, None)?;
            for (r, pv) in k.reductions.iter().zip(&parts) {
                let acc = b.use_var(pv[j as usize]);
                let y = reduce_op(b, r.kind, acc, vals[r.value]);
                b.def_var(pv[j as usize], y);
            }
        }
        Ok(k.reductions
            .iter()
            .zip(&parts)
            .map(|(r, pv)| {
                let p: Vec<Value> = pv.iter().map(|&v| b.use_var(v)).collect();
                let a = reduce_op(b, r.kind, p[0], p[1]);
                let c = reduce_op(b, r.kind, p[2], p[3]);
                reduce_op(b, r.kind, a, c)
            })
            .collect())
    }

    /// An elementwise inner loop over `[start, end)`: four elements a step
    /// in vector mode, then a scalar tail. `seg` fixes which accesses are
    /// valid throughout the range (padded operands).
    #[allow(clippy::too_many_arguments)]
    fn emit_segment(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        k: &Kernel,
        rows: &Rows,
        inv: &HashMap<usize, Value>,
        mode: Option<DType>,
        start: Value,
        end: Value,
        seg: Option<&[bool]>,
        known: Option<(i64, i64)>,
    ) -> Result<()> {
        // With a static range, loops that cannot run are not emitted, and a
        // single element is straight-line code.
        let len = known.map(|(s, e)| e - s);
        if let (Some(1), Some((s, _))) = (len, known) {
            let kk = b.ins().iconst(I64, s);
            self.eval_scalar(b, env, k, rows, inv, kk, seg)?;
            return Ok(());
        }
        let kv = b.declare_var(I64);
        b.def_var(kv, start);
        if let Some(dt) = mode.filter(|_| len.is_none_or(|l| l >= 4)) {
            let kk = b.use_var(kv);
            let vinv = self.splat_invariants(b, inv, k, dt);
            let wide = if k.inner_len() >= WIDE_MIN_ELEMS {
                2
            } else {
                1
            };
            let reuse = stencil::analyse(k, seg);
            let single_steps = wide > 1 || reuse.is_none();
            match reuse {
                None if wide > 1 => {
                    self.wide = wide;
                    let (l, iv) = begin_loop(b, kk, end, 4 * wide as i64);
                    let r = self.eval_vector(b, env, k, rows, &vinv, iv, dt, seg, None);
                    self.wide = 1;
                    r?;
                    let lv = l.var;
                    end_loop(b, l);
                    let after = b.use_var(lv);
                    b.def_var(kv, after);
                }
                None => {}
                Some(reuse) => {
                    let after = self.emit_reuse_loop(
                        b, env, k, rows, inv, &vinv, dt, kk, end, seg, &reuse, wide,
                    )?;
                    b.def_var(kv, after);
                }
            }
            // One four-element step at a time (what a wide loop left).
            if single_steps {
                let kk = b.use_var(kv);
                let (l, iv) = begin_loop(b, kk, end, 4);
                self.eval_vector(b, env, k, rows, &vinv, iv, dt, seg, None)?;
                let lv = l.var;
                end_loop(b, l);
                let after = b.use_var(lv);
                b.def_var(kv, after);
            }
            if len.is_some_and(|l| l % 4 == 0) {
                return Ok(());
            }
        }
        let kk = b.use_var(kv);
        let (l, iv) = begin_loop(b, kk, end, 1);
        self.eval_scalar(b, env, k, rows, inv, iv, seg)?;
        end_loop(b, l);
        Ok(())
    }

    /// The vector loop of an elementwise segment from `start`, `4 * wide`
    /// elements a step, with shifted
    /// expressions assembled from the previous step (see [`stencil`]):
    /// when at least one step runs, the carried vectors are seeded by
    /// evaluating their sharers at the first indices, then each step
    /// carries its vectors to the next. Returns the index after the last
    /// step (`start` when none ran).
    #[allow(clippy::too_many_arguments)]
    fn emit_reuse_loop(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        k: &Kernel,
        rows: &Rows,
        inv: &HashMap<usize, Value>,
        vinv: &HashMap<usize, Value>,
        dt: DType,
        start: Value,
        end: Value,
        seg: Option<&[bool]>,
        reuse: &Reuse,
        wide: usize,
    ) -> Result<Value> {
        let vt = vec_ty(dt);
        let vps = vecs_per_step(dt) * wide;
        let step = 4 * wide;
        let lanes = step / vps;
        let iv_var = b.declare_var(I64);
        b.def_var(iv_var, start);
        let last = b.ins().iadd_imm_s(end, -(step as i64));
        let runs = b.ins().icmp(IntCC::SignedLessThanOrEqual, start, last);
        let seed = b.create_block();
        let join = b.create_block();
        b.ins().brif(runs, seed, &[], join, &[]);
        b.switch_to_block(seed);
        let mut carries: Vec<(usize, Vec<Variable>)> = Vec::new();
        for c in &reuse.carried {
            let want = stencil::cone(k, c.seed);
            let mut lane_vals: Vec<Option<Value>> = vec![None; step];
            for t in 0..c.shift {
                let at = b.ins().iadd_imm_s(start, t as i64);
                let vals = self.eval_scalar_exprs(b, env, k, rows, inv, at, seg, Some(&want))?;
                lane_vals[step - c.shift + t] = Some(vals[c.seed]);
            }
            let fill = lane_vals[step - c.shift].expect("seeded lane");
            let vars = (0..vps)
                .map(|v| {
                    let mut x = b.ins().splat(vt, fill);
                    for lane in 0..lanes {
                        if let Some(y) = lane_vals[v * lanes + lane] {
                            x = b.ins().insertlane(x, y, lane as u8);
                        }
                    }
                    let var = b.declare_var(vt);
                    b.def_var(var, x);
                    var
                })
                .collect();
            carries.push((c.src, vars));
        }
        let (l, iv) = begin_loop(b, start, end, step as i64);
        let prev: HashMap<usize, Vec<Value>> = carries
            .iter()
            .map(|(src, vars)| (*src, vars.iter().map(|&v| b.use_var(v)).collect()))
            .collect();
        self.wide = wide;
        let vals = self.eval_vector(b, env, k, rows, vinv, iv, dt, seg, Some((reuse, &prev)));
        self.wide = 1;
        let vals = vals?;
        for (src, vars) in &carries {
            for (&var, &x) in vars.iter().zip(&vals[*src]) {
                b.def_var(var, x);
            }
        }
        let lv = l.var;
        end_loop(b, l);
        let after = b.use_var(lv);
        b.def_var(iv_var, after);
        b.ins().jump(join, &[]);
        b.switch_to_block(join);
        Ok(b.use_var(iv_var))
    }

    fn init_scalar(&self, b: &mut FunctionBuilder, kind: ReduceKind, dt: DType) -> Value {
        let x = match kind {
            ReduceKind::Sum => 0.0,
            ReduceKind::Max => f64::NEG_INFINITY,
        };
        fconst(b, dt, x)
    }

    fn splat_invariants(
        &self,
        b: &mut FunctionBuilder,
        inv: &HashMap<usize, Value>,
        k: &Kernel,
        dt: DType,
    ) -> HashMap<usize, Value> {
        let _ = k;
        inv.iter()
            .map(|(&i, &v)| (i, b.ins().splat(vec_ty(dt), v)))
            .collect()
    }

    /// Address of element `kidx` of the inner loop for access `a`. With
    /// `check`, indices of padded dims are clamped into the operand and the
    /// second result tells whether the element is inside it.
    fn elem_addr(
        &self,
        b: &mut FunctionBuilder,
        k: &Kernel,
        row: Value,
        a: &Access,
        kidx: Value,
        check: bool,
    ) -> (Value, Option<Value>) {
        let es = a.dtype.size_bytes() as i64;
        let mut flag: Option<Value> = None;
        let mut and = |b: &mut FunctionBuilder, f: Value| {
            flag = Some(match flag {
                Some(g) => b.ins().band(g, f),
                None => f,
            });
        };
        if k.inner.len() == 1 {
            let st = a.inner[0];
            let mut idx = kidx;
            if let (true, Some((lo, n))) = (check, a.inner_valid[0]) {
                let (c, f) = clamp_index(b, idx, lo, n);
                idx = c;
                and(b, f);
            }
            if st == 0 {
                return (row, flag);
            }
            let off = b.ins().imul_imm_s(idx, st * es);
            return (b.ins().iadd(row, off), flag);
        }
        // Several inner dims walked by a flat counter.
        let mut p = row;
        let mut inner_prod = 1i64;
        for d in (0..k.inner.len()).rev() {
            let dim = k.inner[d] as i64;
            let st = a.inner[d];
            let valid = if check { a.inner_valid[d] } else { None };
            if (st != 0 && dim > 1) || valid.is_some() {
                let q = if inner_prod == 1 {
                    kidx
                } else {
                    b.ins().udiv_imm_s(kidx, inner_prod)
                };
                let mut idx = if d == 0 {
                    q
                } else {
                    b.ins().urem_imm_s(q, dim)
                };
                if let Some((lo, n)) = valid {
                    let (c, f) = clamp_index(b, idx, lo, n);
                    idx = c;
                    and(b, f);
                }
                if st != 0 {
                    let off = b.ins().imul_imm_s(idx, st * es);
                    p = b.ins().iadd(p, off);
                }
            }
            inner_prod *= dim;
        }
        (p, flag)
    }

    /// Evaluates every expression at inner index `kidx`, emitting the
    /// stores; returns the scalar value of each expression.
    #[allow(clippy::too_many_arguments)]
    fn eval_scalar(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        k: &Kernel,
        rows: &Rows,
        inv: &HashMap<usize, Value>,
        kidx: Value,
        seg: Option<&[bool]>,
    ) -> Result<Vec<Value>> {
        let v = self.eval_scalar_exprs(b, env, k, rows, inv, kidx, seg, None)?;
        for &(val, a) in &k.stores {
            let acc = &k.accesses[a];
            let (p, _) = self.elem_addr(b, k, rows.ptrs[a], acc, kidx, false);
            b.ins().store(flags(), v[val], p, 0);
        }
        Ok(v)
    }

    /// Evaluates the expressions at inner index `kidx`, without stores;
    /// with `want`, only the wanted ones (the others get a placeholder
    /// that must not be used).
    #[allow(clippy::too_many_arguments)]
    fn eval_scalar_exprs(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        k: &Kernel,
        rows: &Rows,
        inv: &HashMap<usize, Value>,
        kidx: Value,
        seg: Option<&[bool]>,
        want: Option<&[bool]>,
    ) -> Result<Vec<Value>> {
        let mut v: Vec<Value> = Vec::with_capacity(k.exprs.len());
        for (i, e) in k.exprs.iter().enumerate() {
            let dt = k.tys[i];
            if want.is_some_and(|w| !w[i]) {
                v.push(Value::reserved_value());
                continue;
            }
            let x = match e {
                KExpr::Load(a) => match inv.get(&i) {
                    Some(&x) => x,
                    None if seg.is_some_and(|s| !s[*a]) => fconst(b, dt, 0.0),
                    None => {
                        let acc = &k.accesses[*a];
                        let (p, f) = self.elem_addr(b, k, rows.ptrs[*a], acc, kidx, seg.is_none());
                        let mut x = b.ins().load(scalar_ty(acc.dtype), flags(), p, 0);
                        for f in [f, rows.flags[*a]].into_iter().flatten() {
                            let z = fconst(b, dt, 0.0);
                            x = b.ins().select(f, x, z);
                        }
                        x
                    }
                },
                KExpr::Const(c) => fconst(b, dt, *c),
                KExpr::Unary(u, x) => self.unary(b, env, *u, dt, false, v[*x]),
                KExpr::Binary(op, x, y) => self.binary(b, env, *op, dt, false, v[*x], v[*y]),
                KExpr::Compare(c, x, y) => b.ins().fcmp(float_cc(*c), v[*x], v[*y]),
                KExpr::Select(c, x, y) => b.ins().select(v[*c], v[*x], v[*y]),
                KExpr::Cast(from, x) => cast(b, *from, dt, v[*x]),
                KExpr::Masked(x, a) => match seg {
                    Some(s) if !s[*a] => fconst(b, dt, 0.0),
                    _ => {
                        let acc = &k.accesses[*a];
                        let (_, f) = self.elem_addr(b, k, rows.ptrs[*a], acc, kidx, seg.is_none());
                        let mut x = v[*x];
                        for f in [f, rows.flags[*a]].into_iter().flatten() {
                            let z = fconst(b, dt, 0.0);
                            x = b.ins().select(f, x, z);
                        }
                        x
                    }
                },
            };
            v.push(x);
        }
        Ok(v)
    }

    /// Evaluates every expression on the four elements starting at `kidx`,
    /// emitting the stores; returns the vectors of each expression.
    #[allow(clippy::too_many_arguments)]
    fn eval_vector(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        k: &Kernel,
        rows: &Rows,
        inv: &HashMap<usize, Value>,
        kidx: Value,
        dt: DType,
        seg: Option<&[bool]>,
        reuse: Option<(&Reuse, &HashMap<usize, Vec<Value>>)>,
    ) -> Result<Vec<Vec<Value>>> {
        let vt = vec_ty(dt);
        let vps = vecs_per_step(dt) * self.wide;
        let mut v: Vec<Vec<Value>> = Vec::with_capacity(k.exprs.len());
        for (i, e) in k.exprs.iter().enumerate() {
            if let Some((r, prev)) = reuse {
                if !r.needed[i] {
                    v.push(Vec::new());
                    continue;
                }
                if let Some(s) = r.shares[i] {
                    let lanes = 16 / dt.size_bytes();
                    let x = stencil::window(b, &prev[&s.src], &v[s.src], s.shift, lanes);
                    v.push(x);
                    continue;
                }
            }
            let x: Vec<Value> = match e {
                KExpr::Load(a) => match inv.get(&i) {
                    Some(&x) => vec![x; vps],
                    None if seg.is_some_and(|s| !s[*a]) => {
                        let z = fconst(b, dt, 0.0);
                        vec![b.ins().splat(vt, z); vps]
                    }
                    None => {
                        let acc = &k.accesses[*a];
                        let (p, _) = self.elem_addr(b, k, rows.ptrs[*a], acc, kidx, false);
                        let lane_stride = if self.lane_outer {
                            acc.outer.last().copied().unwrap_or(0)
                        } else {
                            acc.inner[0]
                        };
                        let mut xs: Vec<Value> = if lane_stride == 0 {
                            let x = b.ins().load(scalar_ty(acc.dtype), flags(), p, 0);
                            vec![b.ins().splat(vt, x); vps]
                        } else {
                            (0..vps)
                                .map(|j| b.ins().load(vt, flags(), p, (16 * j) as i32))
                                .collect()
                        };
                        if let Some(f) = rows.flags[*a] {
                            let z = fconst(b, dt, 0.0);
                            let z = b.ins().splat(vt, z);
                            for x in &mut xs {
                                *x = b.ins().select(f, *x, z);
                            }
                        }
                        xs
                    }
                },
                KExpr::Const(c) => {
                    let s = fconst(b, dt, *c);
                    let sp = b.ins().splat(vt, s);
                    vec![sp; vps]
                }
                KExpr::Unary(UnaryOp::Neg, x) if dt != DType::Bool => v[*x]
                    .iter()
                    .map(|&xj| ports::negate(b, vt, dt, xj))
                    .collect(),
                KExpr::Unary(u, x) => {
                    let xs = v[*x].clone();
                    let mut out = Vec::with_capacity(vps);
                    for xj in xs {
                        out.push(self.unary(b, env, *u, dt, true, xj));
                    }
                    out
                }
                KExpr::Binary(op, x, y) => (0..vps)
                    .map(|j| self.binary(b, env, *op, dt, true, v[*x][j], v[*y][j]))
                    .collect(),
                KExpr::Compare(c, x, y) => (0..vps)
                    .map(|j| b.ins().fcmp(float_cc(*c), v[*x][j], v[*y][j]))
                    .collect(),
                KExpr::Select(c, x, y) => (0..vps)
                    .map(|j| {
                        let m = b.ins().bitcast(vt, MemFlagsData::new(), v[*c][j]);
                        b.ins().bitselect(m, v[*x][j], v[*y][j])
                    })
                    .collect(),
                KExpr::Cast(..) => {
                    return Err(Error::jit("internal: cast in a vector loop"));
                }
                KExpr::Masked(x, a) => {
                    if seg.is_some_and(|s| !s[*a]) {
                        let z = fconst(b, dt, 0.0);
                        vec![b.ins().splat(vt, z); vps]
                    } else {
                        let mut xs = v[*x].clone();
                        if let Some(f) = rows.flags[*a] {
                            let z = fconst(b, dt, 0.0);
                            let z = b.ins().splat(vt, z);
                            for x in &mut xs {
                                *x = b.ins().select(f, *x, z);
                            }
                        }
                        xs
                    }
                }
            };
            v.push(x);
        }
        let _ = mask_ty(dt);
        for &(val, a) in &k.stores {
            let acc = &k.accesses[a];
            let (p, _) = self.elem_addr(b, k, rows.ptrs[a], acc, kidx, false);
            for (j, &x) in v[val].iter().enumerate() {
                b.ins().store(flags(), x, p, (16 * j) as i32);
            }
        }
        Ok(v)
    }

    fn call1(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        name: &'static str,
        x: Value,
    ) -> Value {
        let f = self.host_ref(b, env, name);
        let c = b.ins().call(f, &[x]);
        b.inst_results(c)[0]
    }

    fn call2(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        name: &'static str,
        x: Value,
        y: Value,
    ) -> Value {
        let f = self.host_ref(b, env, name);
        let c = b.ins().call(f, &[x, y]);
        b.inst_results(c)[0]
    }

    /// The flavor of inline math for `dt`, scalar or vector.
    fn flavor(&self, dt: DType, vector: bool) -> vmath::Flavor {
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
    fn inline_math(
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
                Some(vmath::sincos(b, fl, x, cos, |b, v| {
                    self.libm_unary(b, env, u, dt, vector, v)
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
    fn unary(
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
                let e = self.host_unary(b, env, UnaryOp::Exp, dt, vector, n);
                let one = splat_const(b, dt, vector, 1.0);
                let d = b.ins().fadd(one, e);
                b.ins().fdiv(one, d)
            }
            UnaryOp::Exp | UnaryOp::Log | UnaryOp::Sin | UnaryOp::Cos | UnaryOp::Tanh => {
                self.host_unary(b, env, u, dt, vector, x)
            }
        }
    }

    /// A transcendental function by a call (lane by lane in vectors): of
    /// the out-of-line polynomial function with `poly_math` (the same bits
    /// as the inline code), else of libm's.
    fn host_unary(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        u: UnaryOp,
        dt: DType,
        vector: bool,
        x: Value,
    ) -> Value {
        // Without FMA the polynomial mode's `sin` and `cos` are libm's.
        let libm_trig = matches!(u, UnaryOp::Sin | UnaryOp::Cos) && !self.fma;
        if !self.opts.poly_math || libm_trig {
            return self.libm_unary(b, env, u, dt, vector, x);
        }
        let call = |cx: &mut Self, b: &mut FunctionBuilder, env: &mut Env, a: Value| {
            let f = cx.math_fn_ref(b, env, Some(u), dt);
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
    fn libm_unary(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        u: UnaryOp,
        dt: DType,
        vector: bool,
        x: Value,
    ) -> Value {
        let name = runtime::libm_fn_name(u.name(), dt);
        if vector {
            self.per_lane(b, env, dt, &[x], |cx, b, env, a| {
                cx.call1(b, env, name, a[0])
            })
        } else {
            self.call1(b, env, name, x)
        }
    }

    /// A binary op on scalars or (with `vector`) vectors of `dt`.
    #[allow(clippy::too_many_arguments)]
    fn binary(
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
                let name = runtime::libm_fn_name("pow", dt);
                let call = |cx: &mut Self, b: &mut FunctionBuilder, env: &mut Env, a: &[Value]| {
                    if poly {
                        let f = cx.math_fn_ref(b, env, None, dt);
                        let c = b.ins().call(f, a);
                        b.inst_results(c)[0]
                    } else {
                        cx.call2(b, env, name, a[0], a[1])
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
    fn per_lane(
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

/// Row pointers of a kernel's accesses at the current outer indices, and
/// for padded accesses whether the row lies inside the operand.
struct Rows {
    ptrs: Vec<Value>,
    flags: Vec<Option<Value>>,
}

/// The row pointers at outer indices `ivs` (padded accesses use the clamped
/// index and get a flag telling whether the row is inside the operand).
fn rows_at(
    b: &mut FunctionBuilder,
    k: &Kernel,
    bases: &HashMap<usize, Value>,
    ivs: &[Value],
) -> Rows {
    let mut rows = Rows {
        ptrs: Vec::with_capacity(k.accesses.len()),
        flags: Vec::with_capacity(k.accesses.len()),
    };
    for a in &k.accesses {
        let es = a.dtype.size_bytes() as i64;
        let mut p = b.ins().iadd_imm_s(bases[&a.buf], a.offset * es);
        let mut flag: Option<Value> = None;
        for ((iv, &st), valid) in ivs.iter().zip(&a.outer).zip(&a.outer_valid) {
            let mut idx = *iv;
            if let Some((lo, n)) = *valid {
                let (c, f) = clamp_index(b, idx, lo, n);
                idx = c;
                flag = Some(match flag {
                    Some(g) => b.ins().band(g, f),
                    None => f,
                });
            }
            if st != 0 {
                let t = b.ins().imul_imm_s(idx, st * es);
                p = b.ins().iadd(p, t);
            }
        }
        rows.ptrs.push(p);
        rows.flags.push(flag);
    }
    rows
}

/// Clamps `idx` into `[lo, lo + n - 1]` (`n >= 1`) and tells whether it was
/// inside.
fn clamp_index(b: &mut FunctionBuilder, idx: Value, lo: i64, n: i64) -> (Value, Value) {
    let lo_v = b.ins().iconst(I64, lo);
    let hi_v = b.ins().iconst(I64, lo + n - 1);
    let c = b.ins().smax(idx, lo_v);
    let c = b.ins().smin(c, hi_v);
    let inside = b.ins().icmp(IntCC::Equal, c, idx);
    (c, inside)
}

fn fconst(b: &mut FunctionBuilder, dt: DType, x: f64) -> Value {
    match dt {
        DType::F32 => b.ins().f32const(x as f32),
        DType::F64 => b.ins().f64const(x),
        DType::Bool => b.ins().iconst(I8, i64::from(x != 0.0)),
    }
}

/// A float constant of `dt`, splat to a vector with `vector`.
fn splat_const(b: &mut FunctionBuilder, dt: DType, vector: bool, x: f64) -> Value {
    let c = fconst(b, dt, x);
    if vector {
        b.ins().splat(vec_ty(dt), c)
    } else {
        c
    }
}

fn float_cc(c: CompareOp) -> FloatCC {
    match c {
        CompareOp::Lt => FloatCC::LessThan,
        CompareOp::Le => FloatCC::LessThanOrEqual,
        CompareOp::Gt => FloatCC::GreaterThan,
        CompareOp::Ge => FloatCC::GreaterThanOrEqual,
        CompareOp::Eq => FloatCC::Equal,
    }
}

fn cast(b: &mut FunctionBuilder, from: DType, to: DType, x: Value) -> Value {
    match (from, to) {
        (DType::F32, DType::F64) => b.ins().fpromote(F64, x),
        (DType::F64, DType::F32) => b.ins().fdemote(F32, x),
        (DType::Bool, DType::F32 | DType::F64) => {
            let w = b.ins().uextend(cranelift_codegen::ir::types::I32, x);
            b.ins().fcvt_from_uint(scalar_ty(to), w)
        }
        _ => x,
    }
}

fn reduce_op(b: &mut FunctionBuilder, kind: ReduceKind, acc: Value, x: Value) -> Value {
    match kind {
        ReduceKind::Sum => b.ins().fadd(acc, x),
        ReduceKind::Max => b.ins().fmax(acc, x),
    }
}

/// The identity of a reduction's block fold: `-0.0` for sums (`-0 + x` is
/// `x` for every `x`, signed zeros included), `-inf` for maxima.
fn identity(b: &mut FunctionBuilder, kind: ReduceKind, dt: DType) -> Value {
    match kind {
        ReduceKind::Sum => fconst(b, dt, -0.0),
        ReduceKind::Max => fconst(b, dt, f64::NEG_INFINITY),
    }
}

/// `total = total (op) block` for each reduction of `k`.
fn fold_into(b: &mut FunctionBuilder, k: &Kernel, totals: &[Variable], sums: &[Value]) {
    for ((r, &t), &s) in k.reductions.iter().zip(totals).zip(sums) {
        let acc = b.use_var(t);
        let y = reduce_op(b, r.kind, acc, s);
        b.def_var(t, y);
    }
}

/// Stores each reduction's block sum at `slot` of its scratch buffer.
fn store_slots(
    b: &mut FunctionBuilder,
    k: &Kernel,
    scratch: &[Value],
    slot: Value,
    sums: &[Value],
) {
    for ((r, &base), &s) in k.reductions.iter().zip(scratch).zip(sums) {
        let es = k.tys[r.value].size_bytes() as i64;
        let off = b.ins().imul_imm_s(slot, es);
        let p = b.ins().iadd(base, off);
        b.ins().store(flags(), s, p, 0);
    }
}

struct Loop {
    var: Variable,
    header: cranelift_codegen::ir::Block,
    exit: cranelift_codegen::ir::Block,
    step: i64,
}

/// Starts `for iv = start; iv + step <= end; iv += step` and returns the
/// loop and `iv` inside the body.
fn begin_loop(b: &mut FunctionBuilder, start: Value, end: Value, step: i64) -> (Loop, Value) {
    let var = b.declare_var(I64);
    b.def_var(var, start);
    let last = b.ins().iadd_imm_s(end, -step);
    let header = b.create_block();
    let body = b.create_block();
    let exit = b.create_block();
    b.ins().jump(header, &[]);
    b.switch_to_block(header);
    let iv = b.use_var(var);
    let c = b.ins().icmp(IntCC::SignedLessThanOrEqual, iv, last);
    b.ins().brif(c, body, &[], exit, &[]);
    b.switch_to_block(body);
    let iv = b.use_var(var);
    (
        Loop {
            var,
            header,
            exit,
            step,
        },
        iv,
    )
}

fn end_loop(b: &mut FunctionBuilder, l: Loop) {
    let iv = b.use_var(l.var);
    let n = b.ins().iadd_imm_s(iv, l.step);
    b.def_var(l.var, n);
    b.ins().jump(l.header, &[]);
    b.switch_to_block(l.exit);
}
