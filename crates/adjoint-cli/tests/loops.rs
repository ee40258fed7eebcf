//! The CLI on programs with loops: `print`, `opt`, `run`, `check` and `dot`
//! on files with `scan`, bounded and unbounded `while`, `cond` and nested
//! loops; run's JSON against hand-derived values; the default function
//! when bodies come first (clarification rule 1).

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `adjoint args…` with `input` on standard input (the file is `-`).
fn run(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_adjoint"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn adjoint");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts exit status 0 and returns standard output.
fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(o));
    stdout(o)
}

/// Asserts a clean failure with status `code` and returns standard error.
fn fails(o: &Output, code: i32) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("internal error"),
        "{err}"
    );
    err
}

/// The `data` arrays of run's JSON output, as numbers (`true`/`false` as
/// 1/0), one per output; and the `shape` arrays.
fn outputs(json: &str) -> Vec<(Vec<usize>, Vec<f64>)> {
    let mut out = Vec::new();
    let mut rest = json;
    while let Some(i) = rest.find("\"shape\":[") {
        rest = &rest[i + 9..];
        let e = rest.find(']').unwrap();
        let shape = rest[..e]
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        let d = rest.find("\"data\":[").unwrap();
        rest = &rest[d + 8..];
        let e = rest.find(']').unwrap();
        let data = rest[..e]
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| match s {
                "true" => 1.0,
                "false" => 0.0,
                s => s.trim_matches('"').parse().unwrap(),
            })
            .collect();
        out.push((shape, data));
    }
    out
}

/// `c_{t+1} = c_t·x_t + k`, `ys[t] = sin(c_t)·k`.
const SCAN: &str = "
func @step(%c: f64, %x: f64, %k: f64) -> (f64, f64) {
  %m = mul %c, %x
  %n = add %m, %k
  %s = sin %c
  %y = mul %s, %k
  return %n, %y
}

func @main(%init: f64, %xs: f64[3], %k: f64) -> (f64, f64[3]) {
  %c, %ys = scan %init, %xs, %k body=@step carry=1 xs=1
  return %c, %ys
}
";

/// A while doubling `c` until it reaches `x`, inside a scan over `xs`
/// (bodies first; two top-level functions).
const NESTED: &str = "
func @lt(%c: f64, %x: f64) -> bool {
  %p = lt %c, %x
  return %p
}

func @dbl(%c: f64, %x: f64) -> f64 {
  %d = add %c, %c
  return %d
}

func @step(%c: f64, %x: f64) -> (f64, f64) {
  %w = while %c, %x cond=@lt body=@dbl carry=1 max_trips=10
  return %w, %w
}

func @main(%c0: f64, %xs: f64[3]) -> (f64, f64[3]) {
  %c, %ys = scan %c0, %xs body=@step carry=1 xs=1
  return %c, %ys
}

func @total(%c0: f64, %xs: f64[3]) -> f64 {
  %c, %ys = scan %c0, %xs body=@step carry=1 xs=1
  return %c
}
";

/// `x ↦ x² + x` while `x < lim`, at most twice (or unbounded), then a
/// cond on the sign of `k`.
const WHILE_COND: &str = "
func @lt(%x: f64, %lim: f64) -> bool {
  %p = lt %x, %lim
  return %p
}

func @grow(%x: f64, %lim: f64) -> f64 {
  %y = mul %x, %x
  %z = add %y, %x
  return %z
}

func @pos(%w: f64, %k: f64) -> (f64, bool) {
  %m = mul %w, %k
  %t = const true : bool
  return %m, %t
}

func @neg(%w: f64, %k: f64) -> (f64, bool) {
  %s = sin %w
  %f = const false : bool
  return %s, %f
}

func @main(%x: f64, %lim: f64, %k: f64) -> (f64, bool) {
  %w = while %x, %lim cond=@lt body=@grow carry=1 max_trips=2
  %z = const 0 : f64
  %p = gt %k, %z
  %r, %taken = cond %p, %w, %k then=@pos else=@neg
  return %r, %taken
}
";

#[test]
fn print_round_trips_loop_programs() {
    for src in [SCAN, NESTED, WHILE_COND] {
        let once = ok(&run(&["print", "-"], src));
        assert!(
            once.contains(" = scan ") || once.contains(" = while "),
            "{once}"
        );
        let twice = ok(&run(&["print", "-"], &once));
        assert_eq!(once, twice);
    }
}

