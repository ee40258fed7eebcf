//! The `inline` pass: expands every `call` of a custom op into the op's
//! body. The mechanism is an IR-level expansion (`adjoint_ir::inline`),
//! re-exported here; the AD passes use the same helpers to splice custom
//! derivative rules into the graph.

use crate::registry::{OptionSpec, PassType};
use crate::{Pass, PassOptions, PassStats};
use adjoint_ir::{Graph, Result};

pub(crate) use adjoint_ir::inline::first_output;
pub use adjoint_ir::inline::{inline_call, inline_calls_where, inline_graph};

/// The `inline` pass: expands every `call` into the custom op's body.
#[derive(Clone, Debug, Default)]
pub struct Inline;

impl Pass for Inline {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<PassStats> {
        let (added, removed) = inline_calls_where(g, |_| true)?;
        Ok(PassStats {
            added,
            removed,
            changed: removed > 0,
            notes: if removed > 0 {
                vec![format!("inline: expanded {removed} call(s)")]
            } else {
                vec![]
            },
        })
    }
}

impl PassType for Inline {
    const NAME: &'static str = "inline";
    const SUMMARY: &'static str = "expand every `call` of a custom op into its body";
    const OPTIONS: &'static [OptionSpec] = &[];
    fn from_options(_: &PassOptions) -> Result<Self> {
        Ok(Inline)
    }
}
