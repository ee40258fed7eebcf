//! A `Value` belongs to the `GraphBuilder` that made it: using it in another
//! builder is an error that says so (never a different graph, never a
//! misleading "operand does not exist"), and the panicking forms point at
//! the caller's line.

use adjoint_ir::{DType, GraphBuilder, Op, TensorType, UnaryOp};
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// The file and line of the last panic on this thread.
    static LAST_PANIC: RefCell<Option<(String, u32, String)>> = const { RefCell::new(None) };
}

/// Runs `f`, which must panic, and returns the panic's file, line and
/// message.
fn panic_site(f: impl FnOnce()) -> (String, u32, String) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let loc = info.location().expect("panics have a location");
            let msg = info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            LAST_PANIC.with(|p| *p.borrow_mut() = Some((loc.file().to_string(), loc.line(), msg)));
        }));
    });
    LAST_PANIC.with(|p| *p.borrow_mut() = None);
    assert!(
        catch_unwind(AssertUnwindSafe(f)).is_err(),
        "expected a panic"
    );
    LAST_PANIC
        .with(|p| p.borrow_mut().take())
        .expect("the hook saw the panic")
}

#[test]
fn mixing_builders_in_an_operator_panics_at_the_callers_line() {
    let a = GraphBuilder::new("a");
    let b = GraphBuilder::new("b");
    let xa = a.param("xa", TensorType::f64([]));
    let xb = b.param("xb", TensorType::f64([]));
    // Before the fix this silently built `mul %xb, %xb` in @b.
    let line = line!() + 2;
    let (file, got_line, msg) = panic_site(|| {
        let _ = xb * xa;
    });
    assert!(
        file.ends_with("builder_misuse.rs"),
        "panic points at {file}"
    );
    assert_eq!(got_line, line);
    assert!(msg.contains("mul: operand 1"), "{msg}");
    assert!(msg.contains("belongs to another GraphBuilder"), "{msg}");
    assert!(
        msg.contains("@a") && msg.contains("@b") && msg.contains("%xa"),
        "{msg}"
    );
    // Nothing was added to @b.
    assert_eq!(b.graph().len(), 1);
}

#[test]
fn every_panicking_form_points_at_the_caller() {
    let a = GraphBuilder::new("a");
    let x = a.param("x", TensorType::f64([3]));
    let w = a.param("w", TensorType::f64([2]));
    // `case!(e)` pairs the line it is written on with a closure that
    // evaluates `e`.
    macro_rules! case {
        ($e:expr) => {
            (
                line!(),
                Box::new(|| {
                    let _ = $e;
                }) as Box<dyn FnOnce()>,
            )
        };
    }
    let exp = Op::Unary(UnaryOp::Exp);
    let cases = vec![
        case!(x + w),
        case!(x - 1.0 + w),
        case!(2.0 / x * w),
        case!(-x.matmul(w)),
        case!(x.reshape([4])),
        case!(x.sum_axes(&[1])),
        case!(x.mean_axes(&[2])),
        case!(x.softmax(1)),
        case!(x.dot(x.reshape([3, 1]))),
        case!(a.param("x", TensorType::f64([]))),
        case!(a.concat(&[x, x.reshape([1, 3])], 0)),
        case!(a.op(exp.clone(), &[x, x])),
        case!(x.powf(2.0).pad(&[1], &[])),
        // Loops and conditionals (builder_loops.rs).
        case!(a.scan(&[x], &[w], |_, c, _| (vec![c[0], c[0]], vec![]))),
        case!(a.while_loop(&[x], |_, c| c[0], |_, c| vec![c[0]])),
        case!(a.while_loop_bounded(2, &[x], |_, c| c[0], |_, c| vec![c[0]])),
        case!(a.cond(x.sum().gt(w.sum()), &[x], |_, a| vec![a[0]], |_, _| vec![w])),
        case!(a.fori_loop(2, &[x], |_, i, _| vec![i])),
        case!(a.iota([2], 1, DType::F64)),
        case!(x.not()),
        case!(!x.and(w)),
        case!(a.import(GraphBuilder::new("u").param("u", TensorType::f64([])))),
    ];
    for (line, f) in cases {
        let (file, got, msg) = panic_site(f);
        assert!(
            file.ends_with("builder_misuse.rs"),
            "{msg}: points at {file}"
        );
        assert_eq!(got, line, "{msg} (at {file}:{got})");
    }
}

