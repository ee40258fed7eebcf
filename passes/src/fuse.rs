//! The `fuse` pass: writes the fusion regions a backend would form
//! (`region=N`) into the graph's annotations, for dumps.
//!
//! The region-assignment algorithm is an IR analysis,
//! [`adjoint_ir::fusion`] (re-exported here), shared with the JIT, which
//! computes it as a side table on every compile: fusion is a backend
//! decision, and the passes crate does not depend on a backend
//! (docs/architecture.md, "Dependencies").

use adjoint_ir::{Graph, Result};

pub use adjoint_ir::fusion::{
    assign_regions, assign_regions_with_limit, is_reduction, is_view_op, FuseStats, Regions,
    DEFAULT_MAX_REGION_NODES,
};

/// The `fuse` pass: [`assign_regions`] as a pipeline step, so the fusion
/// regions the JIT will use are visible in IR dumps (`region=N`). The JIT
/// computes regions itself (as a side table, from the same analysis), so
/// running this pass is never required.
#[derive(Clone, Debug)]
pub struct Fuse {
    /// The cap on compute nodes per region.
    pub max_nodes: usize,
}

impl crate::Pass for Fuse {
    fn name(&self) -> &'static str {
        <Self as crate::registry::PassType>::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<crate::PassStats> {
        let before: Vec<Option<u32>> = g.node_ids().iter().map(|&n| g.region(n)).collect();
        let regions = assign_regions_with_limit(g, self.max_nodes)?;
        regions.annotate(g);
        let s = regions.stats;
        let after: Vec<Option<u32>> = g.node_ids().iter().map(|&n| g.region(n)).collect();
        Ok(crate::PassStats {
            added: 0,
            removed: 0,
            changed: before != after,
            notes: vec![format!(
                "fuse: {} region(s), {} of them with several ops; {} compute node(s) fused, {} view(s) labelled",
                s.regions, s.multi_node_regions, s.fused_nodes, s.labelled_views
            )],
        })
    }
}

impl crate::registry::PassType for Fuse {
    const NAME: &'static str = "fuse";
    const SUMMARY: &'static str =
        "group elementwise chains, the broadcasts feeding them and a reduction ending them into regions (region=N)";
    const OPTIONS: &'static [crate::registry::OptionSpec] = &[crate::registry::OptionSpec {
        name: "max_nodes",
        help: "the most compute nodes in one region (default 256)",
    }];
    fn from_options(o: &crate::PassOptions) -> Result<Self> {
        Ok(Fuse {
            max_nodes: o
                .get_usize("fuse", "max_nodes")?
                .unwrap_or(DEFAULT_MAX_REGION_NODES),
        })
    }
}
