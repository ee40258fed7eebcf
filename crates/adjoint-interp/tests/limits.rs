//! The interpreter's limits (issue 11, items 7 and 10): nested custom ops
//! evaluate on an explicit stack, so depth never overflows the thread's
//! stack; the call-depth limit and the working-memory budget are checked
//! before anything is evaluated, and their errors name the node, the op and
//! the bytes or the depth.

use adjoint_interp::{eval, eval_node, eval_node_with, eval_with, EvalOptions};
use adjoint_ir::{CustomOp, Graph, GraphBuilder, Op, Tensor, TensorType};
use std::sync::Arc;

/// The stack of a test thread, and of many a user's thread: 2 MiB.
const SMALL_STACK: usize = 2 << 20;

/// Runs `f` on a thread with a 2 MiB stack.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// A chain of `n` custom ops: `@c0(x) = sin x`, and `@ci(x) = call @c(i-1)
/// x`, so calling the last one nests `n` calls deep.
fn chain(n: usize) -> Arc<CustomOp> {
    let b = GraphBuilder::new("b0");
    let x = b.param("x", TensorType::f64([]));
    let mut c = CustomOp::new("c0", b.build(&[x.sin()]).unwrap(), None, None).unwrap();
    for i in 1..n {
        let b = GraphBuilder::new(format!("b{i}"));
        let x = b.param("x", TensorType::f64([]));
        let y = b.call(&c, &[x]);
        c = CustomOp::new(format!("c{i}"), b.build(&[y]).unwrap(), None, None).unwrap();
    }
    c
}

/// `@main(x) = call @c(n-1) x`.
fn main_calling(c: &Arc<CustomOp>) -> Graph {
    let b = GraphBuilder::new("main");
    let x = b.param("x", TensorType::f64([]));
    let y = b.call(c, &[x]);
    b.build(&[y]).unwrap()
}

#[test]
fn eight_thousand_nested_custom_ops_evaluate_on_a_2mib_stack() {
    // Before the explicit frame stack, each nesting level took three
    // recursive frames and this aborted with "has overflowed its stack".
    let y = on_small_stack(|| {
        let g = main_calling(&chain(8000));
        let y = eval(&g, &[Tensor::scalar_f64(0.5)]).unwrap();
        y[0].as_f64().unwrap()[0]
    });
    assert_eq!(y, 0.5f64.sin());
}

#[test]
fn eval_node_of_a_deep_call_uses_the_frame_stack_too() {
    // Constant folding evaluates a call with `eval_node`.
    let y = on_small_stack(|| {
        let c = chain(8000);
        let ty = c.output_type().clone();
        let x = Tensor::scalar_f64(0.25);
        let y = eval_node(&Op::Call(adjoint_ir::CustomRef(c)), &ty, &[&x]).unwrap();
        y.as_f64().unwrap()[0]
    });
    assert_eq!(y, 0.25f64.sin());
}

#[test]
fn call_depth_over_the_limit_is_an_error_naming_the_call() {
    let g = main_calling(&chain(50));
    let x = [Tensor::scalar_f64(0.5)];
    let at = |max_call_depth| EvalOptions {
        max_call_depth,
        ..EvalOptions::default()
    };
    assert_eq!(
        eval_with(&g, &x, &at(50)).unwrap()[0].as_f64().unwrap(),
        &[0.5f64.sin()]
    );
    let e = eval_with(&g, &x, &at(49)).unwrap_err();
    assert_eq!(e.kind, adjoint_ir::ErrorKind::Eval);
    assert!(e.message.contains("@main: %1 = call @c49"), "{e}");
    assert!(e.message.contains("nest 50 deep"), "{e}");
    assert!(e.message.contains("limit of 49"), "{e}");
}

/// `@f(x: f64) -> f64[2^31]`: a broadcast whose result is 16 GiB, which
/// the shape limit allows.
fn huge_broadcast() -> Graph {
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([]));
    let y = x.broadcast_to([1usize << 31]);
    b.try_name(y, "big").unwrap();
    b.build(&[y]).unwrap()
}

#[test]
fn a_16_gib_broadcast_over_the_budget_is_an_error_naming_op_and_bytes() {
    let g = huge_broadcast();
    let opts = EvalOptions {
        max_working_bytes: 1 << 30,
        ..EvalOptions::default()
    };
    let e = eval_with(&g, &[Tensor::scalar_f64(1.0)], &opts).unwrap_err();
    assert_eq!(e.kind, adjoint_ir::ErrorKind::Eval);
    assert!(e.message.starts_with("@f: %big = broadcast"), "{e}");
    assert!(e.message.contains("f64[2147483648]"), "{e}");
    assert!(e.message.contains("17179869184 bytes"), "{e}");
    assert!(e.message.contains("limit of 1073741824 bytes"), "{e}");

    // The same for a single op evaluated on its own (constant folding).
    let x = Tensor::scalar_f64(1.0);
    let op = Op::Broadcast {
        shape: adjoint_ir::Shape::new([1usize << 31]),
    };
    let ty = TensorType::f64([1usize << 31]);
    let e = eval_node_with(&op, &ty, &[&x], &opts).unwrap_err();
    assert!(e.message.starts_with("broadcast: "), "{e}");
    assert!(e.message.contains("17179869184 bytes"), "{e}");
}

