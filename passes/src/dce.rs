//! Dead-code elimination: removes every node that no output depends on.
//! Parameters are never removed (they are part of the signature).

use crate::registry::{OptionSpec, PassType};
use crate::{Pass, PassOptions, PassStats};
use adjoint_ir::{Graph, NodeId, Result};
use std::collections::HashSet;

/// Removes the nodes no output depends on, except parameters; returns the
/// ops of the removed nodes.
pub fn remove_dead(g: &mut Graph) -> Result<Vec<&'static str>> {
    let live = g.ancestors(g.outputs());
    let params: HashSet<NodeId> = g.params().iter().copied().collect();
    let dead: Vec<NodeId> = g
        .node_ids()
        .into_iter()
        .filter(|id| !live.contains(id) && !params.contains(id))
        .collect();
    // One batch: removing the dead users of a widely used value one by one
    // would cost time quadratic in its use count.
    Ok(g.remove_nodes(&dead)?
        .into_iter()
        .map(|n| n.op.name())
        .collect())
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
