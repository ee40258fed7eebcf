//! Parse and type errors of the text IR: each is located (line:column) and
//! says what was expected.

use adjoint_ir::{parse_module, ErrorKind, Loc};

/// Parses `src`, expecting an error; returns it as (line, col, message,
/// kind).
fn err(src: &str) -> (u32, u32, String, ErrorKind) {
    match parse_module(src) {
        Ok(m) => panic!(
            "expected an error, got a module with {} items:\n{src}",
            m.items.len()
        ),
        Err(e) => {
            let Loc { line, col } = e.loc.unwrap_or_else(|| panic!("no location: {e}"));
            (line, col, e.message, e.kind)
        }
    }
}

fn wrap(body: &str) -> String {
    format!("func @f(%x: f64[3], %y: f64[2], %s: f32) -> f64[3] {{\n{body}\n}}\n")
}

#[test]
fn unknown_op_lists_the_valid_ones() {
    let (l, c, m, k) = err(&wrap("  %a = frobnicate %x\n  return %a"));
    assert_eq!((l, c, k), (2, 8, ErrorKind::Parse));
    assert!(
        m.starts_with("unknown op `frobnicate`; expected one of: const, neg, abs"),
        "{m}"
    );
    assert!(
        m.contains("reduce_sum") && m.contains("matmul") && m.contains("call"),
        "{m}"
    );
    let (_, _, m, _) = err(&wrap("  %a = tanhh %x\n  return %a"));
    assert!(
        m.starts_with("unknown op `tanhh` (did you mean `tanh`?); expected one of: const,"),
        "{m}"
    );
}

#[test]
fn use_before_definition() {
    let (l, c, m, _) = err(&wrap("  %a = exp %b\n  %b = exp %x\n  return %a"));
    assert_eq!((l, c), (2, 12));
    assert_eq!(
        m,
        "use of %b before its definition at 3:3 in @f (values must be defined before they are used)"
    );
    let (l, c, m, _) = err(&wrap("  %total = exp %x\n  %b = exp %totl\n  return %b"));
    assert_eq!((l, c), (3, 12));
    assert_eq!(
        m,
        "use of undefined value %totl in @f (did you mean `%total`?)"
    );
}

#[test]
fn redefinition_of_a_value_or_parameter() {
    let (l, c, m, _) = err(&wrap("  %a = exp %x\n  %a = sin %x\n  return %a"));
    assert_eq!((l, c), (3, 3));
    assert_eq!(m, "redefinition of %a in @f (first defined at 2:3)");
    let (l, c, m, _) = err(&wrap("  %x = exp %x\n  return %x"));
    assert_eq!((l, c), (2, 3));
    assert!(m.contains("redefinition of %x") && m.contains("1:9"), "{m}");
    let (l, c, m, _) = err("func @g(%a: f64, %a: f64) -> f64 {\n  return %a\n}");
    assert_eq!((l, c), (1, 18));
    assert!(m.contains("redefinition of %a"), "{m}");
}

#[test]
fn unknown_missing_and_duplicate_attributes() {
    let (l, c, m, _) = err(&wrap("  %a = reduce_sum %x axis=0\n  return %a"));
    assert_eq!((l, c), (2, 22));
    assert_eq!(
        m,
        "reduce_sum has no attribute `axis` (did you mean `axes`?); expected one of: `axes`, `region`"
    );
    let (l, c, m, _) = err(&wrap("  %a = reduce_sum %x\n  return %a"));
    assert_eq!((l, c), (2, 8));
    assert_eq!(m, "reduce_sum needs the attribute `axes`, e.g. `axes=[0]`");
    let (l, c, m, _) = err(&wrap("  %a = exp %x region=1 region=2\n  return %a"));
    assert_eq!((l, c), (2, 24));
    assert_eq!(m, "attribute `region` given twice");
    let (_, _, m, _) = err(&wrap("  %a = exp %x perm=[0]\n  return %a"));
    assert_eq!(m, "exp has no attribute `perm`; expected one of: `region`");
    let (_, _, m, _) = err(&wrap("  %a = concat %x axis=[0]\n  return %a"));
    assert!(m.contains("`axis` must be an integer"), "{m}");
    let (_, _, m, _) = err(&wrap("  %a = cast %x to=f16\n  return %a"));
    assert!(m.contains("expected a dtype") && m.contains("f16"), "{m}");
}

#[test]
fn wrong_operand_count() {
    let (l, c, m, _) = err(&wrap("  %a = add %x\n  return %a"));
    assert_eq!((l, c), (2, 8));
    assert_eq!(m, "add expects 2 operands, found 1");
    let (_, _, m, _) = err(&wrap("  %a = neg\n  %b = exp %x\n  return %b"));
    assert_eq!(m, "neg expects 1 operand, found 0");
    let (_, _, m, _) = err(&wrap("  %a = concat axis=0\n  return %a"));
    assert_eq!(m, "concat expects at least 1 operands, found 0");
}