#[test]
fn run_scan_matches_hand_derived_values_on_both_engines() {
    for engine in ["interp", "jit"] {
        let o = run(
            &[
                "run",
                "-",
                "--engine",
                engine,
                "--arg",
                "init=1",
                "--arg",
                "xs=[2,3,4]",
                "--arg",
                "k=0.5",
            ],
            SCAN,
        );
        let out = outputs(&ok(&o));
        // c: 1 → 1·2 + .5 = 2.5 → 2.5·3 + .5 = 8 → 8·4 + .5 = 32.5.
        assert_eq!(out[0], (vec![], vec![32.5]), "{engine}");
        // The JIT's sin may differ from the host's by an ulp or so.
        let ys: Vec<f64> = [1.0f64, 2.5, 8.0].iter().map(|c| c.sin() * 0.5).collect();
        assert_eq!(out[1].0, vec![3], "{engine}");
        for (a, b) in out[1].1.iter().zip(&ys) {
            assert!(
                (a - b).abs() <= 4.0 * f64::EPSILON * b.abs(),
                "{engine}: {out:?}"
            );
        }
    }
}

#[test]
fn run_nested_loops_while_and_cond_match_hand_derived_values() {
    // Default function: @main (the first function that is not a body).
    // c = 1 doubles to 4 (≥ 3), 8 (≥ 5), 64 (≥ 40).
    let o = run(
        &["run", "-", "--arg", "c0=1", "--arg", "xs=[3,5,40]"],
        NESTED,
    );
    let out = outputs(&ok(&o));
    assert_eq!(
        out,
        vec![(vec![], vec![64.0]), (vec![3], vec![4.0, 8.0, 64.0])]
    );
    // A body may be run itself (rule 15).
    let o = run(
        &["run", "-", "--func", "step", "--arg", "c=1", "--arg", "x=3"],
        NESTED,
    );
    assert_eq!(outputs(&ok(&o)), vec![(vec![], vec![4.0]); 2]);

    // while: 1.5 → 3.75 → 17.8125 (the bound, two trips, is hit), or it
    // stops at 3.75 ≥ lim = 2; then k > 0 takes @pos (w·k, true), k < 0
    // @neg (sin w, false).
    for (lim, k, want, taken) in [
        ("100", "2", 17.8125 * 2.0, 1.0),
        ("2", "2", 7.5, 1.0),
        ("100", "-1", 17.8125f64.sin(), 0.0),
    ] {
        let o = run(
            &[
                "run",
                "-",
                "--arg",
                "x=1.5",
                "--arg",
                &format!("lim={lim}"),
                "--arg",
                &format!("k={k}"),
            ],
            WHILE_COND,
        );
        let json = ok(&o);
        assert!(json.contains("\"dtype\":\"bool\""), "{json}");
        assert_eq!(
            outputs(&json),
            vec![(vec![], vec![want]), (vec![], vec![taken])],
            "lim={lim} k={k}"
        );
    }
}

#[test]
fn zero_length_scans_run_and_print_empty_outputs() {
    let src = "
func @step(%c: f64, %x: f64) -> (f64, f64) {
  %n = add %c, %x
  return %n, %c
}
func @main(%c0: f64, %xs: f64[0]) -> (f64, f64[0]) {
  %c, %ys = scan %c0, %xs body=@step carry=1 xs=1
  return %c, %ys
}
";
    let json = ok(&run(&["run", "-", "--arg", "c0=2", "--arg", "xs=[]"], src));
    assert!(
        json.starts_with("{\"outputs\":[{\"name\":\"c\",\"dtype\":\"f64\",\"shape\":[],\"data\":[2]},{\"name\":\"ys\",\"dtype\":\"f64\",\"shape\":[0],\"data\":[]}]}"),
        "{json}"
    );
}

