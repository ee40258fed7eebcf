//! The `Pass` trait and the `PassManager`: builds a pipeline from a string,
//! runs it, verifies after every pass, dumps IR before/after passes and
//! reports per-pass timing.
//!
//! Dump format: every dump is the output of [`adjoint_ir::print_graph`]
//! preceded by a banner line that names the pass as written in the pipeline
//! and its 1-based position, and the pass's notes as `#` comments:
//!
//! ```text
//! # ----- IR after cse (3) -----
//! # cse: +0 -4 nodes
//! func @f(...) ...
//! ```
//!
//! In a dump directory each dump is one file named
//! `NNN-<pass>.<before|after>.adj`, `NNN` being the pass's position (3
//! digits), for example `003-cse.after.adj`.

use crate::pipeline::{parse_pipeline, PassSpec};
use crate::registry::Registry;
use adjoint_ir::{print_graph, verify, Error, Graph, Result};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

impl PassStats {
    /// Stats of a clean-up pass that removed nodes with the given ops (and
    /// added `added`), with a note listing what was removed by op, such as
    /// `removed 3: 2 mul, 1 sin`.
    pub fn removing(added: usize, removed_ops: &[&'static str]) -> PassStats {
        let mut by_op: std::collections::BTreeMap<&str, usize> = Default::default();
        for o in removed_ops {
            *by_op.entry(o).or_insert(0) += 1;
        }
        let list = by_op
            .iter()
            .map(|(o, n)| format!("{n} {o}"))
            .collect::<Vec<_>>()
            .join(", ");
        PassStats {
            added,
            removed: removed_ops.len(),
            changed: added > 0 || !removed_ops.is_empty(),
            notes: if removed_ops.is_empty() {
                vec![]
            } else {
                vec![format!("removed {}: {list}", removed_ops.len())]
            },
        }
    }

    /// Whether the pass changed the IR (a node added, removed or rewired).
    pub fn did_change(&self) -> bool {
        self.changed || self.added > 0 || self.removed > 0
    }
}

/// A graph-to-graph transformation.
pub trait Pass: Send + Sync {
    /// The pass's name, as written in pipelines.
    fn name(&self) -> &'static str;
    /// Runs the pass on `g`.
    fn run(&self, g: &mut Graph) -> Result<PassStats>;
}

/// Which passes a dump option applies to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PassFilter {
    /// No pass.
    #[default]
    None,
    /// Every pass.
    All,
    /// The passes with these names.
    Names(Vec<String>),
}

impl PassFilter {
    /// Parses `all`, or a comma-separated list of pass names (checked
    /// against `registry`), or the empty string (none).
    pub fn parse(s: &str, registry: &Registry) -> Result<PassFilter> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(PassFilter::None);
        }
        if s == "all" {
            return Ok(PassFilter::All);
        }
        let mut names = Vec::new();
        for n in s.split(',').map(str::trim) {
            if registry.get(n).is_none() {
                return Err(Error::input(format!(
                    "unknown pass `{n}` in a print option; valid: all, {}",
                    registry.names().join(", ")
                )));
            }
            names.push(n.to_string());
        }
        Ok(PassFilter::Names(names))
    }

    /// Whether the filter selects pass `name`.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            PassFilter::None => false,
            PassFilter::All => true,
            PassFilter::Names(ns) => ns.iter().any(|n| n == name),
        }
    }

    fn is_none(&self) -> bool {
        matches!(self, PassFilter::None)
    }
}

/// Where dumps (and the timing report) go.
pub enum DumpTarget {
    /// Standard error.
    Stderr,
    /// A writer (for tests, or a file).
    Writer(Box<dyn Write + Send>),
    /// A directory, one numbered file per dump. Created if missing. The
    /// timing report goes to stderr.
    Dir(PathBuf),
}

/// The record of one pass in a run.
#[derive(Clone, Debug)]
pub struct PassRecord {
    /// The pass as written in the pipeline (with options).
    pub spec: String,
    /// The pass's statistics.
    pub stats: PassStats,
    /// Wall time of the pass itself (not verification or dumps).
    pub time: Duration,
    /// Live nodes before the pass.
    pub nodes_before: usize,
    /// Live nodes after the pass.
    pub nodes_after: usize,
}

/// What a pipeline run did, pass by pass.
#[derive(Clone, Debug, Default)]
pub struct RunReport {
    /// One record per pass, in order.
    pub passes: Vec<PassRecord>,
}

impl RunReport {
    /// The timing report, one line per pass plus a total.
    pub fn timing_table(&self) -> String {
        let mut s = String::from("# ===----- pass timing report -----===\n");
        s.push_str("#    wall(ms)  nodes before -> after   added removed  pass\n");
        let mut total = Duration::ZERO;
        for r in &self.passes {
            total += r.time;
            s.push_str(&format!(
                "# {:>11.3}  {:>12} -> {:<6} {:>7} {:>7}  {}\n",
                r.time.as_secs_f64() * 1e3,
                r.nodes_before,
                r.nodes_after,
                r.stats.added,
                r.stats.removed,
                r.spec
            ));
        }
        s.push_str(&format!("# {:>11.3}  total\n", total.as_secs_f64() * 1e3));
        s
    }
}

