//! Deeply nested custom ops (issue 11, item 7): listing the ops a graph
//! depends on and dropping a chain of them take no stack per level.

use adjoint_ir::{custom_deps, CustomOp, GraphBuilder, TensorType};
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

/// `@name(x) = call @inner x` (or `sin x` without `inner`).
fn wrap(name: &str, inner: Option<&Arc<CustomOp>>) -> adjoint_ir::Graph {
    let b = GraphBuilder::new(format!("{name}_body"));
    let x = b.param("x", TensorType::f64([]));
    let y = match inner {
        Some(c) => b.call(c, &[x]),
        None => x.sin(),
    };
    b.build(&[y]).unwrap()
}

#[test]
fn a_chain_of_8000_custom_ops_is_listed_and_dropped_on_a_2mib_stack() {
    let names = on_small_stack(|| {
        let mut c = CustomOp::new("c0", wrap("c0", None), None, None).unwrap();
        for i in 1..8000 {
            c = CustomOp::new(format!("c{i}"), wrap("c", Some(&c)), None, None).unwrap();
        }
        let main = wrap("main", Some(&c));
        drop(c);
        let deps = custom_deps(&main);
        let first_last = (deps[0].name.clone(), deps[7999].name.clone(), deps.len());
        drop(deps);
        drop(main); // drops all 8000 ops
        first_last
    });
    assert_eq!(names, ("c0".to_string(), "c7999".to_string(), 8000));
}

#[test]
fn custom_deps_lists_callees_first_bodies_then_rules_each_once() {
    // c1 calls c0; c2's body calls c0 and its VJP rule calls c1; main calls
    // c2 and then c1.
    let c0 = CustomOp::new("c0", wrap("c0", None), None, None).unwrap();
    let c1 = CustomOp::new("c1", wrap("c1", Some(&c0)), None, None).unwrap();
    let vjp = {
        let b = GraphBuilder::new("c2_vjp");
        let x = b.param("x", TensorType::f64([]));
        let _y = b.param("y", TensorType::f64([]));
        let ct = b.param("ct", TensorType::f64([]));
        let d = b.call(&c1, &[x]);
        b.build(&[d * ct]).unwrap()
    };
    let c2 = CustomOp::new("c2", wrap("c2", Some(&c0)), Some(vjp), None).unwrap();
    let b = GraphBuilder::new("main");
    let x = b.param("x", TensorType::f64([]));
    let y = b.call(&c2, &[x]);
    let z = b.call(&c1, &[y]);
    let main = b.build(&[z]).unwrap();
    let names: Vec<String> = custom_deps(&main).iter().map(|c| c.name.clone()).collect();
    assert_eq!(names, ["c0", "c1", "c2"]);
}
