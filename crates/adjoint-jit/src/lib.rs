//! # adjoint-jit
//!
//! Compiles verified graphs to native code with Cranelift.
//!
//! [`compile`] inlines custom ops, groups elementwise work into fusion
//! regions (`adjoint_ir::fusion`, a side table), plans memory (views for shape ops, one
//! arena for intermediates reused by liveness) and lowers every region to
//! one loop nest, vectorised with 128-bit SIMD, and every `matmul` to a
//! GEMM call. `scan`, `while` and `cond` become native loops (and
//! branches) calling their bodies, each compiled once (`control_flow.rs`).
//! The result, a [`CompiledFn`], is called on caller-owned
//! buffers with full checking of counts, dtypes and lengths.
//!
//! ```
//! use adjoint_ir::{GraphBuilder, TensorType};
//! let b = GraphBuilder::new("f");
//! let x1 = b.param("x1", TensorType::f64([]));
//! let x2 = b.param("x2", TensorType::f64([]));
//! let y = x1 * x2 + x1.sin();
//! let g = b.build(&[y]).unwrap();
//! let f = adjoint_jit::compile(&g, &Default::default()).unwrap();
//! let mut out = [0.0];
//! f.call_f64(&[&[2.0], &[7.0]], &mut [&mut out]).unwrap();
//! assert!((out[0] - (2.0 * 7.0 + 2.0f64.sin())).abs() < 1e-14);
//! ```
#![warn(missing_docs)]

mod arena;
mod buffers;
mod call_stats;
mod codegen;
mod compiled;
mod control_flow;
mod gemm_backend;
mod kernel_ir;
mod libcall;
mod options;
mod planner;
mod pool;
mod ports;
mod runtime;
mod stencil;
mod vmath;
mod vpow;

pub use buffers::{BufMut, BufRef};
pub use compiled::{CompileStats, CompiledFn};
pub use options::{JitOptions, OptLevel, DEFAULT_MEMORY_BUDGET};

use adjoint_ir::{verify, DType, Graph, Result};
use std::sync::Mutex;
use std::time::Instant;

/// Compiles `g` with default options and runs it once on `inputs`: the
/// same signature as `adjoint_interp::eval`, so callers can swap engines.
/// (Compile once with [`compile`] to call a function repeatedly.)
pub fn eval(g: &Graph, inputs: &[adjoint_ir::Tensor]) -> Result<Vec<adjoint_ir::Tensor>> {
    compile(g, &JitOptions::default())?.run(inputs)
}

/// Compiles `g` to native code. The graph is verified first; errors are
/// [`adjoint_ir::ErrorKind::Jit`] errors naming the op.
pub fn compile(g: &Graph, opts: &JitOptions) -> Result<CompiledFn> {
    let mut bodies = control_flow::Bodies::new(opts);
    let mut f = compile_with(g, opts, &mut bodies)?;
    // The bodies of loops and conditionals (each compiled once) count in
    // the figures.
    for b in &bodies.compiled {
        f.stats.functions += b.stats.functions;
        f.stats.code_bytes += b.stats.code_bytes;
        for (all, own) in [(&mut f.clif, &b.clif), (&mut f.disasm, &b.disasm)] {
            if let (Some(all), Some(own)) = (all.as_mut(), own) {
                all.push_str(&format!("; body @{}\n{own}", b.name));
            }
        }
    }
    f.stats.bodies = bodies.compiled.len();
    f.counter_names = bodies.counter_names;
    f.count_body_evals = opts.count_body_evals;
    Ok(f)
}

/// [`compile`], compiling the bodies of loops and conditionals through
/// (and into) `bodies`; the figures are the function's own.
pub(crate) fn compile_with(
    g: &Graph,
    opts: &JitOptions,
    bodies: &mut control_flow::Bodies,
) -> Result<CompiledFn> {
    let t0 = Instant::now();
    verify(g)?;
    let mut g = g.clone();
    if adjoint_ir::inline_calls_where(&mut g, |_| true)?.1 > 0 {
        verify(&g)?;
    }
    let regions = adjoint_ir::fusion::assign_regions(&g)?;
    let threads = match opts.threads {
        0 => pool::hardware_threads(),
        n => n,
    };
    let mut plan = planner::build_plan(
        &g,
        &regions,
        threads,
        opts.poly_math,
        opts.memory_budget,
        bodies,
    )?;
    let arena_op = planner::largest_arena_op(&g, &plan);
    let output_ops = g
        .outputs()
        .iter()
        .map(|&o| planner::op_desc(&g, o))
        .collect();
    // The descriptors' heap storage never moves: the code holds pointers.
    let descs: Vec<runtime::MatMulDesc> = std::mem::take(&mut plan.matmuls);
    let addrs = codegen::Addresses {
        consts: plan.consts.iter().map(|c| c.ptr() as usize).collect(),
        descs: descs
            .iter()
            .map(|d| (d as *const runtime::MatMulDesc) as usize)
            .collect(),
    };
    let t1 = Instant::now();
    let lowered = codegen::lower(&plan, &addrs, opts, threads)?;
    let t2 = Instant::now();
    let params = g.param_types();
    let outputs = g.output_types();
    let all_f64 = params.iter().chain(&outputs).all(|t| t.dtype == DType::F64);
    let kernels = plan
        .steps
        .iter()
        .filter(|s| matches!(s, kernel_ir::Step::Kernel(_)))
        .count();
    let stats = CompileStats {
        nodes: g.len(),
        regions: regions.stats.regions,
        kernels,
        matmuls: descs.len(),
        parallel_kernels: lowered.parallel_kernels,
        opt_level: lowered.opt_level,
        single_pass_regalloc: lowered.single_pass_regalloc,
        functions: lowered.functions,
        code_bytes: lowered.code_bytes,
        bodies: 0,
        arena_bytes: plan.arena_bytes,
        kernel_exprs: plan
            .steps
            .iter()
            .map(|s| match s {
                kernel_ir::Step::Kernel(k) => k.exprs.len(),
                kernel_ir::Step::MatMul { .. } | kernel_ir::Step::Control(_) => 0,
            })
            .sum(),
        seconds: t0.elapsed().as_secs_f64(),
        plan_seconds: (t1 - t0).as_secs_f64(),
        codegen_seconds: (t2 - t1).as_secs_f64(),
    };
    // SAFETY: the finalized entry has the signature `main(ins, outs, arena)`
    // that codegen::define_main declares.
    let entry: compiled::EntryFn = unsafe { std::mem::transmute(lowered.entry) };
    Ok(CompiledFn {
        entry,
        name: g.name().to_string(),
        param_lens: params.iter().map(|t| t.numel()).collect(),
        output_lens: outputs.iter().map(|t| t.numel()).collect(),
        params,
        outputs,
        all_f64,
        arena_bytes: plan.arena_bytes,
        heap_arena: !codegen::arena_on_stack(plan.arena_bytes, opts),
        arena_op,
        output_ops,
        memory_budget: opts.memory_budget,
        clif: lowered.clif,
        disasm: lowered.disasm,
        stats,
        plan_bufs: plan.bufs,
        plan_steps: plan.steps,
        plan_text: std::sync::OnceLock::new(),
        _consts: plan.consts,
        descs,
        _bodies: plan.bodies,
        counter_names: Vec::new(),
        count_body_evals: false,
        module: Mutex::new(Some(lowered.module)),
    })
}
