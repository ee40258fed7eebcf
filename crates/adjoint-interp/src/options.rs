//! The interpreter's options: the math mode of its transcendental
//! functions, its working-memory budget and its limit on the nesting of
//! custom-op calls and loop bodies.

use adjoint_ir::math::MathMode;
use std::sync::OnceLock;

/// The default limit on nested custom-op calls and loop bodies,
/// [`EvalOptions::max_call_depth`]: 65,536.
pub const DEFAULT_MAX_CALL_DEPTH: usize = 1 << 16;

/// The working-memory budget used when the machine's memory cannot be
/// found (on systems other than Linux): 4 GiB.
pub const FALLBACK_MAX_WORKING_BYTES: u64 = 4 << 30;

/// How the interpreter evaluates: the limits it checks **before**
/// evaluating anything, so that a program too large or too deep for them
/// is an error naming the node, never an abort.
///
/// ```
/// use adjoint_interp::{eval_with, EvalOptions};
/// use adjoint_ir::{GraphBuilder, Tensor, TensorType};
/// let b = GraphBuilder::new("f");
/// let x = b.param("x", TensorType::f64([]));
/// let g = b.build(&[x.broadcast_to([1 << 20])]).unwrap();
/// // The result needs 8 MiB; a budget of 1 MiB refuses it up front.
/// let opts = EvalOptions { max_working_bytes: 1 << 20, ..EvalOptions::default() };
/// let e = eval_with(&g, &[Tensor::scalar_f64(1.0)], &opts).unwrap_err();
/// assert!(e.message.contains("broadcast") && e.message.contains("8388608 bytes"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvalOptions {
    /// How the transcendental functions (`exp log sin cos tanh sigmoid
    /// pow`) are computed: [`MathMode::Libm`] (the default, the std
    /// functions) or the polynomial reference of [`adjoint_ir::math`] that
    /// the JIT's default `poly_math` code follows bit for bit (docs/ir.md
    /// §14).
    pub math: MathMode,
    /// The most bytes of working memory an evaluation may hold at once: the
    /// values it computes (intermediates and outputs, each from the op
    /// that computes it until its last use) and the kernels' scratch
    /// buffers. The inputs and the program's constants are the caller's
    /// and are not counted. The peak is computed from the types before
    /// anything is evaluated; a program whose peak exceeds this is an
    /// error naming the node where the peak is reached and the bytes it
    /// needs (a `cond` branch is checked when it is chosen, before it
    /// runs). The default, [`default_max_working_bytes`], is half the
    /// machine's physical memory.
    pub max_working_bytes: u64,
    /// The deepest nesting of custom-op calls and of the functions of
    /// `scan`, `while` and `cond`, counted alike (a `call` whose body calls
    /// another custom op is nesting 2; so is a `scan` whose body contains a
    /// `cond`). Calls and bodies are evaluated on an explicit stack on the
    /// heap, never by recursion, so any depth up to this limit works on any
    /// thread stack; a deeper program is an error naming the call or loop.
    /// The default is [`DEFAULT_MAX_CALL_DEPTH`].
    pub max_call_depth: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            math: MathMode::Libm,
            max_working_bytes: default_max_working_bytes(),
            max_call_depth: DEFAULT_MAX_CALL_DEPTH,
        }
    }
}

/// The default working-memory budget: half the physical memory available
/// to the process (on Linux, the smaller of `MemTotal` in `/proc/meminfo`
/// and the cgroup memory limit), or [`FALLBACK_MAX_WORKING_BYTES`] where
/// that cannot be found. Half leaves room for the inputs, the constants,
/// the program itself and whatever else runs on the machine. It is read
/// once per process.
pub fn default_max_working_bytes() -> u64 {
    static BUDGET: OnceLock<u64> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        crate::memory::physical_memory()
            .map(|m| m / 2)
            .filter(|&m| m > 0)
            .unwrap_or(FALLBACK_MAX_WORKING_BYTES)
    })
}
