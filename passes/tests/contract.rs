//! The transform contract: wrt defaults and order, parameters and outputs
//! only appended, explicit zeros, derivative dtypes, fresh names, `of=K`,
//! pruning.
mod common;

use adjoint_ir::{DType, GraphBuilder, Op, Tensor, TensorType};
use adjoint_passes::PassManager;
use common::{eval, run};

fn try_run(g: &adjoint_ir::Graph, p: &str) -> adjoint_ir::Result<adjoint_ir::Graph> {
    let mut h = g.clone();
    PassManager::parse(p)?.run(&mut h)?;
    Ok(h)
}

#[test]
fn default_wrt_is_every_float_param_in_order_and_listed_order_is_kept() {
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([2]));
    let m = b.param("m", TensorType::bool([2]));
    let w = b.param("w", TensorType::f64([2]));
    let g = b.build(&[m.select(x * w, w).sum()]).unwrap();
    let h = run(&g, "grad");
    // Params untouched; outputs: f, then d/dx, d/dw (bool m skipped).
    assert_eq!(h.param_names(), ["x", "m", "w"]);
    assert_eq!(h.outputs()[0], g.outputs()[0]);
    assert_eq!(h.outputs().len(), 3);
    let args = [
        Tensor::from_f64([2], vec![2.0, 3.0]).unwrap(),
        Tensor::from_bool([2], vec![true, false]).unwrap(),
        Tensor::from_f64([2], vec![5.0, 7.0]).unwrap(),
    ];
    let out = eval(&h, &args);
    assert_eq!(out[1].to_f64_vec(), vec![5.0, 0.0]);
    assert_eq!(out[2].to_f64_vec(), vec![2.0, 1.0]);
    // wrt=w,x: in that order.
    let out = eval(&run(&g, "grad{wrt=w,x}"), &args);
    assert_eq!(out[1].to_f64_vec(), vec![2.0, 1.0]);
    assert_eq!(out[2].to_f64_vec(), vec![5.0, 0.0]);
    // A bool parameter listed explicitly is an error naming it.
    let e = try_run(&g, "grad{wrt=m}").unwrap_err();
    assert!(
        e.message.contains("`m`") && e.message.contains("bool"),
        "{e}"
    );
    // An unknown one lists the parameters.
    let e = try_run(&g, "grad{wrt=q}").unwrap_err();
    assert!(e.message.contains("x, m, w"), "{e}");
    let e = try_run(&g, "jvp{wrt=x,x}").unwrap_err();
    assert!(e.message.contains("twice"), "{e}");
}

#[test]
fn identically_zero_derivatives_are_explicit_zero_tensors() {
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([2]));
    let _unused = b.param("u", TensorType::f64([3]));
    let masked = b.param("k", TensorType::f64([2]));
    // k reaches the output only through a comparison.
    let g = b
        .build(&[(x * x).sum() + x.gt(masked).cast(DType::F64).sum()])
        .unwrap();
    for p in ["grad", "grad,simplify,fold,cse,dce", "vjp", "jvp"] {
        let h = run(&g, p);
        let mut args = vec![
            Tensor::from_f64([2], vec![1.0, -2.0]).unwrap(),
            Tensor::from_f64([3], vec![1.0, 2.0, 3.0]).unwrap(),
            Tensor::from_f64([2], vec![0.0, 0.0]).unwrap(),
        ];
        if p == "vjp" {
            args.push(Tensor::scalar_f64(1.0));
        }
        if p == "jvp" {
            // Tangents: only along u and k, which do not matter.
            args.push(Tensor::from_f64([2], vec![0.0, 0.0]).unwrap());
            args.push(Tensor::from_f64([3], vec![1.0, 1.0, 1.0]).unwrap());
            args.push(Tensor::from_f64([2], vec![1.0, 1.0]).unwrap());
            let out = eval(&h, &args);
            assert_eq!(out[1].to_f64_vec(), vec![0.0], "{p}");
            continue;
        }
        let out = eval(&h, &args);
        assert_eq!(out.len(), 4, "{p}");
        assert_eq!(out[1].to_f64_vec(), vec![2.0, -4.0], "{p}");
        assert_eq!(out[2].ty(), TensorType::f64([3]), "{p}");
        assert_eq!(out[2].to_f64_vec(), vec![0.0; 3], "{p}");
        assert_eq!(out[3].to_f64_vec(), vec![0.0; 2], "{p}");
    }
}

