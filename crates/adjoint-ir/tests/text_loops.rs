//! The text form of loops and conditionals: round trips, printing bodies
//! before their users (once, with `_2` for a second body of the same
//! name), a result without a projection, `(T)`, the default function and
//! the DOT clusters.

use adjoint_ir::{
    parse_module, print_graph, print_module, to_dot, verify, BinaryOp, BodyRef, Graph, Module, Op,
    TensorType,
};

const NESTED: &str = "\
func @inc(%x: f64) -> f64 {
  %one = const 1 : f64
  %y = add %x, %one
  return %y
}

func @halve(%x: f64) -> f64 {
  %h = const 0.5 : f64
  %y = mul %x, %h
  return %y
}

func @big(%x: f64) -> bool {
  %ten = const 10 : f64
  %p = gt %x, %ten
  return %p
}

func @shrink(%x: f64) -> f64 {
  %hundred = const 100 : f64
  %p = gt %x, %hundred
  %r = cond %p, %x then=@halve else=@inc
  return %r
}

func @settle(%c: f64, %x: f64) -> (f64, f64) {
  %s = add %c, %x
  %w = while %s cond=@big body=@shrink carry=1 max_trips=50
  return %w, %s
}

func @main(%c0: f64, %xs: f64[3]) -> (f64, f64[3], f64) {
  %c, %ys = scan %c0, %xs body=@settle carry=1 xs=1
  %again = while %c cond=@big body=@inc carry=1 max_trips=2
  return %c, %ys, %again
}
";

fn fixed_point(text: &str) {
    let again = print_module(&parse_module(text).unwrap_or_else(|e| panic!("{e}\n{text}")));
    assert_eq!(again, text);
}

/// The op of the node that produces `name`'s value (a loop for a
/// projection).
fn producer<'g>(g: &'g Graph, name: &str) -> &'g Op {
    let id = g.value_by_name(name).unwrap();
    match g[id].op {
        Op::Project { .. } => &g[g.operands(id)[0]].op,
        _ => &g[id].op,
    }
}

#[test]
fn a_function_serving_several_loops_is_one_shared_body() {
    let m = parse_module(NESTED).unwrap();
    let main = m.func("main").unwrap();
    let shrink = m.func("shrink").unwrap();
    let Op::While { body: inc1, .. } = producer(main, "again") else {
        panic!()
    };
    let Op::Cond { els: inc2, .. } = producer(shrink, "r") else {
        panic!()
    };
    assert_eq!(inc1.name(), "inc");
    assert!(std::sync::Arc::ptr_eq(&inc1.0, &inc2.0));
    // @inc is also a function of the module that may be run by name.
    assert_eq!(m.func("inc").unwrap().params().len(), 1);
}

#[test]
fn printing_one_function_prints_its_bodies_first_once() {
    let m = parse_module(NESTED).unwrap();
    let text = print_graph(m.func("main").unwrap());
    let heads: Vec<&str> = text.lines().filter(|l| l.starts_with("func ")).collect();
    let names: Vec<&str> = heads
        .iter()
        .map(|l| l[6..].split('(').next().unwrap())
        .collect();
    // Each body before its first user: @shrink's branches before it,
    // @shrink and @big before @settle, @settle before @main; each once.
    assert_eq!(names, ["halve", "inc", "shrink", "big", "settle", "main"]);
    fixed_point(&text);
    assert_eq!(
        print_module(&parse_module(NESTED).unwrap()),
        print_module(&parse_module(&print_module(&parse_module(NESTED).unwrap())).unwrap())
    );
}

fn scalar_fn(name: &str, op: BinaryOp) -> Graph {
    let mut g = Graph::new(name);
    let x = g.add_param("x", TensorType::f64([])).unwrap();
    let y = g.add(Op::Binary(op), &[x, x]).unwrap();
    g.set_outputs(vec![y]);
    g
}

