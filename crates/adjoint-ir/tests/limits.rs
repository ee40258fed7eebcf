//! The limits of docs/ir.md §12 hold for every graph, however it is made:
//! type inference rejects an op whose attributes or result type are past
//! them (before anything is allocated), the verifier rejects any node past
//! them, and element counts never wrap.

use adjoint_ir::{
    infer_type, parse_module, print_graph, verify, Graph, Op, Shape, Tensor, TensorType, UnaryOp,
};

#[test]
fn numel_never_wraps() {
    // 2^32 * 2^32 wrapped to 0 before, so a buffer check against it passed
    // for an empty buffer.
    let s = Shape::new([1usize << 32, 1 << 32]);
    assert_eq!(s.checked_numel(), None);
    assert_eq!(s.numel(), usize::MAX);
    assert_ne!(s.numel(), 0);
    assert_eq!(TensorType::f64(s.clone()).size_bytes(), usize::MAX);
    assert_eq!(s.strides(), vec![1 << 32, 1]);
    let s = Shape::new([3usize, usize::MAX, 3]);
    assert_eq!(s.checked_numel(), None);
    assert_eq!(s.strides()[0], usize::MAX);
    // A zero axis makes any shape empty.
    assert_eq!(Shape::new([usize::MAX, usize::MAX, 0]).numel(), 0);
    // A tensor cannot claim such a shape.
    assert!(Tensor::from_f64(Shape::new([1usize << 32, 1 << 32]), vec![]).is_err());
    assert_eq!(Shape::new([2, 3, 4]).numel(), 24);
    assert_eq!(Shape::scalar().numel(), 1);
}

#[test]
fn an_oversized_result_type_is_a_type_error_at_add() {
    let mut g = Graph::new("f");
    let x = g.add_param("x", TensorType::f64([65536, 1])).unwrap();
    let e = g
        .add(
            Op::Broadcast {
                shape: Shape::new([65536, 65536]),
            },
            &[x],
        )
        .unwrap_err();
    assert!(e.message.starts_with("broadcast: "), "{e}");
    assert!(
        e.message.contains("[65536,65536]") && e.message.contains("2^31"),
        "{e}"
    );
    // Matmul, concat and pad results are checked the same way.
    let a = g.add_param("a", TensorType::f64([65536, 1])).unwrap();
    let b = g.add_param("b", TensorType::f64([1, 65536])).unwrap();
    let e = g.add(Op::MatMul, &[a, b]).unwrap_err();
    assert!(
        e.message
            .contains("result type f64[65536,65536] is too large"),
        "{e}"
    );
    let v = g.add_param("v", TensorType::f64([1 << 30])).unwrap();
    let e = g.add(Op::Concat { axis: 0 }, &[v, v, v]).unwrap_err();
    assert!(e.message.contains("too large"), "{e}");
}

#[test]
fn attribute_arithmetic_never_overflows() {
    let mut g = Graph::new("f");
    let x = g.add_param("x", TensorType::f64([3])).unwrap();
    // lo + dim + hi overflowed (a panic in debug builds, a wrong shape in
    // release builds).
    let e = g
        .add(
            Op::Pad {
                lo: vec![usize::MAX],
                hi: vec![2],
            },
            &[x],
        )
        .unwrap_err();
    assert!(e.message.starts_with("pad: "), "{e}");
    // Attribute integers are at most 2^31, as in the text format.
    let e = g
        .add(
            Op::Slice {
                start: vec![0],
                end: vec![3],
                stride: vec![1 << 40],
            },
            &[x],
        )
        .unwrap_err();
    assert!(
        e.message
            .contains("attribute value 1099511627776 is too large"),
        "{e}"
    );
    // A reshape to a shape whose count wraps is no match for any operand.
    let e = infer_type(
        &Op::Reshape {
            shape: Shape::new([1usize << 32, 1 << 32]),
        },
        &[&TensorType::f64([0])],
    )
    .unwrap_err();
    assert!(e.message.starts_with("reshape: "), "{e}");
}

#[test]
fn the_verifier_enforces_every_limit() {
    // A node whose recorded type is past the limit (as a pass using
    // `add_unchecked` could make).
    let mut g = Graph::new("f");
    let x = g.add_param("x", TensorType::f64([65536])).unwrap();
    let big = g.add_unchecked(
        Op::Unary(UnaryOp::Exp),
        TensorType::f64([65536, 65536]),
        &[x],
    );
    g.set_outputs(vec![big]);
    let e = verify(&g).unwrap_err();
    assert!(
        e.message.contains("exp") && e.message.contains("2^31"),
        "{e}"
    );

    // An oversized parameter.
    let mut g = Graph::new("f");
    let p = g.add_param("p", TensorType::f32([65536, 65536])).unwrap();
    g.set_outputs(vec![p]);
    let e = verify(&g).unwrap_err();
    assert!(
        e.message.contains("%p") && e.message.contains("f32[65536,65536]"),
        "{e}"
    );

    // A constant of more than 2^24 elements (2^24 + 1 bools: 16 MB).
    let mut g = Graph::new("f");
    let c = g.constant(Tensor::zeros(&TensorType::bool([(1 << 24) + 1])));
    g.set_outputs(vec![c]);
    let e = verify(&g).unwrap_err();
    assert!(
        e.message.contains("const") && e.message.contains("2^24"),
        "{e}"
    );
    // Exactly 2^24 is fine, prints, and parses back.
    let mut g = Graph::new("f");
    let c = g.constant(Tensor::zeros(&TensorType::bool([1 << 24])));
    g.set_outputs(vec![c]);
    verify(&g).unwrap();
    let text = print_graph(&g);
    assert_eq!(
        print_graph(parse_module(&text).unwrap().func("f").unwrap()),
        text
    );
}
