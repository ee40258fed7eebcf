//! The text IR: the examples of the specification, and golden printer
//! output for small graphs (constants, every attribute, regions, custom ops,
//! several functions, name clashes).

use adjoint_ir::{
    parse_module, print_graph, print_module, verify, BinaryOp, CompareOp, CustomOp, DType, Graph,
    GraphBuilder, Item, Module, NodeId, Op, Shape, Tensor, TensorType, UnaryOp,
};
use std::sync::Arc;

const SPEC: &str = r#"
# f(x1, x2) = x1*x2 + sin(x1)
func @f(%x1: f64, %x2: f64) -> f64 {
  %a = mul %x1, %x2
  %b = sin %x1
  %y = add %a, %b
  return %y
}

func @layer(%x: f32[128,784], %w: f32[784,256], %b: f32[256]) -> (f32, f32[128,256]) {
  %h = matmul %x, %w
  %z = add %h, %b            # numpy broadcasting: a broadcast node is inserted
  %t = tanh %z : f32[128,256]
  %s = reduce_sum %t axes=[0,1]
  return %s, %t
}
"#;

/// Parses, checks that printing is a fixed point, and returns the module.
fn roundtrip(src: &str) -> (Module, String) {
    let m = parse_module(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    let text = print_module(&m);
    let m2 = parse_module(&text).unwrap_or_else(|e| panic!("reparse: {e}\n{text}"));
    assert_eq!(print_module(&m2), text, "printing is not a fixed point");
    (m, text)
}

fn by_name(g: &Graph, name: &str) -> NodeId {
    g.value_by_name(name)
        .unwrap_or_else(|| panic!("no value %{name}"))
}

#[test]
fn spec_example_f_parses_to_the_expected_graph() {
    let m = parse_module(SPEC).unwrap();
    assert_eq!(m.items.len(), 2);
    let g = m.func("f").unwrap();
    verify(g).unwrap();
    assert_eq!(g.param_names(), vec!["x1", "x2"]);
    let (x1, x2) = (by_name(g, "x1"), by_name(g, "x2"));
    let (a, b, y) = (by_name(g, "a"), by_name(g, "b"), by_name(g, "y"));
    assert_eq!(g[a].op, Op::Binary(BinaryOp::Mul));
    assert_eq!(g.operands(a), vec![x1, x2]);
    assert_eq!(g[b].op, Op::Unary(UnaryOp::Sin));
    assert_eq!(g.operands(b), vec![x1]);
    assert_eq!(g[y].op, Op::Binary(BinaryOp::Add));
    assert_eq!(g.operands(y), vec![a, b]);
    assert_eq!(g.outputs(), &[y]);
    assert_eq!(g.len(), 5);
    for id in [x1, x2, a, b, y] {
        assert_eq!(g.ty(id), &TensorType::f64([]));
    }
}

#[test]
fn spec_example_layer_gets_a_broadcast_node() {
    let m = parse_module(SPEC).unwrap();
    let g = m.func("layer").unwrap();
    let (h, z, t, s) = (
        by_name(g, "h"),
        by_name(g, "z"),
        by_name(g, "t"),
        by_name(g, "s"),
    );
    let bias = by_name(g, "b");
    assert_eq!(g.ty(h), &TensorType::f32([128, 256]));
    let ops = g.operands(z);
    assert_eq!(ops.len(), 2);
    assert_eq!(ops[0], h);
    let bc = ops[1];
    assert_eq!(
        g[bc].op,
        Op::Broadcast {
            shape: Shape::new([128, 256])
        }
    );
    assert_eq!(g[bc].name, None, "the inserted broadcast is unnamed");
    assert_eq!(g.operands(bc), vec![bias]);
    assert_eq!(g.ty(bc), &TensorType::f32([128, 256]));
    assert_eq!(g[t].op, Op::Unary(UnaryOp::Tanh));
    assert_eq!(g[s].op, Op::ReduceSum { axes: vec![0, 1] });
    assert_eq!(g.ty(s), &TensorType::f32([]));
    assert_eq!(g.outputs(), &[s, t]);
    assert_eq!(
        g.output_types(),
        vec![TensorType::f32([]), TensorType::f32([128, 256])]
    );
    let broadcasts = g
        .node_ids()
        .into_iter()
        .filter(|&n| matches!(g[n].op, Op::Broadcast { .. }))
        .count();
    assert_eq!(broadcasts, 1);
}

#[test]
fn spec_examples_print_canonically() {
    let (_, text) = roundtrip(SPEC);
    assert_eq!(
        text,
        "\
func @f(%x1: f64, %x2: f64) -> f64 {
  %a = mul %x1, %x2 : f64
  %b = sin %x1 : f64
  %y = add %a, %b : f64
  return %y
}

func @layer(%x: f32[128,784], %w: f32[784,256], %b: f32[256]) -> (f32, f32[128,256]) {
  %h = matmul %x, %w : f32[128,256]
  %4 = broadcast %b shape=[128,256] : f32[128,256]
  %z = add %h, %4 : f32[128,256]
  %t = tanh %z : f32[128,256]
  %s = reduce_sum %t axes=[0,1] : f32
  return %s, %t
}
"
    );
}

