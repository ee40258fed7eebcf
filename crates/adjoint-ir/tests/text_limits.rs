//! The parser enforces its limits while it reads: an oversized constant
//! literal stops at the first number past 2^24, with that number's
//! line:column, instead of being tokenized and parsed in full first.

use adjoint_ir::{parse_module, Loc, MAX_CONST_ELEMS};

#[test]
fn an_oversized_literal_stops_at_the_first_number_past_the_limit() {
    let n = MAX_CONST_ELEMS as usize + 1;
    let mut src = String::with_capacity(2 * n + 100);
    src.push_str("func @f() -> f32[1] {\n  %c = const [");
    let col0 = src.len() - src.rfind('\n').unwrap();
    src.push_str(&"0,".repeat(n - 1));
    src.push_str("0] : f32[1]\n  return %c\n}\n");
    let e = parse_module(&src).unwrap_err();
    // Before: every number was tokenized and parsed into a tree (some
    // 40 bytes per character), and the error only came at the type.
    assert!(
        e.message
            .contains("the literal has more than 2^24 numbers, the limit for a constant"),
        "{e}"
    );
    let col = col0 + 2 * (n - 1);
    assert_eq!(
        e.loc,
        Some(Loc {
            line: 2,
            col: col as u32
        }),
        "{e}"
    );
}

#[test]
fn a_literal_at_the_limit_is_read() {
    let n = 1usize << 20;
    let mut src = String::from("func @f() -> f64[1048576] {\n  %c = const [");
    for i in 0..n {
        if i > 0 {
            src.push(',');
        }
        src.push_str(&(i % 7).to_string());
    }
    src.push_str("] : f64[1048576]\n  return %c\n}\n");
    let m = parse_module(&src).unwrap();
    let g = m.func("f").unwrap();
    let c = &g[g.outputs()[0]].op;
    let adjoint_ir::Op::Const(t) = c else {
        panic!("not a const: {c:?}")
    };
    let v = t.as_f64().unwrap();
    assert_eq!(v.len(), n);
    assert!(v.iter().enumerate().all(|(i, &x)| x == (i % 7) as f64));
}

#[test]
fn literal_errors_keep_their_order_and_locations() {
    // The nesting is checked everywhere before any number is converted.
    let e =
        parse_module("func @f() -> f64[2] {\n  %c = const [1e999, [2]] : f64[2]\n  return %c\n}\n")
            .unwrap_err();
    assert_eq!(e.loc, Some(Loc { line: 2, col: 22 }), "{e}");
    assert!(e.message.contains("nested deeper than the rank 1"), "{e}");
    let e =
        parse_module("func @f() -> f64[2] {\n  %c = const [1e999, 2] : f64[2]\n  return %c\n}\n")
            .unwrap_err();
    assert_eq!(e.loc, Some(Loc { line: 2, col: 15 }), "{e}");
    assert!(e.message.contains("out of range for f64"), "{e}");
    let e = parse_module(
        "func @f() -> f64[2,2] {\n  %c = const [[1, 2], [3]] : f64[2,2]\n  return %c\n}\n",
    )
    .unwrap_err();
    assert_eq!(e.loc, Some(Loc { line: 2, col: 23 }), "{e}");
    assert!(e.message.contains("axis 1 needs 2 entries, found 1"), "{e}");
    let e = parse_module("func @f() -> f64[2] {\n  %c = const [1, -x] : f64[2]\n  return %c\n}\n")
        .unwrap_err();
    assert!(e.message.contains("after `-`"), "{e}");
    let e = parse_module("func @f() -> f64[2] {\n  %c = const [1 2] : f64[2]\n  return %c\n}\n")
        .unwrap_err();
    assert!(
        e.message
            .contains("expected `,` or `]` in the list literal, found number `2`"),
        "{e}"
    );
    // Negative zero, signs and splats survive.
    let m = parse_module("func @f() -> (f32[2], f64[2]) {\n  %a = const [-0, -inf] : f32[2]\n  %b = const -2.5 : f64[2]\n  return %a, %b\n}\n").unwrap();
    let g = m.func("f").unwrap();
    let adjoint_ir::Op::Const(a) = &g[g.outputs()[0]].op else {
        panic!()
    };
    let a = a.as_f32().unwrap();
    assert!(a[0] == 0.0 && a[0].is_sign_negative() && a[1] == f32::NEG_INFINITY);
    let adjoint_ir::Op::Const(b) = &g[g.outputs()[1]].op else {
        panic!()
    };
    assert_eq!(b.as_f64().unwrap(), &[-2.5, -2.5]);
}
