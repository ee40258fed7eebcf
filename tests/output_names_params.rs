//! An output's name belongs to the output, not to the value computing it
//! (issue 15): a gradient that is a parameter is still `w_grad`, and two
//! outputs computed by one value keep two names, on both engines and
//! through the JIT's named calls.

use adjoint::ir::{parse_module, print_graph, Graph, Tensor};
use adjoint::{run_pipeline, Engine};

fn func(src: &str) -> Graph {
    parse_module(src).unwrap().main_func().unwrap().clone()
}

/// d/dw sum(x*w) = x: the gradient is the parameter `x` itself.
const DOT: &str = "func @f(%x: f64[2], %w: f64[2]) -> f64 {
  %p = mul %x, %w
  %s = reduce_sum %p axes=[0]
  return %s
}";

/// Checks names and values on every engine, and the JIT's named call.
fn check_engines(g: &Graph, ins: &[Tensor], names: &[&str], want: &[Vec<f64>]) {
    for engine in Engine::ALL {
        let p = engine.prepare(g).unwrap();
        let out = p.run(ins).unwrap();
        let got: Vec<Vec<f64>> = out.iter().map(|t| t.to_f64_vec()).collect();
        assert_eq!(got, want, "{engine}");
        if let Some(f) = p.compiled() {
            assert_eq!(f.output_names(), names, "{engine}");
            let args: Vec<Vec<f64>> = ins.iter().map(|t| t.to_f64_vec()).collect();
            let named: Vec<(&str, &[f64])> = f
                .input_names()
                .iter()
                .map(String::as_str)
                .zip(args.iter().map(|a| &a[..]))
                .collect();
            let res = f.call_named(&named).unwrap();
            for (n, w) in names.iter().zip(want) {
                assert_eq!(&res[*n], w, "{engine}: {n}");
            }
        }
    }
}

#[test]
fn a_parameter_returned_as_a_gradient_is_named_for_the_gradient() {
    let ins = [
        Tensor::from_f64([2], vec![1.5, -2.0]).unwrap(),
        Tensor::from_f64([2], vec![3.0, 0.25]).unwrap(),
    ];
    // sum(x*w) = 1.5*3 - 2*0.25 = 4; d/dw = x.
    let want = vec![vec![4.0], vec![1.5, -2.0]];
    for pipeline in ["grad{wrt=w}", "grad{wrt=w},simplify,cse,dce"] {
        let mut g = func(DOT);
        run_pipeline(&mut g, pipeline).unwrap();
        assert_eq!(g.output_names(), ["s", "w_grad"], "{pipeline}");
        let text = print_graph(&g);
        assert_eq!(func(&text).output_names(), ["s", "w_grad"]);
        assert_eq!(print_graph(&func(&text)), text);
        if pipeline.ends_with("dce") {
            // Clean-up leaves the parameter itself as the gradient.
            assert_eq!(g.outputs()[1], g.params()[0]);
            assert!(
                text.starts_with("func @f(%x: f64[2], %w: f64[2]) -> (f64, %w_grad: f64[2]) {"),
                "{text}"
            );
            assert!(text.contains("return %s, %x\n"), "{text}");
        }
        check_engines(&g, &ins, &["s", "w_grad"], &want);
    }
}

#[test]
fn two_outputs_of_one_value_keep_two_names() {
    // d/dx (x + y) = d/dy (x + y) = 1: after cse one node computes both.
    let src = "func @f(%x: f64, %y: f64) -> f64 {
  %s = add %x, %y
  return %s
}";
    let mut g = func(src);
    run_pipeline(&mut g, "grad,simplify,cse,dce").unwrap();
    assert_eq!(g.outputs()[1], g.outputs()[2]);
    assert_eq!(g.output_names(), ["s", "x_grad", "y_grad"]);
    let text = print_graph(&g);
    assert!(text.contains("-> (f64, f64, %y_grad: f64)"), "{text}");
    assert!(text.contains("return %s, %x_grad, %x_grad\n"), "{text}");
    assert_eq!(print_graph(&func(&text)), text);
    let ins = [Tensor::scalar_f64(0.5), Tensor::scalar_f64(2.0)];
    check_engines(
        &g,
        &ins,
        &["s", "x_grad", "y_grad"],
        &[vec![2.5], vec![1.0], vec![1.0]],
    );
    // Both gradients of x*y are parameters: d/dx = y, d/dy = x.
    let mut g = func("func @f(%x: f64, %y: f64) -> f64 {\n  %s = mul %x, %y\n  return %s\n}");
    run_pipeline(&mut g, "grad,simplify,cse,dce").unwrap();
    assert_eq!(g.output_names(), ["s", "x_grad", "y_grad"]);
    check_engines(
        &g,
        &ins,
        &["s", "x_grad", "y_grad"],
        &[vec![1.0], vec![2.0], vec![0.5]],
    );
}

#[test]
fn vjp_and_jvp_name_parameter_outputs() {
    // y = x: the cotangent of x is the cotangent parameter itself, and the
    // tangent of y is the tangent parameter.
    let id = "func @f(%x: f64, %w: f64) -> f64 {\n  %y = mul %x, %w\n  return %x, %y\n}";
    let id = id.replace("-> f64", "-> (f64, f64)");
    let mut g = func(&id);
    run_pipeline(&mut g, "vjp{wrt=x},simplify,cse,dce").unwrap();
    assert_eq!(g.output_names(), ["x", "y", "x_cot"]);
    // Only x returned: its cotangent is the parameter cot0 itself.
    let mut g =
        func("func @f(%x: f64, %w: f64) -> (f64, f64) {\n  %y = mul %w, %w\n  return %x, %y\n}");
    run_pipeline(&mut g, "vjp{wrt=x},simplify,cse,dce").unwrap();
    assert_eq!(g.outputs()[2], g.param_by_name("cot0").unwrap());
    assert_eq!(g.output_names(), ["x", "y", "x_cot"]);
    let mut g = func("func @f(%x: f64, %w: f64) -> f64 {\n  %y = mul %w, %w\n  return %y\n}");
    run_pipeline(&mut g, "vjp{wrt=w},simplify,cse,dce").unwrap();
    assert_eq!(g.output_names(), ["y", "w_cot"]);
    let mut g = func(&id);
    run_pipeline(&mut g, "jvp{wrt=x},simplify,cse,dce").unwrap();
    assert_eq!(g.output_names(), ["x", "y", "x_dot", "y_dot"]);
    // x_dot = 1 (the tangent parameter), y_dot = w * x_dot.
    let ins = [
        Tensor::scalar_f64(3.0),
        Tensor::scalar_f64(-2.0),
        Tensor::scalar_f64(1.0),
    ];
    check_engines(
        &g,
        &ins,
        &["x", "y", "x_dot", "y_dot"],
        &[vec![3.0], vec![-6.0], vec![1.0], vec![-2.0]],
    );
}