#[test]
fn opt_grad_through_nested_loops_gives_hand_derived_gradients() {
    let text = ok(&run(
        &[
            "opt",
            "-",
            "--func",
            "total",
            "--passes",
            "grad,simplify,cse,dce",
        ],
        NESTED,
    ));
    // The forward and backward bodies are functions of the output.
    assert!(text.contains("_fwd(") && text.contains("_bwd("), "{text}");
    // Six doublings in all (trip counts held fixed, rule 6): dc/dc0 = 64;
    // xs only steer (rule 12): zero.
    let o = run(
        &[
            "run",
            "-",
            "--engine",
            "interp",
            "--arg",
            "c0=1",
            "--arg",
            "xs=[3,5,40]",
        ],
        &text,
    );
    assert_eq!(
        outputs(&ok(&o)),
        vec![
            (vec![], vec![64.0]),
            (vec![], vec![64.0]),
            (vec![3], vec![0.0, 0.0, 0.0])
        ]
    );
    // --print-after shows the generated functions.
    let o = run(
        &[
            "opt",
            "-",
            "--func",
            "total",
            "--passes",
            "grad",
            "--print-after",
            "grad",
        ],
        NESTED,
    );
    ok(&o);
    assert!(stderr(&o).contains("func @step_bwd("), "{}", stderr(&o));
}

#[test]
fn check_passes_through_scan_while_cond_and_nested_loops() {
    let cases: [(&str, &[&str]); 5] = [
        (
            SCAN,
            &[
                "--arg",
                "init=1",
                "--arg",
                "xs=[2,3,4]",
                "--arg",
                "k=0.5",
                "--of",
                "1",
            ],
        ),
        (
            NESTED,
            &["--func", "total", "--arg", "c0=1", "--arg", "xs=[3,5,40]"],
        ),
        (
            WHILE_COND,
            &[
                "--arg", "x=1.5", "--arg", "lim=100", "--arg", "k=2", "--of", "0",
            ],
        ),
        (
            WHILE_COND,
            &[
                "--arg", "x=1.5", "--arg", "lim=2", "--arg", "k=-1", "--of", "0",
            ],
        ),
        // f32 carries are checked in f64 (the bodies are promoted too).
        (
            &SCAN.replace("f64", "f32"),
            &[
                "--arg",
                "init=1",
                "--arg",
                "xs=[2,3,4]",
                "--arg",
                "k=0.5",
                "--of",
                "0",
            ],
        ),
    ];
    for (src, args) in cases {
        let mut a = vec!["check", "-", "--json"];
        a.extend_from_slice(args);
        let json = ok(&run(&a, src));
        assert!(json.starts_with("{\"pass\":true"), "{args:?}: {json}");
    }
}

#[test]
fn check_reports_failures_through_loops() {
    // Reverse mode through a while without max_trips: exit 1, naming the
    // while and max_trips.
    let unbounded = WHILE_COND.replace(" max_trips=2", "");
    let err = fails(
        &run(
            &[
                "check", "-", "--arg", "x=1.5", "--arg", "lim=100", "--arg", "k=2", "--of", "0",
            ],
            &unbounded,
        ),
        1,
    );
    assert!(
        err.contains("while %w") && err.contains("max_trips"),
        "{err}"
    );
    // A trip count that changes within the finite-difference step: the
    // derivative holds the trips fixed (rule 6), finite differences see
    // the jump. 1.9999999 doubles twice (to ≥ 4); 2 + h once.
    let src = "
func @lt(%c: f64, %x: f64) -> bool {
  %l = const 4 : f64
  %p = lt %c, %l
  return %p
}
func @dbl(%c: f64, %x: f64) -> f64 {
  %d = add %c, %c
  return %d
}
func @main(%c: f64) -> f64 {
  %w = while %c, %c cond=@lt body=@dbl carry=1 max_trips=10
  return %w
}
";
    let o = run(&["check", "-", "--arg", "c=1.9999999"], src);
    let err = fails(&o, 1);
    assert!(err.contains("gradient check failed"), "{err}");
    assert!(stdout(&o).contains("FAIL"), "{}", stdout(&o));
    // Away from the jump it passes: 3 doubles once, dw/dc = 2.
    ok(&run(&["check", "-", "--arg", "c=3"], src));
}

#[test]
fn dot_draws_each_body_as_a_cluster() {
    let dot = ok(&run(&["dot", "-"], NESTED));
    assert!(dot.starts_with("digraph \"main\""), "{dot}");
    // @step, and inside it @lt and @dbl.
    assert!(dot.matches("subgraph cluster_").count() >= 3, "{dot}");
    for f in ["@step", "@lt", "@dbl"] {
        assert!(dot.contains(&format!("label=\"{f}\"")), "{f}: {dot}");
    }
    let dot = ok(&run(&["dot", "-", "--func", "total"], NESTED));
    assert!(dot.starts_with("digraph \"total\""), "{dot}");
}

