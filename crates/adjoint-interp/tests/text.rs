//! The interpreter on programs written in the text IR (the spec
//! examples), checked against hand-derived values.

mod common;

use adjoint_interp::{eval, reduce_sum_order};
use adjoint_ir::{parse_module, Tensor};
use common::*;

const SPEC: &str = "
# f(x1, x2) = x1*x2 + sin(x1)
func @f(%x1: f64, %x2: f64) -> f64 {
  %a = mul %x1, %x2
  %b = sin %x1
  %y = add %a, %b
  return %y
}

func @layer(%x: f32[128,784], %w: f32[784,256], %b: f32[256]) -> (f32, f32[128,256]) {
  %h = matmul %x, %w
  %z = add %h, %b            # numpy broadcasting: a broadcast node is inserted
  %t = tanh %z : f32[128,256]
  %s = reduce_sum %t axes=[0,1]
  return %s, %t
}
";

#[test]
fn seed_example_from_text() {
    let m = parse_module(SPEC).unwrap();
    let out = eval(
        m.func("f").unwrap(),
        &[Tensor::scalar_f64(2.0), Tensor::scalar_f64(7.0)],
    )
    .unwrap();
    assert_f64(&out[0], &[], &[14.909297426825681]);
}

#[test]
fn layer_example_from_text() {
    let m = parse_module(SPEC).unwrap();
    let (rows, k, cols) = (128, 784, 256);
    let x: Vec<f32> = (0..rows * k)
        .map(|i| ((i * 31 % 89) as f32 - 44.0) / 512.0)
        .collect();
    let w: Vec<f32> = (0..k * cols)
        .map(|i| ((i * 17 % 83) as f32 - 41.0) / 256.0)
        .collect();
    let b: Vec<f32> = (0..cols).map(|j| (j as f32 - 128.0) / 64.0).collect();
    let out = eval(
        m.func("layer").unwrap(),
        &[f32t([rows, k], &x), f32t([k, cols], &w), f32t([cols], &b)],
    )
    .unwrap();
    let t = out[1].as_f32().unwrap();
    assert_eq!(out[1].shape().dims(), &[rows, cols]);
    // Spot checks: tanh(Σ_k x[i,k] w[k,j] + b[j]), summed in sequence in f32.
    for (i, j) in [(0, 0), (3, 200), (127, 255), (77, 1)] {
        let mut acc = 0.0f32;
        for kk in 0..k {
            acc += x[i * k + kk] * w[kk * cols + j];
        }
        assert_eq!(
            t[i * cols + j].to_bits(),
            (acc + b[j]).tanh().to_bits(),
            "({i},{j})"
        );
    }
    // The sum over both axes is over the row-major elements of %t.
    assert_f32(&out[0], &[], &[reduce_sum_order(t)]);
}

#[test]
fn shape_ops_from_text() {
    let src = "
func @s(%x: f64[2,3]) -> (f64[3,2], f64[2], f64[4,3], f64[2,2], f64[3]) {
  %t = transpose %x perm=[1,0]
  %sl = slice %x start=[0,0] end=[2,3] stride=[1,2]
  %r = reduce_max %sl axes=[1]
  %p = pad %x lo=[1,0] hi=[1,0]
  %c = concat %x, %x axis=0
  %cs = reduce_sum %c axes=[0]
  %k = const [[1, 0], [0, 1]] : f64[2,2]
  %two = const 2 : f64
  %kk = mul %k, %two
  return %t, %r, %p, %kk, %cs
}
";
    let m = parse_module(src).unwrap();
    let out = eval(
        m.func("s").unwrap(),
        &[f64t([2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])],
    )
    .unwrap();
    assert_f64(&out[0], &[3, 2], &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    assert_f64(&out[1], &[2], &[3.0, 6.0]);
    let mut padded = vec![0.0; 3];
    padded.extend([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0, 0.0, 0.0]);
    assert_f64(&out[2], &[4, 3], &padded);
    assert_f64(&out[3], &[2, 2], &[2.0, 0.0, 0.0, 2.0]);
    assert_f64(&out[4], &[3], &[10.0, 14.0, 18.0]);
}
