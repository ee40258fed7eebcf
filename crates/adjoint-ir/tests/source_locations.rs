//! Source locations on graph nodes (`Graph::loc`): the parser puts on each
//! statement's node the line:column of its first result name (on a loop
//! node and on each of its projections alike), on each parameter that of
//! its name, and on a `broadcast` it inserts that of its statement. Like
//! the region annotation they are a side table: clones keep them, a
//! removed node takes its location with it, and printing ignores them.

use adjoint_ir::{parse_module, print_graph, Graph, GraphBuilder, Loc, Op, TensorType, UnaryOp};

const SRC: &str = "\
func @step(%c: f64, %x: f64) -> (f64, f64) {
  %n = add %c, %x
  return %n, %n
}

func @main(%c0: f64,
           %xs: f64[4], %v: f64[3]) -> (f64, f64[4], f64[3]) {
  %k = const 2 : f64
     %c, %ys = scan %c0, %xs body=@step carry=1 xs=1
  %s = mul %c, %k
  %b = add %k, %v
  return %s, %ys, %b
}
";

fn at(line: u32, col: u32) -> Option<Loc> {
    Some(Loc { line, col })
}

fn main_graph() -> Graph {
    parse_module(SRC).unwrap().func("main").unwrap().clone()
}

fn loc_of(g: &Graph, name: &str) -> Option<Loc> {
    g.loc(g.value_by_name(name).unwrap())
}

#[test]
fn the_parser_locates_params_and_single_result_statements() {
    let g = main_graph();
    assert_eq!(loc_of(&g, "c0"), at(6, 12));
    assert_eq!(loc_of(&g, "xs"), at(7, 12));
    assert_eq!(loc_of(&g, "v"), at(7, 25));
    assert_eq!(loc_of(&g, "k"), at(8, 3));
    assert_eq!(loc_of(&g, "s"), at(10, 3));
    // A body function is located in its own lines.
    let m = parse_module(SRC).unwrap();
    let step = m.func("step").unwrap();
    assert_eq!(loc_of(step, "c"), at(1, 12));
    assert_eq!(loc_of(step, "n"), at(2, 3));
}

#[test]
fn a_multi_result_statement_locates_its_loop_node_and_every_projection() {
    let g = main_graph();
    let c = g.value_by_name("c").unwrap();
    let ys = g.value_by_name("ys").unwrap();
    let scan = g.operands(c)[0];
    assert!(matches!(g[scan].op, Op::Scan { .. }));
    // All at the statement's first result name, `%c` (line 9, column 6).
    assert_eq!(g.loc(scan), at(9, 6));
    assert_eq!(g.loc(c), at(9, 6));
    assert_eq!(g.loc(ys), at(9, 6));
}

#[test]
fn an_inserted_broadcast_is_located_at_its_statement() {
    let g = main_graph();
    let b = g.value_by_name("b").unwrap();
    assert_eq!(g.loc(b), at(11, 3));
    let bc = g.operands(b)[0];
    assert_eq!(g[bc].op.name(), "broadcast");
    assert_eq!(g.loc(bc), at(11, 3));
}

#[test]
fn every_parsed_node_has_a_location() {
    let g = main_graph();
    for n in g.node_ids() {
        assert!(g.loc(n).is_some(), "{} has no location", g.display_name(n));
    }
}

#[test]
fn locations_survive_clones_and_leave_printing_unchanged() {
    let g = main_graph();
    let h = g.clone();
    for n in g.node_ids() {
        assert_eq!(h.loc(n), g.loc(n));
    }
    let mut bare = g.clone();
    for n in bare.node_ids() {
        bare.set_loc(n, None);
    }
    assert_eq!(print_graph(&g), print_graph(&bare));
    assert!(bare.node_ids().iter().all(|&n| bare.loc(n).is_none()));
}

#[test]
fn a_removed_node_takes_its_location_with_it() {
    let mut g = main_graph();
    let s = g.value_by_name("s").unwrap();
    let k = g.value_by_name("k").unwrap();
    let outs: Vec<_> = g
        .outputs()
        .iter()
        .map(|&o| if o == s { k } else { o })
        .collect();
    g.set_outputs(outs);
    g.remove_node(s).unwrap();
    assert_eq!(g.loc(s), None);
    // The freed id is reused by the next node, which has no location.
    let w = g.add(Op::Unary(UnaryOp::Cos), &[k]).unwrap();
    assert_eq!(w, s);
    assert_eq!(g.loc(w), None);
    // Setting a location on a node that does not exist does nothing.
    g.remove_node(w).unwrap();
    g.set_loc(w, at(1, 1));
    assert_eq!(g.loc(w), None);
    let w = g.add(Op::Unary(UnaryOp::Cos), &[k]).unwrap();
    assert_eq!(g.loc(w), None);
}

#[test]
fn batch_removal_drops_locations_too() {
    // Many users of one value take remove_nodes' rebuilding path.
    let src = "\
func @f(%x: f64) -> f64 {
  %a = sin %x
  %b = cos %x
  %c = exp %x
  %d = neg %x
  %e = abs %x
  %g = tanh %x
  %h = sqrt %x
  %i = log %x
  %j = sin %x
  return %x
}
";
    let mut g = parse_module(src).unwrap().func("f").unwrap().clone();
    let dead: Vec<_> = ["a", "b", "c", "d", "e", "g", "h", "i", "j"]
        .iter()
        .map(|n| g.value_by_name(n).unwrap())
        .collect();
    assert_eq!(g.loc(dead[8]), at(10, 3));
    g.remove_nodes(&dead).unwrap();
    for &n in &dead {
        assert_eq!(g.loc(n), None);
    }
    assert_eq!(loc_of(&g, "x"), at(1, 9));
}

#[test]
fn a_built_graph_has_no_locations() {
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([3]));
    let y = x.exp();
    let mut g = b.build(&[y]).unwrap();
    assert_eq!(g.loc(x.id()), None);
    assert_eq!(g.loc(y.id()), None);
    g.set_loc(y.id(), at(3, 4));
    assert_eq!(g.loc(y.id()), at(3, 4));
    assert_eq!(g.clone().loc(y.id()), at(3, 4));
}

#[test]
fn a_location_and_a_region_are_kept_independently() {
    let text = "func @f(%x: f64[3]) -> f64[3] {\n  %y = exp %x region=2 : f64[3]\n  return %y\n}\n";
    let mut g = parse_module(text).unwrap().func("f").unwrap().clone();
    let y = g.value_by_name("y").unwrap();
    assert_eq!((g.region(y), g.loc(y)), (Some(2), at(2, 3)));
    g.set_region(y, None);
    assert_eq!((g.region(y), g.loc(y)), (None, at(2, 3)));
    g.set_region(y, Some(5));
    g.set_loc(y, None);
    assert_eq!((g.region(y), g.loc(y)), (Some(5), None));
    g.set_region(y, None);
    assert_eq!((g.region(y), g.loc(y)), (None, None));
    // Neither sticks to a node that does not exist (its id may be reused).
    g.set_outputs(vec![g.params()[0]]);
    g.remove_node(y).unwrap();
    g.set_region(y, Some(1));
    g.set_loc(y, at(1, 1));
    let z = g.add(Op::Unary(UnaryOp::Sin), &[g.params()[0]]).unwrap();
    assert_eq!(z, y);
    assert_eq!((g.region(z), g.loc(z)), (None, None));
}
