//! Every primitive in f32 and f64 at every SIMD tail length, against
//! values computed here by hand with the interpreter's conventions (every op
//! in its own dtype; max/min NaN-propagating with -0 < +0; reduce_sum's four
//! round-robin partial sums).

mod common;

use adjoint_ir::{
    BinaryOp, CompareOp, DType, Graph, Op, Shape, Tensor, TensorData, TensorType, UnaryOp,
    REDUCE_SUM_BLOCK,
};
use adjoint_jit::JitOptions;
use common::*;

/// Host calls for transcendental functions: bit for bit equal to std.
fn host_math() -> JitOptions {
    JitOptions {
        poly_math: false,
        ..JitOptions::default()
    }
}

/// IEEE maximum as Cranelift's `fmax`: NaN-propagating, -0 < +0.
fn fmax(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == b {
        if a.is_sign_positive() {
            a
        } else {
            b
        }
    } else if a > b {
        a
    } else {
        b
    }
}

fn fmin(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == b {
        if a.is_sign_negative() {
            a
        } else {
            b
        }
    } else if a < b {
        a
    } else {
        b
    }
}

fn unary_f64(u: UnaryOp, x: f64) -> f64 {
    match u {
        UnaryOp::Neg => -x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Sin => x.sin(),
        UnaryOp::Cos => x.cos(),
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        UnaryOp::Relu => fmax(x, 0.0),
    }
}

fn unary_f32(u: UnaryOp, x: f32) -> f32 {
    match u {
        UnaryOp::Neg => -x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Sin => x.sin(),
        UnaryOp::Cos => x.cos(),
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        UnaryOp::Relu => fmax(x as f64, 0.0) as f32,
    }
}

fn binary_f64(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Max => fmax(a, b),
        BinaryOp::Min => fmin(a, b),
    }
}

fn binary_f32(op: BinaryOp, a: f32, b: f32) -> f32 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Max => fmax(a as f64, b as f64) as f32,
        BinaryOp::Min => fmin(a as f64, b as f64) as f32,
    }
}

fn map1(t: &Tensor, f64f: impl Fn(f64) -> f64, f32f: impl Fn(f32) -> f32) -> Tensor {
    let data = match t.data() {
        TensorData::F64(v) => TensorData::F64(v.iter().map(|&x| f64f(x)).collect()),
        TensorData::F32(v) => TensorData::F32(v.iter().map(|&x| f32f(x)).collect()),
        TensorData::Bool(_) => unreachable!(),
    };
    Tensor::new(t.shape().clone(), data).unwrap()
}

fn map2(
    a: &Tensor,
    b: &Tensor,
    f64f: impl Fn(f64, f64) -> f64,
    f32f: impl Fn(f32, f32) -> f32,
) -> Tensor {
    let data = match (a.data(), b.data()) {
        (TensorData::F64(x), TensorData::F64(y)) => {
            TensorData::F64(x.iter().zip(y).map(|(&p, &q)| f64f(p, q)).collect())
        }
        (TensorData::F32(x), TensorData::F32(y)) => {
            TensorData::F32(x.iter().zip(y).map(|(&p, &q)| f32f(p, q)).collect())
        }
        _ => unreachable!(),
    };
    Tensor::new(a.shape().clone(), data).unwrap()
}

fn unary_graph(u: UnaryOp, ty: &TensorType) -> Graph {
    let mut g = Graph::new(u.name());
    let x = g.add_param("x", ty.clone()).unwrap();
    let y = g.add(Op::Unary(u), &[x]).unwrap();
    g.set_outputs(vec![y]);
    g
}

fn binary_graph(op: Op, ty: &TensorType) -> Graph {
    let mut g = Graph::new(op.name());
    let a = g.add_param("a", ty.clone()).unwrap();
    let b = g.add_param("b", ty.clone()).unwrap();
    let y = g.add(op, &[a, b]).unwrap();
    g.set_outputs(vec![y]);
    g
}

