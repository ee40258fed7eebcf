//! Shape ops (as views inside consumers, and as outputs), pad, concat,
//! matmul against a plain triple loop, and custom-op inlining.

mod common;

use adjoint_ir::{
    BinaryOp, CustomOp, DType, Graph, GraphBuilder, Op, Shape, Tensor, TensorType, UnaryOp,
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

/// Element of a row-major tensor at a multi-index.
fn at(v: &[f64], dims: &[usize], idx: &[usize]) -> f64 {
    let s = Shape::new(dims.to_vec()).strides();
    v[idx.iter().zip(&s).map(|(i, s)| i * s).sum::<usize>()]
}

/// All multi-indices of `dims`, row-major.
fn indices(dims: &[usize]) -> Vec<Vec<usize>> {
    let n: usize = dims.iter().product();
    (0..n)
        .map(|mut k| {
            let mut idx = vec![0; dims.len()];
            for d in (0..dims.len()).rev() {
                idx[d] = k % dims[d];
                k /= dims[d];
            }
            idx
        })
        .collect()
}

fn one_op(op: Op, ty: &TensorType) -> (Graph, TensorType) {
    let mut g = Graph::new("f");
    let x = g.add_param("x", ty.clone()).unwrap();
    let y = g.add(op, &[x]).unwrap();
    // Also consume the view in an elementwise op, so it is read as index
    // arithmetic inside a loop, not only copied out.
    let z = g.add(Op::Unary(UnaryOp::Neg), &[y]).unwrap();
    g.set_outputs(vec![y, z]);
    let out = g.ty(y).clone();
    (g, out)
}

fn check_view(op: Op, dims: &[usize], f: impl Fn(&[usize]) -> Option<Vec<usize>>) {
    for dt in FLOATS {
        let ty = TensorType::new(dt, dims.to_vec());
        let (g, out) = one_op(op.clone(), &ty);
        let xv = data(ty.numel(), 21, -3.0, 3.0);
        let x = tensor(&ty, &xv);
        let xv = x.to_f64_vec();
        let got = jit_run(&g, &[x]);
        let want: Vec<f64> = indices(out.shape.dims())
            .iter()
            .map(|i| f(i).map_or(0.0, |src| at(&xv, dims, &src)))
            .collect();
        let neg: Vec<f64> = want.iter().map(|v| -v).collect();
        assert_same(
            &format!("{} {dt}", op.name()),
            &got[0],
            &tensor(&out, &want),
        );
        assert_same(
            &format!("neg({}) {dt}", op.name()),
            &got[1],
            &tensor(&out, &neg),
        );
    }
}

#[test]
fn broadcast_views() {
    check_view(
        Op::Broadcast {
            shape: Shape::new([4, 3, 5]),
        },
        &[3, 1],
        |i| Some(vec![i[1], 0]),
    );
    check_view(
        Op::Broadcast {
            shape: Shape::new([2, 7]),
        },
        &[7],
        |i| Some(vec![i[1]]),
    );
    check_view(
        Op::Broadcast {
            shape: Shape::new([6, 9]),
        },
        &[],
        |_| Some(vec![]),
    );
    check_view(
        Op::Broadcast {
            shape: Shape::new([5, 3]),
        },
        &[5, 1],
        |i| Some(vec![i[0], 0]),
    );
}

#[test]
fn transpose_views() {
    check_view(Op::Transpose { perm: vec![1, 0] }, &[3, 5], |i| {
        Some(vec![i[1], i[0]])
    });
    check_view(
        Op::Transpose {
            perm: vec![2, 0, 1],
        },
        &[2, 3, 4],
        |i| Some(vec![i[1], i[2], i[0]]),
    );
    check_view(Op::Transpose { perm: vec![0, 1] }, &[4, 9], |i| {
        Some(i.to_vec())
    });
}

#[test]
fn slice_views() {
    check_view(
        Op::Slice {
            start: vec![1],
            end: vec![9],
            stride: vec![1],
        },
        &[10],
        |i| Some(vec![i[0] + 1]),
    );
    check_view(
        Op::Slice {
            start: vec![0, 1],
            end: vec![5, 7],
            stride: vec![2, 3],
        },
        &[5, 7],
        |i| Some(vec![2 * i[0], 1 + 3 * i[1]]),
    );
    check_view(
        Op::Slice {
            start: vec![3],
            end: vec![3],
            stride: vec![1],
        },
        &[5],
        |i| Some(vec![i[0]]),
    );
}

#[test]
fn reshape_views_and_copies() {
    check_view(
        Op::Reshape {
            shape: Shape::new([3, 4]),
        },
        &[2, 6],
        |i| {
            let k = i[0] * 4 + i[1];
            Some(vec![k / 6, k % 6])
        },
    );
    // A reshape of a transpose needs a contiguous copy first.
    for dt in FLOATS {
        let b = GraphBuilder::new("rt");
        let x = b.param("x", TensorType::new(dt, [3, 4]));
        let y = x.transpose(&[1, 0]).reshape([2, 6]).exp();
        let g = b.build(&[y]).unwrap();
        let xv = data(12, 22, -1.0, 1.0);
        let xt = tensor(&TensorType::new(dt, [3, 4]), &xv);
        let xv = xt.to_f64_vec();
        let got = jit_run_opts(&g, &[xt], &host_math());
        let want: Vec<f64> = (0..12)
            .map(|k| {
                // Row-major position k of the transposed [4, 3] array.
                let (r, c) = (k / 3, k % 3);
                let v = xv[c * 4 + r];
                if dt == DType::F32 {
                    (v as f32).exp() as f64
                } else {
                    v.exp()
                }
            })
            .collect();
        assert_same(
            "exp(reshape(transpose))",
            &got[0],
            &tensor(&TensorType::new(dt, [2, 6]), &want),
        );
    }
}

#[test]
fn pad_and_concat() {
    check_view(
        Op::Pad {
            lo: vec![1, 0],
            hi: vec![2, 3],
        },
        &[2, 3],
        |i| (i[0] >= 1 && i[0] < 3 && i[1] < 3).then(|| vec![i[0] - 1, i[1]]),
    );
    check_view(
        Op::Pad {
            lo: vec![1],
            hi: vec![0],
        },
        &[9],
        |i| (i[0] >= 1).then(|| vec![i[0] - 1]),
    );
    for dt in FLOATS {
        let b = GraphBuilder::new("cat");
        let x = b.param("x", TensorType::new(dt, [2, 3]));
        let y = b.param("y", TensorType::new(dt, [2, 1]));
        let c = b.concat(&[x, y.exp(), x], 1);
        let g = b.build(&[c]).unwrap();
        let xv = data(6, 23, -1.0, 1.0);
        let yv = data(2, 24, -1.0, 1.0);
        let xt = tensor(&TensorType::new(dt, [2, 3]), &xv);
        let yt = tensor(&TensorType::new(dt, [2, 1]), &yv);
        let (xv, yv) = (xt.to_f64_vec(), yt.to_f64_vec());
        let got = jit_run_opts(&g, &[xt, yt], &host_math());
        let mut want = Vec::new();
        for r in 0..2 {
            want.extend_from_slice(&xv[r * 3..r * 3 + 3]);
            want.push(if dt == DType::F32 {
                (yv[r] as f32).exp() as f64
            } else {
                yv[r].exp()
            });
            want.extend_from_slice(&xv[r * 3..r * 3 + 3]);
        }
        assert_same(
            "concat",
            &got[0],
            &tensor(&TensorType::new(dt, [2, 7]), &want),
        );
    }
}

fn matmul_ref(a: &[f64], sa: &[usize], b: &[f64], sb: &[usize], out: &[usize]) -> Vec<f64> {
    let a2: Vec<usize> = if sa.len() == 1 {
        vec![1, sa[0]]
    } else {
        sa.to_vec()
    };
    let b2: Vec<usize> = if sb.len() == 1 {
        vec![sb[0], 1]
    } else {
        sb.to_vec()
    };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let n = b2[b2.len() - 1];
    let ba = &a2[..a2.len() - 2];
    let bb = &b2[..b2.len() - 2];
    let batch = Shape::broadcast(&Shape::new(ba.to_vec()), &Shape::new(bb.to_vec())).unwrap();
    let mut res = Vec::new();
    for bi in indices(batch.dims()) {
        let pick = |bd: &[usize]| -> usize {
            let shift = bi.len() - bd.len();
            let mut off = 0;
            for (j, &d) in bd.iter().enumerate() {
                off = off * d + if d == 1 { 0 } else { bi[shift + j] };
            }
            off
        };
        let (oa, ob) = (pick(ba) * m * k, pick(bb) * k * n);
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0;
                for l in 0..k {
                    s += a[oa + i * k + l] * b[ob + l * n + j];
                }
                res.push(s);
            }
        }
    }
    assert_eq!(res.len(), out.iter().product::<usize>());
    res
}