#[test]
fn constants_print_golden() {
    let mut g = Graph::new("consts");
    let tensors = [
        Tensor::scalar_f64(2.5),
        Tensor::full(&TensorType::f64([3]), 0.0),
        Tensor::from_f64([2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap(),
        Tensor::scalar_f32(0.1),
        Tensor::from_f64([4], vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0]).unwrap(),
        Tensor::from_bool([2, 2], vec![true, false, false, true]).unwrap(),
        Tensor::from_bool([3], vec![true; 3]).unwrap(),
        Tensor::from_f64([2], vec![1e300, -2.5e-8]).unwrap(),
        Tensor::from_f32([2], vec![1.0 / 3.0, 16777216.0]).unwrap(),
        Tensor::from_f64([0, 3], vec![]).unwrap(),
        Tensor::full(&TensorType::f32([2, 1]), f64::NEG_INFINITY),
        Tensor::from_f64([1], vec![-7.0]).unwrap(),
    ];
    let ids: Vec<NodeId> = tensors.iter().map(|t| g.constant(t.clone())).collect();
    g.set_outputs(ids.clone());
    verify(&g).unwrap();
    let text = print_graph(&g);
    assert_eq!(
        text,
        "\
func @consts() -> (f64, f64[3], f64[2,2], f32, f64[4], bool[2,2], bool[3], f64[2], f32[2], f64[0,3], f32[2,1], f64[1]) {
  %0 = const 2.5 : f64
  %1 = const 0 : f64[3]
  %2 = const [[1,2],[3,4]] : f64[2,2]
  %3 = const 0.1 : f32
  %4 = const [nan,inf,-inf,-0] : f64[4]
  %5 = const [[true,false],[false,true]] : bool[2,2]
  %6 = const true : bool[3]
  %7 = const [1e300,-2.5e-8] : f64[2]
  %8 = const [0.33333334,16777216] : f32[2]
  %9 = const [] : f64[0,3]
  %10 = const -inf : f32[2,1]
  %11 = const -7 : f64[1]
  return %0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11
}
"
    );
    // The constants come back bit for bit (NaN, -0 and the f32 0.1
    // included).
    let m = parse_module(&text).unwrap();
    let h = m.func("consts").unwrap();
    for (k, &o) in h.outputs().iter().enumerate() {
        match &h[o].op {
            Op::Const(t) => assert_eq!(t, &tensors[k], "constant {k}"),
            other => panic!("output {k} is {other:?}"),
        }
    }
    assert_eq!(print_graph(h), text);
}

#[test]
fn constant_literal_forms_parse() {
    let src = "\
func @c() -> (f64[2,3], f32, f64[3], f64, f32[2], bool) {
  %a = const [ [ 1 , -2.5, 1e-3 ],
               [ 4E2, -0, 3. ] ] : f64[2,3]   # whitespace and newlines in lists
  %b = const 0.1 : f32
  %c = const -inf : f64[3]
  %d = const 12345678901234567890 : f64
  %e = const [nan, -1e-40] : f32[2]
  %f = const false : bool
  return %a, %b, %c, %d, %e, %f
}
";
    let m = parse_module(src).unwrap();
    let g = m.func("c").unwrap();
    let consts: Vec<Tensor> = g
        .outputs()
        .iter()
        .map(|&o| match &g[o].op {
            Op::Const(t) => t.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        consts[0].as_f64().unwrap(),
        &[1.0, -2.5, 1e-3, 400.0, -0.0, 3.0]
    );
    assert!(consts[0].as_f64().unwrap()[4].is_sign_negative());
    assert_eq!(consts[1].as_f32().unwrap()[0].to_bits(), 0.1f32.to_bits());
    assert_eq!(consts[2].as_f64().unwrap(), &[f64::NEG_INFINITY; 3]);
    assert_eq!(consts[3].as_f64().unwrap(), &[12345678901234567890.0]);
    let e = consts[4].as_f32().unwrap();
    assert!(e[0].is_nan());
    assert_eq!(e[1].to_bits(), (-1e-40f32).to_bits());
    assert_eq!(consts[5].as_bool().unwrap(), &[false]);
    let (_, text) = roundtrip(src);
    assert!(
        text.contains("%a = const [[1,-2.5,0.001],[400,-0,3]] : f64[2,3]"),
        "{text}"
    );
    assert!(text.contains("%e = const [nan,-1e-40] : f32[2]"), "{text}");
    assert!(
        text.contains("%d = const 1.2345678901234567e19 : f64"),
        "{text}"
    );
}