#[test]
fn non_transcendental_unary_ops_are_bit_exact() {
    for u in [UnaryOp::Neg, UnaryOp::Abs, UnaryOp::Sqrt, UnaryOp::Relu] {
        for dt in FLOATS {
            for n in LENS {
                let ty = TensorType::new(dt, [n]);
                let x = tensor(&ty, &data_special(n, 1));
                let got = jit_run(&unary_graph(u, &ty), std::slice::from_ref(&x));
                let want = map1(&x, |v| unary_f64(u, v), |v| unary_f32(u, v));
                assert_same(&format!("{} {dt} n={n}", u.name()), &got[0], &want);
            }
        }
    }
}

#[test]
fn transcendental_unary_ops_equal_host_functions() {
    // With host calls (`poly_math: false`) they are bit-exact too.
    for u in [
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
    ] {
        for dt in FLOATS {
            for n in LENS {
                let ty = TensorType::new(dt, [n]);
                let x = tensor(&ty, &data_special(n, 2));
                let got =
                    jit_run_opts(&unary_graph(u, &ty), std::slice::from_ref(&x), &host_math());
                let want = map1(&x, |v| unary_f64(u, v), |v| unary_f32(u, v));
                assert_same(&format!("{} {dt} n={n}", u.name()), &got[0], &want);
            }
        }
    }
}

#[test]
fn binary_ops_are_bit_exact() {
    for op in BinaryOp::ALL {
        for dt in FLOATS {
            for n in LENS {
                let ty = TensorType::new(dt, [n]);
                let a = tensor(&ty, &data_special(n, 3));
                let b = tensor(&ty, &data_special(n, 4));
                // `pow` with host calls: bit for bit with std (its inline
                // polynomial has an ulp bound, tested in transcendental.rs).
                let got = jit_run_opts(
                    &binary_graph(Op::Binary(op), &ty),
                    &[a.clone(), b.clone()],
                    &host_math(),
                );
                let want = map2(
                    &a,
                    &b,
                    |p, q| binary_f64(op, p, q),
                    |p, q| binary_f32(op, p, q),
                );
                assert_same(&format!("{} {dt} n={n}", op.name()), &got[0], &want);
            }
        }
    }
}

#[test]
fn signed_zeros_in_max_min_relu() {
    let ty = TensorType::f64([4]);
    let a = tensor(&ty, &[0.0, -0.0, 0.0, -0.0]);
    let b = tensor(&ty, &[-0.0, 0.0, 0.0, -0.0]);
    let mx = jit_run(
        &binary_graph(Op::Binary(BinaryOp::Max), &ty),
        &[a.clone(), b.clone()],
    );
    let bits: Vec<bool> = mx[0]
        .as_f64()
        .unwrap()
        .iter()
        .map(|x| x.is_sign_negative())
        .collect();
    assert_eq!(bits, vec![false, false, false, true]);
    let mn = jit_run(
        &binary_graph(Op::Binary(BinaryOp::Min), &ty),
        &[a.clone(), b],
    );
    let bits: Vec<bool> = mn[0]
        .as_f64()
        .unwrap()
        .iter()
        .map(|x| x.is_sign_negative())
        .collect();
    assert_eq!(bits, vec![true, true, false, true]);
    let r = jit_run(&unary_graph(UnaryOp::Relu, &ty), &[a]);
    assert!(r[0].as_f64().unwrap().iter().all(|x| x.is_sign_positive()));
}

#[test]
fn comparisons_produce_bools() {
    for c in CompareOp::ALL {
        for dt in FLOATS {
            for n in LENS {
                let ty = TensorType::new(dt, [n]);
                let mut av = data_special(n, 5);
                let bv = data_special(n, 6);
                // Make some elements equal.
                for i in (0..n).step_by(3) {
                    av[i] = bv[i];
                }
                let a = tensor(&ty, &av);
                let b = tensor(&ty, &bv);
                let got = jit_run(&binary_graph(Op::Compare(c), &ty), &[a.clone(), b.clone()]);
                let (x, y) = (a.to_f64_vec(), b.to_f64_vec());
                let want: Vec<bool> = x.iter().zip(&y).map(|(&p, &q)| c.eval(p, q)).collect();
                assert_eq!(
                    got[0].as_bool().unwrap(),
                    &want[..],
                    "{} {dt} n={n}",
                    c.name()
                );
            }
        }
    }
}

