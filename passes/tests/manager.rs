//! The pass manager: pipeline syntax, registry errors, dumps with banners,
//! print_changed, dump directories, verify_each and timing.
mod common;

use adjoint_ir::{Graph, GraphBuilder, Op, Result, TensorType, UnaryOp};
use adjoint_passes::{
    parse_pipeline, OptionSpec, Pass, PassEntry, PassFilter, PassManager, PassOptions, PassStats,
    PassType, Registry,
};
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn small() -> Graph {
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([3]));
    let w = b.param("w", TensorType::f64([3]));
    b.build(&[(x * w).sin().sum()]).unwrap()
}

#[test]
fn pipeline_syntax() {
    let p = parse_pipeline(" grad{wrt=x, w ,of=0} , simplify,cse,dce ").unwrap();
    assert_eq!(p.len(), 4);
    assert_eq!(p[0].name, "grad");
    assert_eq!(p[0].options.get("wrt").unwrap(), ["x", "w"]);
    assert_eq!(p[0].options.get("of").unwrap(), ["0"]);
    assert_eq!(p[0].to_string(), "grad{wrt=x,w,of=0}");
    let p = parse_pipeline("jacobian{wrt=x,w,mode=fwd}").unwrap();
    assert_eq!(p[0].options.get("wrt").unwrap(), ["x", "w"]);
    assert_eq!(p[0].options.get("mode").unwrap(), ["fwd"]);
    assert_eq!(parse_pipeline("").unwrap(), vec![]);
    assert_eq!(
        parse_pipeline("cse{}").unwrap()[0].options,
        PassOptions::new()
    );
    for (bad, want) in [
        ("grad{x}", "no option name"),
        ("grad{wrt=x", "never closed"),
        ("grad,,dce", "empty pass name"),
        ("grad{wrt=x,wrt=y}", "given twice"),
        ("grad{wrt=}", "empty option value"),
        ("grad dce", "unexpected character"),
        ("grad{a{b}}", "nested"),
    ] {
        let e = parse_pipeline(bad).unwrap_err();
        assert!(e.message.contains(want), "{bad}: {e}");
    }
}

#[test]
fn unknown_passes_and_options_list_the_valid_ones() {
    let e = PassManager::parse("grad,cse,frobnicate").unwrap_err();
    assert!(
        e.message.contains("unknown pass `frobnicate`")
            && e.message
                .contains("grad, vjp, jvp, simplify, cse, dce, fold, inline"),
        "{e}"
    );
    let e = PassManager::parse("grad{wrt=x,off=1}").unwrap_err();
    assert!(
        e.message.contains("no option `off`") && e.message.contains("valid options: wrt, of"),
        "{e}"
    );
    let e = PassManager::parse("cse{x=1}").unwrap_err();
    assert!(e.message.contains("valid options: none"), "{e}");
    let e = PassManager::parse("grad{of=-1}").unwrap_err();
    assert!(e.message.contains("non-negative integer"), "{e}");
    // The valid names come from the registry: registering a pass type makes
    // it appear in both the parser and the message.
    let mut r = Registry::builtin();
    r.register(PassEntry::of::<Breaker>());
    assert!(r.names().contains(&"breaker"));
    let e = PassManager::parse_with(&r, "nope").unwrap_err();
    assert!(e.message.contains("breaker"), "{e}");
}

#[test]
fn dumps_carry_banners_and_go_to_the_sink() {
    let sink = Sink::default();
    let mut pm = PassManager::parse("grad,simplify,cse,dce").unwrap();
    pm.print_after(PassFilter::All)
        .print_before(PassFilter::Names(vec!["grad".into()]))
        .dump_to(Box::new(sink.clone()));
    let mut g = small();
    pm.run(&mut g).unwrap();
    let t = sink.text();
    let banners: Vec<&str> = t.lines().filter(|l| l.starts_with("# -----")).collect();
    assert_eq!(
        banners,
        [
            "# ----- IR before grad (1) -----",
            "# ----- IR after grad (1) -----",
            "# ----- IR after simplify (2) -----",
            "# ----- IR after cse (3) -----",
            "# ----- IR after dce (4) -----",
        ]
    );
    // Every dump is the printed function; the last equals the result.
    assert!(t.ends_with(&adjoint_ir::print_graph(&g)));
    assert!(t.contains("# grad: d(output 0)/d(%x, %w)"));
    // Each dump parses back.
    for chunk in t.split("# ----- ").skip(1) {
        let body: String = chunk.lines().skip(1).map(|l| format!("{l}\n")).collect();
        adjoint_ir::parse_module(&body).unwrap();
    }
}

