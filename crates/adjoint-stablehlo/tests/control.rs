//! Loops and conditionals in the StableHLO export, and export errors.

use adjoint_ir::{parse_module, Graph, Op, TensorType};

fn export_fn(src: &str, f: &str) -> String {
    let m = parse_module(src).unwrap_or_else(|e| panic!("parse: {e}\n{src}"));
    adjoint_stablehlo::export(m.func(f).expect("function"))
        .unwrap_or_else(|e| panic!("export: {e}"))
}

fn has(text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "missing `{n}` in:\n{text}");
    }
}

const SCAN: &str = "func @step(%c: f64, %x: f64[2], %k: f64) -> (f64, f64[2]) {\n  %s = reduce_sum %x axes=[0]\n  %n = add %c, %s\n  %m = mul %n, %k\n  %b = broadcast %m shape=[2]\n  %y = mul %b, %x\n  return %m, %y\n}\n\nfunc @f(%init: f64, %xs: f64[5,2], %k: f64) -> (f64, f64[5,2]) {\n  %total, %ys = scan %init, %xs, %k body=@step carry=1 xs=1 REV: (f64, f64[5,2])\n  return %total, %ys\n}\n";

#[test]
fn scan_is_while_with_dynamic_slices() {
    let t = export_fn(&SCAN.replace("REV", ""), "f");
    has(
        &t,
        &[
            "%2:5 = \"stablehlo.while\"(%0, %arg0, %arg1, %arg2, %1) ({",
            "^bb0(%3: tensor<i64>, %4: tensor<f64>, %5: tensor<5x2xf64>, %6: tensor<f64>, %7: tensor<5x2xf64>):",
            "dense<5> : tensor<i64>",
            "#stablehlo<comparison_type SIGNED>",
            "\"stablehlo.dynamic_slice\"",
            "{slice_sizes = array<i64: 1, 2>} : (tensor<5x2xf64>, tensor<i64>, tensor<i64>) -> tensor<1x2xf64>",
            "(tensor<1x2xf64>) -> tensor<2xf64>",
            "\"stablehlo.dynamic_update_slice\"",
            ": (tensor<5x2xf64>, tensor<1x2xf64>, tensor<i64>, tensor<i64>) -> tensor<5x2xf64>",
            "func.return %2#1, %2#4 : tensor<f64>, tensor<5x2xf64>",
            "loc(\"total, ys\")",
        ],
    );
    assert!(!t.contains("\"stablehlo.subtract\""), "{t}");
}

#[test]
fn reverse_scan_indexes_from_the_end() {
    let t = export_fn(&SCAN.replace("REV", "reverse=true "), "f");
    has(&t, &["dense<4> : tensor<i64>", "\"stablehlo.subtract\"(%"]);
}

const WHILE: &str = "func @small(%x: f64, %limit: f64) -> bool {\n  %p = lt %x, %limit\n  return %p\n}\n\nfunc @double(%x: f64, %limit: f64) -> f64 {\n  %y = add %x, %x\n  return %y\n}\n\nfunc @grow(%x: f64) -> f64 {\n  %limit = const 100 : f64\n  %r = while %x, %limit cond=@small body=@double carry=1 MAX: f64\n  return %r\n}\n";

#[test]
fn while_with_max_trips_bounds_the_condition() {
    let t = export_fn(&WHILE.replace("MAX", "max_trips=64 "), "grow");
    has(
        &t,
        &[
            "%2:3 = \"stablehlo.while\"(%1, %arg0, %0) ({",
            "^bb0(%3: tensor<i64>, %4: tensor<f64>, %5: tensor<f64>):",
            "dense<64> : tensor<i64>",
            "\"stablehlo.and\"",
            "func.return %2#1 : tensor<f64>",
        ],
    );
}

#[test]
fn while_without_bound_has_no_counter() {
    let t = export_fn(&WHILE.replace("MAX", ""), "grow");
    has(
        &t,
        &[
            "%1:2 = \"stablehlo.while\"(%arg0, %0) ({",
            "func.return %1#0 : tensor<f64>",
        ],
    );
    assert!(!t.contains("i64"), "{t}");
}

#[test]
fn cond_is_if() {
    let t = export_fn(
        "func @pos(%x: f64) -> f64 {\n  %y = sqrt %x\n  return %y\n}\n\nfunc @negpart(%x: f64) -> f64 {\n  %y = neg %x\n  return %y\n}\n\nfunc @safe_sqrt(%x: f64) -> f64 {\n  %zero = const 0 : f64\n  %p = ge %x, %zero\n  %r = cond %p, %x then=@pos else=@negpart : f64\n  return %r\n}\n",
        "safe_sqrt",
    );
    has(
        &t,
        &[
            "%2 = \"stablehlo.if\"(%1) ({",
            "\"stablehlo.sqrt\"(%arg0)",
            "}, {",
            "\"stablehlo.negate\"(%arg0)",
            "}) : (tensor<i1>) -> (tensor<f64>) loc(\"r\")",
        ],
    );
}

#[test]
fn custom_ops_are_inlined() {
    let t = export_fn(
        "func @sq_body(%x: f64) -> f64 {\n  %y = mul %x, %x\n  return %y\n}\n\ncustom @sq = @sq_body\n\nfunc @f(%a: f64) -> f64 {\n  %b = call @sq %a\n  return %b\n}\n",
        "f",
    );
    has(&t, &["\"stablehlo.multiply\"(%arg0, %arg0)"]);
    assert!(!t.contains("call"), "{t}");
}

#[test]
fn a_graph_failing_the_verifier_is_an_error() {
    // An `add` whose declared type disagrees with its operands.
    let mut g = Graph::new("bad");
    let x = g.add_param("x", TensorType::f64([2])).unwrap();
    g.add_unchecked(
        Op::Binary(adjoint_ir::BinaryOp::Add),
        TensorType::f64([3]),
        &[x, x],
    );
    let last = *g.node_ids().last().unwrap();
    g.set_outputs(vec![last]);
    let e = adjoint_stablehlo::export(&g).unwrap_err();
    assert!(e.to_string().contains("add"), "{e}");
}
