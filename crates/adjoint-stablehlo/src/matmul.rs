//! `matmul` as `stablehlo.dot_general`, with numpy's 1-D promotion and
//! batch broadcasting made explicit, at `HIGHEST` precision (accelerators
//! may otherwise drop to TF32 or bf16).

use crate::elementwise::Arg;
use crate::emit::Emitter;
use adjoint_ir::{Shape, TensorType};

/// Reshapes (when the shape differs) then broadcasts `x` to `target`.
fn to_shape(
    em: &mut Emitter,
    x: Arg,
    promoted: &[usize],
    target: &[usize],
) -> (String, TensorType) {
    let mut name = x.0.to_string();
    let mut cur = x.1.clone();
    if cur.shape.dims() != promoted {
        let t = TensorType::new(cur.dtype, Shape::new(promoted.to_vec()));
        name = em.op("reshape", &[(&name, &cur)], "", &t);
        cur = t;
    }
    if cur.shape.dims() != target {
        let t = TensorType::new(cur.dtype, Shape::new(target.to_vec()));
        name = crate::shape_ops::broadcast(em, (&name, &cur), &t);
        cur = t;
    }
    (name, cur)
}

/// numpy `matmul(a, b)` with result type `res`. An operand without
/// elements (an empty inner dimension, or an empty result) gives the zero
/// constant of `res`: IREE 3.13 crashes compiling a `dot_general` over an
/// empty contraction.
pub(crate) fn matmul(em: &mut Emitter, a: Arg, b: Arg, res: &TensorType) -> String {
    if a.1.numel() == 0 || b.1.numel() == 0 {
        return em.splat(res, 0.0);
    }
    let ad = a.1.shape.dims();
    let bd = b.1.shape.dims();
    let a2: Vec<usize> = if ad.len() == 1 {
        vec![1, ad[0]]
    } else {
        ad.to_vec()
    };
    let b2: Vec<usize> = if bd.len() == 1 {
        vec![bd[0], 1]
    } else {
        bd.to_vec()
    };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let n = b2[b2.len() - 1];
    let ab = Shape::new(a2[..a2.len() - 2].to_vec());
    let bb = Shape::new(b2[..b2.len() - 2].to_vec());
    let batch = Shape::broadcast(&ab, &bb).expect("verified matmul batch shapes broadcast");
    let nb = batch.rank();
    let mut at = batch.dims().to_vec();
    at.extend([m, k]);
    let mut bt = batch.dims().to_vec();
    bt.extend([k, n]);
    let (an, aty) = to_shape(em, a, &a2, &at);
    let (bn, bty) = to_shape(em, b, &b2, &bt);
    let mut rt = batch.dims().to_vec();
    rt.extend([m, n]);
    let full = TensorType::new(res.dtype, Shape::new(rt));
    let bdims: Vec<usize> = (0..nb).collect();
    let attrs = format!(
        "dot_dimension_numbers = #stablehlo.dot<lhs_batching_dimensions = [{}], rhs_batching_dimensions = [{}], lhs_contracting_dimensions = [{}], rhs_contracting_dimensions = [{}]>, precision_config = [#stablehlo<precision HIGHEST>, #stablehlo<precision HIGHEST>]",
        list(&bdims),
        list(&bdims),
        nb + 1,
        nb
    );
    let d = em.op("dot_general", &[(&an, &aty), (&bn, &bty)], &attrs, &full);
    if full.shape == res.shape {
        d
    } else {
        em.op("reshape", &[(&d, &full)], "", res)
    }
}

/// `0, 1, 2`.
fn list(v: &[usize]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