#[test]
fn print_changed_skips_passes_that_changed_nothing() {
    let sink = Sink::default();
    // simplify after simplify and dce after dce find nothing.
    let mut pm = PassManager::parse("grad,simplify,simplify,cse,dce,dce").unwrap();
    pm.print_changed(true).dump_to(Box::new(sink.clone()));
    let mut g = small();
    let report = pm.run(&mut g).unwrap();
    let t = sink.text();
    let banners: Vec<&str> = t.lines().filter(|l| l.starts_with("# -----")).collect();
    let changed: Vec<String> = report
        .passes
        .iter()
        .enumerate()
        .filter(|(_, r)| r.stats.did_change())
        .map(|(i, r)| format!("# ----- IR after {} ({}) -----", r.spec, i + 1))
        .collect();
    assert_eq!(banners, changed);
    assert!(
        !banners
            .iter()
            .any(|b| b.contains("(3)") || b.contains("(6)")),
        "{banners:?}"
    );
    assert!(banners[0].contains("grad (1)") && banners[1].contains("simplify (2)"));
}

#[test]
fn dump_directory_has_one_numbered_file_per_dump() {
    let dir = std::env::temp_dir().join(format!("adjoint-dumps-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut pm = PassManager::parse("grad{wrt=x},simplify,cse").unwrap();
    pm.print_after(PassFilter::All)
        .print_before(PassFilter::Names(vec!["cse".into()]))
        .dump_dir(&dir);
    let mut g = small();
    pm.run(&mut g).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "001-grad.after.adj",
            "002-simplify.after.adj",
            "003-cse.after.adj",
            "003-cse.before.adj"
        ]
    );
    let cse = std::fs::read_to_string(dir.join("003-cse.after.adj")).unwrap();
    assert!(cse.starts_with("# ----- IR after cse (3) -----\n"));
    assert!(cse.contains(&adjoint_ir::print_graph(&g)));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A deliberately broken pass: records the wrong type on a new node.
#[derive(Default)]
struct Breaker;

impl Pass for Breaker {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn run(&self, g: &mut Graph) -> Result<PassStats> {
        let x = g.params()[0];
        let bad = g.add_unchecked(Op::Unary(UnaryOp::Exp), TensorType::f64([7]), &[x]);
        g.push_output(bad);
        Ok(PassStats {
            added: 1,
            ..PassStats::default()
        })
    }
}

impl PassType for Breaker {
    const NAME: &'static str = "breaker";
    const SUMMARY: &'static str = "breaks the IR (test only)";
    const OPTIONS: &'static [OptionSpec] = &[];
    fn from_options(_: &PassOptions) -> Result<Self> {
        Ok(Breaker)
    }
}

#[test]
fn verify_each_names_the_pass_that_broke_the_ir() {
    let mut r = Registry::builtin();
    r.register(PassEntry::of::<Breaker>());
    let pm = PassManager::parse_with(&r, "grad,breaker,dce").unwrap();
    let e = pm.run(&mut small()).unwrap_err();
    assert!(
        e.message.contains("pass `breaker` (2) produced invalid IR") && e.message.contains("exp"),
        "{e}"
    );
    // With print_after, the broken IR is dumped before the error.
    let sink = Sink::default();
    let mut pm = PassManager::parse_with(&r, "grad,breaker").unwrap();
    pm.print_after(PassFilter::Names(vec!["breaker".into()]))
        .dump_to(Box::new(sink.clone()));
    pm.run(&mut small()).unwrap_err();
    let t = sink.text();
    assert!(t.starts_with("# ----- IR after breaker (2) -----"), "{t}");
    assert!(t.contains("# INVALID: ") && t.contains("exp %x"), "{t}");
    // With verify_each off the broken IR goes through unnoticed.
    let mut pm = PassManager::parse_with(&r, "grad,breaker").unwrap();
    pm.verify_each(false);
    pm.run(&mut small()).unwrap();
    // Pass errors are named too.
    let e = PassManager::parse("grad{wrt=nope}")
        .unwrap()
        .run(&mut small())
        .unwrap_err();
    assert!(e.message.starts_with("pass `grad{wrt=nope}` (1)"), "{e}");
}

#[test]
fn time_passes_reports_every_pass() {
    let sink = Sink::default();
    let mut pm = PassManager::parse("grad,simplify,cse,dce").unwrap();
    pm.time_passes(true).dump_to(Box::new(sink.clone()));
    let report = pm.run(&mut small()).unwrap();
    let t = sink.text();
    assert!(t.contains("pass timing report"), "{t}");
    for p in ["grad", "simplify", "cse", "dce", "total"] {
        assert!(
            t.lines().any(|l| l.trim_end().ends_with(p)),
            "{p} missing in\n{t}"
        );
    }
    assert_eq!(report.passes.len(), 4);
    assert!(report.passes[0].nodes_after > report.passes[0].nodes_before);
}
