//! # adjoint-stablehlo
//!
//! A second backend beside the JIT: [`export`] writes an adjoint [`Graph`]
//! (after whatever passes ran) as one StableHLO module in MLIR text, with a
//! public entry `func.func public @main`, for XLA (through JAX) and IREE.
//!
//! Ops are printed in MLIR's generic form, SSA values are numbered (`%0`,
//! `%1`, …) and adjoint's own value names are kept in `loc("…")`. Float
//! constants are written as hex bit patterns. Custom ops are inlined;
//! loops and conditionals become `stablehlo.while` and `stablehlo.if`
//! (`revolve`: a forward `while` that keeps every state, then a reverse one).
//! See docs/export.md for the op-by-op mapping and what is not bit for bit.
//!
//! ```
//! let m = adjoint_ir::parse_module(
//!     "func @f(%x: f64[3]) -> f64 {\n  %e = exp %x\n  %s = reduce_sum %e axes=[0]\n  return %s\n}\n",
//! )?;
//! let text = adjoint_stablehlo::export(m.func("f").unwrap())?;
//! assert!(text.contains("func.func public @main"));
//! assert!(text.contains("\"stablehlo.exponential\""));
//! # Ok::<(), adjoint_ir::Error>(())
//! ```
#![warn(missing_docs)]

mod consts;
mod control;
mod elementwise;
mod emit;
mod matmul;
mod reduce;
mod revolve;
mod shape_ops;
mod types;

use adjoint_ir::{Graph, Result};

/// Exports `g` as one StableHLO module in MLIR text. The graph is verified
/// first; an op with no StableHLO counterpart is an error naming the op.
pub fn export(g: &Graph) -> Result<String> {
    adjoint_ir::verify(g)?;
    emit::module(g)
}
