//! Compilation options.

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
    /// Compute `exp`, `log`, `sin`, `cos`, `tanh`, `sigmoid` and `pow` with polynomials emitted in the
    /// generated code (vectorised; within a few ulp of the interpreter, see
    /// docs/performance.md) instead of calling the host's functions (bit
    /// for bit equal to the interpreter, one call per element).
    pub poly_math: bool,
    /// Use fused multiply-add in those polynomials when the host has FMA.
    pub fma: bool,
    /// The working memory, in bytes, the compiled function may allocate:
    /// its arena of intermediates (checked by `compile`) plus, for
    /// [`CompiledFn::run`](crate::CompiledFn::run), the outputs it
    /// allocates (checked before each call). A program that needs more is
    /// an error naming the op and the bytes, not an out-of-memory abort.
    /// Default: 8 GiB (`usize::MAX` for no limit).
    pub memory_budget: usize,
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
        }
    }
}