/// Runs a pipeline of passes.
///
/// ```
/// use adjoint_passes::PassManager;
/// use adjoint_ir::{GraphBuilder, TensorType};
/// let b = GraphBuilder::new("f");
/// let x = b.param("x", TensorType::f64([]));
/// let y = x * x;
/// let mut g = b.build(&[y]).unwrap();
/// let pm = PassManager::parse("grad,simplify,cse,dce").unwrap();
/// pm.run(&mut g).unwrap();
/// assert_eq!(g.outputs().len(), 2); // y, then dy/dx
/// // Unknown passes are errors that list the valid ones.
/// let e = PassManager::parse("gard").err().unwrap();
/// assert!(e.message.contains("valid passes: grad"));
/// ```
pub struct PassManager {
    passes: Vec<(String, Box<dyn Pass>)>,
    print_before: PassFilter,
    print_after: PassFilter,
    print_changed: bool,
    verify_each: bool,
    time_passes: bool,
    target: Mutex<DumpTarget>,
}

impl Default for PassManager {
    fn default() -> Self {
        PassManager::new()
    }
}

impl std::fmt::Debug for PassManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassManager")
            .field(
                "passes",
                &self.passes.iter().map(|p| &p.0).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl PassManager {
    /// An empty pipeline with `verify_each` on and dumps to stderr.
    pub fn new() -> PassManager {
        PassManager {
            passes: Vec::new(),
            print_before: PassFilter::None,
            print_after: PassFilter::None,
            print_changed: false,
            verify_each: true,
            time_passes: false,
            target: Mutex::new(DumpTarget::Stderr),
        }
    }

    /// A pipeline from a string such as `grad{wrt=x,w},simplify,cse,dce`,
    /// with the built-in passes.
    pub fn parse(pipeline: &str) -> Result<PassManager> {
        PassManager::parse_with(&Registry::builtin(), pipeline)
    }

    /// A pipeline from a string, resolving pass names in `registry`.
    pub fn parse_with(registry: &Registry, pipeline: &str) -> Result<PassManager> {
        let mut pm = PassManager::new();
        for spec in parse_pipeline(pipeline)? {
            pm.add_spec(registry, &spec)?;
        }
        Ok(pm)
    }

    /// Appends the pass a spec names.
    pub fn add_spec(&mut self, registry: &Registry, spec: &PassSpec) -> Result<()> {
        let p = registry.build(spec)?;
        self.passes.push((spec.to_string(), p));
        Ok(())
    }

    /// Appends a pass object.
    pub fn add(&mut self, pass: Box<dyn Pass>) {
        self.passes.push((pass.name().to_string(), pass));
    }

    /// The passes, as written (with options).
    pub fn specs(&self) -> Vec<String> {
        self.passes.iter().map(|p| p.0.clone()).collect()
    }

    /// Dumps the IR before the selected passes.
    pub fn print_before(&mut self, f: PassFilter) -> &mut Self {
        self.print_before = f;
        self
    }

    /// Dumps the IR after the selected passes.
    pub fn print_after(&mut self, f: PassFilter) -> &mut Self {
        self.print_after = f;
        self
    }

    /// Dumps after a pass only if it changed the IR. Alone (without
    /// `print_after`) it means `print_after = all`, like rustc's
    /// `-Zdump-mir` with MLIR's `--mlir-print-ir-after-change`.
    pub fn print_changed(&mut self, on: bool) -> &mut Self {
        self.print_changed = on;
        self
    }

    /// Runs the verifier after every pass (on by default).
    pub fn verify_each(&mut self, on: bool) -> &mut Self {
        self.verify_each = on;
        self
    }

    /// Writes a per-pass timing report after the run.
    pub fn time_passes(&mut self, on: bool) -> &mut Self {
        self.time_passes = on;
        self
    }

    /// Sends dumps and the timing report to `w`.
    pub fn dump_to(&mut self, w: Box<dyn Write + Send>) -> &mut Self {
        self.target = Mutex::new(DumpTarget::Writer(w));
        self
    }

    /// Writes one file per dump into `dir`.
    pub fn dump_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.target = Mutex::new(DumpTarget::Dir(dir.into()));
        self
    }

    fn emit(&self, file: &str, text: &str) -> Result<()> {
        let mut t = self
            .target
            .lock()
            .map_err(|_| Error::pass("dump target lock poisoned"))?;
        let io = |e: std::io::Error| Error::input(format!("writing IR dump {file}: {e}"));
        match &mut *t {
            DumpTarget::Stderr => {
                let mut s = std::io::stderr().lock();
                s.write_all(text.as_bytes()).map_err(io)?;
            }
            DumpTarget::Writer(w) => w.write_all(text.as_bytes()).map_err(io)?,
            DumpTarget::Dir(d) => {
                std::fs::create_dir_all(&*d).map_err(io)?;
                std::fs::write(d.join(file), text).map_err(io)?;
            }
        }
        Ok(())
    }

    fn emit_report(&self, text: &str) -> Result<()> {
        let mut t = self
            .target
            .lock()
            .map_err(|_| Error::pass("dump target lock poisoned"))?;
        let io = |e: std::io::Error| Error::input(format!("writing the timing report: {e}"));
        match &mut *t {
            DumpTarget::Writer(w) => w.write_all(text.as_bytes()).map_err(io),
            DumpTarget::Stderr | DumpTarget::Dir(_) => std::io::stderr()
                .lock()
                .write_all(text.as_bytes())
                .map_err(io),
        }
    }

    fn dump(
        &self,
        g: &Graph,
        pos: usize,
        spec: &str,
        name: &str,
        when: &str,
        stats: Option<&PassStats>,
    ) -> Result<()> {
        let mut text = format!("# ----- IR {when} {spec} ({pos}) -----\n");
        if let Some(s) = stats {
            text.push_str(&format!(
                "# {name}: +{} -{} nodes{}\n",
                s.added,
                s.removed,
                if s.did_change() { "" } else { " (unchanged)" }
            ));
            for n in &s.notes {
                text.push_str(&format!("# {n}\n"));
            }
        }
        text.push_str(&print_graph(g));
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let file = format!("{pos:03}-{name}.{when}.adj");
        self.emit(&file, &text)
    }

    /// Runs every pass in order, verifying the input first and (with
    /// `verify_each`) the IR after each pass. Errors name the pass.
    pub fn run(&self, g: &mut Graph) -> Result<RunReport> {
        if self.verify_each {
            verify(g).map_err(|e| e.context("the input IR is invalid"))?;
        }
        let after = if self.print_changed && self.print_after.is_none() {
            PassFilter::All
        } else {
            self.print_after.clone()
        };
        let mut report = RunReport::default();
        let mut names = OutputNames::of(g);
        for (i, (spec, p)) in self.passes.iter().enumerate() {
            let pos = i + 1;
            let name = p.name();
            if self.print_before.matches(name) {
                self.dump(g, pos, spec, name, "before", None)?;
            }
            let nodes_before = g.len();
            let t0 = Instant::now();
            let stats = p
                .run(g)
                .map_err(|e| e.context(format!("pass `{spec}` ({pos})")))?;
            let time = t0.elapsed();
            names.restore(g);
            if self.verify_each {
                if let Err(e) = verify(g) {
                    if after.matches(name) {
                        // The printer never fails, so the broken IR can be
                        // inspected.
                        let mut st = stats.clone();
                        st.notes.push(format!("INVALID: {}", e.message));
                        self.dump(g, pos, spec, name, "after", Some(&st))?;
                    }
                    return Err(Error::pass(format!(
                        "pass `{spec}` ({pos}) produced invalid IR: {}",
                        e.message
                    )));
                }
            }
            if after.matches(name) && (!self.print_changed || stats.did_change()) {
                self.dump(g, pos, spec, name, "after", Some(&stats))?;
            }
            report.passes.push(PassRecord {
                spec: spec.clone(),
                stats,
                time,
                nodes_before,
                nodes_after: g.len(),
            });
        }
        if self.time_passes {
            self.emit_report(&report.timing_table())?;
        }
        Ok(report)
    }
}

