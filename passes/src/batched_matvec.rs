//! Batched matrix-vector products as one matrix-matrix product.
//!
//! The derivative rules push a batch of `B` directions through `y = A x`
//! (`A: [M,K]`, `x: [K]`) as numpy's broadcast `matmul(A, T)` with the
//! directions `T: [B,K,1]`: `B` separate matrix-vector products. The same
//! numbers come out of a single GEMM, `T' Aᵀ` with `T': [B,K]`, which a
//! backend runs at matrix-matrix speed (the matrix is read once, not `B`
//! times). This rewrite, used by the Jacobian pass on the nodes it emits,
//! turns
//!
//! - `matmul(A: [M,K], T: [B,K,1])` into `reshape(matmul(reshape(T,[B,K]), transpose(A)), [B,M,1])`;
//! - `matmul(T: [B,1,K], A: [K,N])` into `reshape(matmul(reshape(T,[B,K]), A), [B,1,N])`.
//!
//! Both compute the same products and sums (only a backend's summation
//! order may differ).

use crate::emit;
use adjoint_ir::{Graph, NodeId, Op, Result, Shape};

/// Rewrites the batched matrix-vector `matmul`s among `nodes` (see the
/// module docs). Returns how many were rewritten.
pub fn to_gemm(g: &mut Graph, nodes: &[NodeId]) -> Result<usize> {
    let mut count = 0;
    for &n in nodes {
        if !g.contains(n) || g[n].op != Op::MatMul {
            continue;
        }
        let ops = g.operands(n);
        let (a, t) = (ops[0], ops[1]);
        let (ash, tsh) = (g.ty(a).shape.clone(), g.ty(t).shape.clone());
        let new = match (ash.dims(), tsh.dims()) {
            // A [M,K] · T [B,K,1]
            (&[m, _k], &[b, k, 1]) => {
                let t2 = emit::reshape(g, t, &Shape::new([b, k]))?;
                let at = emit::transpose(g, a, vec![1, 0])?;
                let p = g.add(Op::MatMul, &[t2, at])?;
                emit::reshape(g, p, &Shape::new([b, m, 1]))?
            }
            // T [B,1,K] · A [K,N]
            (&[b, 1, k], &[_k, nn]) => {
                let a2 = emit::reshape(g, a, &Shape::new([b, k]))?;
                let p = g.add(Op::MatMul, &[a2, t])?;
                emit::reshape(g, p, &Shape::new([b, 1, nn]))?
            }
            _ => continue,
        };
        g.replace_all_uses(n, new);
        g.remove_node(n)?;
        count += 1;
    }
    Ok(count)
}
