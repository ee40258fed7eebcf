//! Passes that use the interpreter on deeply nested custom ops (issue 11,
//! item 7): `gradcheck` (promotion to f64, then evaluation) and `fold`
//! (evaluation of a call on constants) on a chain of 8,000 custom ops, each
//! calling the previous one, on a 2 MiB thread stack.

use adjoint_ir::{CustomOp, Graph, GraphBuilder, Op, Tensor, TensorType};
use adjoint_passes::gradcheck::{gradcheck, GradCheckOptions};
use adjoint_passes::Pass;
use std::sync::Arc;

/// Runs `f` on a thread with a 2 MiB stack, the size of a test thread's.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// `@c0(x) = sin x` and `@ci(x) = call @c(i-1) x`, in `f32`.
fn chain(n: usize) -> Arc<CustomOp> {
    let b = GraphBuilder::new("b0");
    let x = b.param("x", TensorType::f32([]));
    let mut c = CustomOp::new("c0", b.build(&[x.sin()]).unwrap(), None, None).unwrap();
    for i in 1..n {
        let b = GraphBuilder::new(format!("b{i}"));
        let x = b.param("x", TensorType::f32([]));
        let y = b.call(&c, &[x]);
        c = CustomOp::new(format!("c{i}"), b.build(&[y]).unwrap(), None, None).unwrap();
    }
    c
}

#[test]
fn gradcheck_promotes_and_evaluates_8000_nested_custom_ops() {
    let report = on_small_stack(|| {
        let b = GraphBuilder::new("main");
        let x = b.param("x", TensorType::f32([]));
        let y = b.call(&chain(8000), &[x]);
        let g = b.build(&[y]).unwrap();
        gradcheck(&g, &[Tensor::scalar_f32(0.5)], &GradCheckOptions::default()).unwrap()
    });
    assert!(report.pass, "{report:?}");
}

#[test]
fn fold_evaluates_a_call_nested_8000_deep() {
    let g = on_small_stack(|| {
        let b = GraphBuilder::new("main");
        let k = b.scalar(0.5, adjoint_ir::DType::F32);
        let y = b.call(&chain(8000), &[k]);
        let mut g: Graph = b.build(&[y]).unwrap();
        adjoint_passes::fold::Fold::default().run(&mut g).unwrap();
        // Return only what the assertion needs (the chain is dropped here).
        let out = g.outputs()[0];
        match &g[out].op {
            Op::Const(t) => Some(t.clone()),
            _ => None,
        }
    });
    if let Some(t) = g {
        assert_eq!(t.as_f32().unwrap(), &[0.5f32.sin()]);
    }
}
