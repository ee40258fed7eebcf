//! The compiled function: native code, its constants, and the checked call
//! paths.

use crate::buffers::{BufMut, BufRef};
use crate::kernel_ir::{Buf, ConstData, Step};
use crate::runtime::MatMulDesc;
use adjoint_ir::{DType, Error, Result, RunStats, Tensor, TensorData, TensorType};
use cranelift_jit::JITModule;
use std::cell::Cell;
use std::sync::{Mutex, OnceLock};

/// The generated entry point: `main(ins, outs, arena)`.
pub(crate) type EntryFn = unsafe extern "C" fn(*const *const u8, *const *mut u8, *mut u8);

/// Figures about one compilation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CompileStats {
    /// Nodes of the graph after inlining custom ops.
    pub nodes: usize,
    /// Fusion regions.
    pub regions: usize,
    /// Loop kernels emitted.
    pub kernels: usize,
    /// GEMM calls emitted.
    pub matmuls: usize,
    /// Kernels split across threads.
    pub parallel_kernels: usize,
    /// The Cranelift optimisation level used (`JitOptions::opt_level`
    /// with `Auto` resolved).
    pub opt_level: crate::OptLevel,
    /// Whether Cranelift's single-pass register allocator was used
    /// (`OptLevel::Auto` on code with many host calls, such as W7).
    pub single_pass_regalloc: bool,
    /// Native functions generated: `main`, plus one per chunk of steps in
    /// long programs and one per kernel split across threads, and those of
    /// every body of a loop or conditional (each compiled once).
    pub functions: usize,
    /// Bytes of machine code generated, bodies of loops and conditionals
    /// included: it does not depend on trip counts (loops are never
    /// unrolled).
    pub code_bytes: usize,
    /// Bodies of loops and conditionals compiled (each function once,
    /// however many loops run it); their functions count in `functions`.
    pub bodies: usize,
    /// Bytes of the arena of intermediates each call uses
    /// ([`CompiledFn::arena_bytes`]): every intermediate value, loop
    /// carries and stacked outputs that are not outputs of the function,
    /// `revolve` snapshots and work buffers, and the arenas of the bodies
    /// it calls.
    pub arena_bytes: usize,
    /// Expressions of all loop kernels together (loads, constants and
    /// operations computed per iteration): the size of the plan, which
    /// grows linearly with the program.
    pub kernel_exprs: usize,
    /// Wall time of the whole compilation, in seconds.
    pub seconds: f64,
    /// Of which: inlining, fusion and planning, in seconds.
    pub plan_seconds: f64,
    /// Of which: Cranelift (IR construction, optimisation, register
    /// allocation, emission), in seconds.
    pub codegen_seconds: f64,
}

/// A graph compiled to native code.
///
/// It is `Send + Sync`: the code and constants are immutable, and every call
/// gets its own scratch memory (on the stack of the generated code for small
/// arenas, in a per-thread buffer for large ones). Dropping it frees the
/// code.
pub struct CompiledFn {
    pub(crate) entry: EntryFn,
    pub(crate) name: String,
    pub(crate) params: Vec<TensorType>,
    pub(crate) outputs: Vec<TensorType>,
    /// Element counts of the parameters and outputs (checked every call).
    pub(crate) param_lens: Vec<usize>,
    pub(crate) output_lens: Vec<usize>,
    pub(crate) all_f64: bool,
    pub(crate) arena_bytes: usize,
    pub(crate) heap_arena: bool,
    /// The op of the arena's largest buffer, for messages.
    pub(crate) arena_op: String,
    /// Each output's op (`%y = broadcast (f64[8])`), for messages.
    pub(crate) output_ops: Vec<String>,
    /// `JitOptions::memory_budget`.
    pub(crate) memory_budget: usize,
    pub(crate) clif: Option<String>,
    pub(crate) disasm: Option<String>,
    pub(crate) stats: CompileStats,
    /// The plan's buffers and steps (kept after lowering, a small fraction
    /// of the code's size), printed on the first call of
    /// [`CompiledFn::plan`].
    pub(crate) plan_bufs: Vec<Buf>,
    pub(crate) plan_steps: Vec<Step>,
    pub(crate) plan_text: OnceLock<String>,
    pub(crate) _consts: Vec<ConstData>,
    pub(crate) descs: Vec<MatMulDesc>,
    /// The compiled bodies the code calls (kept alive while it may run).
    pub(crate) _bodies: Vec<std::sync::Arc<CompiledFn>>,
    /// The names of the counted bodies, by counter index
    /// (`crate::call_stats`; empty when nothing is counted).
    pub(crate) counter_names: Vec<String>,
    /// `JitOptions::count_body_evals`.
    pub(crate) count_body_evals: bool,
    pub(crate) module: Mutex<Option<JITModule>>,
}

