//! Output names stored with the outputs (issue 15): the `Graph` API, the
//! `-> (%name: type, …)` result list of the text format, its round trip
//! and its errors.

use adjoint_ir::{parse_module, print_graph, Graph, TensorType};

fn func(src: &str) -> Graph {
    parse_module(src).unwrap().main_func().unwrap().clone()
}

fn parse_err(src: &str) -> String {
    parse_module(src).unwrap_err().to_string()
}

/// A parameter returned under another name: the signature carries it.
const NAMED: &str = "func @f(%x: f64[2], %w: f64[2]) -> (%s: f64, %w_grad: f64[2]) {
  %0 = mul %x, %w : f64[2]
  %s = reduce_sum %0 axes=[0] : f64
  return %s, %x
}
";

#[test]
fn named_results_round_trip() {
    let g = func(NAMED);
    assert_eq!(g.output_names(), ["s", "w_grad"]);
    assert_eq!(g.output_name(1), Some("w_grad"));
    // `%s` is the value's own name: the printer leaves it out.
    let text = print_graph(&g);
    assert_eq!(
        text.lines().next().unwrap(),
        "func @f(%x: f64[2], %w: f64[2]) -> (f64, %w_grad: f64[2]) {"
    );
    let back = func(&text);
    assert_eq!(back.output_names(), ["s", "w_grad"]);
    assert_eq!(print_graph(&back), text);
}

#[test]
fn one_value_two_outputs_two_names() {
    let src = "func @f(%x: f64) -> (f64, %b: f64, %c: f64) {
  %a = mul %x, %x : f64
  return %a, %a, %a
}
";
    let g = func(src);
    assert_eq!(g.output_names(), ["a", "b", "c"]);
    assert_eq!(print_graph(&g), src);
    // A single named result needs the parentheses.
    let one = "func @f(%x: f64) -> (%y: f64) {\n  return %x\n}\n";
    let g = func(one);
    assert_eq!(g.output_names(), ["y"]);
    assert_eq!(print_graph(&g), one);
}

#[test]
fn old_forms_print_as_before() {
    for src in [
        "func @f(%x: f64) -> f64 {\n  %y = sin %x : f64\n  return %y\n}\n",
        "func @f(%x: f64) -> (f64, f64) {\n  %y = sin %x : f64\n  return %y, %x\n}\n",
        "func @f() -> () {\n  return\n}\n",
    ] {
        let g = func(src);
        assert_eq!(print_graph(&g), src);
        assert!((0..g.outputs().len()).all(|i| g.output_name(i).is_none()));
    }
    // A name equal to the value's own is accepted and not printed.
    let g = func("func @f(%x: f64) -> (%y: f64) {\n  %y = sin %x : f64\n  return %y\n}\n");
    assert_eq!(
        print_graph(&g),
        "func @f(%x: f64) -> f64 {\n  %y = sin %x : f64\n  return %y\n}\n"
    );
}

#[test]
fn unnamed_output_value_prints_under_its_output_name() {
    let mut g = Graph::new("f");
    let x = g.add_param("x", TensorType::f64([])).unwrap();
    let y = g
        .add(adjoint_ir::Op::Unary(adjoint_ir::UnaryOp::Sin), &[x])
        .unwrap();
    g.set_outputs(vec![y]);
    g.set_output_name(0, "x_grad").unwrap();
    let text = print_graph(&g);
    assert_eq!(
        text,
        "func @f(%x: f64) -> f64 {\n  %x_grad = sin %x : f64\n  return %x_grad\n}\n"
    );
    assert_eq!(func(&text).output_names(), ["x_grad"]);
}

#[test]
fn signature_errors_have_line_and_column() {
    let dup = "func @f(%x: f64) -> (%a: f64, %a: f64) {\n  return %x, %x\n}\n";
    let e = parse_err(dup);
    assert!(
        e.contains("1:31") && e.contains("duplicate output name %a"),
        "{e}"
    );
    assert!(e.contains("first at 1:22"), "{e}");

    // The name of another output's value.
    let clash = "func @f(%x: f64) -> (f64, %x: f64) {\n  %y = sin %x : f64\n  return %x, %y\n}\n";
    let e = parse_err(clash);
    assert!(
        e.contains("1:27") && e.contains("%x is already the name of output 0"),
        "{e}"
    );

    let bad = "func @f(%x: f64) -> (%: f64) {\n  return %x\n}\n";
    let e = parse_err(bad);
    assert!(e.contains("1:22") && e.contains("name"), "{e}");

    let missing_colon = "func @f(%x: f64) -> (%y f64) {\n  return %x\n}\n";
    let e = parse_err(missing_colon);
    assert!(e.contains("1:25") && e.contains("`:`"), "{e}");

    let count = "func @f(%x: f64) -> (%a: f64, %b: f64) {\n  return %x\n}\n";
    let e = parse_err(count);
    assert!(
        e.contains("2:3") && e.contains("declares 2 result(s), but `return` gives 1"),
        "{e}"
    );
}

#[test]
fn set_output_name_validates() {
    let mut g = Graph::new("f");
    let x = g.add_param("x", TensorType::f64([])).unwrap();
    let w = g.add_param("w", TensorType::f64([])).unwrap();
    g.set_outputs(vec![x, w]);
    let e = g.set_output_name(0, "w").unwrap_err().to_string();
    assert!(
        e.contains("output 0") && e.contains("%w") && e.contains("output 1"),
        "{e}"
    );
    let e = g.set_output_name(0, "a-b").unwrap_err().to_string();
    assert!(e.contains("`a-b` is not a valid name"), "{e}");
    let e = g.set_output_name(2, "z").unwrap_err().to_string();
    assert!(e.contains("no output 2"), "{e}");
    g.set_output_name(0, "w_grad").unwrap();
    assert_eq!(g.output_names(), ["w_grad", "w"]);
    g.clear_output_name(0);
    assert_eq!(g.output_names(), ["x", "w"]);
}

#[test]
fn set_outputs_keeps_the_names_of_outputs_that_stay() {
    let mut g = Graph::new("f");
    let x = g.add_param("x", TensorType::f64([])).unwrap();
    let w = g.add_param("w", TensorType::f64([])).unwrap();
    let y = g
        .add(adjoint_ir::Op::Unary(adjoint_ir::UnaryOp::Sin), &[x])
        .unwrap();
    g.set_outputs(vec![y, x, w]);
    g.set_output_name(1, "w_grad").unwrap();
    g.set_output_name(2, "x_grad").unwrap();
    // Dropping output 0 moves the others: their names move with them.
    g.set_outputs(vec![x, w]);
    assert_eq!(g.output_names(), ["w_grad", "x_grad"]);
    // Replacing the value at a position drops that position's name.
    g.set_outputs(vec![y, w]);
    assert_eq!(g.output_names(), ["2", "x_grad"]);
    // Appending and replacing uses keep them.
    g.push_output(x);
    assert_eq!(g.output_names(), ["2", "x_grad", "x"]);
    let z = g
        .add(adjoint_ir::Op::Unary(adjoint_ir::UnaryOp::Cos), &[x])
        .unwrap();
    g.set_output_name(0, "y").unwrap();
    g.replace_all_uses(y, z);
    assert_eq!(g.output_names(), ["y", "x_grad", "x"]);
}

#[test]
fn dot_labels_an_output_with_its_own_name() {
    let g = func(NAMED);
    let dot = adjoint_ir::to_dot(&g);
    assert!(dot.contains(r#"label="return 1 %w_grad\nf64[2]""#), "{dot}");
    assert!(dot.contains(r#"label="return 0\nf64""#), "{dot}");
}
