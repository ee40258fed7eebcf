//! The indexing and composite helpers of the builder (`at`, `range`,
//! `stack`, `roll`, `diff`, `log1p`, `expm1`, `softplus`, `logsumexp`,
//! `binary_cross_entropy_with_logits`, `var`, `clip`, `where_`): their
//! errors name the op, the type and the offending index or axis; their
//! panicking forms point at the caller's line; a value of another builder
//! is an error naming both builders.

use adjoint_ir::{DType, GraphBuilder, TensorType};
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
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
fn stacking_scalars_gives_a_vector() {
    // Before: `concat` of scalars failed with "axis 0 out of range for
    // rank 0"; stacking needed 1-element vectors.
    let b = GraphBuilder::new("f");
    let s: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| b.param(n, TensorType::f64([])))
        .collect();
    assert_eq!(b.stack(&s, 0).ty(), TensorType::f64([3]));
    let v = b.param("v", TensorType::f32([2, 4]));
    assert_eq!(b.stack(&[v, v, v], 0).ty(), TensorType::f32([3, 2, 4]));
    assert_eq!(b.stack(&[v, v, v], 1).ty(), TensorType::f32([2, 3, 4]));
    assert_eq!(b.stack(&[v, v, v], 2).ty(), TensorType::f32([2, 4, 3]));
    assert_eq!(b.stack(&[v], 0).ty(), TensorType::f32([1, 2, 4]));
}

#[test]
fn errors_name_the_op_the_type_and_the_index() {
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([4, 3]));
    let s = b.param("s", TensorType::f64([]));
    let p = b.param("p", TensorType::bool([4, 3]));
    // (Variables: clippy denies a literal reversed range.)
    let (one, three) = (1, 3);
    let msg = |r: adjoint_ir::Result<adjoint_ir::Value<'_>>| r.unwrap_err().message;
    let cases = [
        (
            msg(x.try_at(4)),
            vec!["at", "index 4", "axis 0", "f64[4,3]"],
        ),
        (msg(x.try_at(-5)), vec!["at", "index -5", "f64[4,3]"]),
        (
            msg(x.try_at([0, 3])),
            vec!["at", "index 3", "axis 1", "f64[4,3]"],
        ),
        (
            msg(x.try_at([0, 0, 0])),
            vec!["at", "[0, 0, 0] are 3", "f64[4,3]", "2 axes"],
        ),
        (msg(s.try_at(0)), vec!["at", "for f64, which has 0 axes"]),
        (
            msg(x.try_range(2, 0..1)),
            vec!["range", "axis 2", "f64[4,3]"],
        ),
        (
            msg(x.try_range(0, 0..5)),
            vec!["range", "bound 5", "axis 0", "f64[4,3]"],
        ),
        (
            msg(x.try_range(0, -6..)),
            vec!["range", "bound -6", "f64[4,3]"],
        ),
        (
            msg(x.try_range(0, 2..2)),
            vec!["range", "empty", "f64[4,3]"],
        ),
        (
            msg(x.try_range(0, three..one)),
            vec!["range", "empty", "f64[4,3]"],
        ),
        (
            msg(x.try_range_step(1, .., 0)),
            vec!["range", "step 0", "f64[4,3]"],
        ),
        (msg(b.try_stack(&[], 0)), vec!["stack", "no values"]),
        (
            msg(b.try_stack(&[x, x.t()], 0)),
            vec!["stack", "value 1", "f64[3,4]", "f64[4,3]"],
        ),
        (
            msg(b.try_stack(&[s, s], 1)),
            vec!["stack", "axis 1", "of f64 (0..=0)"],
        ),
        (msg(x.try_roll(1, 2)), vec!["roll", "axis 2", "f64[4,3]"]),
        (msg(s.try_roll(1, 0)), vec!["roll", "axis 0", "for f64"]),
        (msg(x.try_diff(3)), vec!["diff", "axis 3", "f64[4,3]"]),
        (
            msg(x.range(0, 1..2).try_diff(0)),
            vec!["diff", "extent 1", "f64[1,3]"],
        ),
        (msg(p.try_log1p()), vec!["log1p", "bool[4,3]"]),
        (msg(p.try_expm1()), vec!["expm1", "bool[4,3]"]),
        (msg(p.try_softplus()), vec!["softplus", "bool[4,3]"]),
        (
            msg(x.try_logsumexp(2)),
            vec!["logsumexp", "axis 2", "f64[4,3]"],
        ),
        (
            msg(x.try_logsumexp([1, 1])),
            vec!["logsumexp", "repeated", "f64[4,3]"],
        ),
        (
            msg(x.try_var_axes([0, 5])),
            vec!["var", "axis 5", "f64[4,3]"],
        ),
        (
            msg(x.try_binary_cross_entropy_with_logits(x.t())),
            vec!["binary_cross_entropy_with_logits", "f64[4,3]", "f64[3,4]"],
        ),
        (
            msg(x.try_clip(2.0, 1.0)),
            vec!["clip", "[2, 1]", "f64[4,3]"],
        ),
        (msg(x.try_clip(f64::NAN, 1.0)), vec!["clip", "NaN"]),
        (
            msg(b.try_where_(x, x, x)),
            vec!["where", "f64[4,3]", "not bool"],
        ),
        (
            msg(b.try_where_(p, x, x.t())),
            vec!["select", "f64[4,3]", "f64[3,4]"],
        ),
    ];
    for (m, parts) in cases {
        for part in parts {
            assert!(m.contains(part), "{m:?} lacks {part:?}");
        }
    }
    // The errors added nothing to the builder beyond what a checked
    // operand needed: building still works.
    assert!(b.build(&[x.at(-1).sum()]).is_ok());
}

#[test]
fn values_of_another_builder_are_errors_naming_both() {
    let a = GraphBuilder::new("a");
    let b = GraphBuilder::new("b");
    let xa = a.param("xa", TensorType::f64([3]));
    let xb = b.param("xb", TensorType::f64([3]));
    let pb = b.param("pb", TensorType::bool([3]));
    for e in [
        b.try_stack(&[xb, xa], 0).unwrap_err(),
        b.try_where_(pb, xb, xa).unwrap_err(),
        b.try_where_(pb, xa, xb).unwrap_err(),
        a.try_stack(&[xb, xb], 0).unwrap_err(),
        xb.try_binary_cross_entropy_with_logits(xa).unwrap_err(),
    ] {
        let m = &e.message;
        assert!(m.contains("belongs to another GraphBuilder"), "{m}");
        assert!(m.contains("@a") && m.contains("@b"), "{m}");
    }
}

#[test]
fn panicking_forms_point_at_the_caller() {
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([4, 3]));
    let p = b.param("p", TensorType::new(DType::Bool, vec![4, 3]));
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
    let cases = vec![
        case!(x.at(7)),
        case!(x.range(0, 9..)),
        case!(x.range_step(0, .., 0)),
        case!(b.stack(&[x, x.t()], 0)),
        case!(x.roll(1, 5)),
        case!(x.diff(4)),
        case!(p.log1p()),
        case!(p.expm1()),
        case!(p.softplus()),
        case!(x.logsumexp([0, 4])),
        case!(x.binary_cross_entropy_with_logits(x.t())),
        case!(x.var_axes(9)),
        case!(p.var()),
        case!(x.clip(1.0, 0.0)),
        case!(b.where_(x, x, x)),
    ];
    for (line, f) in cases {
        let (file, got, msg) = panic_site(f);
        assert!(
            file.ends_with("builder_helpers.rs"),
            "{msg}: points at {file}"
        );
        assert_eq!(got, line, "{msg} (at {file}:{got})");
    }
}