#[test]
fn select_with_computed_and_loaded_conditions() {
    for dt in FLOATS {
        for n in LENS {
            let ty = TensorType::new(dt, [n]);
            // Computed condition (vector masks): where(a > b, a * 2, b).
            let mut g = Graph::new("sel");
            let a = g.add_param("a", ty.clone()).unwrap();
            let b = g.add_param("b", ty.clone()).unwrap();
            let c = g.add_param("c", ty.with_dtype(DType::Bool)).unwrap();
            let gt = g.add(Op::Compare(CompareOp::Gt), &[a, b]).unwrap();
            let two = g.constant(Tensor::full(&ty, 2.0));
            let a2 = g.add(Op::Binary(BinaryOp::Mul), &[a, two]).unwrap();
            let s1 = g.add(Op::Select, &[gt, a2, b]).unwrap();
            // Loaded condition.
            let s2 = g.add(Op::Select, &[c, a, b]).unwrap();
            g.set_outputs(vec![s1, s2]);
            let av = data_special(n, 7);
            let bv = data_special(n, 8);
            let cv: Vec<bool> = (0..n).map(|i| i % 3 == 1).collect();
            let ins = [
                tensor(&ty, &av),
                tensor(&ty, &bv),
                Tensor::from_bool([n], cv.clone()).unwrap(),
            ];
            let got = jit_run(&g, &ins);
            let (x, y) = (ins[0].to_f64_vec(), ins[1].to_f64_vec());
            let w1: Vec<f64> = (0..n)
                .map(|i| if x[i] > y[i] { x[i] * 2.0 } else { y[i] })
                .collect();
            let w2: Vec<f64> = (0..n).map(|i| if cv[i] { x[i] } else { y[i] }).collect();
            assert_same(
                &format!("select computed {dt} n={n}"),
                &got[0],
                &tensor(&ty, &w1),
            );
            assert_same(
                &format!("select loaded {dt} n={n}"),
                &got[1],
                &tensor(&ty, &w2),
            );
        }
    }
}

#[test]
fn casts_between_dtypes() {
    for n in LENS {
        let mut g = Graph::new("casts");
        let x = g.add_param("x", TensorType::f64([n])).unwrap();
        let y = g.add_param("y", TensorType::f32([n])).unwrap();
        let m = g.add_param("m", TensorType::bool([n])).unwrap();
        let x32 = g.add(Op::Cast { to: DType::F32 }, &[x]).unwrap();
        let y64 = g.add(Op::Cast { to: DType::F64 }, &[y]).unwrap();
        let m64 = g.add(Op::Cast { to: DType::F64 }, &[m]).unwrap();
        let m32 = g.add(Op::Cast { to: DType::F32 }, &[m]).unwrap();
        g.set_outputs(vec![x32, y64, m64, m32]);
        let xv = data_special(n, 9);
        let yv: Vec<f32> = data_special(n, 10).iter().map(|&v| v as f32).collect();
        let mv: Vec<bool> = (0..n).map(|i| i % 2 == 0).collect();
        let ins = [
            Tensor::from_f64([n], xv.clone()).unwrap(),
            Tensor::from_f32([n], yv.clone()).unwrap(),
            Tensor::from_bool([n], mv.clone()).unwrap(),
        ];
        let got = jit_run(&g, &ins);
        let w0 = Tensor::from_f32([n], xv.iter().map(|&v| v as f32).collect()).unwrap();
        let w1 = Tensor::from_f64([n], yv.iter().map(|&v| v as f64).collect()).unwrap();
        let w2 = Tensor::from_f64([n], mv.iter().map(|&b| b as u8 as f64).collect()).unwrap();
        let w3 = Tensor::from_f32([n], mv.iter().map(|&b| b as u8 as f32).collect()).unwrap();
        assert_same("f64->f32", &got[0], &w0);
        assert_same("f32->f64", &got[1], &w1);
        assert_same("bool->f64", &got[2], &w2);
        assert_same("bool->f32", &got[3], &w3);
    }
}

