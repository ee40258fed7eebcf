//! The limits of docs/ir.md §12 hold after every pass: a pass that would
//! build a type or a constant past them is an error that names the pass,
//! raised before anything of that size is allocated, so pass output always
//! prints and parses back.

use adjoint_ir::{parse_module, Graph, Result, Tensor, TensorType};
use adjoint_passes::{Pass, PassManager, PassStats};

fn parse(src: &str) -> Graph {
    parse_module(src).unwrap().funcs().next().unwrap().clone()
}

#[test]
fn jacobian_past_the_extent_limit_is_an_error_naming_the_pass() {
    // The Jacobian of f64[65536] -> f64[65536] is f64[65536,65536]: 2^32
    // elements, past the 2^31 limit. Before, the pass built the type and
    // printed IR that `parse` rejects.
    for mode in ["jacobian", "jacobian{mode=rev}", "jacobian{mode=fwd}"] {
        let mut g =
            parse("func @f(%x: f64[65536]) -> f64[65536] {\n  %y = sin %x\n  return %y\n}\n");
        let e = PassManager::parse(mode).unwrap().run(&mut g).unwrap_err();
        assert!(e.message.contains(&format!("pass `{mode}`")), "{e}");
        assert!(e.message.contains("65536,65536"), "{e}");
        assert!(e.message.contains("2^31"), "{e}");
    }
}

/// A pass that replaces the output with a constant of `n` elements (as a
/// folding pass that ignored the constant limit would).
struct BigConst(usize);

impl Pass for BigConst {
    fn name(&self) -> &'static str {
        "big_const"
    }
    fn run(&self, g: &mut Graph) -> Result<PassStats> {
        let c = g.constant(Tensor::zeros(&TensorType::bool([self.0])));
        g.set_outputs(vec![c]);
        Ok(PassStats::default())
    }
}

#[test]
fn a_constant_past_the_limit_after_a_pass_is_an_error_naming_it() {
    let src = "func @f(%x: bool[16777217]) -> bool[16777217] {\n  return %x\n}\n";
    let mut pm = PassManager::new();
    pm.add(Box::new(BigConst((1 << 24) + 1)));
    let e = pm.run(&mut parse(src)).unwrap_err();
    assert!(
        e.message
            .contains("pass `big_const` (1) produced invalid IR"),
        "{e}"
    );
    assert!(
        e.message.contains("16777217 elements") && e.message.contains("2^24"),
        "{e}"
    );
    // At the limit it is fine.
    let src = "func @f(%x: bool[16777216]) -> bool[16777216] {\n  return %x\n}\n";
    let mut pm = PassManager::new();
    pm.add(Box::new(BigConst(1 << 24)));
    pm.run(&mut parse(src)).unwrap();
}
