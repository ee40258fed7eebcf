//! Reductions: `stablehlo.reduce` with an init value and a combiner body.
//!
//! `reduce_sum` uses `add` with init `+0.0`; adjoint's blocked summation
//! order ([`adjoint_ir::REDUCE_SUM_BLOCK`]) is not reproduced, the engine
//! picks its own. `reduce_max` uses `maximum` with init `-inf`.

use crate::elementwise::Arg;
use crate::emit::{arr, ty, Emitter};
use adjoint_ir::TensorType;

/// `reduce` of `x` over `axes` with the binary `combiner` and `init`.
pub(crate) fn reduce(
    em: &mut Emitter,
    combiner: &str,
    init: f64,
    x: Arg,
    axes: &[usize],
    res: &TensorType,
) -> String {
    let st = TensorType::scalar(res.dtype);
    let i = em.splat(&st, init);
    let mut axes = axes.to_vec();
    axes.sort_unstable();
    let r = em.fresh();
    let loc = em.loc();
    em.line(&format!("{r} = \"stablehlo.reduce\"({}, {i}) ({{", x.0));
    let (a, b) = (em.fresh(), em.fresh());
    let sty = ty(&st);
    em.line(&format!("^bb0({a}: {sty}, {b}: {sty}):"));
    em.push();
    let c = em.op(combiner, &[(&a, &st), (&b, &st)], "", &st);
    em.line(&format!("\"stablehlo.return\"({c}) : ({sty}) -> ()"));
    em.pop();
    em.line(&format!(
        "}}) {{dimensions = {}}} : ({}, {sty}) -> {} {loc}",
        arr(&axes),
        ty(x.1),
        ty(res)
    ));
    r
}
