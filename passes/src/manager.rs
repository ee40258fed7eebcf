//! The `Pass` trait and the `PassManager`.

use adjoint_ir::{Graph, Result};

/// What one run of a pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassStats {
    /// Nodes added.
    pub added: usize,
    /// Nodes removed.
    pub removed: usize,
    /// Whether the IR changed at all (also true when nodes were rewired
    /// without being added or removed).
    pub changed: bool,
    /// Free-form remarks, printed in dumps as `# ` comments (for example the
    /// Jacobian-chain pass's choice of bracketing).
    pub notes: Vec<String>,
}

/// A graph-to-graph transformation.
pub trait Pass: Send + Sync {
    /// The pass's name, as written in pipelines.
    fn name(&self) -> &'static str;
    /// Runs the pass on `g`.
    fn run(&self, g: &mut Graph) -> Result<PassStats>;
}

/// Runs a pipeline of passes.
#[derive(Default)]
pub struct PassManager {
    passes: Vec<Box<dyn Pass>>,
}

impl PassManager {
    /// An empty pipeline.
    pub fn new() -> PassManager {
        PassManager::default()
    }

    /// Runs every pass in order.
    pub fn run(&self, g: &mut Graph) -> Result<()> {
        for p in &self.passes {
            p.run(g)?;
        }
        Ok(())
    }
}
