//! AD errors about one statement carry its line:column when the program
//! came from text (`Graph::loc`), and print as `line:col: pass error: …`
//! like parse errors; from the builder they have no location. Rule 5 of
//! the loops clarifications: reverse mode through an unbounded `while`.

mod loop_cases;

use adjoint_ir::{parse_module, Error, Graph, Loc, Tensor};
use adjoint_passes::forward::push_forward;
use adjoint_passes::reverse::backpropagate;
use adjoint_passes::PassManager;

const UNBOUNDED: &str = "\
func @below(%c: f64, %w: f64, %lim: f64) -> bool {
  %p = lt %c, %lim
  return %p
}

func @grow(%c: f64, %w: f64, %lim: f64) -> f64 {
  %n = mul %c, %w
  return %n
}

func @main(%c0: f64, %w: f64, %lim: f64) -> f64 {
  %s = sin %c0
    %cN = while %s, %w, %lim cond=@below body=@grow carry=1
  return %cN
}
";

fn main_of(src: &str) -> Graph {
    parse_module(src).unwrap().func("main").unwrap().clone()
}

fn fails(g: &Graph, pipeline: &str) -> Error {
    let mut h = g.clone();
    PassManager::parse(pipeline)
        .unwrap()
        .run(&mut h)
        .unwrap_err()
}

#[test]
fn reverse_mode_through_an_unbounded_while_points_at_the_while() {
    let g = main_of(UNBOUNDED);
    for pipeline in ["grad", "grad{wrt=c0}", "vjp", "jacobian{mode=rev}"] {
        let e = fails(&g, pipeline);
        assert_eq!(e.loc, Some(Loc { line: 13, col: 5 }), "{pipeline}: {e}");
        let text = e.to_string();
        assert!(text.starts_with("13:5: pass error: "), "{pipeline}: {text}");
        // The message itself is unchanged.
        for want in ["while %cN", "@grow", "@below", "in @main", "max_trips"] {
            assert!(e.message.contains(want), "{pipeline}: {want}: {e}");
        }
    }
    // No tangent through the while: no error (rule 5).
    let mut h = g.clone();
    PassManager::parse("grad{wrt=lim}")
        .unwrap()
        .run(&mut h)
        .unwrap();
}

#[test]
fn a_while_built_with_the_builder_has_no_location() {
    let g = loop_cases::growth_while(None);
    let e = fails(&g, "grad{wrt=w}");
    assert!(e.message.contains("max_trips"), "{e}");
    assert_eq!(e.loc, None, "{e}");
    assert!(e.to_string().starts_with("pass error: "), "{e}");
}

#[test]
fn a_while_inside_a_branch_points_at_the_branch_statement() {
    // The error comes from the VJP of the cond's branch @big, and points
    // at the while in @big's text, not at the cond.
    let src = "\
func @below(%c: f64, %lim: f64) -> bool {
  %p = lt %c, %lim
  return %p
}
func @dbl(%c: f64, %lim: f64) -> f64 {
  %d = add %c, %c
  return %d
}
func @big(%c: f64, %lim: f64) -> f64 {
  %r = while %c, %lim cond=@below body=@dbl carry=1
  return %r
}
func @small(%c: f64, %lim: f64) -> f64 {
  %r = mul %c, %lim
  return %r
}
func @main(%p: bool, %c: f64, %lim: f64) -> f64 {
  %y = cond %p, %c, %lim then=@big else=@small
  return %y
}
";
    let e = fails(&main_of(src), "grad{wrt=c}");
    assert_eq!(e.loc, Some(Loc { line: 10, col: 3 }), "{e}");
    assert!(e.message.contains("while %r"), "{e}");
    assert!(e.message.contains("max_trips"), "{e}");
}

#[test]
fn a_rule_error_points_at_its_statement() {
    // The passes inline calls without rules first; the library functions
    // (which say so) report such a call as an error about that node.
    let src = "\
func @sq(%x: f64) -> f64 {
  %y = mul %x, %x
  return %y
}

custom @square = @sq

func @main(%x: f64) -> f64 {
  %a = exp %x
  %b = call @square %a : f64
  return %b
}
";
    let mut g = main_of(src);
    let (x, b) = (g.params()[0], g.outputs()[0]);
    let one = g.constant(Tensor::scalar_f64(1.0));
    let e = backpropagate(&mut g, &[(b, one)], &[x], &[]).unwrap_err();
    assert!(e.message.contains("call @square: no vjp rule"), "{e}");
    assert_eq!(e.loc, Some(Loc { line: 10, col: 3 }), "{e}");
    let mut g = main_of(src);
    let (x, b) = (g.params()[0], g.outputs()[0]);
    let one = g.constant(Tensor::scalar_f64(1.0));
    let e = push_forward(&mut g, &[(x, one)], &[b], &[]).unwrap_err();
    assert!(e.message.contains("call @square: no jvp rule"), "{e}");
    assert_eq!(e.loc, Some(Loc { line: 10, col: 3 }), "{e}");
}

#[test]
fn a_while_rebuilt_by_dce_keeps_its_location() {
    // dce drops the unused second carry, rebuilding the while; the
    // location moves to the new node.
    let src = "\
func @below(%c: f64, %d: f64, %lim: f64) -> bool {
  %p = lt %c, %lim
  return %p
}

func @grow(%c: f64, %d: f64, %lim: f64) -> (f64, f64) {
  %n = add %c, %c
  %e = mul %d, %d
  return %n, %e
}

func @main(%c0: f64, %d0: f64, %lim: f64) -> f64 {
  %cN, %dN = while %c0, %d0, %lim cond=@below body=@grow carry=2
  return %cN
}
";
    let mut g = main_of(src);
    PassManager::parse("dce").unwrap().run(&mut g).unwrap();
    let text = adjoint_ir::print_graph(&g);
    assert!(text.contains("carry=1"), "{text}");
    let e = fails(&g, "grad{wrt=c0}");
    assert!(e.message.contains("while %cN"), "{e}");
    assert_eq!(e.loc, Some(Loc { line: 13, col: 3 }), "{e}");
}
