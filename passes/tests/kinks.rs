//! The conventions at non-smooth points (JAX's), in reverse and forward
//! mode.
mod common;

use adjoint_ir::{Graph, GraphBuilder, Tensor, TensorType, Value};
use common::{eval, run};

fn vec_graph(n: usize, f: impl for<'b> Fn(Value<'b>) -> Value<'b>) -> Graph {
    let b = GraphBuilder::new("k");
    let x = b.param("x", TensorType::f64([n]));
    b.build(&[f(x).sum()]).unwrap()
}

/// Reverse-mode gradient and the forward-mode derivative along each basis
/// vector, which must agree.
fn both(g: &Graph, x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let xt = Tensor::from_f64([n], x.to_vec()).unwrap();
    let gr = eval(&run(g, "grad"), std::slice::from_ref(&xt))[1].to_f64_vec();
    let f = run(g, "jvp");
    for j in 0..n {
        let mut e = vec![0.0; n];
        e[j] = 1.0;
        let d = eval(&f, &[xt.clone(), Tensor::from_f64([n], e).unwrap()])[1]
            .scalar_value()
            .unwrap();
        assert_eq!(d, gr[j], "forward and reverse differ at element {j}");
    }
    gr
}

#[test]
fn relu_at_zero_is_zero() {
    let g = vec_graph(3, |x| x.relu());
    assert_eq!(both(&g, &[-1.0, 0.0, 2.0]), vec![0.0, 0.0, 1.0]);
}

#[test]
fn abs_at_zero_is_one() {
    let g = vec_graph(3, |x| x.abs());
    assert_eq!(both(&g, &[-1.0, 0.0, 2.0]), vec![-1.0, 1.0, 1.0]);
    // -0.0 >= 0 too.
    assert_eq!(both(&g, &[-0.0, 0.5, -0.5]), vec![1.0, 1.0, -1.0]);
}

#[test]
fn max_and_min_ties_split_evenly() {
    let b = GraphBuilder::new("mm");
    let x = b.param("x", TensorType::f64([3]));
    let y = b.param("y", TensorType::f64([3]));
    let g = b
        .build(&[(x.maximum(y) + 3.0 * x.minimum(y)).sum()])
        .unwrap();
    let h = run(&g, "grad");
    let out = eval(
        &h,
        &[
            Tensor::from_f64([3], vec![1.0, 2.0, 5.0]).unwrap(),
            Tensor::from_f64([3], vec![1.0, 3.0, 4.0]).unwrap(),
        ],
    );
    // tie: 0.5 + 3*0.5 each; x<y: x gets min (3), y gets max (1); x>y: reverse.
    assert_eq!(out[1].to_f64_vec(), vec![2.0, 3.0, 1.0]);
    assert_eq!(out[2].to_f64_vec(), vec![2.0, 1.0, 3.0]);
    // x.max(x) has derivative 1 (0.5 + 0.5).
    let g = vec_graph(2, |x| x.maximum(x));
    assert_eq!(both(&g, &[0.3, -0.7]), vec![1.0, 1.0]);
}

#[test]
fn reduce_max_ties_share_the_gradient() {
    let g = vec_graph(4, |x| x.reshape([1, 4]).max_axes(&[1]));
    assert_eq!(both(&g, &[1.0, 3.0, 3.0, 2.0]), vec![0.0, 0.5, 0.5, 0.0]);
    assert_eq!(
        both(&g, &[3.0, 3.0, 3.0, 2.0]),
        vec![1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 0.0]
    );
    assert_eq!(both(&g, &[1.0, 2.0, 0.0, 4.0]), vec![0.0, 0.0, 0.0, 1.0]);
}

#[test]
fn select_routes_the_gradient_and_the_condition_gets_none() {
    let g = vec_graph(3, |x| x.gt(x * 0.0).select(x * 2.0, x * -3.0));
    assert_eq!(both(&g, &[1.0, 0.0, -1.0]), vec![2.0, -3.0, -3.0]);
}

#[test]
fn comparisons_have_zero_derivative() {
    // Through a comparison only: an explicit zero gradient.
    let g = vec_graph(3, |x| x.gt(x * 0.0).cast(adjoint_ir::DType::F64));
    assert_eq!(both(&g, &[1.0, 0.0, -1.0]), vec![0.0, 0.0, 0.0]);
}

#[test]
fn pow_conventions_at_zero() {
    // d/db 0^b = 0 (log 0 replaced), d/da a^0 = 0 even at a = 0.
    let bl = GraphBuilder::new("p");
    let a = bl.param("a", TensorType::f64([]));
    let b = bl.param("b", TensorType::f64([]));
    let g = bl.build(&[a.pow(b)]).unwrap();
    let h = run(&g, "grad");
    let at = |x: f64, y: f64| {
        eval(&h, &[Tensor::scalar_f64(x), Tensor::scalar_f64(y)])
            .iter()
            .map(|t| t.scalar_value().unwrap())
            .collect::<Vec<f64>>()
    };
    assert_eq!(at(0.0, 2.0), vec![0.0, 0.0, 0.0]);
    assert_eq!(at(0.0, 0.0), vec![1.0, 0.0, 0.0]);
    assert_eq!(at(0.0, 1.0), vec![0.0, 1.0, 0.0]);
    assert_eq!(at(2.0, 3.0), vec![8.0, 12.0, 8.0 * 2f64.ln()]);
    // Constant exponent 0: no derivative at all, even at 0.
    let g = vec_graph(2, |x| x.powf(0.0));
    assert_eq!(both(&g, &[0.0, 2.0]), vec![0.0, 0.0]);
}