/// The reference reduction: for each output element, the reduced elements
/// in row-major order of the reduced index space, in blocks of
/// `REDUCE_SUM_BLOCK`, go round-robin into four partials per block; a
/// block's result is (p0+p1)+(p2+p3), and block results combine left to
/// right. Max starts from -inf.
fn reduce_ref(x: &[f64], dims: &[usize], axes: &[usize], max: bool, f32: bool) -> Vec<f64> {
    let rank = dims.len();
    let kept: Vec<usize> = (0..rank).filter(|d| !axes.contains(d)).collect();
    let mut red: Vec<usize> = axes.to_vec();
    red.sort_unstable();
    let kdims: Vec<usize> = kept.iter().map(|&d| dims[d]).collect();
    let rdims: Vec<usize> = red.iter().map(|&d| dims[d]).collect();
    let strides = Shape::new(dims.to_vec()).strides();
    let nk: usize = kdims.iter().product();
    let nr: usize = rdims.iter().product();
    let round = |v: f64| if f32 { v as f32 as f64 } else { v };
    let mut out = Vec::with_capacity(nk);
    for ko in 0..nk {
        let mut idx = vec![0usize; rank];
        let mut r = ko;
        for j in (0..kept.len()).rev() {
            idx[kept[j]] = r % kdims[j];
            r /= kdims[j];
        }
        let init = if max { f64::NEG_INFINITY } else { 0.0 };
        let combine = |p: [f64; 4]| {
            if max {
                fmax(fmax(p[0], p[1]), fmax(p[2], p[3]))
            } else {
                round(round(p[0] + p[1]) + round(p[2] + p[3]))
            }
        };
        let mut total: Option<f64> = None;
        let mut p = [init; 4];
        for k in 0..nr {
            if k > 0 && k % REDUCE_SUM_BLOCK == 0 {
                let b = combine(p);
                total = Some(total.map_or(b, |t| if max { fmax(t, b) } else { round(t + b) }));
                p = [init; 4];
            }
            let mut r = k;
            for j in (0..red.len()).rev() {
                idx[red[j]] = r % rdims[j];
                r /= rdims[j];
            }
            let off: usize = idx.iter().zip(&strides).map(|(i, s)| i * s).sum();
            let v = x[off];
            let j = k % REDUCE_SUM_BLOCK % 4;
            p[j] = if max { fmax(p[j], v) } else { round(p[j] + v) };
        }
        let b = combine(p);
        let res = total.map_or(b, |t| if max { fmax(t, b) } else { round(t + b) });
        out.push(res);
    }
    out
}

fn reduce_case(dims: &[usize], axes: &[usize], max: bool, dt: DType, special: bool) {
    let ty = TensorType::new(dt, dims.to_vec());
    let mut g = Graph::new("red");
    let x = g.add_param("x", ty.clone()).unwrap();
    let op = if max {
        Op::ReduceMax {
            axes: axes.to_vec(),
        }
    } else {
        Op::ReduceSum {
            axes: axes.to_vec(),
        }
    };
    let y = g.add(op, &[x]).unwrap();
    g.set_outputs(vec![y]);
    let n = ty.numel();
    let xv = if special {
        data_special(n, 11)
    } else {
        data(n, 12, -1.0, 1.0)
    };
    let xt = tensor(&ty, &xv);
    let got = jit_run(&g, std::slice::from_ref(&xt));
    let want = reduce_ref(&xt.to_f64_vec(), dims, axes, max, dt == DType::F32);
    let out_ty = g.ty(y).clone();
    assert_same(
        &format!(
            "reduce {} {dims:?} axes {axes:?} {dt}",
            if max { "max" } else { "sum" }
        ),
        &got[0],
        &tensor(&out_ty, &want),
    );
}