/// Checks `a @ b` of the given shapes against [`matmul_ref`], with the
/// documented tolerance `4 k² ε`. With `transposed`, both operands are
/// 2-D parameters stored transposed and used through `.t()` views (the GEMM
/// then sees column-major strides).
fn check_matmul(dt: DType, sa: &[usize], sb: &[usize], transposed: bool, opts: &JitOptions) {
    let stored = |s: &[usize]| -> Vec<usize> {
        if transposed {
            s.iter().rev().copied().collect()
        } else {
            s.to_vec()
        }
    };
    let b = GraphBuilder::new("mm");
    let x = b.param("a", TensorType::new(dt, stored(sa)));
    let y = b.param("b", TensorType::new(dt, stored(sb)));
    let z = if transposed {
        x.t().matmul(y.t())
    } else {
        x.matmul(y)
    };
    let out = z.ty();
    let g = b.build(&[z]).unwrap();
    let na: usize = sa.iter().product();
    let nb: usize = sb.iter().product();
    let at = tensor(&TensorType::new(dt, stored(sa)), &data(na, 25, -1.0, 1.0));
    let bt = tensor(&TensorType::new(dt, stored(sb)), &data(nb, 26, -1.0, 1.0));
    // The logical (row-major) operands the reference multiplies.
    let logical = |t: &Tensor, s: &[usize]| -> Vec<f64> {
        let v = t.to_f64_vec();
        if !transposed {
            return v;
        }
        let (r, c) = (s[0], s[1]);
        (0..r * c).map(|i| v[(i % c) * r + i / c]).collect()
    };
    let want = matmul_ref(
        &logical(&at, sa),
        sa,
        &logical(&bt, sb),
        sb,
        out.shape.dims(),
    );
    let got = jit_run_opts(&g, &[at, bt], opts);
    assert_eq!(got[0].shape(), &out.shape);
    let k = if sa.len() == 1 {
        sa[0]
    } else {
        sa[sa.len() - 1]
    };
    // Documented tolerance: |err| <= k * eps * sum|a||b| <= k * eps * k.
    let eps = if dt == DType::F32 {
        f32::EPSILON as f64
    } else {
        f64::EPSILON
    };
    let tol = 4.0 * (k.max(1) as f64).powi(2) * eps;
    for (i, (g, w)) in got[0].to_f64_vec().iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() <= tol,
            "matmul {sa:?}x{sb:?} {dt} (transposed: {transposed}, threads {}) element {i}: {g} vs {w}",
            opts.threads
        );
    }
}