#[test]
fn every_command_takes_the_first_function_that_is_not_a_body() {
    // Bodies and branches first; @main is the default of run, opt, dot
    // and check alike.
    let printed = ok(&run(&["opt", "-"], WHILE_COND));
    // The function printed last is the one chosen (its bodies print
    // before it).
    assert_eq!(
        printed.rfind("func @"),
        printed.find("func @main("),
        "{printed}"
    );
    let dot = ok(&run(&["dot", "-"], WHILE_COND));
    assert!(dot.starts_with("digraph \"main\""), "{dot}");
    let run_out = ok(&run(
        &[
            "run", "-", "--arg", "x=1.5", "--arg", "lim=100", "--arg", "k=2",
        ],
        WHILE_COND,
    ));
    assert!(run_out.contains("\"bool\""), "{run_out}");
    let check = ok(&run(
        &[
            "check", "-", "--arg", "x=1.5", "--arg", "lim=100", "--arg", "k=2", "--of", "0",
        ],
        WHILE_COND,
    ));
    assert!(check.contains("PASS"), "{check}");
    // A missing argument names @main's parameters, not a body's.
    let err = fails(&run(&["run", "-"], WHILE_COND), 1);
    assert!(err.contains("--arg x=VALUE"), "{err}");
}

#[test]
fn opt_jacobian_through_an_unbounded_while_goes_forward() {
    let unbounded = WHILE_COND.replace(" max_trips=2", "");
    let o = run(
        &[
            "opt",
            "-",
            "--passes",
            "jacobian{of=0,wrt=x}",
            "--print-after",
            "jacobian",
        ],
        &unbounded,
    );
    ok(&o);
    assert!(stderr(&o).contains("forward only"), "{}", stderr(&o));
    let err = fails(
        &run(
            &["opt", "-", "--passes", "jacobian{of=0,wrt=x,mode=rev}"],
            &unbounded,
        ),
        1,
    );
    assert!(err.contains("max_trips"), "{err}");
    // The appended Jacobian runs: x = 1.5 grows to 3.75 ≥ lim = 2 after
    // one trip, then k = 2 > 0 takes w·k: d/dx = (2x + 1)·k = 8.
    let text = ok(&run(
        &["opt", "-", "--passes", "jacobian{of=0,wrt=x}"],
        &unbounded,
    ));
    let o = run(
        &[
            "run", "-", "--arg", "x=1.5", "--arg", "lim=2", "--arg", "k=2",
        ],
        &text,
    );
    assert_eq!(outputs(&ok(&o))[2], (vec![], vec![8.0]));
}

#[test]
fn a_pass_error_about_a_while_names_the_file_line_and_column() {
    // Rule 5: reverse mode through a while without max_trips fails at the
    // while's statement, printed like a parse error: `line:col: kind:
    // FILE: message`.
    let dir = std::env::temp_dir().join(format!("adjoint-loc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("unbounded.adj");
    let path = file.to_str().unwrap();
    let unbounded = WHILE_COND.replace(" max_trips=2", "");
    // `%w = while …` is on line 26 (the text starts with a newline), its
    // result name at column 3.
    assert_eq!(
        unbounded.lines().nth(25).map(str::trim_start),
        Some("%w = while %x, %lim cond=@lt body=@grow carry=1")
    );
    std::fs::write(&file, &unbounded).unwrap();
    let err = fails(&run(&["opt", path, "--passes", "grad{wrt=x,of=0}"], ""), 1);
    assert!(
        err.starts_with(&format!("adjoint: 26:3: pass error: {path}: ")),
        "{err}"
    );
    assert!(
        err.contains("while %w") && err.contains("max_trips"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // jacobian{mode=rev} goes through the same VJP.
    let err = fails(
        &run(
            &["opt", path, "--passes", "jacobian{of=0,wrt=x,mode=rev}"],
            "",
        ),
        1,
    );
    assert!(
        err.starts_with(&format!("adjoint: 26:3: pass error: {path}: ")),
        "{err}"
    );
    // A parse error in the same file has the same shape.
    std::fs::write(&file, unbounded.replace("%y = mul", "%y = mull")).unwrap();
    let err = fails(&run(&["opt", path], ""), 1);
    assert!(
        err.starts_with(&format!("adjoint: 8:8: parse error: {path}: ")),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
