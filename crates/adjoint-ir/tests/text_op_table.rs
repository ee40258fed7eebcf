//! The op table (`adjoint_ir::op_table`) against `Op`: every mnemonic has
//! exactly one row and vice versa, every row's facts agree with the op it
//! builds, and every op's attributes round-trip through print → parse.

use adjoint_ir::op_table::{self, Head, OPS};
use adjoint_ir::{parse_module, print_module, AttrValue, Op, OpClass};
use std::collections::HashSet;

/// One statement per statement row, with the function around it. The
/// operand `%x` is `f64[2,3]`, `%p` is `bool[2,3]`, `%m` is `f64[3,2]`,
/// `%q` is `bool`.
const EXAMPLES: &[(&str, &str)] = &[
    ("const", "%y = const [[1,2,3],[4,5,-0]] : f64[2,3]"),
    ("neg", "%y = neg %x : f64[2,3]"),
    ("abs", "%y = abs %x : f64[2,3]"),
    ("exp", "%y = exp %x : f64[2,3]"),
    ("log", "%y = log %x : f64[2,3]"),
    ("sqrt", "%y = sqrt %x : f64[2,3]"),
    ("sin", "%y = sin %x : f64[2,3]"),
    ("cos", "%y = cos %x : f64[2,3]"),
    ("tanh", "%y = tanh %x : f64[2,3]"),
    ("sigmoid", "%y = sigmoid %x : f64[2,3]"),
    ("relu", "%y = relu %x : f64[2,3]"),
    ("add", "%y = add %x, %x : f64[2,3]"),
    ("sub", "%y = sub %x, %x : f64[2,3]"),
    ("mul", "%y = mul %x, %x : f64[2,3]"),
    ("div", "%y = div %x, %x : f64[2,3]"),
    ("pow", "%y = pow %x, %x : f64[2,3]"),
    ("max", "%y = max %x, %x : f64[2,3]"),
    ("min", "%y = min %x, %x : f64[2,3]"),
    ("lt", "%y = lt %x, %x : bool[2,3]"),
    ("le", "%y = le %x, %x : bool[2,3]"),
    ("gt", "%y = gt %x, %x : bool[2,3]"),
    ("ge", "%y = ge %x, %x : bool[2,3]"),
    ("eq", "%y = eq %x, %x : bool[2,3]"),
    ("select", "%y = select %p, %x, %x : f64[2,3]"),
    ("broadcast", "%y = broadcast %x shape=[4,2,3] : f64[4,2,3]"),
    ("reshape", "%y = reshape %x shape=[3,2] : f64[3,2]"),
    ("transpose", "%y = transpose %x perm=[1,0] : f64[3,2]"),
    ("slice", "%y = slice %x start=[0,1] end=[2,3] : f64[2,2]"),
    (
        "slice",
        "%y = slice %x start=[0,0] end=[2,3] stride=[1,2] : f64[2,2]",
    ),
    ("pad", "%y = pad %x lo=[1,0] hi=[0,2] : f64[3,5]"),
    ("concat", "%y = concat %x, %x axis=1 : f64[2,6]"),
    ("reduce_sum", "%y = reduce_sum %x axes=[0] : f64[3]"),
    ("reduce_max", "%y = reduce_max %x axes=[1,0] : f64"),
    ("matmul", "%y = matmul %x, %m : f64[2,2]"),
    ("cast", "%y = cast %x to=f32 : f32[2,3]"),
    ("call", "%y = call @c %x : f64[2,3]"),
    ("iota", "%y = iota shape=[2,3] axis=1 : f64[2,3]"),
    ("and", "%y = and %p, %p : bool[2,3]"),
    ("or", "%y = or %p, %p : bool[2,3]"),
    ("not", "%y = not %p : bool[2,3]"),
    (
        "scan",
        "%y = scan %x body=@body carry=1 xs=0 length=4 reverse=true : f64[2,3]",
    ),
    ("scan", "%y = scan %m body=@row carry=0 xs=1 : f64[3,2]"),
    (
        "while",
        "%y = while %x body=@body cond=@pred carry=1 max_trips=5 : f64[2,3]",
    ),
    (
        "while",
        "%y = while %x body=@body cond=@pred carry=1 : f64[2,3]",
    ),
    ("cond", "%y = cond %q, %x then=@body else=@body : f64[2,3]"),
    (
        "revolve",
        "%y = revolve %x body=@body step=@body state=1 carry=0 xs=0 length=4 snapshots=2 : f64[4,2,3]",
    ),
];

/// `stmt` with a `region` attribute (which every op takes), before its
/// type.
fn with_region(stmt: &str) -> String {
    let (head, ty) = stmt.rsplit_once(" : ").unwrap();
    format!("{head} region=3 : {ty}")
}

fn program(stmt: &str) -> String {
    format!(
        "func @body(%a: f64[2,3]) -> f64[2,3] {{\n  %b = exp %a : f64[2,3]\n  return %b\n}}\n\n\
         custom @c = @body\n\n\
         func @pred(%a: f64[2,3]) -> bool {{\n  %b = const true : bool\n  return %b\n}}\n\n\
         func @row(%a: f64[2]) -> f64[2] {{\n  return %a\n}}\n\n\
         func @f(%x: f64[2,3], %p: bool[2,3], %m: f64[3,2], %q: bool) -> {} {{\n  {}\n  return %y\n}}\n",
        stmt.rsplit(" : ").next().unwrap(),
        with_region(stmt)
    )
}