#[test]
fn two_different_bodies_of_one_name_print_as_f_and_f_2() {
    let add = BodyRef::new(scalar_fn("f", BinaryOp::Add));
    let mul = BodyRef::new(scalar_fn("f", BinaryOp::Mul));
    let mut g = Graph::new("main");
    let x = g.add_param("x", TensorType::f64([])).unwrap();
    let scan = |body: &BodyRef| Op::Scan {
        body: body.clone(),
        carry: 1,
        xs: 0,
        length: 3,
        reverse: false,
    };
    let a = g.add_multi(scan(&add), &[x]).unwrap();
    let b = g.add_multi(scan(&mul), &a).unwrap();
    let c = g.add_multi(scan(&add), &b).unwrap();
    g.set_outputs(c);
    verify(&g).unwrap();
    let text = print_graph(&g);
    assert!(
        text.starts_with("func @f(%x: f64) -> f64 {\n  %1 = add %x, %x : f64\n"),
        "{text}"
    );
    assert!(
        text.contains("\nfunc @f_2(%x: f64) -> f64 {\n  %1 = mul %x, %x : f64\n"),
        "{text}"
    );
    assert!(
        text.contains(" = scan %x body=@f carry=1 xs=0 length=3 : f64\n"),
        "{text}"
    );
    assert!(
        text.contains(" body=@f_2 carry=1 xs=0 length=3 : f64\n"),
        "{text}"
    );
    assert_eq!(text.matches("func @f(").count(), 1, "{text}");
    fixed_point(&text);
    // The re-parsed module runs the right body in each loop.
    let m = parse_module(&text).unwrap();
    let main = m.func("main").unwrap();
    let bodies: Vec<String> = main
        .node_ids()
        .into_iter()
        .filter_map(|id| match &main[id].op {
            Op::Scan { body, .. } => {
                Some(format!("{}:{:?}", body.name(), body[body.outputs()[0]].op))
            }
            _ => None,
        })
        .collect();
    assert_eq!(bodies.len(), 3);
    assert!(
        bodies.contains(&"f_2:Binary(Mul)".to_string()),
        "{bodies:?}"
    );
}

#[test]
fn a_result_without_a_projection_gets_a_fresh_name() {
    let src = "\
func @step(%c: f64, %x: f64) -> (f64, f64) {
  %n = add %c, %x
  return %n, %n
}

func @main(%c0: f64, %xs: f64[4]) -> f64 {
  %c, %ys = scan %c0, %xs body=@step carry=1 xs=1
  return %c
}
";
    let mut m = parse_module(src).unwrap();
    let Some(g) = m.func_mut("main") else {
        panic!()
    };
    let ys = g.value_by_name("ys").unwrap();
    g.remove_node(ys).unwrap();
    verify(g).unwrap();
    let text = print_module(&m);
    assert!(
        text.contains("  %c, %2_1 = scan %c0, %xs body=@step carry=1 xs=1 : (f64, f64[4])\n"),
        "{text}"
    );
    fixed_point(&text);
}

#[test]
fn one_result_may_be_written_t_or_paren_t() {
    let src = "\
func @sq(%x: f64) -> f64 {
  %y = mul %x, %x
  return %y
}

func @main(%xs: f64[3]) -> (f64[3], f64[3]) {
  %m = scan %xs body=@sq carry=0 xs=1 : (f64[3])
  %e = exp %xs : (f64[3])
  return %m, %e
}
";
    let text = print_module(&parse_module(src).unwrap());
    assert!(
        text.contains("  %m = scan %xs body=@sq carry=0 xs=1 : f64[3]\n"),
        "{text}"
    );
    assert!(text.contains("  %e = exp %xs : f64[3]\n"), "{text}");
    fixed_point(&text);
}

