//! Module and ABI setup: the Cranelift ISA and flags, the JIT module with
//! the host functions declared ([`crate::libcall`]), function declaration
//! and definition, and finalisation ([`lower`]).

use super::clif::{cl_err, scalar_ty};
use super::context::{Addresses, Ctx, Lowered};
use super::math::{kernel_inlines_math, transcendentals};
use crate::kernel_ir::{Plan, Step};
use crate::libcall::{HostFn, HostSig};
use crate::{JitOptions, OptLevel};
use adjoint_ir::Result;
use cranelift_codegen::ir::types::I64;
use cranelift_codegen::ir::{AbiParam, InstBuilder, Signature, UserFuncName, Value};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::JITModule;
use cranelift_module::{FuncId, Linkage, Module};

/// From this many host calls of transcendental functions on, `OptLevel::Auto`
/// uses Cranelift's single-pass register allocator: in such call-dense code
/// every live value is spilled around each call whichever allocator runs,
/// and the backtracking one took 2-3x the compile time (W7: 31 ms of
/// codegen against 12 ms).
pub(super) const SINGLE_PASS_MIN_CALLS: usize = 256;

/// The host calls of transcendental functions in the plan's code (call
/// sites, not executions).
pub(super) fn host_calls(plan: &Plan, opts: &JitOptions) -> usize {
    plan.steps
        .iter()
        .map(|s| match s {
            Step::Kernel(k) if !kernel_inlines_math(opts, k) => transcendentals(k),
            Step::Kernel(_) | Step::MatMul { .. } | Step::Control(_) => 0,
        })
        .sum()
}

pub(crate) fn lower(
    plan: &Plan,
    addrs: &Addresses,
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
    for h in HostFn::ALL {
        jb.symbol(h.symbol(), h.addr());
    }
    let mut module = JITModule::new(jb);
    let ptr = module.target_config().pointer_type();
    let mut host = Vec::with_capacity(HostFn::ALL.len());
    for h in HostFn::ALL {
        let mut sig = module.make_signature();
        match h.sig() {
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
            HostSig::Counters => sig.returns.push(AbiParam::new(ptr)),
            HostSig::Revolve => {
                for _ in 0..2 {
                    sig.params.push(AbiParam::new(ptr));
                }
            }
        }
        let id = module
            .declare_function(h.symbol(), Linkage::Import, &sig)
            .map_err(|e| cl_err("declare host function", e))?;
        host.push(id);
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
    pub(super) fn define_fn(
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
    pub(super) fn define_declared_fn(
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
}
