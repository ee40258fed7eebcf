//! `revolve` in the StableHLO export: a forward `while` that stores every
//! state, then a reverse `while` over the stored states (the snapshot
//! budget is not carried over). Text only; tests/export_e2e.rs runs it.

use adjoint_ir::parse_module;

fn export_fn(src: &str) -> String {
    let m = parse_module(src).unwrap_or_else(|e| panic!("parse: {e}\n{src}"));
    adjoint_stablehlo::export(m.func("main").expect("@main"))
        .unwrap_or_else(|e| panic!("export: {e}"))
}

fn has(text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "missing `{n}` in:\n{text}");
    }
}

const BODIES: &str = "func @fwd(%s: f64, %x: f64, %w: f64) -> f64 {\n  %a = mul %s, %x\n  %y = mul %a, %w\n  return %y\n}\n\nfunc @bwd(%b: f64, %s: f64, %x: f64, %w: f64) -> (f64, f64) {\n  %p = mul %b, %x\n  %q = add %p, %s\n  %y = mul %q, %s\n  return %q, %y\n}\n\n";

#[test]
fn revolve_is_a_forward_and_a_reverse_while() {
    let src = format!("{BODIES}func @main(%s0: f64, %b0: f64, %xs: f64[5], %w: f64) -> (f64, f64[5]) {{\n  %b, %ys = revolve %s0, %b0, %xs, %w body=@bwd step=@fwd state=1 carry=1 xs=1 snapshots=2 : (f64, f64[5])\n  return %b, %ys\n}}\n");
    let t = export_fn(&src);
    assert_eq!(t.matches("\"stablehlo.while\"").count(), 2, "{t}");
    assert!(!t.contains("revolve\""), "{t}");
    has(
        &t,
        &[
            // forward state: (i, s, states[5], xs, w)
            "(tensor<i64>, tensor<f64>, tensor<5xf64>, tensor<5xf64>, tensor<f64>) -> (tensor<i64>, tensor<f64>, tensor<5xf64>, tensor<5xf64>, tensor<f64>) loc(\"b, ys\")",
            // reverse state: (j, b, states[5], xs, w, ys[5], n)
            "(tensor<i64>, tensor<f64>, tensor<5xf64>, tensor<5xf64>, tensor<f64>, tensor<5xf64>, tensor<i64>) -> (tensor<i64>, tensor<f64>, tensor<5xf64>, tensor<5xf64>, tensor<f64>, tensor<5xf64>, tensor<i64>) loc(\"b, ys\")",
            "\"stablehlo.dynamic_update_slice\"",
            "\"stablehlo.dynamic_slice\"",
            "\"stablehlo.subtract\"",
            "loc(\"q\")",
        ],
    );
}

#[test]
fn masked_revolve_stops_at_the_first_false() {
    let src = "func @fwd(%s: f64) -> f64 {\n  %two = const 2 : f64\n  %y = mul %s, %two\n  return %y\n}\n\nfunc @bwd(%b: f64, %s: f64) -> f64 {\n  %y = add %b, %s\n  return %y\n}\n\nfunc @main(%m: bool[4], %s0: f64, %b0: f64) -> f64 {\n  %b = revolve %m, %s0, %b0 body=@bwd step=@fwd state=1 carry=1 xs=0 snapshots=1 masked=true : f64\n  return %b\n}\n";
    let t = export_fn(src);
    assert_eq!(t.matches("\"stablehlo.while\"").count(), 2, "{t}");
    // The mask rides in the forward state and is read at i.
    has(
        &t,
        &[
            "(tensor<i64>, tensor<f64>, tensor<4xf64>, tensor<4xi1>) -> (tensor<i64>, tensor<f64>, tensor<4xf64>, tensor<4xi1>)",
            "(tensor<4xi1>, tensor<i64>) -> tensor<1xi1>",
            "\"stablehlo.and\"",
        ],
    );
}

#[test]
fn empty_revolve_is_no_loop() {
    let src = format!("{BODIES}func @main(%s0: f64, %b0: f64, %xs: f64[0], %w: f64) -> (f64, f64[0]) {{\n  %b, %ys = revolve %s0, %b0, %xs, %w body=@bwd step=@fwd state=1 carry=1 xs=1 snapshots=2 : (f64, f64[0])\n  return %b, %ys\n}}\n");
    let t = export_fn(&src);
    assert!(!t.contains("stablehlo.while"), "{t}");
    has(&t, &["func.return %arg1, %0 : tensor<f64>, tensor<0xf64>"]);
}