#[test]
fn every_attribute_prints_golden() {
    let mut g = Graph::new("attrs");
    let x = g.add_param("x", TensorType::f64([2, 3])).unwrap();
    let v = g.add_param("v", TensorType::f64([3])).unwrap();
    let add = |g: &mut Graph, op: Op, xs: &[NodeId]| g.add(op, xs).unwrap();
    let bc = add(
        &mut g,
        Op::Broadcast {
            shape: Shape::new([4, 2, 3]),
        },
        &[x],
    );
    let rs = add(
        &mut g,
        Op::Reshape {
            shape: Shape::new([3, 2]),
        },
        &[x],
    );
    let tr = add(&mut g, Op::Transpose { perm: vec![1, 0] }, &[x]);
    let sl = add(
        &mut g,
        Op::Slice {
            start: vec![0, 1],
            end: vec![2, 3],
            stride: vec![1, 1],
        },
        &[x],
    );
    let ss = add(
        &mut g,
        Op::Slice {
            start: vec![0, 0],
            end: vec![2, 3],
            stride: vec![2, 2],
        },
        &[x],
    );
    let pd = add(
        &mut g,
        Op::Pad {
            lo: vec![0, 1],
            hi: vec![1, 0],
        },
        &[x],
    );
    let cc = add(&mut g, Op::Concat { axis: 0 }, &[x, x, x]);
    let rsum = add(&mut g, Op::ReduceSum { axes: vec![2, 0] }, &[bc]);
    let rmax = add(&mut g, Op::ReduceMax { axes: vec![1] }, &[x]);
    let cast = add(&mut g, Op::Cast { to: DType::F32 }, &[v]);
    let mm = add(&mut g, Op::MatMul, &[x, v]);
    g.set_region(mm, Some(7));
    let lt = add(&mut g, Op::Compare(CompareOp::Lt), &[rmax, mm]);
    let sel = add(&mut g, Op::Select, &[lt, rmax, mm]);
    g.set_region(sel, Some(0));
    g.set_outputs(vec![rsum, cast, pd, cc, sel, ss, sl, tr, rs]);
    verify(&g).unwrap();
    let text = print_graph(&g);
    assert_eq!(
        text,
        "\
func @attrs(%x: f64[2,3], %v: f64[3]) -> (f64[2], f32[3], f64[3,4], f64[6,3], f64[2], f64[1,2], f64[2,2], f64[3,2], f64[3,2]) {
  %2 = broadcast %x shape=[4,2,3] : f64[4,2,3]
  %3 = reshape %x shape=[3,2] : f64[3,2]
  %4 = transpose %x perm=[1,0] : f64[3,2]
  %5 = slice %x start=[0,1] end=[2,3] : f64[2,2]
  %6 = slice %x start=[0,0] end=[2,3] stride=[2,2] : f64[1,2]
  %7 = pad %x lo=[0,1] hi=[1,0] : f64[3,4]
  %8 = concat %x, %x, %x axis=0 : f64[6,3]
  %9 = reduce_sum %2 axes=[2,0] : f64[2]
  %10 = reduce_max %x axes=[1] : f64[2]
  %11 = cast %v to=f32 : f32[3]
  %12 = matmul %x, %v region=7 : f64[2]
  %13 = lt %10, %12 : bool[2]
  %14 = select %13, %10, %12 region=0 : f64[2]
  return %9, %11, %7, %8, %14, %6, %5, %4, %3
}
"
    );
    let (m, again) = roundtrip(&text);
    assert_eq!(again, text);
    let h = m.func("attrs").unwrap();
    assert_eq!(h.region(by_name(h, "12")), Some(7));
    assert_eq!(h.region(by_name(h, "14")), Some(0));
    assert_eq!(h.region(by_name(h, "13")), None);
    assert_eq!(
        h[by_name(h, "5")].op,
        Op::Slice {
            start: vec![0, 1],
            end: vec![2, 3],
            stride: vec![1, 1]
        },
        "an omitted stride is all ones"
    );
}

