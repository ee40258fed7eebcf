//! Golden-text tests of the StableHLO exporter: for small programs of
//! every op, the key lines (op names, types, attributes, `loc` names, hex
//! constants) must appear in the module.

use adjoint_ir::parse_module;

/// Exports function `f` of module text `src`.
pub fn export_fn(src: &str, f: &str) -> String {
    let m = parse_module(src).unwrap_or_else(|e| panic!("parse: {e}\n{src}"));
    adjoint_stablehlo::export(m.func(f).expect("function"))
        .unwrap_or_else(|e| panic!("export: {e}"))
}

/// Asserts every needle occurs in `text`.
fn has(text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "missing `{n}` in:\n{text}");
    }
}

#[test]
fn entry_names_locs_and_scalar_types() {
    let t = export_fn(
        "func @f(%x_0abc: f64, %6_2: f32[2,3]) -> f64 {\n  %y = neg %x_0abc\n  return %y\n}\n",
        "f",
    );
    has(
        &t,
        &[
            "func.func public @main(%arg0: tensor<f64> loc(\"x_0abc\"), %arg1: tensor<2x3xf32> loc(\"6_2\")) -> (tensor<f64>)",
            "%0 = \"stablehlo.negate\"(%arg0) : (tensor<f64>) -> tensor<f64> loc(\"y\")",
            "func.return %0 : tensor<f64>",
        ],
    );
}

#[test]
fn constants_are_hex_bit_patterns() {
    let t = export_fn(
        "func @f(%x: f64[3]) -> (f64[3], f32[2], f64) {\n  %c = const [1, 2, 3] : f64[3]\n  %a = add %x, %c\n  %h = const 0.1 : f32[2]\n  %z = const -0 : f64\n  return %a, %h, %z\n}\n",
        "f",
    );
    has(
        &t,
        &[
            "dense<[0x3FF0000000000000, 0x4000000000000000, 0x4008000000000000]>",
            "dense<0x3DCCCCCD>",
            // Typed, as the generic form requires.
            "{value = dense<0x8000000000000000> : tensor<f64>} : () -> tensor<f64> loc(\"z\")",
            "\"stablehlo.add\"(%arg0, %0) : (tensor<3xf64>, tensor<3xf64>) -> tensor<3xf64> loc(\"a\")",
        ],
    );
}

#[test]
fn nan_and_infinities_are_bit_patterns() {
    let t = export_fn(
        "func @f() -> f64[3] {\n  %n = const [nan, inf, -inf] : f64[3]\n  return %n\n}\n",
        "f",
    );
    has(
        &t,
        &["dense<[0x7FF8000000000000, 0x7FF0000000000000, 0xFFF0000000000000]> : tensor<3xf64>"],
    );
    assert!(!t.contains("nan") && !t.contains("inf"), "{t}");
}

#[test]
fn unary_ops_sigmoid_expanded_relu_is_maximum() {
    let mut src = String::from("func @f(%x: f64[2]) -> f64[2] {\n");
    let names = [
        "neg", "abs", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu",
    ];
    let mut prev = "x".to_string();
    for n in names {
        src += &format!("  %{n}_v = {n} %{prev}\n");
        prev = format!("{n}_v");
    }
    src += &format!("  return %{prev}\n}}\n");
    let t = export_fn(&src, "f");
    for op in [
        "negate",
        "abs",
        "exponential",
        "log",
        "sqrt",
        "sine",
        "cosine",
        "tanh",
        "divide",
        "maximum",
    ] {
        has(&t, &[&format!("\"stablehlo.{op}\"")]);
    }
    assert!(!t.contains("logistic"), "{t}");
    // sigmoid: 1 / (1 + exp(-x)), relu: maximum with +0.
    has(
        &t,
        &[
            "dense<0x3FF0000000000000>",
            "dense<0x0000000000000000>",
            "loc(\"sigmoid_v\")",
            "loc(\"relu_v\")",
        ],
    );
}

#[test]
fn binary_compare_select_logical_cast() {
    let t = export_fn(
        "func @f(%a: f32[2], %b: f32[2]) -> (f32[2], f64[2]) {\n  %s = sub %a, %b\n  %m = mul %s, %b\n  %d = div %m, %a\n  %mx = max %d, %a\n  %mn = min %mx, %b\n  %p = lt %a, %b\n  %q = ge %a, %b\n  %e = eq %a, %b\n  %o = or %p, %q\n  %n = not %o\n  %w = and %n, %e\n  %r = select %w, %mn, %a\n  %c = cast %r to=f64\n  return %r, %c\n}\n",
        "f",
    );
    has(
        &t,
        &[
            "\"stablehlo.subtract\"",
            "\"stablehlo.multiply\"",
            "\"stablehlo.divide\"",
            "\"stablehlo.maximum\"",
            "\"stablehlo.minimum\"",
            "comparison_direction = #stablehlo<comparison_direction LT>, compare_type = #stablehlo<comparison_type FLOAT>} : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xi1> loc(\"p\")",
            "#stablehlo<comparison_direction GE>",
            "#stablehlo<comparison_direction EQ>",
            "\"stablehlo.or\"",
            "\"stablehlo.not\"",
            "\"stablehlo.and\"",
            "\"stablehlo.select\"",
            ": (tensor<2xf32>) -> tensor<2xf64> loc(\"c\")",
            "\"stablehlo.convert\"",
        ],
    );
}

