//! Dead-code elimination: removes every node that no output depends on.
//! Parameters are never removed (they are part of the signature).

use crate::registry::{OptionSpec, PassType};
use crate::{Pass, PassOptions, PassStats};
use adjoint_ir::{Graph, Result};

/// Removes the nodes no output depends on, except parameters; returns how
/// many were removed.
pub fn remove_dead(g: &mut Graph) -> Result<usize> {
    let live = g.ancestors(g.outputs());
    let mut removed = 0;
    for id in g.node_ids() {
        if !live.contains(&id) && !g.params().contains(&id) {
            g.remove_node(id)?;
            removed += 1;
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
        let removed = remove_dead(g)?;
        Ok(PassStats {
            added: 0,
            removed,
            changed: removed > 0,
            notes: vec![],
        })
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
