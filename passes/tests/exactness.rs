//! The clean-up passes are exact: `simplify,cse,fold,dce` never changes a
//! result bit on the interpreter (signed zeros, infinities, overflow and
//! subnormals included; NaN stays NaN, its sign and payload are not part of
//! the contract, see docs/passes.md). Regression tests for each rewrite
//! that used to change results, which `simplify{fast_math=true}` still
//! makes; a property test on random programs with special values; and a
//! long chain, which simplifies in one walk.
mod common;

use adjoint_ir::{BinaryOp, Graph, GraphBuilder, Op, Tensor, TensorType, Value};
use common::{eval, op_counts, random_graph_with, run, Rng};

/// Whether two results agree bit for bit (any NaN equals any NaN).
fn same_bits(a: &[Tensor], b: &[Tensor]) -> Result<(), String> {
    if a.len() != b.len() {
        return Err(format!("{} outputs vs {}", a.len(), b.len()));
    }
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if x.ty() != y.ty() {
            return Err(format!("output {i}: {} vs {}", x.ty(), y.ty()));
        }
        for (j, (u, v)) in x.to_f64_vec().iter().zip(y.to_f64_vec()).enumerate() {
            if u.to_bits() != v.to_bits() && !(u.is_nan() && v.is_nan()) {
                return Err(format!("output {i}, element {j}: {u:e} vs {v:e}"));
            }
        }
    }
    Ok(())
}

fn one(shape: &[usize], f: impl for<'b> Fn(Value<'b>) -> Value<'b>) -> Graph {
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64(shape.to_vec()));
    b.build(&[f(x)]).unwrap()
}

/// `pipeline` keeps the results of `g` on `x` bit for bit (and changes
/// the graph, so the case is not vacuous); `simplify{fast_math=true}`
/// changes them.
fn exact_but_not_fast(g: &Graph, x: &[f64]) {
    let ty = g.param_types()[0].clone();
    let xs = [Tensor::from_f64_as(&ty, x).unwrap()];
    let want = eval(g, &xs);
    let h = run(g, "simplify,cse,fold,dce");
    same_bits(&want, &eval(&h, &xs)).unwrap_or_else(|e| {
        panic!(
            "{e}\n{}\n{}",
            adjoint_ir::print_graph(g),
            adjoint_ir::print_graph(&h)
        )
    });
    let f = run(g, "simplify{fast_math=true}");
    assert!(
        same_bits(&want, &eval(&f, &xs)).is_err(),
        "fast math should make the inexact rewrite:\n{}",
        adjoint_ir::print_graph(&f)
    );
}

#[test]
fn sum_over_an_empty_broadcast_axis_is_zero_not_x_times_zero() {
    let g = one(&[3], |x| x.broadcast_to([0, 3]).sum_axes(&[0]));
    let xs = [Tensor::from_f64([3], vec![f64::INFINITY, f64::NAN, -1.0]).unwrap()];
    for p in ["simplify", "simplify{fast_math=true}"] {
        let h = run(&g, p);
        assert_eq!(op_counts(&h).get("reduce_sum"), None, "{p}");
        let v = eval(&h, &xs)[0].to_f64_vec();
        assert!(v.iter().all(|y| y.to_bits() == 0), "{p}: {v:?}");
    }
}

#[test]
fn constants_are_not_reassociated_across_overflow() {
    // 2^-100·(2^100·x): x = 1e300 overflows inside.
    let g = one(&[2], |x| 2f64.powi(-100) * (x * 2f64.powi(100)));
    exact_but_not_fast(&g, &[1e300, 3.0]);
}

#[test]
fn constants_are_not_reassociated_across_underflow() {
    // 3·(x·0.5): x = 5e-324 rounds to 0 inside (x·1.5 would give 1e-323).
    let g = one(&[2], |x| 3.0 * (x * 0.5));
    exact_but_not_fast(&g, &[5e-324, 1.0]);
    // Two powers of two of at least 1 are folded (exact).
    let h = run(&one(&[2], |x| 4.0 * (x * -2.0)), "simplify");
    assert_eq!(op_counts(&h).get("mul"), Some(&1));
}

#[test]
fn folded_constants_must_fit_the_dtype() {
    // In f32, 2^100·2^100 is inf: inf·0 would be NaN where the program
    // gives 0 (the product was checked in f64 only).
    let b = GraphBuilder::new("f32");
    let x = b.param("x", TensorType::f32([3]));
    let g = b.build(&[2f64.powi(100) * (x * 2f64.powi(100))]).unwrap();
    for p in ["simplify", "simplify{fast_math=true}"] {
        let h = run(&g, p);
        let xs = [Tensor::from_f64_as(&TensorType::f32([3]), &[0.0, 1.0, -1e-30]).unwrap()];
        same_bits(&eval(&g, &xs), &eval(&h, &xs)).unwrap_or_else(|e| panic!("{p}: {e}"));
    }
}

#[test]
fn zero_minus_x_is_not_neg_x() {
    let g = one(&[2], |x| 0.0 - x);
    exact_but_not_fast(&g, &[0.0, 1.0]);
}

#[test]
fn x_plus_zero_is_not_x_for_negative_zero() {
    for g in [one(&[2], |x| x + 0.0), one(&[2], |x| 0.0 + x)] {
        exact_but_not_fast(&g, &[-0.0, 1.0]);
    }
    let g = one(&[2], |x| x - -0.0);
    exact_but_not_fast(&g, &[-0.0, 1.0]);
    // A reduce_sum over no axes is `+0 + x` too.
    let g = one(&[2], |x| {
        x.builder().op(Op::ReduceSum { axes: vec![] }, &[x])
    });
    exact_but_not_fast(&g, &[-0.0, 1.0]);
}