#[test]
fn attributes_accept_whitespace_and_any_order() {
    let src = "\
func @g(%x: f64[4,6]) -> f64[2,2] {
  %s = slice %x stride=[ 2 , 3 ] end=[4, 6] start=[ 0,0 ] region = 3
  return %s
}
";
    let (m, text) = roundtrip(src);
    let g = m.func("g").unwrap();
    let s = by_name(g, "s");
    assert_eq!(
        g[s].op,
        Op::Slice {
            start: vec![0, 0],
            end: vec![4, 6],
            stride: vec![2, 3]
        }
    );
    assert_eq!(g.region(s), Some(3));
    assert!(text.contains("%s = slice %x start=[0,0] end=[4,6] stride=[2,3] region=3 : f64[2,2]"));
}

fn sigmoid_op() -> Arc<CustomOp> {
    let b = GraphBuilder::new("sig_body");
    let x = b.param("x", TensorType::f64([3]));
    let one = x.lit(1.0);
    let body = b.build(&[one / (one + (-x).exp())]).unwrap();
    let b = GraphBuilder::new("sig_vjp");
    let _x = b.param("x", TensorType::f64([3]));
    let y = b.param("y", TensorType::f64([3]));
    let ct = b.param("ct", TensorType::f64([3]));
    let vjp = b.build(&[ct * y * (y.lit(1.0) - y)]).unwrap();
    let b = GraphBuilder::new("sig_jvp");
    let _x = b.param("x", TensorType::f64([3]));
    let y = b.param("y", TensorType::f64([3]));
    let t = b.param("t", TensorType::f64([3]));
    let jvp = b.build(&[t * y * (y.lit(1.0) - y)]).unwrap();
    CustomOp::new("sigmoid_c", body, Some(vjp), Some(jvp)).unwrap()
}

#[test]
fn custom_ops_print_with_their_functions_once() {
    let sig = sigmoid_op();
    let b = GraphBuilder::new("main");
    let a = b.param("a", TensorType::f64([3]));
    let s1 = b.call(&sig, &[a]);
    let s2 = b.call(&sig, &[s1]);
    let g = b.build(&[s2]).unwrap();
    let text = print_graph(&g);
    assert_eq!(
        text,
        "\
func @sig_body(%x: f64[3]) -> f64[3] {
  %1 = const 1 : f64
  %2 = neg %x : f64[3]
  %3 = exp %2 : f64[3]
  %4 = broadcast %1 shape=[3] : f64[3]
  %5 = add %4, %3 : f64[3]
  %6 = broadcast %1 shape=[3] : f64[3]
  %7 = div %6, %5 : f64[3]
  return %7
}

func @sig_vjp(%x: f64[3], %y: f64[3], %ct: f64[3]) -> f64[3] {
  %3 = mul %ct, %y : f64[3]
  %4 = const 1 : f64
  %5 = broadcast %4 shape=[3] : f64[3]
  %6 = sub %5, %y : f64[3]
  %7 = mul %3, %6 : f64[3]
  return %7
}

func @sig_jvp(%x: f64[3], %y: f64[3], %t: f64[3]) -> f64[3] {
  %3 = mul %t, %y : f64[3]
  %4 = const 1 : f64
  %5 = broadcast %4 shape=[3] : f64[3]
  %6 = sub %5, %y : f64[3]
  %7 = mul %3, %6 : f64[3]
  return %7
}

custom @sigmoid_c = @sig_body vjp=@sig_vjp jvp=@sig_jvp

func @main(%a: f64[3]) -> f64[3] {
  %1 = call @sigmoid_c %a : f64[3]
  %2 = call @sigmoid_c %1 : f64[3]
  return %2
}
"
    );
    let (m, again) = roundtrip(&text);
    assert_eq!(again, text);
    // The module holds the items in order, and the calls share the
    // declared op.
    let kinds: Vec<String> = m
        .items
        .iter()
        .map(|i| match i {
            Item::Func(g) => format!("func {}", g.name()),
            Item::Custom(c) => format!("custom {}", c.name),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "func sig_body",
            "func sig_vjp",
            "func sig_jvp",
            "custom sigmoid_c",
            "func main"
        ]
    );
    let decl = m.customs().next().unwrap().clone();
    assert!(decl.vjp.is_some() && decl.jvp.is_some());
    let main = m.func("main").unwrap();
    assert_eq!(m.main_func().unwrap().name(), "main");
    for id in main.node_ids() {
        if let Op::Call(c) = &main[id].op {
            assert!(Arc::ptr_eq(&c.0, &decl));
        }
    }
    // print_graph of the parsed main reproduces the whole module.
    assert_eq!(print_graph(main), text);
}