#[test]
fn declared_type_mismatch_names_op_and_types() {
    let (l, c, m, k) = err(&wrap("  %t = tanh %x : f64[4]\n  return %t"));
    assert_eq!((l, c, k), (2, 18, ErrorKind::Type));
    assert_eq!(
        m,
        "tanh: declared type f64[4], but the operands give f64[3]"
    );
}

#[test]
fn shape_and_dtype_errors_are_located_at_the_statement() {
    let (l, c, m, k) = err(&wrap("  %a = exp %x\n  %b = add %a, %y\n  return %a"));
    assert_eq!((l, c, k), (3, 3, ErrorKind::Type));
    assert!(
        m.contains("add")
            && m.contains("f64[3]")
            && m.contains("f64[2]")
            && m.contains("broadcast"),
        "{m}"
    );
    let (l, c, m, _) = err(&wrap("  %b = mul %s, %x\n  return %x"));
    assert_eq!((l, c), (2, 3));
    assert!(m.contains("dtypes differ"), "{m}");
    let (_, _, m, _) = err(&wrap("  %b = matmul %x, %y\n  return %x"));
    assert!(
        m.contains("matmul") && m.contains("contracted dimensions differ"),
        "{m}"
    );
}

#[test]
fn constant_errors() {
    let (l, c, m, _) = err(&wrap("  %k = const [[1,2],[3]] : f64[2,2]\n  return %x"));
    assert_eq!((l, c), (2, 21));
    assert_eq!(
        m,
        "const: the literal does not match f64[2,2]: axis 1 needs 2 entries, found 1"
    );
    let (l, c, m, _) = err(&wrap("  %k = const 1\n  return %x"));
    assert_eq!((l, c), (3, 3));
    assert!(m.starts_with("expected `:` and the constant's type"), "{m}");
    let (_, _, m, _) = err(&wrap("  %k = const [1,2] : f64\n  return %x"));
    assert!(m.contains("a list literal needs a tensor type"), "{m}");
    let (_, _, m, _) = err(&wrap("  %k = const [1,2] : f64[2,1]\n  return %x"));
    assert!(m.contains("expected a list at depth 1"), "{m}");
    let (l, c, m, _) = err(&wrap("  %k = const 1 : bool\n  return %x"));
    assert_eq!((l, c), (2, 14));
    assert!(m.contains("`true` or `false`"), "{m}");
    let (_, _, m, _) = err(&wrap("  %k = const true : f64\n  return %x"));
    assert!(m.contains("expected a f64 literal, found `true`"), "{m}");
    let (_, _, m, _) = err(&wrap("  %k = const 1e39 : f32\n  return %x"));
    assert_eq!(m, "literal 1e39 is out of range for f32");
    let (_, _, m, _) = err(&wrap("  %k = const 0 : f64[5000,5000]\n  return %x"));
    assert!(m.contains("more than the limit of 2^24"), "{m}");
    let (_, _, m, _) = err(&wrap("  %k = const - : f64\n  return %x"));
    assert!(m.contains("after `-`"), "{m}");
}

#[test]
fn resource_limits() {
    let (l, c, m, _) = err("func @f(%x: f64[100000,100000]) -> f64 {\n  return %x\n}");
    assert_eq!((l, c), (1, 13));
    assert!(m.contains("too large"), "{m}");
    let (_, _, m, _) = err("func @f(%x: f64[99999999999999999999999]) -> f64 {}");
    assert!(m.contains("too large"), "{m}");
    let deep = format!(
        "func @f() -> f64 {{\n  %k = const {} : f64\n}}",
        "[".repeat(10_000)
    );
    let (l, c, m, _) = err(&deep);
    assert_eq!((l, c), (2, 78));
    assert_eq!(m, "list literal nested deeper than 64 levels");
    let (_, _, m, _) = err(&wrap(
        "  %b = broadcast %x shape=[65536,65536,3]\n  return %x",
    ));
    assert!(m.contains("too large"), "{m}");
    let (_, _, m, _) = err(&wrap(
        "  %p = pad %x lo=[2147483648] hi=[2147483648]\n  return %x",
    ));
    assert!(m.contains("too large"), "{m}");
}

#[test]
fn attribute_integers_are_checked() {
    let (l, c, m, _) = err(&wrap("  %a = reduce_sum %x axes=[-1]\n  return %a"));
    assert_eq!((l, c), (2, 28));
    assert_eq!(m, "expected a non-negative integer, found `-`");
    let (_, _, m, _) = err(&wrap("  %a = reduce_sum %x axes=[1.5]\n  return %a"));
    assert_eq!(m, "expected a non-negative integer, found `1.5`");
    let (_, _, m, _) = err(&wrap("  %a = reduce_sum %x axes=[7]\n  return %a"));
    assert!(m.contains("axis 7 out of range for rank 1"), "{m}");
}

