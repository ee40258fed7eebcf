//! `docs/ir.md` stays true: its IR examples parse, its broadcasting example
//! prints as shown, its DOT example is what `to_dot` writes, and every op is
//! documented.

use adjoint_ir::{parse_module, print_module, to_dot, Op};

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/ir.md");
    std::fs::read_to_string(path).expect("docs/ir.md exists")
}

/// The fenced code blocks of the document, in order.
fn blocks(doc: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in doc.lines() {
        if line.starts_with("```") {
            match cur.take() {
                Some(b) => out.push(b),
                None => cur = Some(String::new()),
            }
        } else if let Some(b) = cur.as_mut() {
            b.push_str(line);
            b.push('\n');
        }
    }
    out
}

#[test]
fn every_ir_example_parses_and_round_trips() {
    let doc = doc();
    let programs: Vec<String> = blocks(&doc)
        .into_iter()
        .filter(|b| b.contains("func @") && b.contains("return") && !b.contains("..."))
        .collect();
    assert!(programs.len() >= 4, "found {} programs", programs.len());
    for p in &programs {
        let m = parse_module(p).unwrap_or_else(|e| panic!("{e}\n{p}"));
        let text = print_module(&m);
        assert_eq!(print_module(&parse_module(&text).unwrap()), text);
    }
}

#[test]
fn the_broadcasting_example_prints_as_documented() {
    let bs = blocks(&doc());
    let i = bs
        .iter()
        .position(|b| b.starts_with("func @g(%h: f32[128,256]") && !b.contains("broadcast"))
        .expect("the section 8 example");
    let printed = print_module(&parse_module(&bs[i]).unwrap());
    assert_eq!(printed, bs[i + 1]);
}

#[test]
fn the_dot_example_is_what_to_dot_writes() {
    let bs = blocks(&doc());
    let dot = bs
        .iter()
        .find(|b| b.starts_with("digraph \"f\""))
        .expect("the section 15 example");
    let m = parse_module("func @f(%x: f64, %y: f64) -> f64 {\n  %s = sub %x, %y\n  return %s\n}")
        .unwrap();
    assert_eq!(&to_dot(m.func("f").unwrap()), dot);
}

#[test]
fn every_op_is_documented_with_an_example() {
    let doc = doc();
    for name in Op::all_names().into_iter().chain(["param"]) {
        assert!(
            doc.contains(&format!("`{name}`")),
            "docs/ir.md does not mention `{name}`"
        );
    }
    // Each statement example in the op reference parses in a context that
    // defines its operands with the right types.
    let examples: Vec<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("Example: `"))
        .filter_map(|l| l.strip_suffix('`'))
        .collect();
    // The operand types each example needs.
    let contexts: &[(&str, &str)] = &[
        ("%k = const", ""),
        ("%t = tanh", "%z: f32[128,256]"),
        ("%y = add", "%a: f64, %b: f64"),
        ("%m = gt", "%x: f64[2,3], %zero: f64[2,3]"),
        (
            "%r = select",
            "%m: bool[2,3], %x: f64[2,3], %zero: f64[2,3]",
        ),
        ("%2 = broadcast", "%b: f32[256]"),
        ("%r = reshape", "%x: f64[2,3]"),
        ("%t = transpose", "%x: f64[2,3]"),
        ("%s = slice", "%x: f64[2,3]"),
        ("%p = pad", "%x: f64[2,3]"),
        ("%c = concat", "%x: f32[2,3,4], %y: f32[2,3,4]"),
        ("%s = reduce_sum", "%t: f32[128,256]"),
        ("%h = matmul", "%x: f32[128,784], %w: f32[784,256]"),
        ("%f = cast", "%x: f32[2,3,4]"),
    ];
    let sigmoid = "func @sig_body(%x: f64) -> f64 {\n  %y = sigmoid %x\n  return %y\n}\ncustom @sigmoid_c = @sig_body\n";
    assert_eq!(examples.len(), contexts.len() + 1, "{examples:?}");
    for ex in examples {
        let (name, ty) = ex.split_once(" = ").unwrap();
        let ty = ty.rsplit_once(" : ").unwrap().1;
        let (prefix, params) = if ex.contains("call @sigmoid_c") {
            (sigmoid, "%a: f64")
        } else {
            let (_, params) = contexts
                .iter()
                .find(|(p, _)| ex.starts_with(p))
                .unwrap_or_else(|| panic!("no context for the example `{ex}`"));
            ("", *params)
        };
        let src = format!("{prefix}func @ex({params}) -> {ty} {{\n  {ex}\n  return {name}\n}}\n");
        parse_module(&src).unwrap_or_else(|e| panic!("the example `{ex}` does not parse: {e}"));
    }
}