#[test]
fn the_default_function_is_never_a_body_a_branch_or_a_rule() {
    // Before: only custom declarations counted, so @inc (the first
    // function) was the default.
    let m = parse_module(NESTED).unwrap();
    assert_eq!(m.main_func().unwrap().name(), "main");
    // A function named only by a body of a body is not the default either;
    // the first other function is, wherever it stands.
    let src = "\
func @leaf(%x: f64) -> f64 {
  return %x
}

func @mid(%x: f64) -> (f64) {
  %y = scan %x body=@leaf carry=1 xs=0 length=2
  return %y
}

func @cb(%x: f64) -> f64 {
  %y = neg %x
  return %y
}

custom @c = @cb

func @first(%x: f64) -> f64 {
  %y = call @c %x
  return %y
}

func @top(%x: f64) -> f64 {
  %y = scan %x body=@mid carry=1 xs=0 length=3
  return %y
}
";
    let m = parse_module(src).unwrap();
    assert_eq!(m.main_func().unwrap().name(), "first");
    // Only helpers: the first function.
    let only = Module::from_graph(m.func("leaf").unwrap().clone());
    assert_eq!(only.main_func().unwrap().name(), "leaf");
}

#[test]
fn dot_draws_each_body_once_as_a_cluster() {
    let m = parse_module(NESTED).unwrap();
    let dot = to_dot(m.func("main").unwrap());
    // The loop nodes list their results; projections are not drawn.
    assert!(
        dot.contains("  n2 [label=\"%c, %ys = scan body=@settle carry=1 xs=1\\n(f64, f64[3])\"];"),
        "{dot}"
    );
    assert!(
        dot.contains("  n2 -> n5 [label=\"0\"];") || dot.contains("  n2 -> n5;"),
        "{dot}"
    );
    for (k, name) in ["settle", "inc", "big", "shrink", "halve"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            dot.matches(&format!("label=\"@{name}\";")).count(),
            1,
            "@{name} once\n{dot}"
        );
        assert!(dot.contains(&format!("subgraph cluster_{k} {{")), "{dot}");
    }
    assert!(
        dot.contains("  n2 -> b0 [style=dashed, label=\"body\"];"),
        "{dot}"
    );
    // @inc serves the while in @main and the cond in @shrink: one cluster,
    // two edges.
    assert_eq!(dot.matches("-> b1 [style=dashed").count(), 2, "{dot}");
    // Nested bodies' nodes are prefixed by their cluster.
    assert!(dot.contains("b3_n"), "{dot}");
    assert!(dot.ends_with("}\n"));
}

#[test]
fn deeply_nested_bodies_print_and_parse_without_recursion() {
    // @f0 = identity; @f{k} runs @f{k-1} in a one-trip scan. Printing the
    // last one prints every body first, with explicit work lists (on a
    // small stack), and parsing verifies each function once (it was
    // quadratic: every function re-verified all the bodies below it).
    // The graphs are leaked: dropping such a chain is not this test's
    // concern.
    const DEPTH: usize = 2000;
    let ty = TensorType::f64([]);
    let mut g = Graph::new("f0");
    let x = g.add_param("x", ty.clone()).unwrap();
    g.set_outputs(vec![x]);
    for k in 1..=DEPTH {
        let body = BodyRef::new(g);
        g = Graph::new(format!("f{k}"));
        let x = g.add_param("x", ty.clone()).unwrap();
        let op = Op::Scan {
            body,
            carry: 1,
            xs: 0,
            length: 1,
            reverse: false,
        };
        let r = g.add_multi(op, &[x]).unwrap();
        g.set_outputs(r);
    }
    let text = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let text = print_graph(&g);
            std::mem::forget(g);
            text
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(text.matches("func @").count(), DEPTH + 1);
    assert!(text.starts_with("func @f0(%x: f64) -> f64 {\n  return %x\n}\n"));
    let m = parse_module(&text).unwrap();
    assert_eq!(m.main_func().unwrap().name(), format!("f{DEPTH}"));
    std::mem::forget(m);
}