#[test]
fn checked_forms_return_the_error() {
    let a = GraphBuilder::new("a");
    let b = GraphBuilder::new("b");
    let xa = a.param("xa", TensorType::f64([]));
    let xb = b.param("xb", TensorType::f64([]));
    let e = xb.try_mul(xa).unwrap_err();
    assert!(e.message.contains("belongs to another GraphBuilder"), "{e}");
    let e = b.try_op(Op::Unary(UnaryOp::Sin), &[xa]).unwrap_err();
    assert!(e.message.starts_with("sin: operand 0"), "{e}");
    assert!(e.message.contains("belongs to another GraphBuilder"), "{e}");
    let e = b.try_name(xa, "renamed").unwrap_err();
    assert!(e.message.contains("belongs to another GraphBuilder"), "{e}");
    // `select` checks every operand, not just the receiver's builder.
    let c = b.param("c", TensorType::bool([]));
    let e = c.try_select(xb, xa).unwrap_err();
    assert!(e.message.contains("select: operand 2"), "{e}");
}

#[test]
fn a_foreign_value_is_never_mistaken_for_a_node_of_this_builder() {
    // @big has more nodes than @small, so a value of @big has an id that
    // does not exist in @small ("operand %3 does not exist" before), and a
    // value of @small has an id that names another node of @big (a
    // different graph before).
    let big = GraphBuilder::new("big");
    let small = GraphBuilder::new("small");
    let p = big.param("p", TensorType::f64([]));
    let q = big.param("q", TensorType::f64([]));
    let far = (p * q).sin();
    let s = small.param("s", TensorType::f64([]));
    let e = s.try_add(far).unwrap_err();
    assert!(e.message.contains("belongs to another GraphBuilder"), "{e}");
    let e = p.try_add(s).unwrap_err();
    assert!(e.message.contains("add: operand 1 (%s: f64)"), "{e}");
    assert!(
        e.message.contains("(of @small), not to this one (of @big)"),
        "{e}"
    );
}

#[test]
fn build_rejects_outputs_of_another_builder() {
    let a = GraphBuilder::new("a");
    let b = GraphBuilder::new("b");
    let xa = a.param("xa", TensorType::f64([]));
    let ya = xa.exp().exp();
    let xb = b.param("xb", TensorType::f64([]));
    // Before the fix: "output 1 refers to a removed node", or, with
    // matching ids, a graph returning the wrong value.
    let e = b.build(&[xb, ya]).unwrap_err();
    assert!(e.message.starts_with("output 1 "), "{e}");
    assert!(e.message.contains("belongs to another GraphBuilder"), "{e}");
    let e = b.build(&[xa]).unwrap_err();
    assert!(e.message.starts_with("output 0 "), "{e}");
    // The builder's own values still build.
    let g = b.build(&[xb.sin()]).unwrap();
    assert_eq!(g.outputs().len(), 1);
}

#[test]
fn an_oversized_parameter_is_an_error() {
    let a = GraphBuilder::new("a");
    let e = a
        .try_param("x", TensorType::f64([65536, 65536]))
        .unwrap_err();
    assert!(
        e.message.contains("f64[65536,65536]") && e.message.contains("2^31"),
        "{e}"
    );
}

#[test]
fn an_oversized_constant_is_an_error_before_it_is_allocated() {
    let a = GraphBuilder::new("a");
    // 2^32 elements: `full` allocated 32 GB (and aborted) before.
    let e = a
        .try_full(&TensorType::f64([65536, 65536]), 0.0)
        .unwrap_err();
    assert!(e.message.starts_with("const: "), "{e}");
    assert!(e.message.contains("f64[65536,65536]"), "{e}");
    let e = a.try_full(&TensorType::f32([1 << 25]), 0.0).unwrap_err();
    assert!(e.message.contains("more than the limit of 2^24"), "{e}");
    let line = line!() + 2;
    let (file, got, msg) = panic_site(|| {
        let _ = a.full(&TensorType::f64([1 << 31, 4]), 1.0);
    });
    assert!(
        file.ends_with("builder_misuse.rs") && got == line,
        "{msg} at {file}:{got}"
    );
    // A constant made elsewhere: `try_constant` says so now, `build` later.
    let big = adjoint_ir::Tensor::zeros(&TensorType::bool([(1 << 24) + 1]));
    let e = a.try_constant(big.clone()).unwrap_err();
    assert!(e.message.contains("2^24"), "{e}");
    let c = a.constant(big);
    let e = a.build(&[c]).unwrap_err();
    assert!(e.message.contains("2^24"), "{e}");
    let ok = a.try_full(&TensorType::f64([2, 3]), 1.5).unwrap();
    assert_eq!(ok.ty(), TensorType::f64([2, 3]));
}