/// The names of the outputs, kept across a pipeline run: a name belongs
/// to the output, not to the node that happens to compute it. Clean-up
/// passes may replace the node computing an output (`simplify` rewrites
/// it, `cse` merges it with an equal node, `fold` turns it into a
/// constant), and the new node is usually unnamed; after every pass the
/// manager sets the name the output had before the pass as the output's
/// own name ([`Graph::set_output_name`]) wherever it changed, so
/// `grad{wrt=y},simplify,cse,dce` still returns `y_grad`. Only real names
/// are kept (an output's own name or its value's name, never the number of
/// an unnamed node). A pass that drops outputs renumbers them: the record
/// starts afresh from what it leaves.
struct OutputNames {
    want: Vec<Option<String>>,
}

impl OutputNames {
    fn of(g: &Graph) -> OutputNames {
        OutputNames {
            want: (0..g.outputs().len())
                .map(|i| {
                    g.output_name(i)
                        .map(str::to_string)
                        .or_else(|| g[g.outputs()[i]].name.clone())
                })
                .collect(),
        }
    }

    /// Gives each output the name it had before the pass where the pass
    /// changed it, then records the names for the next pass.
    fn restore(&mut self, g: &mut Graph) {
        if g.outputs().len() >= self.want.len() {
            // Twice: a name may be free only once another output got its
            // own name back. A clash that remains (two outputs that had one
            // name) keeps the value's name.
            for _ in 0..2 {
                for (i, w) in self.want.iter().enumerate() {
                    if let Some(w) = w {
                        if g.output_names()[i] != *w {
                            let _ = g.set_output_name(i, w.clone());
                        }
                    }
                }
            }
        }
        *self = OutputNames::of(g);
    }
}