#[test]
fn a_sum_of_five_copies_is_not_five_x() {
    // The sum order of docs/ir.md §14 gives 3.4999999999999996 for 0.7.
    let g = one(&[1], |x| x.broadcast_to([5, 1]).sum_axes(&[0]));
    exact_but_not_fast(&g, &[0.7]);
    // Counts where the sum rounds once are rewritten, -0 included.
    for n in [1, 2, 3, 4, 6, 8, 12] {
        let g = one(&[4], |x| x.broadcast_to([n, 4]).sum_axes(&[0]));
        let h = run(&g, "simplify");
        assert_eq!(op_counts(&h).get("reduce_sum"), None, "{n} copies");
        let xs = [Tensor::from_f64([4], vec![0.7, -0.0, 1e308, 5e-324]).unwrap()];
        same_bits(&eval(&g, &xs), &eval(&h, &xs)).unwrap();
    }
}

#[test]
fn pow_two_is_not_the_square() {
    // glibc's pow is not correctly rounded; x·x is.
    let g = one(&[2], |x| x.powf(2.0));
    exact_but_not_fast(&g, &[1.000067609999589, 3.0]);
    let b = GraphBuilder::new("f32");
    let x = b.param("x", TensorType::f32([2]));
    let g = b.build(&[x.powf(2.0)]).unwrap();
    exact_but_not_fast(&g, &[7.940934e-23, 3.0]);
}

/// Special values, and ordinary ones so that not everything is NaN.
const SPECIALS: [f64; 20] = [
    f64::NAN,
    -f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    0.0,
    -0.0,
    5e-324,
    -5e-324,
    1e-310,
    2.2250738585072014e-308,
    1e300,
    -1e300,
    f64::MAX,
    1.2676506002282294e30, // 2^100
    7.888609052210118e-31, // 2^-100
    0.5,
    1.0,
    -1.0,
    0.7,
    3.0,
];

fn special_tensor(r: &mut Rng, ty: &TensorType) -> Tensor {
    let v: Vec<f64> = (0..ty.numel())
        .map(|_| {
            if r.next_f64() < 0.5 {
                SPECIALS[(r.next_f64() * SPECIALS.len() as f64) as usize % SPECIALS.len()]
            } else {
                r.uniform(-3.0, 3.0)
            }
        })
        .collect();
    Tensor::from_f64_as(ty, &v).unwrap()
}

#[test]
fn random_programs_with_special_values_keep_every_bit() {
    let mut rewritten = 0;
    for seed in 0..300 {
        let g = random_graph_with(seed, 12, true);
        let h = run(&g, "simplify,cse,fold,dce");
        rewritten += usize::from(h.len() < g.len());
        let mut r = Rng(seed ^ 0x5eed);
        for _ in 0..4 {
            let xs: Vec<Tensor> = g
                .param_types()
                .iter()
                .map(|t| special_tensor(&mut r, t))
                .collect();
            if let Err(e) = same_bits(&eval(&g, &xs), &eval(&h, &xs)) {
                panic!(
                    "seed {seed}: {e}\n{}\n{}",
                    adjoint_ir::print_graph(&g),
                    adjoint_ir::print_graph(&h)
                );
            }
        }
    }
    // The generator does produce what simplify rewrites.
    assert!(rewritten > 200, "{rewritten}");
}

#[test]
fn fast_math_is_an_option_and_checked() {
    let p = adjoint_passes::PassManager::parse("simplify{fast_math=maybe}");
    let Err(e) = p else {
        panic!("a bad value is an error")
    };
    let e = e.to_string();
    assert!(e.contains("fast_math") && e.contains("maybe"), "{e}");
    let g = one(&[2], |x| x + 0.0);
    assert_eq!(run(&g, "simplify{fast_math=false}").len(), g.len());
    assert!(run(&g, "simplify{fast_math=true}").len() < g.len());
}

#[test]
fn a_long_chain_simplifies_in_one_walk() {
    // 20,000 steps (about 50,000 nodes) of -x, x·1, x + (-0), x·2 and
    // reshapes; an even number of negations, so all that stays is the
    // products by 2, folded into one multiplication by 2^k each time k
    // reaches 512 (then 2^k·2^k would overflow).
    let n = 20_000;
    let b = GraphBuilder::new("chain");
    let x = b.param("x", TensorType::f64([2]));
    let mut v = x;
    for i in 0..n {
        v = match i % 5 {
            0 => -v,
            1 => v * 1.0,
            2 => v + -0.0,
            3 => v.reshape([2, 1]).reshape([2]),
            _ => v * 2.0,
        };
    }
    let g = b.build(&[v]).unwrap();
    assert!(g.len() > 40_000, "{}", g.len());
    let h = run(&g, "simplify");
    let counts = op_counts(&h);
    assert_eq!(counts.get("neg"), None, "{counts:?}");
    assert_eq!(counts.get("reshape"), None, "{counts:?}");
    assert_eq!(counts.get("add"), None, "{counts:?}");
    assert!(h.len() < 100, "{counts:?}");
    let xs = [Tensor::from_f64([2], vec![5e-324, -0.0]).unwrap()];
    same_bits(&eval(&g, &xs), &eval(&h, &xs)).unwrap();
    // Every product that is left is by a power of two of at least 1.
    for id in h.node_ids() {
        if h[id].op == Op::Binary(BinaryOp::Mul) {
            let c = h.operands(id)[1];
            let k = adjoint_passes::emit::splat_const(&h, c).unwrap();
            assert!(k.abs() >= 2.0 && k.abs().log2().fract() == 0.0, "{k}");
        }
    }
}