#[test]
fn every_op_name_has_one_row_and_every_row_a_name() {
    let names: Vec<&str> = Op::all_names();
    let unique: HashSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "a name listed twice: {names:?}");
    let rows: Vec<&str> = OPS
        .iter()
        .filter(|r| !matches!(r.head, Head::Header | Head::Internal))
        .map(|r| r.name)
        .collect();
    assert_eq!(rows, names);
    for n in &names {
        assert_eq!(op_table::row(n).map(|r| r.name), Some(*n));
    }
    assert_eq!(op_table::row("param").map(|r| r.head), Some(Head::Header));
    assert_eq!(
        op_table::row("project").map(|r| r.head),
        Some(Head::Internal)
    );
    assert!(op_table::row("nope").is_none());
    // Every statement row has an example below, and every example's op
    // maps back to its row.
    let covered: HashSet<&str> = EXAMPLES.iter().map(|(n, _)| *n).collect();
    let missing: Vec<&&str> = names.iter().filter(|n| !covered.contains(**n)).collect();
    assert!(missing.is_empty(), "no example for {missing:?}");
}

#[test]
fn every_op_prints_and_parses_back_through_the_table() {
    for (name, stmt) in EXAMPLES {
        let src = program(stmt);
        let m = parse_module(&src).unwrap_or_else(|e| panic!("{name}: {e}\n{src}"));
        let text = print_module(&m);
        assert!(
            text.contains(&format!("  {}\n", with_region(stmt))),
            "{name}: the statement does not print back as written:\n{text}"
        );
        assert_eq!(print_module(&parse_module(&text).unwrap()), text, "{name}");
        let g = m.func("f").unwrap();
        let id = g
            .node_ids()
            .into_iter()
            .find(|&n| g[n].name.as_deref() == Some("y"))
            .unwrap();
        // A loop's value is its projection; the statement is its producer.
        let id = match g[id].op {
            Op::Project { .. } => g.operands(id)[0],
            _ => id,
        };
        let op = &g[id].op;
        assert_eq!(op.name(), *name);
        assert_eq!(op.row().name, *name);
        // `Op::attrs` and `Op::from_attrs` are inverse (const is a literal).
        if *name != "const" {
            let callee = match op {
                Op::Call(c) => Some(c.clone()),
                _ => None,
            };
            let ty = g[id].ty.clone();
            let mut attrs = op.attrs();
            if let Op::Scan { length, .. } = op {
                // A scan over inputs leaves `length` to them in the text.
                if !attrs.iter().any(|(n, _)| *n == "length") {
                    attrs.push(("length", AttrValue::Usize(*length)));
                }
            }
            assert_eq!(
                &Op::from_attrs(name, callee, Some(&ty), &attrs).unwrap(),
                op
            );
        }
        // The attributes printed are the row's, in the row's order.
        let printed: Vec<&str> = op.attrs().iter().map(|(n, _)| *n).collect();
        let order: Vec<&str> = op
            .row()
            .attrs
            .iter()
            .map(|a| a.name)
            .filter(|n| printed.contains(n))
            .collect();
        assert_eq!(printed, order, "{name}");
        for spec in op.row().attrs.iter().filter(|a| a.required) {
            assert!(
                printed.contains(&spec.name),
                "{name}: {} not printed",
                spec.name
            );
        }
        for (n, v) in op.attrs() {
            let spec = op.row().attrs.iter().find(|a| a.name == n).unwrap();
            assert!(v.is(spec.kind), "{name}: {n}={v} is not a {:?}", spec.kind);
        }
    }
}

#[test]
fn classes_and_broadcasting_come_from_the_rows() {
    let class = |n: &str| op_table::row(n).unwrap().class;
    assert_eq!(class("const"), OpClass::Leaf);
    assert_eq!(class("param"), OpClass::Leaf);
    for n in ["neg", "add", "lt", "select", "cast"] {
        assert_eq!(class(n), OpClass::Elementwise, "{n}");
    }
    for n in ["broadcast", "reshape", "transpose", "slice"] {
        assert_eq!(class(n), OpClass::View, "{n}");
    }
    for n in ["reduce_sum", "reduce_max"] {
        assert_eq!(class(n), OpClass::Reduction, "{n}");
    }
    assert_eq!(class("matmul"), OpClass::Contraction);
    assert_eq!(class("pad"), OpClass::Structural);
    assert_eq!(class("concat"), OpClass::Structural);
    assert_eq!(class("call"), OpClass::Call);
    assert_eq!(class("iota"), OpClass::Generator);
    for n in ["and", "or", "not"] {
        assert_eq!(class(n), OpClass::Elementwise, "{n}");
    }
    for n in ["scan", "while", "cond"] {
        assert_eq!(class(n), OpClass::Control, "{n}");
    }
    assert_eq!(class("project"), OpClass::Projection);
    let broadcasting: Vec<&str> = OPS
        .iter()
        .filter(|r| r.broadcasts)
        .map(|r| r.name)
        .collect();
    assert_eq!(
        broadcasting,
        [
            "add", "sub", "mul", "div", "pow", "max", "min", "lt", "le", "gt", "ge", "eq",
            "select", "and", "or"
        ]
    );
    let op = Op::from_attrs(
        "reduce_sum",
        None,
        None,
        &[("axes", AttrValue::List(vec![1]))],
    )
    .unwrap();
    assert!(op.is_reduction() && !op.is_view() && !op.is_elementwise());
}

#[test]
fn from_attrs_reports_what_is_missing() {
    let e = Op::from_attrs("pad", None, None, &[("lo", AttrValue::List(vec![1]))]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "parse error: pad needs the attribute `hi`, e.g. `hi=[0]`"
    );
    let e = Op::from_attrs("frob", None, None, &[]).unwrap_err();
    assert_eq!(e.to_string(), "parse error: unknown op `frob`");
}