#[test]
fn custom_ops_rules_are_optional() {
    let src = "\
func @b(%x: f64) -> f64 {
  %y = exp %x
  return %y
}
custom @only_body = @b
custom @with_jvp = @b jvp=@j_missing
";
    let e = parse_module(src).unwrap_err();
    assert!(e.message.contains("unknown function @j_missing"), "{e}");
    let (m, text) = roundtrip(
        "\
func @b(%x: f64) -> f64 {
  %y = exp %x
  return %y
}
custom @e1 = @b
custom @e2 = @b
func @main(%x: f64) -> (f64, f64) {
  %p = call @e1 %x
  %q = call @e2 %x
  return %p, %q
}
",
    );
    assert_eq!(m.customs().count(), 2);
    assert!(
        text.contains("custom @e1 = @b\n\ncustom @e2 = @b\n"),
        "{text}"
    );
    assert_eq!(
        print_graph(m.func("main").unwrap()),
        text,
        "the shared body prints once"
    );
}

#[test]
fn several_functions_params_returned_directly_and_unused_statements() {
    let src = "\
func @id(%x: f64[2]) -> (f64[2], f64[2]) {
  %unused = exp %x      # kept by the printer
  return %x, %x
}

func @nothing() -> () {
  return
}

func @f32_mix(%0: f32, %f64: f32) -> f32 {
  %1 = add %0, %f64
  return %1
}
";
    let (m, text) = roundtrip(src);
    assert_eq!(
        text,
        "\
func @id(%x: f64[2]) -> (f64[2], f64[2]) {
  %unused = exp %x : f64[2]
  return %x, %x
}

func @nothing() -> () {
  return
}

func @f32_mix(%0: f32, %f64: f32) -> f32 {
  %1 = add %0, %f64 : f32
  return %1
}
"
    );
    let id = m.func("id").unwrap();
    assert_eq!(id.outputs(), &[id.params()[0], id.params()[0]]);
    assert_eq!(id.len(), 2);
    assert!(m.func("nothing").unwrap().outputs().is_empty());
}

#[test]
fn unnamed_values_never_clash_with_named_ones() {
    let mut g = Graph::new("clash");
    let x = g.add_param("x", TensorType::f64([])).unwrap(); // %0
    let e = g.add(Op::Unary(UnaryOp::Exp), &[x]).unwrap(); // node 1, unnamed
    let s = g.add(Op::Unary(UnaryOp::Sin), &[e]).unwrap(); // node 2
    g.set_name_of(s, "1").unwrap(); // named like node 1's default
    let c = g.add(Op::Unary(UnaryOp::Cos), &[s]).unwrap(); // node 3
    g.set_name_of(c, "x.grad").unwrap(); // not a valid name
    g.set_name("my fn");
    g.set_outputs(vec![c]);
    let text = print_graph(&g);
    assert_eq!(
        text,
        "\
func @my_fn(%x: f64) -> f64 {
  %1_2 = exp %x : f64
  %1 = sin %1_2 : f64
  %x_grad = cos %1 : f64
  return %x_grad
}
"
    );
    let (_, again) = roundtrip(&text);
    assert_eq!(again, text);
}

