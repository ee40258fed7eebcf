//! The `region=N` annotation is a per-graph side table (`Graph::region`),
//! not a node field: it follows its node through clones and text, and
//! leaves with it when the node is removed (node ids are reused).

use adjoint_ir::{parse_module, print_graph, GraphBuilder, TensorType};

#[test]
fn a_removed_node_takes_its_region_with_it() {
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([3]));
    let y = x.exp();
    let z = x.sin();
    let mut g = b.build(&[z]).unwrap();
    g.set_region(y.id(), Some(4));
    g.set_region(z.id(), Some(5));
    g.remove_node(y.id()).unwrap();
    assert_eq!(g.region(y.id()), None);
    // The freed id is reused by the next node, which has no region.
    let w = g
        .add(adjoint_ir::Op::Unary(adjoint_ir::UnaryOp::Cos), &[x.id()])
        .unwrap();
    assert_eq!(w, y.id());
    assert_eq!(g.region(w), None);
    assert_eq!(g.region(z.id()), Some(5));
    // Batch removal drops annotations too.
    g.set_outputs(vec![w]);
    g.remove_nodes(&[z.id()]).unwrap();
    assert_eq!(g.region(z.id()), None);
}

#[test]
fn regions_follow_clones_and_text() {
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([3]));
    let y = x.exp();
    let mut g = b.build(&[y]).unwrap();
    g.set_region(y.id(), Some(2));
    let h = g.clone();
    assert_eq!(h.region(y.id()), Some(2));
    let text = print_graph(&g);
    assert!(text.contains(" region=2 : f64[3]"), "{text}");
    let m = parse_module(&text).unwrap();
    let p = m.func("f").unwrap();
    assert_eq!(print_graph(p), text);
    g.set_region(y.id(), None);
    assert!(!print_graph(&g).contains("region="));
}