#[test]
fn matmul_matches_triple_loop_within_tolerance() {
    let cases: &[(&[usize], &[usize])] = &[
        (&[3, 4], &[4, 5]),
        (&[1, 1], &[1, 1]),
        (&[4], &[4, 3]),
        (&[3, 4], &[4]),
        (&[7], &[7]),
        (&[2, 3, 4], &[4, 5]),
        (&[2, 1, 3, 4], &[5, 4, 2]),
        (&[3, 0], &[0, 4]),
        (&[0, 3], &[3, 2]),
        (&[33, 65], &[65, 17]),
        (&[128, 78], &[78, 26]),
    ];
    for dt in FLOATS {
        for &(sa, sb) in cases {
            check_matmul(dt, sa, sb, false, &JitOptions::default());
        }
    }
}

/// Products of at least 2^18 multiply-adds are split across the JIT's
/// threads, by rows of the result or, when it is wider than tall, of its
/// transpose, in pieces of 16 (the last one shorter): each
/// piece must land in the right place, with plain and transposed strides,
/// in every batch element, for any thread count.
#[test]
fn large_matmuls_split_across_threads_match_triple_loop() {
    let cases: &[(&[usize], &[usize])] = &[
        (&[300, 200], &[200, 9]),   // rows, 540k
        (&[8, 400], &[400, 101]),   // columns, 323k
        (&[1, 800], &[800, 400]),   // one row: columns
        (&[803, 400], &[400, 1]),   // matrix-vector: rows, ragged tail
        (&[2, 100, 60], &[60, 50]), // batched, 300k each
        (&[100, 700], &[700, 100]), // square result: rows
    ];
    for dt in FLOATS {
        for &(sa, sb) in cases {
            for threads in [1, 2, 3] {
                let opts = JitOptions {
                    threads,
                    ..JitOptions::default()
                };
                check_matmul(dt, sa, sb, false, &opts);
                if sa.len() == 2 && sb.len() == 2 {
                    check_matmul(dt, sa, sb, true, &opts);
                }
            }
        }
    }
}