#[test]
fn pow_is_guarded_with_select() {
    let t = export_fn(
        "func @f(%a: f64[2], %b: f64[2]) -> f64[2] {\n  %p = pow %a, %b\n  return %p\n}\n",
        "f",
    );
    has(
        &t,
        &[
            "\"stablehlo.power\"",
            "\"stablehlo.floor\"",
            "\"stablehlo.remainder\"",
        ],
    );
    assert_eq!(t.matches("\"stablehlo.select\"").count(), 5, "{t}");
    // The sign bit of the base, -0 included: 1/x < 0.
    assert!(t.contains("\"stablehlo.divide\""), "{t}");
    assert_eq!(t.matches("\"stablehlo.power\"").count(), 2, "{t}");
}

#[test]
fn shape_ops() {
    let t = export_fn(
        "func @f(%x: f64[2,3], %v: f64[3]) -> (f64[4,2,3], f64[3,2], f64[6], f64[1,2], f64[4,6], f64[4,3], f32[2,3]) {\n  %b = broadcast %v shape=[4,2,3]\n  %t = transpose %x perm=[1,0]\n  %r = reshape %x shape=[6]\n  %s = slice %x start=[0,0] end=[2,3] stride=[2,2]\n  %p = pad %x lo=[1,2] hi=[1,1]\n  %c = concat %x, %x axis=0\n  %i = iota shape=[2,3] axis=1 : f32[2,3]\n  return %b, %t, %r, %s, %p, %c, %i\n}\n",
        "f",
    );
    has(
        &t,
        &[
            "\"stablehlo.broadcast_in_dim\"(%arg1) {broadcast_dimensions = array<i64: 2>} : (tensor<3xf64>) -> tensor<4x2x3xf64> loc(\"b\")",
            "\"stablehlo.transpose\"(%arg0) {permutation = array<i64: 1, 0>} : (tensor<2x3xf64>) -> tensor<3x2xf64>",
            "\"stablehlo.reshape\"(%arg0) : (tensor<2x3xf64>) -> tensor<6xf64>",
            "{start_indices = array<i64: 0, 0>, limit_indices = array<i64: 2, 3>, strides = array<i64: 2, 2>} : (tensor<2x3xf64>) -> tensor<1x2xf64>",
            "{edge_padding_low = array<i64: 1, 2>, edge_padding_high = array<i64: 1, 1>, interior_padding = array<i64: 0, 0>} : (tensor<2x3xf64>, tensor<f64>) -> tensor<4x6xf64>",
            "\"stablehlo.concatenate\"(%arg0, %arg0) {dimension = 0 : i64} : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<4x3xf64>",
            "\"stablehlo.iota\"() {iota_dimension = 1 : i64} : () -> tensor<2x3xi64> loc(\"i\")",
            ": (tensor<2x3xi64>) -> tensor<2x3xf32> loc(\"i\")",
        ],
    );
}

#[test]
fn reductions_have_init_and_combiner() {
    let t = export_fn(
        "func @f(%x: f64[2,3,4]) -> (f64[3], f64[2,4]) {\n  %s = reduce_sum %x axes=[2,0]\n  %m = reduce_max %x axes=[1]\n  return %s, %m\n}\n",
        "f",
    );
    has(
        &t,
        &[
            "\"stablehlo.reduce\"(%arg0, %0) ({",
            "}) {dimensions = array<i64: 0, 2>} : (tensor<2x3x4xf64>, tensor<f64>) -> tensor<3xf64> loc(\"s\")",
            "^bb0(%2: tensor<f64>, %3: tensor<f64>):",
            "\"stablehlo.add\"(%2, %3) : (tensor<f64>, tensor<f64>) -> tensor<f64>",
            "\"stablehlo.return\"(%4) : (tensor<f64>) -> ()",
            "dense<0xFFF0000000000000>",
            "\"stablehlo.maximum\"",
        ],
    );
}

#[test]
fn matmul_is_dot_general_with_explicit_batch_broadcast() {
    let t = export_fn(
        "func @f(%a: f64[2,1,3,4], %b: f64[5,4,6], %v: f64[4]) -> (f64[2,5,3,6], f64[3]) {\n  %c = matmul %a, %b\n  %a2 = slice %a start=[0,0,0,0] end=[1,1,3,4] stride=[1,1,1,1]\n  %m = reshape %a2 shape=[3,4]\n  %d = matmul %m, %v\n  return %c, %d\n}\n",
        "f",
    );
    has(
        &t,
        &[
            "(tensor<2x1x3x4xf64>) -> tensor<2x5x3x4xf64>",
            "(tensor<5x4x6xf64>) -> tensor<2x5x4x6xf64>",
            "lhs_batching_dimensions = [0, 1], rhs_batching_dimensions = [0, 1], lhs_contracting_dimensions = [3], rhs_contracting_dimensions = [2]",
            "precision_config = [#stablehlo<precision HIGHEST>, #stablehlo<precision HIGHEST>]",
            "(tensor<2x5x3x4xf64>, tensor<2x5x4x6xf64>) -> tensor<2x5x3x6xf64> loc(\"c\")",
            "(tensor<4xf64>) -> tensor<4x1xf64>",
            "(tensor<3x4xf64>, tensor<4x1xf64>) -> tensor<3x1xf64>",
            "(tensor<3x1xf64>) -> tensor<3xf64> loc(\"d\")",
        ],
    );
}

/// A `matmul` with an empty operand is the zero constant of its result
/// (IREE 3.13 crashes compiling a `dot_general` over an empty contraction).
#[test]
fn empty_matmul_is_a_zero_constant() {
    let t = export_fn(
        "func @f(%a: f64[2,0], %b: f64[0,3]) -> f64[2,3] {\n  %r = matmul %a, %b\n  return %r\n}\n",
        "f",
    );
    assert!(!t.contains("dot_general"), "{t}");
    has(
        &t,
        &["{value = dense<0x0000000000000000> : tensor<2x3xf64>} : () -> tensor<2x3xf64> loc(\"r\")"],
    );
}
