//! Errors of the loop syntax (docs/ir.md §5, §12, §13): each at
//! line:column on the offending operand or attribute token, naming the op
//! and the function involved.

use adjoint_ir::parse_module;

/// Bodies the cases use. `main` follows on line 21, so every statement
/// below is on line 22.
const PRELUDE: &str = "\
func @step(%c: f64, %x: f64) -> (f64, f64) {
  %n = add %c, %x
  return %n, %n
}
func @p(%x: f64) -> bool {
  %z = const 0 : f64
  %b = lt %x, %z
  return %b
}
func @inc(%x: f64) -> f64 {
  %y = add %x, %x
  return %y
}
func @two(%x: f64) -> (f64, f64) {
  return %x, %x
}
func @chg(%c: f64, %x: f64) -> (f32, f64) {
  %n = cast %c to=f32
  return %n, %x
}
";

/// The error message of `PRELUDE` followed by a function `@main` with
/// the given parameters, one statement and `return %a`.
fn err(params: &str, stmt: &str) -> String {
    let src = format!("{PRELUDE}func @main({params}) -> f64 {{\n  {stmt}\n  return %a\n}}\n");
    assert_eq!(src.lines().nth(21), Some(format!("  {stmt}").as_str()));
    match parse_module(&src) {
        Ok(_) => panic!("parsed: {stmt}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn body_signature_that_does_not_match_the_operands_is_at_the_attribute() {
    // col 25 is `body=`.
    assert_eq!(
        err("%c: f64, %xs: f64[3]", "%a, %b = scan %c, %xs body=@inc carry=1 xs=1"),
        "22:25: type error: scan: body=@inc must take (f64, f64) to match the operands, it takes (f64)"
    );
    assert_eq!(
        err("%x: f64", "%a = while %x cond=@p body=@step carry=1"),
        "22:25: type error: while: body=@step must take (f64) to match the operands, it takes (f64, f64)"
    );
    // A condition that does not return a scalar bool: at `cond=`.
    assert_eq!(
        err("%x: f64", "%a = while %x cond=@inc body=@inc carry=1"),
        "22:17: type error: while: cond=@inc must return (bool), it returns (f64)"
    );
    // A branch whose parameters differ: at that branch's attribute.
    assert_eq!(
        err("%b: bool, %x: f64", "%a, %q = cond %b, %x then=@two else=@step"),
        "22:34: type error: cond: else=@step must take (f64) to match the operands, it takes (f64, f64)"
    );
}

#[test]
fn carry_type_changed_by_the_body_is_at_body() {
    assert_eq!(
        err(
            "%c: f64, %xs: f64[3]",
            "%a, %b = scan %c, %xs body=@chg carry=1 xs=1"
        ),
        "22:25: type error: scan: body=@chg changes the type of carry 0 from f64 to f32"
    );
}

#[test]
fn scanned_inputs_with_other_leading_dimensions_are_at_the_operand() {
    // col 26 is `%ys`, the second scanned input.
    let e = err(
        "%c: f64, %xs: f64[3], %ys: f64[4]",
        "%a, %b = scan %c, %xs, %ys body=@step carry=1 xs=2",
    );
    assert_eq!(
        e,
        "22:26: type error: scan: scanned input 1 (f64[4]) has leading dimension 4, but the scan's length is 3 (body=@step)"
    );
    // A given length that differs from the leading dimension: the first
    // scanned input.
    let e = err(
        "%c: f64, %xs: f64[3]",
        "%a, %b = scan %c, %xs body=@step carry=1 xs=1 length=2",
    );
    assert!(e.starts_with("22:21: type error: scan: scanned input 0 (f64[3]) has leading dimension 3, but the scan's length is 2"), "{e}");
}

#[test]
fn a_missing_length_is_at_the_op() {
    assert_eq!(
        err("%c: f64, %k: f64", "%a, %b = scan %c, %k body=@step carry=1 xs=0"),
        "22:12: parse error: scan needs the attribute `length` when xs=0 (body=@step), e.g. `length=1`"
    );
}

#[test]
fn a_predicate_that_is_not_a_scalar_bool_is_at_the_predicate() {
    assert_eq!(
        err("%c: f64, %x: f64", "%a = cond %c, %x then=@inc else=@inc"),
        "22:13: type error: cond: the predicate must be bool[], it is f64 (then=@inc else=@inc)"
    );
    let e = err(
        "%c: bool[2], %x: f64",
        "%a = cond %c, %x then=@inc else=@inc",
    );
    assert!(
        e.starts_with("22:13: type error: cond: the predicate must be bool[]"),
        "{e}"
    );
}

#[test]
fn branch_results_that_differ_are_at_else() {
    let e = err(
        "%b: bool, %x: f64",
        "%a, %q = cond %b, %x then=@two else=@inc",
    );
    assert!(
        e.starts_with("22:34: type error: cond: the branches return different types: then=@two returns (f64, f64), else=@inc returns (f64)"),
        "{e}"
    );
}

#[test]
fn functions_used_before_their_definition_or_never_defined_are_at_the_name() {
    let src = format!(
        "{PRELUDE}func @main(%b: bool, %x: f64) -> f64 {{\n  %a = cond %b, %x then=@inc else=@later\n  return %a\n}}\nfunc @later(%x: f64) -> f64 {{\n  return %x\n}}\n"
    );
    assert_eq!(
        parse_module(&src).unwrap_err().to_string(),
        "22:35: parse error: cond: function @later is used before its definition at 25:6 (`else=` names a function defined earlier in the file)"
    );
    assert_eq!(
        err("%b: bool, %x: f64", "%a = cond %b, %x then=@inc else=@nowhere"),
        "22:35: parse error: cond: unknown function @nowhere (`else=` names a function defined earlier in the file)"
    );
    // A close name gets a hint.
    assert_eq!(
        err("%x: f64", "%a = while %x cond=@p body=@incc carry=1"),
        "22:30: parse error: while: unknown function @incc (`body=` names a function defined earlier in the file) (did you mean `@inc`?)"
    );
    // A function cannot run itself: it is not defined before its own end.
    let e = parse_module(
        "func @f(%x: f64) -> f64 {\n  %a = while %x cond=@f body=@f carry=1\n  return %a\n}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("2:22: parse error: while: unknown function @f"),
        "{e}"
    );
}

#[test]
fn counts_larger_than_the_operands_are_at_the_count() {
    assert_eq!(
        err(
            "%c: f64",
            "%a, %b = scan %c body=@step carry=2 xs=0 length=3"
        ),
        "22:31: parse error: scan: carry=2 is more than the 1 operand (body=@step)"
    );
    assert_eq!(
        err("%c: f64", "%a, %b = scan %c body=@step carry=1 xs=1"),
        "22:39: parse error: scan: carry=1 and xs=1 need 2 operands, there are 1 (body=@step)"
    );
    assert_eq!(
        err("%x: f64", "%a = while %x cond=@p body=@inc carry=2"),
        "22:35: parse error: while: carry=2 is more than the 1 operand (cond=@p body=@inc)"
    );
}

#[test]
fn a_name_count_that_differs_from_the_result_count_is_at_the_statement() {
    assert_eq!(
        err(
            "%c: f64, %xs: f64[3]",
            "%a = scan %c, %xs body=@step carry=1 xs=1"
        ),
        "22:3: parse error: scan has 2 results, but the statement binds 1 name (body=@step)"
    );
    assert_eq!(
        err("%b: bool, %x: f64", "%a, %q, %r = cond %b, %x then=@two else=@two"),
        "22:3: parse error: cond has 2 results, but the statement binds 3 names (then=@two else=@two)"
    );
    assert_eq!(
        err("%x: f64", "%a, %b = exp %x"),
        "22:3: parse error: exp has 1 result, but the statement binds 2 names"
    );
    // The same name twice in one statement.
    assert_eq!(
        err(
            "%c: f64, %xs: f64[3]",
            "%a, %a = scan %c, %xs body=@step carry=1 xs=1"
        ),
        "22:7: parse error: redefinition of %a in @main (first defined at 22:3)"
    );
    // And the declared types: one per result.
    assert_eq!(
        err(
            "%x: f64",
            "%a = while %x cond=@p body=@inc carry=1 : (f64, f64)"
        ),
        "22:46: parse error: while has 1 result, but 2 types are declared (body=@inc cond=@p)"
    );
    let e = err(
        "%c: f64, %xs: f64[3]",
        "%a, %b = scan %c, %xs body=@step carry=1 xs=1 : (f64, f64[4])",
    );
    assert_eq!(
        e,
        "22:57: type error: scan: declared type f64[4] for result 1, but the operands give f64[3] (body=@step)"
    );
}

#[test]
fn attribute_kinds_and_iota() {
    assert_eq!(
        err("%x: f64", "%a = while %x cond=@p body=7 carry=1"),
        "22:25: parse error: while: attribute `body` must be a function like `body=@f`, found an integer"
    );
    assert_eq!(
        err(
            "%x: f64, %xs: f64[3]",
            "%a, %b = scan %x, %xs body=@step carry=1 xs=1 reverse=maybe"
        ),
        "22:49: parse error: scan: expected `true` or `false` for `reverse`, found `maybe`"
    );
    assert_eq!(
        err("%x: f64", "%a = project %x"),
        "22:8: parse error: `project` has no text syntax: the results of a statement are named on its left, `%a, %b = ...`"
    );
    // iota: the type is required; axis < rank (at `axis=`); shape equals
    // the type's shape (at the type); a float dtype (at the type).
    let e = err("", "%a = iota shape=[3] axis=0");
    assert!(
        e.starts_with(
            "23:3: parse error: expected `:` and the result type (iota must declare its type)"
        ),
        "{e}"
    );
    let e = err("", "%a = iota shape=[3] axis=1 : f64[3]");
    assert!(
        e.starts_with("22:23: type error: iota: axis 1 out of range for rank 1"),
        "{e}"
    );
    assert_eq!(
        err("", "%a = iota shape=[3] axis=0 : f64[4]"),
        "22:32: type error: iota: declared type f64[4], but the operands give f64[3]"
    );
    let e = err("", "%a = iota shape=[3] axis=0 : bool[3]");
    assert!(
        e.starts_with("22:32: type error: iota: the dtype must be f32 or f64, got bool"),
        "{e}"
    );
    let e = err("%x: f64", "%a = and %x, %x");
    assert!(
        e.starts_with("22:3: type error: and: expects bool operands, got f64"),
        "{e}"
    );
}

#[test]
fn a_result_used_before_its_statement_is_named_as_such() {
    // `%a` and `%b` are names of a later statement: the error says where
    // (for `%a`, followed by `,` rather than `=`, it used to say
    // "undefined value").
    for (v, def) in [("a", "23:3"), ("b", "23:7")] {
        let src = format!(
            "{PRELUDE}func @main(%c: f64, %xs: f64[3]) -> f64 {{\n  %e = exp %{v}\n  %a, %b = scan %c, %xs body=@step carry=1 xs=1\n  return %a\n}}\n"
        );
        assert_eq!(
            parse_module(&src).unwrap_err().to_string(),
            format!("22:12: parse error: use of %{v} before its definition at {def} in @main (values must be defined before they are used)")
        );
    }
}