#[test]
fn reduce_sum_and_max_over_all_axes_at_every_length() {
    for dt in FLOATS {
        for n in LENS {
            for max in [false, true] {
                reduce_case(&[n], &[0], max, dt, false);
                reduce_case(&[n], &[0], max, dt, true);
            }
        }
    }
}

#[test]
fn reduce_over_leading_trailing_and_split_axes() {
    let shapes: &[(&[usize], &[usize])] = &[
        (&[3, 5], &[1]),
        (&[3, 5], &[0]),
        (&[3, 5], &[0, 1]),
        (&[7, 9], &[1]),
        (&[2, 3, 4], &[0, 2]),
        (&[2, 3, 5], &[2, 0]),
        (&[4, 1, 6], &[1]),
        (&[4, 0, 6], &[1]),
        (&[4, 0, 6], &[0, 2]),
        (&[2, 3], &[]),
        (&[17, 13], &[0]),
        (&[5, 6, 7], &[1, 2]),
    ];
    for dt in FLOATS {
        for &(dims, axes) in shapes {
            for max in [false, true] {
                reduce_case(dims, axes, max, dt, false);
            }
        }
    }
}

#[test]
fn reductions_longer_than_one_block() {
    const B: usize = REDUCE_SUM_BLOCK;
    for dt in FLOATS {
        for n in [B - 1, B, B + 1, B + 3, 2 * B, 2 * B + 5] {
            for max in [false, true] {
                reduce_case(&[n], &[0], max, dt, false);
            }
        }
        // Long blocks run eight elements a step: every tail after that.
        for n in 1024..=1032 {
            for max in [false, true] {
                reduce_case(&[n], &[0], max, dt, true);
            }
        }
        reduce_case(&[3, B + 5], &[1], false, dt, false);
        reduce_case(&[B + 5, 6], &[0], false, dt, false);
        reduce_case(&[2, B + 2, 3], &[1], false, dt, true);
    }
}

#[test]
fn fused_chain_with_ending_reduction() {
    // sum(exp(x) * y + x) over each row, a single fused region.
    for dt in FLOATS {
        for n in LENS {
            let ty = TensorType::new(dt, [3, n]);
            let mut g = Graph::new("fused");
            let x = g.add_param("x", ty.clone()).unwrap();
            let y = g.add_param("y", ty.clone()).unwrap();
            let e = g.add(Op::Unary(UnaryOp::Exp), &[x]).unwrap();
            let m = g.add(Op::Binary(BinaryOp::Mul), &[e, y]).unwrap();
            let a = g.add(Op::Binary(BinaryOp::Add), &[m, x]).unwrap();
            let s = g.add(Op::ReduceSum { axes: vec![1] }, &[a]).unwrap();
            g.set_outputs(vec![s, m]);
            let xv = data(3 * n, 13, -2.0, 2.0);
            let yv = data(3 * n, 14, -2.0, 2.0);
            let ins = [tensor(&ty, &xv), tensor(&ty, &yv)];
            let got = jit_run_opts(&g, &ins, &host_math());
            let (x, y) = (ins[0].to_f64_vec(), ins[1].to_f64_vec());
            let is32 = dt == DType::F32;
            let elem: Vec<f64> = (0..3 * n)
                .map(|i| {
                    if is32 {
                        let (p, q) = (x[i] as f32, y[i] as f32);
                        (p.exp() * q + p) as f64
                    } else {
                        x[i].exp() * y[i] + x[i]
                    }
                })
                .collect();
            let mm: Vec<f64> = (0..3 * n)
                .map(|i| {
                    if is32 {
                        ((x[i] as f32).exp() * y[i] as f32) as f64
                    } else {
                        x[i].exp() * y[i]
                    }
                })
                .collect();
            let want = reduce_ref(&elem, &[3, n], &[1], false, is32);
            assert_same(
                &format!("fused sum {dt} n={n}"),
                &got[0],
                &tensor(&TensorType::new(dt, [3]), &want),
            );
            assert_same(&format!("fused mul {dt} n={n}"), &got[1], &tensor(&ty, &mm));
        }
    }
}
