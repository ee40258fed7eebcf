//! Compilation options.

use adjoint_ir::math::MathMode;

/// How hard Cranelift optimises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OptLevel {
    /// No optimisation (fastest compile).
    None,
    /// `Speed` for functions with loops, `None` for straight-line scalar
    /// code (every fused region one element, no matmul): there Cranelift's
    /// e-graph pass shares the polynomial constants of several `exp`s and
    /// keeps them live, and spilled, across the whole function, which made
    /// W2 (three sigmoids) about 1.5x slower than unoptimised code
    /// (docs/performance.md). Code with hundreds of host calls (long chains
    /// of transcendentals on small tensors, like W7) also gets Cranelift's
    /// single-pass register allocator, which compiles it 2-3x faster. The
    /// default.
    #[default]
    Auto,
    /// Optimise for speed.
    Speed,
    /// Optimise for speed and code size.
    SpeedAndSize,
}

impl OptLevel {
    /// The level a function is compiled at: `Auto` resolved by whether the
    /// function is straight-line scalar code.
    pub fn resolve(self, scalar: bool) -> OptLevel {
        match self {
            OptLevel::Auto if scalar => OptLevel::None,
            OptLevel::Auto => OptLevel::Speed,
            l => l,
        }
    }

    pub(crate) fn cranelift_name(self) -> &'static str {
        match self {
            OptLevel::None => "none",
            OptLevel::Speed | OptLevel::Auto => "speed",
            OptLevel::SpeedAndSize => "speed_and_size",
        }
    }
}

/// The default of [`JitOptions::memory_budget`]: 8 GiB.
pub const DEFAULT_MEMORY_BUDGET: usize = 8 << 30;

/// Options of [`compile`](crate::compile).
#[derive(Clone, Debug)]
pub struct JitOptions {
    /// Threads used for large loops and GEMM: 0 picks the machine's core
    /// count, 1 keeps everything on the calling thread.
    pub threads: usize,
    /// Cranelift's optimisation level.
    pub opt_level: OptLevel,
    /// Keep the CLIF text of every generated function, for
    /// [`CompiledFn::clif`](crate::CompiledFn::clif).
    pub keep_clif: bool,
    /// Keep the disassembly of every generated function, for
    /// [`CompiledFn::disasm`](crate::CompiledFn::disasm).
    pub keep_disasm: bool,
    /// Vectorise loops with 128-bit SIMD (`f64x2`, `f32x4`).
    pub simd: bool,

    /// A loop is split across threads only when its elements, weighted by
    /// the transcendental functions evaluated per element (each counts as
    /// four more elements), reach this many.
    pub parallel_min_elems: usize,
    /// Arenas up to this many bytes live on the stack of the generated code;
    /// larger ones in a per-thread scratch buffer. At most 1 MiB is kept
    /// on the stack, whatever this says.
    pub stack_arena_max: usize,
    /// Compute `exp`, `log`, `sin`, `cos`, `tanh`, `sigmoid` and `pow` with
    /// the polynomial algorithms of `adjoint_ir::math` (emitted in the
    /// generated code and vectorised; within a few ulp of libm, see
    /// docs/ir.md §14) instead of calling the host's libm functions (one
    /// call per element). Either way the results equal the interpreter's
    /// bit for bit in the same [`MathMode`] ([`JitOptions::math_mode`]).
    pub poly_math: bool,
    /// Use fused multiply-add in those polynomials when the host has FMA
    /// (the effective choice is [`JitOptions::math_mode`]).
    pub fma: bool,
    /// The working memory, in bytes, the compiled function may allocate:
    /// its arena of intermediates (checked by `compile`) plus, for
    /// [`CompiledFn::run`](crate::CompiledFn::run), the outputs it
    /// allocates (checked before each call). A program that needs more is
    /// an error naming the op and the bytes, not an out-of-memory abort.
    /// Default: 8 GiB (`usize::MAX` for no limit).
    pub memory_budget: usize,
    /// Count the evaluations of every body of a loop, conditional or
    /// `revolve` as the code runs, for
    /// [`CompiledFn::run_with_stats`](crate::CompiledFn::run_with_stats):
    /// one load, add and store per body call in a per-call table (and one
    /// host call per loop to find the table). Default: on.
    pub count_body_evals: bool,
}

impl JitOptions {
    /// The math mode the compiled code computes transcendental functions
    /// in, resolved for this host: [`MathMode::Libm`] without `poly_math`,
    /// else [`MathMode::Poly`] with `fma` on when the option asks for it
    /// and the CPU has fused multiply-add. Evaluating a graph with the
    /// interpreter in this mode gives the same bits for every op but
    /// `matmul` (docs/ir.md §14).
    ///
    /// ```
    /// use adjoint_jit::JitOptions;
    /// use adjoint_ir::math::MathMode;
    /// let o = JitOptions { poly_math: false, ..Default::default() };
    /// assert_eq!(o.math_mode(), MathMode::Libm);
    /// let o = JitOptions { fma: false, ..Default::default() };
    /// assert_eq!(o.math_mode(), MathMode::Poly { fma: false });
    /// ```
    pub fn math_mode(&self) -> MathMode {
        if self.poly_math {
            MathMode::Poly {
                fma: self.fma && crate::vmath::host_has_fma(),
            }
        } else {
            MathMode::Libm
        }
    }
}

impl Default for JitOptions {
    fn default() -> Self {
        JitOptions {
            threads: 0,
            opt_level: OptLevel::Auto,
            keep_clif: false,
            keep_disasm: false,
            simd: true,
            parallel_min_elems: 1 << 16,
            stack_arena_max: 32 * 1024,
            poly_math: true,
            fma: true,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            count_body_evals: true,
        }
    }
}
