//! Working memory: the budget of `JitOptions::memory_budget`, checked at
//! compile time (the arena) and before `run` allocates its outputs, and
//! fallible allocation (issue 11, item 10).

mod common;

use adjoint_ir::{ErrorKind, Graph, GraphBuilder, Op, TensorType};
use adjoint_jit::{compile, JitOptions, DEFAULT_MEMORY_BUDGET};
use common::*;

fn budget(bytes: usize) -> JitOptions {
    JitOptions {
        memory_budget: bytes,
        ..JitOptions::default()
    }
}

#[test]
fn the_default_budget_is_documented() {
    assert_eq!(JitOptions::default().memory_budget, DEFAULT_MEMORY_BUDGET);
    assert_eq!(DEFAULT_MEMORY_BUDGET, 8 << 30);
}

/// `%y = broadcast %x` to `f64[2^31]` (16 GiB), which the IR's limits
/// allow.
fn huge_broadcast() -> Graph {
    let b = GraphBuilder::new("huge");
    let x = b.param("x", TensorType::f64([]));
    let y = b.op(
        Op::Broadcast {
            shape: vec![1 << 31].into(),
        },
        &[x],
    );
    b.build(&[y]).unwrap()
}

#[test]
fn an_output_over_the_budget_is_an_error_not_an_abort() {
    let f = compile(&huge_broadcast(), &JitOptions::default()).unwrap();
    let x = tensor(&TensorType::f64([]), &[1.0]);
    let e = f.run(&[x]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Jit);
    for want in ["output 0", "broadcast", "17179869184 bytes", "budget"] {
        assert!(e.message.contains(want), "{want}: {e}");
    }
}

/// A reshape of a padded `neg` of `x: f64[n]`: the `neg` and the pad are
/// intermediates in the arena (`n * 8` and `(n + 2) * 8` bytes, rounded up
/// to 64).
fn with_intermediate(n: usize) -> Graph {
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([n]));
    let p = (-x).pad(&[1], &[1]);
    let y = p.reshape(vec![2, (n + 2) / 2]);
    b.build(&[y]).unwrap()
}

#[test]
fn an_arena_over_the_budget_is_a_compile_error() {
    let g = with_intermediate(1000);
    let f = compile(&g, &JitOptions::default()).unwrap();
    let need = f.arena_bytes();
    assert!(need >= 1002 * 8, "{need}");
    // Exactly enough is fine, one byte less is not.
    let f = compile(&g, &budget(need)).unwrap();
    let x = tensor(&TensorType::f64([1000]), &data(1000, 1, -1.0, 1.0));
    let want = adjoint_interp::eval(&g, std::slice::from_ref(&x)).unwrap();
    assert_same("within budget", &f.run(&[x]).unwrap()[0], &want[0]);
    let e = compile(&g, &budget(need - 1)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Jit);
    for want in ["budget", "bytes", &need.to_string()] {
        assert!(e.message.contains(want), "{want}: {e}");
    }
    // The op whose buffer does not fit is named.
    assert!(
        e.message.contains("= pad") || e.message.contains("= neg"),
        "{e}"
    );
}

#[test]
fn outputs_count_against_the_budget_in_run_only() {
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([1024]));
    let y = x * x;
    let g = b.build(&[y]).unwrap();
    let f = compile(&g, &budget(4096)).unwrap();
    let xs = data(1024, 3, -2.0, 2.0);
    let e = f.run(&[tensor(&TensorType::f64([1024]), &xs)]).unwrap_err();
    assert!(
        e.message.contains("output 0") && e.message.contains("8192 bytes"),
        "{e}"
    );
    // The caller's own buffers need no allocation.
    let mut out = vec![0.0; 1024];
    f.call_f64(&[&xs], &mut [&mut out]).unwrap();
    assert_eq!(out[5], xs[5] * xs[5]);
}

#[test]
fn large_arenas_never_go_on_the_stack() {
    // A 4 MB arena with `stack_arena_max` unbounded: a stack slot that
    // large overflowed the 2 MiB stack of a test thread (and a slot's size
    // is 32-bit); at most 1 MiB goes on the stack.
    let n = 250_000;
    let g = with_intermediate(n);
    let opts = JitOptions {
        stack_arena_max: usize::MAX,
        ..JitOptions::default()
    };
    let f = compile(&g, &opts).unwrap();
    assert!(f.arena_bytes() > 4_000_000, "{}", f.arena_bytes());
    let x = tensor(&TensorType::f64([n]), &data(n, 5, -1.0, 1.0));
    let want = adjoint_interp::eval(&g, std::slice::from_ref(&x)).unwrap();
    assert_same("large arena", &f.run(&[x]).unwrap()[0], &want[0]);
}