impl std::fmt::Debug for CompiledFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledFn")
            .field("name", &self.name)
            .field("params", &self.params)
            .field("outputs", &self.outputs)
            .field("arena_bytes", &self.arena_bytes)
            .field("stats", &self.stats)
            .finish()
    }
}

// SAFETY: the entry point is immutable machine code that only reads the
// owned constants and descriptors (never mutated after compilation) and
// writes the caller's buffers and its per-call arena. The JIT module is only
// touched in `drop`, behind a mutex.
unsafe impl Sync for CompiledFn {}
// SAFETY: as above; nothing is tied to the compiling thread.
unsafe impl Send for CompiledFn {}

impl Drop for CompiledFn {
    fn drop(&mut self) {
        let module = match self.module.get_mut() {
            Ok(m) => m.take(),
            Err(p) => p.into_inner().take(),
        };
        if let Some(m) = module {
            // SAFETY: no call can be running (we have `&mut self`), and no
            // pointer into the code escapes this struct.
            unsafe { m.free_memory() };
        }
    }
}

thread_local! {
    static SCRATCH: Cell<Vec<u128>> = const { Cell::new(Vec::new()) };
}

const MAX_STACK_ARGS: usize = 16;

fn dtype_name(d: DType) -> &'static str {
    d.name()
}

impl CompiledFn {
    /// The function's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parameter types, in order.
    pub fn param_types(&self) -> &[TensorType] {
        &self.params
    }

    /// The output types, in order.
    pub fn output_types(&self) -> &[TensorType] {
        &self.outputs
    }

    /// The CLIF text of every generated function, if compiled with
    /// `keep_clif`.
    pub fn clif(&self) -> Option<&str> {
        self.clif.as_deref()
    }

    /// The machine code of every generated function, disassembled, if
    /// compiled with `keep_disasm`.
    pub fn disasm(&self) -> Option<&str> {
        self.disasm.as_deref()
    }

    /// Bytes of scratch memory each call uses for intermediates.
    pub fn arena_bytes(&self) -> usize {
        self.arena_bytes
    }

    /// Figures about the compilation.
    pub fn stats(&self) -> &CompileStats {
        &self.stats
    }

    /// A readable listing of the execution plan (kernels, their loops and
    /// modes, GEMM calls), for dumps.
    pub fn plan(&self) -> &str {
        self.plan_text.get_or_init(|| {
            crate::kernel_ir::print_plan(
                &self.plan_bufs,
                &self.plan_steps,
                &self.descs,
                self.arena_bytes,
            )
        })
    }

    fn check_count(&self, what: &str, got: usize, want: usize) -> Result<()> {
        if got != want {
            return Err(Error::input(format!(
                "@{}: expected {want} {what}, got {got}",
                self.name
            )));
        }
        Ok(())
    }

    fn check_buf(&self, what: &str, i: usize, ty: &TensorType, d: DType, len: usize) -> Result<()> {
        if d != ty.dtype || len != ty.numel() {
            return Err(Error::input(format!(
                "@{}: {what} {i} must be {ty} ({} elements of {}), got {len} elements of {}",
                self.name,
                ty.numel(),
                dtype_name(ty.dtype),
                dtype_name(d)
            )));
        }
        Ok(())
    }