#[test]
fn derivative_dtypes() {
    // An f32 parameter feeding an f64 output through a cast.
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f32([2]));
    let y = b.param("y", TensorType::f64([2]));
    let g = b.build(&[(x.cast(DType::F64) * y).sum(), x * x]).unwrap();
    // gradient: the parameter's dtype.
    let h = run(&g, "grad{of=0}");
    assert_eq!(h.output_types()[2], TensorType::f32([2]));
    assert_eq!(h.output_types()[3], TensorType::f64([2]));
    // cotangent parameters: the output's dtype; cotangent outputs: the
    // parameter's dtype.
    let h = run(&g, "vjp");
    assert_eq!(h.param_names(), ["x", "y", "cot0", "cot1"]);
    assert_eq!(h.param_types()[2], TensorType::f64([]));
    assert_eq!(h.param_types()[3], TensorType::f32([2]));
    assert_eq!(h.output_types()[2], TensorType::f32([2]));
    assert_eq!(h.output_types()[3], TensorType::f64([2]));
    // tangent parameters: the parameter's dtype; tangent outputs: the
    // output's dtype.
    let h = run(&g, "jvp");
    assert_eq!(h.param_names(), ["x", "y", "x_dot", "y_dot"]);
    assert_eq!(h.param_types()[2], TensorType::f32([2]));
    assert_eq!(h.output_types()[2], TensorType::f64([]));
    assert_eq!(h.output_types()[3], TensorType::f32([2]));
    let out = eval(
        &h,
        &[
            Tensor::from_f32([2], vec![1.0, 2.0]).unwrap(),
            Tensor::from_f64([2], vec![3.0, 4.0]).unwrap(),
            Tensor::from_f32([2], vec![1.0, 0.0]).unwrap(),
            Tensor::from_f64([2], vec![0.0, 1.0]).unwrap(),
        ],
    );
    assert_eq!(out[2].to_f64_vec(), vec![3.0 + 2.0]);
    assert_eq!(out[3].to_f64_vec(), vec![2.0, 0.0]);
}

#[test]
fn fresh_names_never_collide() {
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([]));
    let g = b.build(&[x.sin()]).unwrap();
    let h = run(&g, "jvp{wrt=x},jvp{wrt=x},jvp{wrt=x}");
    assert_eq!(h.param_names(), ["x", "x_dot", "x_dot2", "x_dot3"]);
    let h = run(&g, "vjp,vjp");
    assert_eq!(h.param_names(), ["x", "cot0", "cot0_2", "cot1"]);
    // A user parameter already called x_dot.
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([]));
    let xd = b.param("x_dot", TensorType::f64([]));
    let g = b.build(&[x * xd]).unwrap();
    let h = run(&g, "jvp{wrt=x}");
    assert_eq!(h.param_names(), ["x", "x_dot", "x_dot2"]);
}

#[test]
fn grad_needs_of_with_several_outputs_and_appends_after_all_of_them() {
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([2]));
    let g = b.build(&[x.sin(), (x * x).sum(), x.exp().sum()]).unwrap();
    let e = try_run(&g, "grad").unwrap_err();
    assert!(
        e.message.contains("3 outputs") && e.message.contains("of=K"),
        "{e}"
    );
    let e = try_run(&g, "grad{of=3}").unwrap_err();
    assert!(e.message.contains("of=3"), "{e}");
    let e = try_run(&g, "grad{of=0}").unwrap_err();
    assert!(e.message.contains("scalar"), "{e}");
    let h = run(&g, "grad{of=2}");
    assert_eq!(&h.outputs()[..3], g.outputs());
    let out = eval(&h, &[Tensor::from_f64([2], vec![0.0, 1.0]).unwrap()]);
    assert_eq!(out[3].to_f64_vec(), vec![1.0, 1f64.exp()]);
}

#[test]
fn adjoints_only_on_paths_from_wrt_to_the_output() {
    // y = sum(exp(a) * b) + sum(c^3): grad wrt b only needs exp(a); nothing
    // is emitted for the c branch or for d/da.
    let bl = GraphBuilder::new("f");
    let a = bl.param("a", TensorType::f64([4]));
    let b = bl.param("b", TensorType::f64([4]));
    let c = bl.param("c", TensorType::f64([4]));
    let g = bl
        .build(&[(a.exp() * b).sum() + (c * c * c).sum()])
        .unwrap();
    let h = run(&g, "grad{wrt=b}");
    let added: Vec<&str> = h
        .node_ids()
        .into_iter()
        .filter(|&n| !g.contains(n))
        .map(|n| h[n].op.name())
        .collect();
    // seed const, reshape, broadcast and the mul by exp(a).
    assert_eq!(added, ["const", "reshape", "broadcast", "mul"], "{added:?}");
    let out = h.outputs()[1];
    assert_eq!(h[out].op, Op::Binary(adjoint_ir::BinaryOp::Mul));
}

#[test]
fn primal_values_are_reused() {
    // d/dx exp(x) is the forward exp node itself (times the seed).
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([]));
    let y = x.exp().tanh();
    let g = b.build(&[y]).unwrap();
    let h = run(&g, "grad,simplify,cse,dce");
    let exps = h
        .node_ids()
        .into_iter()
        .filter(|&n| h[n].op.name() == "exp")
        .count();
    let tanhs = h
        .node_ids()
        .into_iter()
        .filter(|&n| h[n].op.name() == "tanh")
        .count();
    assert_eq!((exps, tanhs), (1, 1));
}