#[test]
fn broadcasting_applies_to_compares_and_select() {
    let src = "\
func @relu_mask(%x: f64[2,3], %zero: f64, %m: bool[3]) -> f64[2,3] {
  %c = gt %x, %zero
  %s = select %m, %x, %zero
  %t = select %c, %s, %x
  return %t
}
";
    let (m, text) = roundtrip(src);
    assert_eq!(
        text,
        "\
func @relu_mask(%x: f64[2,3], %zero: f64, %m: bool[3]) -> f64[2,3] {
  %3 = broadcast %zero shape=[2,3] : f64[2,3]
  %c = gt %x, %3 : bool[2,3]
  %5 = broadcast %m shape=[2,3] : bool[2,3]
  %6 = broadcast %zero shape=[2,3] : f64[2,3]
  %s = select %5, %x, %6 : f64[2,3]
  %t = select %c, %s, %x : f64[2,3]
  return %t
}
"
    );
    assert_eq!(m.func("relu_mask").unwrap().len(), 9);
}

#[test]
fn parameters_declared_after_other_nodes_print_in_the_header() {
    let mut g = Graph::new("late");
    let c = g.constant(Tensor::scalar_f64(1.0)); // node 0
    let x = g.add_param("x", TensorType::f64([])).unwrap(); // node 1
    let y = g.add(Op::Binary(BinaryOp::Add), &[x, c]).unwrap(); // node 2
    g.set_outputs(vec![y, x]);
    verify(&g).unwrap();
    let text = print_graph(&g);
    assert_eq!(
        text,
        "\
func @late(%x: f64) -> (f64, f64) {
  %0 = const 1 : f64
  %2 = add %x, %0 : f64
  return %2, %x
}
"
    );
    let (_, again) = roundtrip(&text);
    assert_eq!(again, text);
}

#[test]
fn windows_line_endings_and_a_byte_order_mark_parse() {
    let src = "\u{feff}func @f(%x: f64) -> f64 {\r\n  %y = exp %x\r\n  return %y\r\n}\r\n";
    let (_, text) = roundtrip(src);
    assert_eq!(
        text,
        "func @f(%x: f64) -> f64 {\n  %y = exp %x : f64\n  return %y\n}\n"
    );
}

fn unary_custom(
    name: &str,
    body_name: &str,
    f: impl Fn(adjoint_ir::Value) -> adjoint_ir::Value,
) -> Arc<CustomOp> {
    let b = GraphBuilder::new(body_name);
    let x = b.param("x", TensorType::f64([]));
    let body = b.build(&[f(x)]).unwrap();
    CustomOp::new(name, body, None, None).unwrap()
}

#[test]
fn nested_custom_ops_print_callees_first() {
    let sq = unary_custom("sq", "sq_body", |x| x * x);
    let quad = {
        let b = GraphBuilder::new("quad_body");
        let x = b.param("x", TensorType::f64([]));
        let y = b.call(&sq, &[b.call(&sq, &[x])]);
        CustomOp::new("quad", b.build(&[y]).unwrap(), None, None).unwrap()
    };
    let b = GraphBuilder::new("main");
    let x = b.param("x", TensorType::f64([]));
    let g = b.build(&[b.call(&quad, &[x])]).unwrap();
    let text = print_graph(&g);
    assert_eq!(
        text,
        "\
func @sq_body(%x: f64) -> f64 {
  %1 = mul %x, %x : f64
  return %1
}

custom @sq = @sq_body

func @quad_body(%x: f64) -> f64 {
  %1 = call @sq %x : f64
  %2 = call @sq %1 : f64
  return %2
}

custom @quad = @quad_body

func @main(%x: f64) -> f64 {
  %1 = call @quad %x : f64
  return %1
}
"
    );
    let (_, again) = roundtrip(&text);
    assert_eq!(again, text);
}

#[test]
fn clashing_custom_op_and_function_names_are_renamed() {
    // Two different custom ops, both called `c`, with bodies both called
    // `b`: the printed text must still be unambiguous.
    let c1 = unary_custom("c", "b", |x| x.exp());
    let c2 = unary_custom("c", "b", |x| x.sin());
    let b = GraphBuilder::new("main");
    let x = b.param("x", TensorType::f64([]));
    let g = b.build(&[b.call(&c1, &[x]), b.call(&c2, &[x])]).unwrap();
    let text = print_graph(&g);
    assert_eq!(
        text,
        "\
func @b(%x: f64) -> f64 {
  %1 = exp %x : f64
  return %1
}

custom @c = @b

func @b_2(%x: f64) -> f64 {
  %1 = sin %x : f64
  return %1
}

custom @c_2 = @b_2

func @main(%x: f64) -> (f64, f64) {
  %1 = call @c %x : f64
  %2 = call @c_2 %x : f64
  return %1, %2
}
"
    );
    let (_, again) = roundtrip(&text);
    assert_eq!(again, text);
}
