//! Helpers shared by the interpreter's integration tests.
#![allow(dead_code)]

use adjoint_interp::{eval, eval_node};
use adjoint_ir::{verify, Graph, Op, Shape, Tensor, TensorType};

/// An `f64` tensor.
pub fn f64t<const N: usize>(shape: [usize; N], data: &[f64]) -> Tensor {
    Tensor::from_f64(shape, data.to_vec()).unwrap()
}

/// An `f32` tensor.
pub fn f32t<const N: usize>(shape: [usize; N], data: &[f32]) -> Tensor {
    Tensor::from_f32(shape, data.to_vec()).unwrap()
}

/// The `f64` tensor type of shape `d`.
pub fn f64s(d: &[usize]) -> TensorType {
    TensorType::f64(d.to_vec())
}

/// An `f64` tensor of shape `d` (a slice, for shapes built at run time).
pub fn t64(d: &[usize], v: &[f64]) -> Tensor {
    Tensor::from_f64(d.to_vec(), v.to_vec()).unwrap()
}

/// An `f64` scalar.
pub fn s64(v: f64) -> Tensor {
    Tensor::scalar_f64(v)
}

/// The outputs of `g` on `inputs` (which must evaluate), as `f64` values.
pub fn eval_f64(g: &Graph, inputs: &[Tensor]) -> Vec<Vec<f64>> {
    eval(g, inputs)
        .unwrap()
        .iter()
        .map(|t| t.to_f64_vec())
        .collect()
}

/// A `bool` tensor.
pub fn boolt<const N: usize>(shape: [usize; N], data: &[bool]) -> Tensor {
    Tensor::from_bool(shape, data.to_vec()).unwrap()
}

/// A graph whose parameters have the types of `inputs`, with one node `op`
/// applied to them (no implicit broadcasting) as its output.
pub fn one_op_graph(op: Op, inputs: &[Tensor]) -> Graph {
    let mut g = Graph::new("t");
    let ps: Vec<_> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| g.add_param(format!("p{i}"), t.ty()).unwrap())
        .collect();
    let y = g.add(op, &ps).unwrap();
    g.set_outputs(vec![y]);
    verify(&g).unwrap();
    g
}

/// Applies `op` to `inputs` through `eval` on a one-node graph, checks that
/// `eval_node` gives the same bits, and returns the result.
pub fn run(op: Op, inputs: &[Tensor]) -> Tensor {
    let g = one_op_graph(op.clone(), inputs);
    let mut out = eval(&g, inputs).unwrap();
    assert_eq!(out.len(), 1);
    let y = out.pop().unwrap();
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let direct = eval_node(&op, &y.ty(), &refs).unwrap();
    assert_eq!(direct, y, "eval_node and eval disagree for {}", op.name());
    y
}

/// Asserts that `t` has the shape `shape` and exactly the elements
/// `want` (bit for bit, so the sign of zero counts; a NaN matches any NaN).
pub fn assert_f64(t: &Tensor, shape: &[usize], want: &[f64]) {
    assert_eq!(t.shape(), &Shape::new(shape), "shape");
    let got = t.as_f64().expect("an f64 tensor");
    assert_eq!(got.len(), want.len(), "element count");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = if w.is_nan() {
            g.is_nan()
        } else {
            g.to_bits() == w.to_bits()
        };
        assert!(ok, "element {i}: got {g:?}, want {w:?} (all: {got:?})");
    }
}

/// [`assert_f64`] for `f32`.
pub fn assert_f32(t: &Tensor, shape: &[usize], want: &[f32]) {
    assert_eq!(t.shape(), &Shape::new(shape), "shape");
    let got = t.as_f32().expect("an f32 tensor");
    assert_eq!(got.len(), want.len(), "element count");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = if w.is_nan() {
            g.is_nan()
        } else {
            g.to_bits() == w.to_bits()
        };
        assert!(ok, "element {i}: got {g:?}, want {w:?} (all: {got:?})");
    }
}

/// Asserts shape and `bool` elements.
pub fn assert_bool(t: &Tensor, shape: &[usize], want: &[bool]) {
    assert_eq!(t.shape(), &Shape::new(shape), "shape");
    assert_eq!(t.as_bool().expect("a bool tensor"), want);
}

/// Asserts that `got` is within `ulps` units in the last place of `want`.
pub fn assert_close_f64(got: f64, want: f64, ulps: u64) {
    let d = (got.to_bits() as i64 - want.to_bits() as i64).unsigned_abs();
    assert!(d <= ulps, "got {got:?}, want {want:?} ({d} ulps apart)");
}

/// [`assert_close_f64`] for `f32`.
pub fn assert_close_f32(got: f32, want: f32, ulps: u32) {
    let d = (got.to_bits() as i32 - want.to_bits() as i32).unsigned_abs();
    assert!(d <= ulps, "got {got:?}, want {want:?} ({d} ulps apart)");
}

/// A type shorthand.
pub fn ty64<const N: usize>(shape: [usize; N]) -> TensorType {
    TensorType::f64(shape)
}

/// [`run`] with one operand.
pub fn run1(op: Op, x: &Tensor) -> Tensor {
    run(op, std::slice::from_ref(x))
}