    /// Calls the function on caller-owned buffers, checking the count, dtype
    /// and length of every buffer first.
    pub fn call(&self, inputs: &[BufRef<'_>], outputs: &mut [BufMut<'_>]) -> Result<()> {
        self.check_count("inputs", inputs.len(), self.params.len())?;
        self.check_count("outputs", outputs.len(), self.outputs.len())?;
        for (i, (b, t)) in inputs.iter().zip(&self.params).enumerate() {
            self.check_buf("input", i, t, b.dtype(), b.len())?;
        }
        for (i, (b, t)) in outputs.iter().zip(&self.outputs).enumerate() {
            self.check_buf("output", i, t, b.dtype(), b.len())?;
        }
        self.with_ptrs(
            inputs.len(),
            |i| inputs[i].ptr(),
            outputs.len(),
            |o, out| {
                for (slot, b) in out.iter_mut().zip(o.iter_mut()) {
                    *slot = b.ptr();
                }
            },
            outputs,
            None,
        )
    }

    /// [`CompiledFn::call`], measuring the call into `stats`.
    fn call_measured(
        &self,
        inputs: &[BufRef<'_>],
        outputs: &mut [BufMut<'_>],
        stats: &mut RunStats,
    ) -> Result<()> {
        self.with_ptrs(
            inputs.len(),
            |i| inputs[i].ptr(),
            outputs.len(),
            |o, out| {
                for (slot, b) in out.iter_mut().zip(o.iter_mut()) {
                    *slot = b.ptr();
                }
            },
            outputs,
            Some(stats),
        )
    }

    /// The fast path for functions whose inputs and outputs are all `f64`:
    /// checks counts and lengths, then calls the code.
    #[inline]
    pub fn call_f64(&self, inputs: &[&[f64]], outputs: &mut [&mut [f64]]) -> Result<()> {
        if !self.all_f64 {
            return Err(Error::input(format!(
                "@{}: call_f64 needs every input and output to be f64",
                self.name
            )));
        }
        self.check_count("inputs", inputs.len(), self.params.len())?;
        self.check_count("outputs", outputs.len(), self.outputs.len())?;
        for (i, (b, &n)) in inputs.iter().zip(&self.param_lens).enumerate() {
            if b.len() != n {
                self.check_buf("input", i, &self.params[i], DType::F64, b.len())?;
            }
        }
        for (i, (b, &n)) in outputs.iter().zip(&self.output_lens).enumerate() {
            if b.len() != n {
                self.check_buf("output", i, &self.outputs[i], DType::F64, b.len())?;
            }
        }
        self.with_ptrs(
            inputs.len(),
            |i| inputs[i].as_ptr().cast(),
            outputs.len(),
            |o, out| {
                for (slot, b) in out.iter_mut().zip(o.iter_mut()) {
                    *slot = b.as_mut_ptr().cast();
                }
            },
            outputs,
            None,
        )
    }

    /// Builds the pointer tables (on the stack for up to 16 buffers) and
    /// runs the code, with a zeroed counter table installed when the code
    /// counts body evaluations; with `stats`, records the call's
    /// measurements there. Buffers were checked by the caller.
    #[inline]
    fn with_ptrs<O>(
        &self,
        n_in: usize,
        in_ptr: impl Fn(usize) -> *const u8,
        n_out: usize,
        fill_out: impl FnOnce(&mut [O], &mut [*mut u8]),
        outputs: &mut [O],
        stats: Option<&mut RunStats>,
    ) -> Result<()> {
        if self.counter_names.is_empty() && stats.is_none() {
            return self.with_tables(n_in, in_ptr, n_out, fill_out, outputs);
        }
        let n = self.counter_names.len();
        let mut small = [0u64; MAX_STACK_ARGS];
        let mut big;
        let counters: &mut [u64] = if n <= MAX_STACK_ARGS {
            &mut small[..n]
        } else {
            big = vec![0u64; n];
            &mut big
        };
        let scope = crate::call_stats::Scope::new(counters);
        let r = self.with_tables(n_in, in_ptr, n_out, fill_out, outputs);
        let heap = scope.heap_peak();
        drop(scope);
        if let Some(st) = stats {
            st.working_bytes = (self.arena_bytes as u64).saturating_add(heap);
            for (name, &c) in self.counter_names.iter().zip(counters.iter()) {
                st.count(name, c);
            }
        }
        r
    }

    /// [`Self::with_ptrs`] without the measurements.
    #[inline]
    fn with_tables<O>(
        &self,
        n_in: usize,
        in_ptr: impl Fn(usize) -> *const u8,
        n_out: usize,
        fill_out: impl FnOnce(&mut [O], &mut [*mut u8]),
        outputs: &mut [O],
    ) -> Result<()> {
        let mut ins_stack = [std::ptr::null::<u8>(); MAX_STACK_ARGS];
        let mut outs_stack = [std::ptr::null_mut::<u8>(); MAX_STACK_ARGS];
        let mut ins_heap;
        let mut outs_heap;
        let ins: &mut [*const u8] = if n_in <= MAX_STACK_ARGS {
            &mut ins_stack[..n_in]
        } else {
            ins_heap = vec![std::ptr::null::<u8>(); n_in];
            &mut ins_heap
        };
        for (i, p) in ins.iter_mut().enumerate() {
            *p = in_ptr(i);
        }
        let outs: &mut [*mut u8] = if n_out <= MAX_STACK_ARGS {
            &mut outs_stack[..n_out]
        } else {
            outs_heap = vec![std::ptr::null_mut::<u8>(); n_out];
            &mut outs_heap
        };
        fill_out(outputs, outs);
        if self.heap_arena {
            SCRATCH.with(|cell| {
                let mut buf = cell.take();
                let words = self.arena_bytes.div_ceil(16) + 4;
                if buf.len() < words {
                    if let Err(e) = grow_zeroed(&mut buf, words) {
                        cell.set(buf);
                        return Err(Error::jit(format!(
                            "@{}: cannot allocate the {} bytes of the arena of \
                             intermediates (largest: {}): {e}",
                            self.name, self.arena_bytes, self.arena_op
                        )));
                    }
                }
                // Align the arena to 64 bytes inside the 16-byte-aligned
                // buffer.
                let base = buf.as_mut_ptr().cast::<u8>();
                let pad = base.align_offset(64);
                // SAFETY: `pad < 64` and the buffer has 64 spare bytes.
                let arena = unsafe { base.add(pad) };
                // SAFETY: pointer tables hold the checked buffers in
                // parameter/output order, the arena has `arena_bytes`
                // writable bytes, and the code was generated for exactly
                // these types.
                unsafe { (self.entry)(ins.as_ptr(), outs.as_ptr(), arena) };
                cell.set(buf);
                Ok(())
            })
        } else {
            // SAFETY: as above; the code keeps its arena on its own stack.
            unsafe { (self.entry)(ins.as_ptr(), outs.as_ptr(), std::ptr::null_mut()) };
            Ok(())
        }
    }

    /// Zeroed outputs, allocated fallibly within the memory budget (with
    /// the arena's bytes).
    fn alloc_outputs(&self) -> Result<Vec<Tensor>> {
        let mut used = if self.heap_arena { self.arena_bytes } else { 0 };
        let mut outs = Vec::with_capacity(self.outputs.len());
        for (i, ty) in self.outputs.iter().enumerate() {
            let over = |bytes: String| {
                Error::jit(format!(
                    "@{}: output {i} ({}) needs {bytes} bytes, over the JIT's working-memory \
                     budget of {} bytes with the other outputs and the arena \
                     (JitOptions::memory_budget)",
                    self.name, self.output_ops[i], self.memory_budget
                ))
            };
            let n = ty.numel();
            let Some(bytes) = n.checked_mul(ty.dtype.size_bytes()) else {
                return Err(over(format!("{n} x {}", ty.dtype.size_bytes())));
            };
            used = match used.checked_add(bytes) {
                Some(u) if u <= self.memory_budget => u,
                _ => return Err(over(bytes.to_string())),
            };
            let fail = |e: std::collections::TryReserveError| {
                Error::jit(format!(
                    "@{}: cannot allocate the {bytes} bytes of output {i} ({}): {e}",
                    self.name, self.output_ops[i]
                ))
            };
            let data = match ty.dtype {
                DType::F64 => TensorData::F64(zeroed(n).map_err(fail)?),
                DType::F32 => TensorData::F32(zeroed(n).map_err(fail)?),
                DType::Bool => TensorData::Bool(zeroed(n).map_err(fail)?),
            };
            outs.push(Tensor::new(ty.shape.clone(), data)?);
        }
        Ok(outs)
    }

    /// Allocates the outputs, calls the function and returns them: the same
    /// signature as `adjoint_interp::eval`.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        self.run_inner(inputs, None)
    }

    /// [`CompiledFn::run`], also returning what the call cost, as the
    /// running code measured it (`adjoint run --stats`):
    ///
    /// - `body_evals`: for every body of a `scan`, `while` (body and
    ///   condition), `cond` (the branch taken) and `revolve` (step and
    ///   body), at any depth of nesting, the number of times the call ran
    ///   it, recomputations included, counted as the code ran (a counter
    ///   per body, incremented after each call of it; the `revolve`
    ///   driver adds its counts). Bodies that never ran are absent.
    /// - `working_bytes`: the bytes of working memory this call used: the
    ///   arena of intermediates it ran in ([`CompiledFn::arena_bytes`],
    ///   reserved for the call on the native stack or in the thread's
    ///   scratch buffer; it holds every intermediate value, loop carries,
    ///   stacked outputs that are not outputs of the function, `revolve`
    ///   snapshots and work buffers, and the arenas of all the bodies,
    ///   nested ones included), plus the most heap the `revolve` drivers
    ///   held at once (their schedules and call tables), measured as they
    ///   ran. Not counted: the inputs and outputs, pointer tables on the
    ///   native stack, the counters themselves, and the GEMM library's
    ///   packing buffers.
    ///
    /// The function must have been compiled with
    /// [`JitOptions::count_body_evals`](crate::JitOptions::count_body_evals)
    /// (the default); otherwise this is an error.
    pub fn run_with_stats(&self, inputs: &[Tensor]) -> Result<(Vec<Tensor>, RunStats)> {
        if !self.count_body_evals {
            return Err(Error::input(format!(
                "@{}: run_with_stats needs a function compiled with \
                 JitOptions::count_body_evals on",
                self.name
            )));
        }
        let mut stats = RunStats::default();
        let outs = self.run_inner(inputs, Some(&mut stats))?;
        Ok((outs, stats))
    }

    fn run_inner(&self, inputs: &[Tensor], stats: Option<&mut RunStats>) -> Result<Vec<Tensor>> {
        self.check_count("inputs", inputs.len(), self.params.len())?;
        for (i, (t, ty)) in inputs.iter().zip(&self.params).enumerate() {
            if &t.ty() != ty {
                return Err(Error::input(format!(
                    "@{}: input {i} must be {ty}, got {}",
                    self.name,
                    t.ty()
                )));
            }
        }
        let mut outs: Vec<Tensor> = self.alloc_outputs()?;
        let ins: Vec<BufRef<'_>> = inputs
            .iter()
            .map(|t| match t.data() {
                TensorData::F32(v) => BufRef::F32(v),
                TensorData::F64(v) => BufRef::F64(v),
                TensorData::Bool(v) => BufRef::Bool(v),
            })
            .collect();
        {
            let mut bufs: Vec<BufMut<'_>> = outs
                .iter_mut()
                .map(|t| match t.data_mut() {
                    TensorData::F32(v) => BufMut::F32(v),
                    TensorData::F64(v) => BufMut::F64(v),
                    TensorData::Bool(v) => BufMut::Bool(v),
                })
                .collect();
            match stats {
                // Checked above: the inputs' types, and the outputs are
                // allocated here.
                Some(st) => self.call_measured(&ins, &mut bufs, st)?,
                None => self.call(&ins, &mut bufs)?,
            }
        }
        Ok(outs)
    }
}

/// `n` default (zero) values, allocated fallibly.
fn zeroed<T: Clone + Default>(
    n: usize,
) -> std::result::Result<Vec<T>, std::collections::TryReserveError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)?;
    v.resize(n, T::default());
    Ok(v)
}

/// Grows `buf` to `len` zeroed words, allocating fallibly.
fn grow_zeroed(
    buf: &mut Vec<u128>,
    len: usize,
) -> std::result::Result<(), std::collections::TryReserveError> {
    buf.try_reserve_exact(len - buf.len())?;
    buf.resize(len, 0);
    Ok(())
}
