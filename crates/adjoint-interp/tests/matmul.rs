//! matmul in every numpy form, the accumulation-order contract, empty
//! shapes, and an MLP-sized product.

mod common;

use adjoint_interp::eval;
use adjoint_ir::{GraphBuilder, Op, Tensor, TensorType};
use common::*;

fn mm(a: Tensor, b: Tensor) -> Tensor {
    run(Op::MatMul, &[a, b])
}

const A23: [f64; 6] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
const B32: [f64; 6] = [7.0, 8.0, 9.0, 10.0, 11.0, 12.0];

#[test]
fn matrix_times_matrix() {
    let r = mm(f64t([2, 3], &A23), f64t([3, 2], &B32));
    assert_f64(&r, &[2, 2], &[58.0, 64.0, 139.0, 154.0]);
    let a: Vec<f32> = A23.iter().map(|&x| x as f32).collect();
    let b: Vec<f32> = B32.iter().map(|&x| x as f32).collect();
    let r = mm(f32t([2, 3], &a), f32t([3, 2], &b));
    assert_f32(&r, &[2, 2], &[58.0, 64.0, 139.0, 154.0]);
    // [3,2] @ [2,3].
    let r = mm(f64t([3, 2], &B32), f64t([2, 3], &A23));
    assert_f64(
        &r,
        &[3, 3],
        &[39.0, 54.0, 69.0, 49.0, 68.0, 87.0, 59.0, 82.0, 105.0],
    );
}

#[test]
fn vector_forms() {
    // 1-D @ 2-D: [k] is [1,k], and the 1 is removed.
    let r = mm(f64t([3], &[1.0, 2.0, 3.0]), f64t([3, 2], &B32));
    assert_f64(&r, &[2], &[58.0, 64.0]);
    // 2-D @ 1-D: [k] is [k,1], and the 1 is removed.
    let r = mm(f64t([2, 3], &A23), f64t([3], &[1.0, 0.0, -1.0]));
    assert_f64(&r, &[2], &[-2.0, -2.0]);
    // 1-D @ 1-D: a scalar.
    let r = mm(f64t([3], &[1.0, 2.0, 3.0]), f64t([3], &[4.0, 5.0, 6.0]));
    assert_f64(&r, &[], &[32.0]);
    let r = mm(f32t([2], &[0.5, 2.0]), f32t([2], &[4.0, -1.0]));
    assert_f32(&r, &[], &[0.0]);
}

#[test]
fn batched_3d_times_3d() {
    let a = f64t([2, 2, 2], &[1.0, 2.0, 3.0, 4.0, 1.0, 0.0, 0.0, 1.0]);
    let b = f64t([2, 2, 2], &[5.0, 6.0, 7.0, 8.0, 1.0, 2.0, 3.0, 4.0]);
    let r = mm(a, b);
    assert_f64(
        &r,
        &[2, 2, 2],
        &[19.0, 22.0, 43.0, 50.0, 1.0, 2.0, 3.0, 4.0],
    );
}

#[test]
fn batched_3d_times_1d_and_1d_times_3d() {
    // [2,2,3] @ [3] -> [2,2].
    let a: Vec<f64> = (1..=12).map(f64::from).collect();
    let r = mm(f64t([2, 2, 3], &a), f64t([3], &[1.0, 0.0, -1.0]));
    assert_f64(&r, &[2, 2], &[-2.0, -2.0, -2.0, -2.0]);
    // [3] @ [2,3,2] -> [2,2].
    let b: Vec<f64> = (1..=12).map(f64::from).collect();
    let r = mm(f64t([3], &[1.0, 1.0, 1.0]), f64t([2, 3, 2], &b));
    assert_f64(&r, &[2, 2], &[9.0, 12.0, 27.0, 30.0]);
}

/// A plain reference: out[b0,b1,i,j] = Σ_k a[b0,0,i,k] * b[b1,k,j], with the
/// index arithmetic written out for these particular shapes.
#[test]
fn batched_with_broadcast_leading_dims() {
    // [2,1,3,4] @ [5,4,2] -> [2,5,3,2]; small integers, so exact.
    let a: Vec<f64> = (0..24).map(|n| f64::from(n % 7) - 3.0).collect();
    let b: Vec<f64> = (0..40).map(|n| f64::from(n % 5) - 2.0).collect();
    let mut want = Vec::new();
    for b0 in 0..2 {
        for b1 in 0..5 {
            for i in 0..3 {
                for j in 0..2 {
                    let mut acc = 0.0;
                    for k in 0..4 {
                        acc += a[b0 * 12 + i * 4 + k] * b[b1 * 8 + k * 2 + j];
                    }
                    want.push(acc);
                }
            }
        }
    }
    let r = mm(f64t([2, 1, 3, 4], &a), f64t([5, 4, 2], &b));
    assert_f64(&r, &[2, 5, 3, 2], &want);
    // 2-D @ 3-D: the left matrix is shared by every batch.
    let r = mm(
        f64t([2, 3], &A23),
        f64t([2, 3, 2], &[B32, B32.map(|x| -x)].concat()),
    );
    assert_f64(
        &r,
        &[2, 2, 2],
        &[58.0, 64.0, 139.0, 154.0, -58.0, -64.0, -139.0, -154.0],
    );
}

