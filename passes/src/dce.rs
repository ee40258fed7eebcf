//! Dead-code elimination: removes every node that no output depends on.
//! Parameters are never removed (they are part of the signature).

use crate::registry::{OptionSpec, PassType};
use crate::{Pass, PassOptions, PassStats};
use adjoint_ir::{Graph, Result};

/// Removes the nodes no output depends on, except parameters; returns the
/// ops of the removed nodes.
pub fn remove_dead(g: &mut Graph) -> Result<Vec<&'static str>> {
    let live = g.ancestors(g.outputs());
    let mut removed = Vec::new();
    for id in g.node_ids() {
        if !live.contains(&id) && !g.params().contains(&id) {
            removed.push(g.remove_node(id)?.op.name());
        }
    }
    Ok(removed)
}

/// The `dce` pass.
#[derive(Clone, Debug, Default)]
pub struct Dce;

impl Pass for Dce {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<PassStats> {
        Ok(PassStats::removing(0, &remove_dead(g)?))
    }
}

impl PassType for Dce {
    const NAME: &'static str = "dce";
    const SUMMARY: &'static str = "remove nodes no output depends on (never parameters)";
    const OPTIONS: &'static [OptionSpec] = &[];
    fn from_options(_: &PassOptions) -> Result<Self> {
        Ok(Dce)
    }
}
