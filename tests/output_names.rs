//! Output names survive clean-up: a name belongs to the output, not to the
//! node that happens to compute it (issue 15).

use adjoint::ir::{parse_module, print_graph, Graph, Tensor};
use adjoint::{run_pipeline, Engine};

fn func(src: &str) -> Graph {
    parse_module(src).unwrap().main_func().unwrap().clone()
}

// Before names were kept, `simplify` rewrote the node computing
// d/dy = 1 - tanh² y and the output printed as `%N`.
const F: &str = "func @f(%x: f64, %y: f64) -> f64 {
   %t = tanh %y
   %s = sqrt %x
   %r = add %t, %s
   return %r
 }";

#[test]
fn grad_names_survive_simplify_cse_dce() {
    let mut g = func(F);
    run_pipeline(&mut g, "grad{wrt=y},simplify,cse,dce").unwrap();
    assert_eq!(g.output_names(), ["r", "y_grad"]);
    let text = print_graph(&g);
    assert!(text.contains("return %r, %y_grad"), "{text}");
    // The printed IR reads back with the same names.
    let back = func(&text);
    assert_eq!(back.output_names(), ["r", "y_grad"]);
    assert_eq!(print_graph(&back), text);
    // Both engines agree with the hand-derived gradient
    // d/dy (tanh y + sqrt x) = 1 - tanh² y.
    let (x, y) = (0.7f64, -1.3f64);
    let ins = [Tensor::scalar_f64(x), Tensor::scalar_f64(y)];
    for engine in Engine::ALL {
        let p = engine.prepare(&g).unwrap();
        let out = p.run(&ins).unwrap();
        let want = 1.0 - y.tanh() * y.tanh();
        assert!((out[1].to_f64_vec()[0] - want).abs() <= 1e-14, "{engine}");
        if let Some(f) = p.compiled() {
            assert_eq!(f.output_names(), ["r", "y_grad"]);
            assert_eq!(f.input_names(), ["x", "y"]);
        }
    }
}

#[test]
fn every_cleanup_pass_keeps_names() {
    for cleanup in ["simplify", "cse", "dce", "fold", "licm", "fuse", "inline"] {
        let mut g = func(F);
        let p = format!("grad,{cleanup},simplify,{cleanup},cse,dce,{cleanup}");
        run_pipeline(&mut g, &p).unwrap();
        assert_eq!(g.output_names(), ["r", "x_grad", "y_grad"], "{p}");
        let mut g = func(F);
        run_pipeline(&mut g, &format!("jvp{{wrt=x}},{cleanup},simplify,cse,dce")).unwrap();
        assert_eq!(g.output_names()[..1], ["r"], "{cleanup}");
        assert!(
            g.output_names()[1].starts_with("r_dot"),
            "{cleanup}: {:?}",
            g.output_names()
        );
    }
}

#[test]
fn one_node_for_two_outputs_and_params_as_outputs_stay_valid() {
    // d/dx (x + y) = d/dy (x + y) = 1: cse merges the two gradients into
    // one node, and each output keeps its own name; d/dy (x*y) = x is a
    // parameter, returned under the output name y_grad.
    for (src, want) in [
        (
            "func @f(%x: f64, %y: f64) -> f64 {
               %s = add %x, %y
               return %s
             }",
            ["s", "x_grad", "y_grad"],
        ),
        (
            "func @f(%x: f64, %y: f64) -> f64 {
               %s = mul %x, %y
               return %s
             }",
            ["s", "x_grad", "y_grad"],
        ),
    ] {
        let mut g = func(src);
        run_pipeline(&mut g, "grad,simplify,cse,dce").unwrap();
        assert_eq!(g.output_names(), want);
        let text = print_graph(&g);
        assert_eq!(print_graph(&func(&text)), text);
    }
}