#[test]
fn accumulates_in_sequence_from_positive_zero_without_fma() {
    // x*x = 1 + 2^-29 + 2^-60 rounds to 1 + 2^-29 =: p. The dot product
    // [-p, x] . [1, x] is (0 + -p) + round(x*x) = 0 with a separate multiply
    // and add, but 2^-60 with a fused multiply-add.
    let x = 1.0 + 2f64.powi(-30);
    let p = x * x;
    assert_eq!(p, 1.0 + 2f64.powi(-29));
    assert_eq!(
        x.mul_add(x, -p),
        2f64.powi(-60),
        "a fused multiply-add would differ"
    );
    let r = mm(f64t([2], &[-p, x]), f64t([2], &[1.0, x]));
    assert_f64(&r, &[], &[0.0]);
    // Starting from +0.0: 0 + (-0 * 1) = +0.0.
    let r = mm(f64t([1], &[-0.0]), f64t([1], &[1.0]));
    assert_f64(&r, &[], &[0.0]);
    // In sequence over k: ((1e16 + 1) + 1) - 1e16 = 0 (pairwise would give 2).
    let r = mm(
        f64t([1, 4], &[1e16, 1.0, 1.0, -1e16]),
        f64t([4, 1], &[1.0; 4]),
    );
    assert_f64(&r, &[1, 1], &[0.0]);
    // The same in f32, at 2^24.
    let r = mm(
        f32t([4], &[16777216.0, 1.0, 1.0, -16777216.0]),
        f32t([4], &[1.0; 4]),
    );
    assert_f32(&r, &[], &[0.0]);
}

#[test]
fn ieee_specials_flow_through() {
    let r = mm(
        f64t([1, 2], &[f64::INFINITY, 1.0]),
        f64t([2, 2], &[1.0, 0.0, 1.0, 1.0]),
    );
    // inf*0 = NaN in the second column.
    assert_f64(&r, &[1, 2], &[f64::INFINITY, f64::NAN]);
}

#[test]
fn empty_shapes() {
    // k = 0: every dot product is empty, so +0.0.
    let r = mm(f64t([2, 0], &[]), f64t([0, 3], &[]));
    assert_f64(&r, &[2, 3], &[0.0; 6]);
    let r = mm(f32t([0], &[]), f32t([0], &[]));
    assert_f32(&r, &[], &[0.0]);
    let r = mm(f64t([0, 3], &[]), f64t([3, 2], &[0.0; 6]));
    assert_f64(&r, &[0, 2], &[]);
    let r = mm(f64t([0, 2, 3], &[]), f64t([3, 2], &[0.0; 6]));
    assert_f64(&r, &[0, 2, 2], &[]);
    let r = mm(f64t([2, 3], &[0.0; 6]), f64t([3, 0], &[]));
    assert_f64(&r, &[2, 0], &[]);
}

/// A 128x784 @ 784x256 f32 product (an MLP layer) in a debug build: spot
/// checks against a plain dot product, and the time it took.
#[test]
fn mlp_sized_product() {
    let (m, k, n) = (128, 784, 256);
    let a: Vec<f32> = (0..m * k)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 64.0)
        .collect();
    let b: Vec<f32> = (0..k * n)
        .map(|i| ((i * 53 % 97) as f32 - 48.0) / 32.0)
        .collect();
    let bld = GraphBuilder::new("layer");
    let x = bld.param("x", TensorType::f32([m, k]));
    let w = bld.param("w", TensorType::f32([k, n]));
    let g = bld.build(&[x.matmul(w)]).unwrap();
    let start = std::time::Instant::now();
    let out = eval(&g, &[f32t([m, k], &a), f32t([k, n], &b)]).unwrap();
    eprintln!("128x784 @ 784x256 f32: {:?}", start.elapsed());
    let y = out[0].as_f32().unwrap();
    assert_eq!(y.len(), m * n);
    for (i, j) in [(0, 0), (5, 17), (127, 255), (64, 128)] {
        let mut acc = 0.0f32;
        for kk in 0..k {
            acc += a[i * k + kk] * b[kk * n + j];
        }
        assert_eq!(y[i * n + j].to_bits(), acc.to_bits(), "element ({i},{j})");
    }
}