#[test]
fn matmul_of_transposed_views_uses_strides() {
    let b = GraphBuilder::new("mmt");
    let x = b.param("a", TensorType::f64([4, 3]));
    let y = b.param("b", TensorType::f64([5, 4]));
    let z = x.t().matmul(y.t()); // [3,4] @ [4,5]
    let g = b.build(&[z]).unwrap();
    let av = data(12, 27, -1.0, 1.0);
    let bv = data(20, 28, -1.0, 1.0);
    let at: Vec<f64> = (0..12).map(|k| av[(k % 4) * 3 + k / 4]).collect();
    let bt: Vec<f64> = (0..20).map(|k| bv[(k % 5) * 4 + k / 5]).collect();
    let want = matmul_ref(&at, &[3, 4], &bt, &[4, 5], &[3, 5]);
    let got = jit_run(
        &g,
        &[
            Tensor::from_f64([4, 3], av).unwrap(),
            Tensor::from_f64([5, 4], bv).unwrap(),
        ],
    );
    for (g, w) in got[0].as_f64().unwrap().iter().zip(&want) {
        assert!((g - w).abs() < 1e-12);
    }
}

#[test]
fn custom_ops_are_inlined() {
    // softplus(x) = log(1 + exp(x)), as a custom op called twice.
    let mut body = Graph::new("softplus_body");
    let x = body.add_param("x", TensorType::f64([5])).unwrap();
    let e = body.add(Op::Unary(UnaryOp::Exp), &[x]).unwrap();
    let one = body.constant(Tensor::full(&TensorType::f64([5]), 1.0));
    let s = body.add(Op::Binary(BinaryOp::Add), &[one, e]).unwrap();
    let l = body.add(Op::Unary(UnaryOp::Log), &[s]).unwrap();
    body.set_outputs(vec![l]);
    let sp = CustomOp::new("softplus", body, None, None).unwrap();
    let b = GraphBuilder::new("main");
    let p = b.param("p", TensorType::f64([5]));
    let y = b.call(&sp, &[b.call(&sp, &[p])]);
    let g = b.build(&[y]).unwrap();
    let pv = data(5, 29, -2.0, 2.0);
    let got = jit_run_opts(
        &g,
        &[Tensor::from_f64([5], pv.clone()).unwrap()],
        &host_math(),
    );
    let sp1 = |v: f64| (1.0 + v.exp()).ln();
    let want: Vec<f64> = pv.iter().map(|&v| sp1(sp1(v))).collect();
    assert_same(
        "softplus(softplus)",
        &got[0],
        &Tensor::from_f64([5], want).unwrap(),
    );
}

#[test]
fn outputs_that_are_params_consts_views_or_repeated() {
    let mut g = Graph::new("outs");
    let x = g.add_param("x", TensorType::f64([2, 3])).unwrap();
    let c = g.constant(Tensor::from_f64([3], vec![1.0, 2.0, 3.0]).unwrap());
    let s = g.constant(Tensor::full(&TensorType::f64([2]), 7.5));
    let t = g.add(Op::Transpose { perm: vec![1, 0] }, &[x]).unwrap();
    let e = g.add(Op::Unary(UnaryOp::Exp), &[x]).unwrap();
    g.set_outputs(vec![x, c, s, t, e, e, x]);
    let xv = data(6, 30, -1.0, 1.0);
    let got = jit_run_opts(
        &g,
        &[Tensor::from_f64([2, 3], xv.clone()).unwrap()],
        &host_math(),
    );
    assert_eq!(got[0].as_f64().unwrap(), &xv[..]);
    assert_eq!(got[1].as_f64().unwrap(), &[1.0, 2.0, 3.0]);
    assert_eq!(got[2].as_f64().unwrap(), &[7.5, 7.5]);
    let tv: Vec<f64> = (0..6).map(|k| xv[(k % 2) * 3 + k / 2]).collect();
    assert_eq!(got[3].as_f64().unwrap(), &tv[..]);
    let ev: Vec<f64> = xv.iter().map(|v| v.exp()).collect();
    assert_eq!(got[4].as_f64().unwrap(), &ev[..]);
    assert_eq!(got[5].as_f64().unwrap(), &ev[..]);
    assert_eq!(got[6].as_f64().unwrap(), &xv[..]);
}