#[test]
fn with_the_default_budget_a_program_no_machine_can_hold_fails_before_allocating() {
    // 4096 outputs of 16 GiB each: 64 TiB, over half of any machine's
    // memory. The check runs on the types, so this returns at once.
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([]));
    let outs: Vec<_> = (0..4096)
        .map(|i| (x.lit(i as f64) + x).broadcast_to([1usize << 31]))
        .collect();
    let g = b.build(&outs).unwrap();
    let e = eval(&g, &[Tensor::scalar_f64(1.0)]).unwrap_err();
    assert!(e.message.contains("= broadcast"), "{e}");
    assert!(e.message.contains("17179869184 bytes"), "{e}");
    assert!(e.message.contains("EvalOptions::max_working_bytes"), "{e}");
}

#[test]
fn the_budget_counts_each_value_from_its_op_to_its_last_use() {
    // a = exp x, b = sin a, c = a + b, d = c * c: when c is computed, a and b
    // (32 bytes each) are held and c needs 32: the peak is 96 bytes. Then a
    // and b are freed, and d needs 32 more beside c: 64.
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([4]));
    let a = x.exp();
    let s = a.sin();
    let c = a + s;
    let d = c * c;
    let g = b.build(&[d]).unwrap();
    let xs = Tensor::from_f64([4], vec![0.0, 1.0, -1.0, 0.5]).unwrap();
    let budget = |max_working_bytes| EvalOptions {
        max_working_bytes,
        ..EvalOptions::default()
    };
    let y = eval_with(&g, std::slice::from_ref(&xs), &budget(96)).unwrap();
    let want: Vec<f64> = xs
        .to_f64_vec()
        .iter()
        .map(|&v| {
            let c = v.exp() + v.exp().sin();
            c * c
        })
        .collect();
    assert_eq!(y[0].to_f64_vec(), want);
    let e = eval_with(&g, std::slice::from_ref(&xs), &budget(95)).unwrap_err();
    assert!(e.message.contains("%3 = add"), "{e}");
    assert!(e.message.contains("needs 32 bytes"), "{e}");
    assert!(e.message.contains("64 bytes held by earlier values"), "{e}");
}

#[test]
fn a_call_needs_its_bodys_peak() {
    // @sq(x: f64[8]) = (x * x) + x: its peak is 128 bytes (x*x and the sum).
    let body = GraphBuilder::new("sq_body");
    let x = body.param("x", TensorType::f64([8]));
    let y = x * x + x;
    let c = CustomOp::new("sq", body.build(&[y]).unwrap(), None, None).unwrap();
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([8]));
    let e = x.exp();
    let y = b.call(&c, &[e]);
    let g = b.build(&[y]).unwrap();
    let xs = Tensor::from_f64([8], vec![0.5; 8]).unwrap();
    let budget = |max_working_bytes| EvalOptions {
        max_working_bytes,
        ..EvalOptions::default()
    };
    // exp's result (64 bytes) is held while the body peaks at 128.
    let y = eval_with(&g, std::slice::from_ref(&xs), &budget(192)).unwrap();
    let v = 0.5f64.exp();
    assert_eq!(y[0].to_f64_vec(), vec![v * v + v; 8]);
    let e = eval_with(&g, std::slice::from_ref(&xs), &budget(191)).unwrap_err();
    assert!(e.message.contains("call @sq"), "{e}");
    assert!(e.message.contains("up to 128 bytes"), "{e}");
}

#[test]
fn errors_deep_in_a_chain_name_the_innermost_node_and_elide_the_middle() {
    // A body that fails at run time: reshape's kernel receives a constant
    // whose recorded type lies. Built unchecked, so only evaluation sees it.
    let mut inner = Graph::new("b0");
    let x = inner.add_param("x", TensorType::f64([])).unwrap();
    let bad = inner.add_unchecked(
        Op::Const(Tensor::from_f64([2], vec![1.0, 2.0]).unwrap()),
        TensorType::f64([]),
        &[],
    );
    let y = inner.add_unchecked(
        Op::Binary(adjoint_ir::BinaryOp::Add),
        TensorType::f64([]),
        &[x, bad],
    );
    inner.set_outputs(vec![y]);
    let c0 = Arc::new(CustomOp {
        name: "c0".into(),
        body: inner,
        vjp: None,
        jvp: None,
    });
    let mut c = c0;
    for i in 1..20 {
        let b = GraphBuilder::new(format!("b{i}"));
        let x = b.param("x", TensorType::f64([]));
        let y = b.call(&c, &[x]);
        c = CustomOp::new(format!("c{i}"), b.build(&[y]).unwrap(), None, None).unwrap();
    }
    let g = main_calling(&c);
    let e = eval(&g, &[Tensor::scalar_f64(0.5)]).unwrap_err();
    assert!(e.message.starts_with("@main: %1 = call: call @c19"), "{e}");
    assert!(e.message.contains("more nested calls"), "{e}");
    assert!(
        e.message
            .contains("@b0: %1 = const: the constant has type f64[2]"),
        "{e}"
    );
    assert!(e.message.len() < 1000, "{e}");
}