#[test]
fn signature_and_return_errors() {
    let (l, c, m, _) = err("func @f(%x: f64) -> f32 {\n  return %x\n}");
    assert_eq!((l, c), (2, 10));
    assert_eq!(
        m,
        "return: result 0 of @f is declared f32, but %x has type f64"
    );
    let (l, c, m, _) = err("func @f(%x: f64) -> (f64, f64) {\n  return %x\n}");
    assert_eq!((l, c), (2, 3));
    assert_eq!(m, "@f declares 2 result(s), but `return` gives 1");
    let (l, c, m, _) = err("func @f(%x: f64) -> f64 {\n  %a = exp %x\n}");
    assert_eq!((l, c), (3, 1));
    assert_eq!(m, "@f ends without `return`");
    let (l, c, m, _) = err("func @f(%x: f64) f64 {\n  return %x\n}");
    assert_eq!((l, c), (1, 18));
    assert_eq!(m, "expected `->` and the result types, found `f64`");
    let (l, c, m, _) = err("func @f(%x: f16) -> f64 {\n  return %x\n}");
    assert_eq!((l, c), (1, 13));
    assert!(
        m.starts_with("expected a type (`f32`, `f64` or `bool`"),
        "{m}"
    );
    let (_, _, m, _) = err("func @f(%x: f64) -> f64 {\n  return %x\n  %y = exp %x\n}");
    assert_eq!(m, "expected `}` after `return`, found `%y`");
}

#[test]
fn module_level_errors() {
    let (l, c, m, _) = err("\n\nfunk @f() -> () { return }");
    assert_eq!((l, c), (3, 1));
    assert_eq!(m, "expected `func` or `custom`, found `funk`");
    let src = "func @f() -> () {\n  return\n}\nfunc @f() -> () {\n  return\n}\n";
    let (l, c, m, _) = err(src);
    assert_eq!((l, c), (4, 6));
    assert_eq!(m, "redefinition of function @f (first defined at 1:6)");
    let (l, c, m, _) = err("func @f(%x: f64) -> f64 {\n  %y = call @nope %x\n  return %y\n}");
    assert_eq!((l, c), (2, 13));
    assert!(m.starts_with("unknown custom op @nope"), "{m}");
    let (l, c, m, _) = err("custom @c = @nobody");
    assert_eq!((l, c), (1, 13));
    assert!(m.starts_with("unknown function @nobody"), "{m}");
    let (l, c, m, _) = err("func @f(%x: f64) -> f64 {\n  return %x $\n}");
    assert_eq!((l, c), (2, 13));
    assert_eq!(m, "unexpected character '$'");
    let (_, _, m, _) = err("func @f(%x: f64) -> f64 {\n  %p = param\n  return %x\n}");
    assert!(m.contains("`param` is not a statement"), "{m}");
}

#[test]
fn custom_op_errors() {
    let body = "func @b(%x: f64) -> f64 {\n  %y = exp %x\n  return %y\n}\n";
    // A vjp with the wrong signature is a type error at the declaration.
    let (l, c, m, k) = err(&format!("{body}custom @c = @b vjp=@b\n"));
    assert_eq!((l, c, k), (5, 1, ErrorKind::Type));
    assert!(
        m.contains("the vjp rule @b must have signature (f64, f64, f64) -> (f64)"),
        "{m}"
    );
    let (_, _, m, _) = err(&format!("{body}custom @c = @b hessian=@b\n"));
    assert_eq!(
        m,
        "unknown custom op attribute `hessian`; expected `vjp` or `jvp`"
    );
    let (l, c, m, _) = err(&format!("{body}custom @c = @b\ncustom @c = @b\n"));
    assert_eq!((l, c), (6, 8));
    assert!(m.starts_with("redefinition of custom op @c"), "{m}");
    let (_, _, m, _) = err(&format!(
        "{body}custom @c = @b\nfunc @g(%x: f64[2]) -> f64 {{\n  %y = call @c %x\n  return %y\n}}\n"
    ));
    assert!(m.contains("@c operand 0 must be f64, got f64[2]"), "{m}");
    let (_, _, m, _) = err(&format!(
        "{body}custom @c = @b\nfunc @g(%x: f64) -> f64 {{\n  %y = call @c %x, %x\n  return %y\n}}\n"
    ));
    assert_eq!(m, "call @c expects 1 operand, found 2");
}

#[test]
fn errors_display_with_location() {
    let e = parse_module(&wrap("  %a = exp %q\n  return %a")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "2:12: parse error: use of undefined value %q in @f"
    );
}
