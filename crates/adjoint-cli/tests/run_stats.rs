//! `adjoint run --stats`: one JSON object, the last line of stderr, with
//! the engine, the measured peak working memory and the runs of each body;
//! stdout and the exit codes as without it.

use adjoint::interp::{eval_with_stats, EvalOptions};
use adjoint::ir::{parse_module, Tensor};
use std::collections::BTreeMap;
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

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The stats line, parsed: the last line of stderr, which must be exactly
/// `{"body_evals":{…},"engine":"…","working_bytes":N}`.
#[derive(Debug, PartialEq)]
struct Stats {
    body_evals: BTreeMap<String, u64>,
    engine: String,
    working_bytes: u64,
}

fn parse_stats(stderr: &str) -> Stats {
    assert!(stderr.ends_with('\n'), "{stderr:?}");
    let last = stderr.trim_end_matches('\n').rsplit('\n').next().unwrap();
    let rest = last
        .strip_prefix("{\"body_evals\":{")
        .unwrap_or_else(|| panic!("not the stats line: {last}"));
    let (evals, rest) = rest.split_once('}').unwrap();
    let mut body_evals = BTreeMap::new();
    let mut names = Vec::new();
    for pair in evals.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = pair.rsplit_once(':').unwrap();
        let k = k.strip_prefix('"').unwrap().strip_suffix('"').unwrap();
        names.push(k.to_string());
        body_evals.insert(k.to_string(), v.parse().unwrap());
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "body_evals keys sorted: {last}");
    let rest = rest.strip_prefix(",\"engine\":\"").unwrap();
    let (engine, rest) = rest.split_once('"').unwrap();
    let n = rest
        .strip_prefix(",\"working_bytes\":")
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or_else(|| panic!("{last}"));
    Stats {
        body_evals,
        engine: engine.to_string(),
        working_bytes: n.parse().unwrap(),
    }
}

/// `s_{t+1} = s_t x_t w`, reversed with 2 snapshots over 5 trips.
const REVOLVE: &str = "\
func @fwd(%s: f64, %x: f64, %w: f64) -> f64 {
  %a = mul %s, %x : f64
  %y = mul %a, %w : f64
  return %y
}

func @bwd(%b: f64, %s: f64, %x: f64, %w: f64) -> (f64, f64) {
  %p = mul %b, %x : f64
  %q = add %p, %s : f64
  %y = mul %q, %s : f64
  return %q, %y
}

func @main(%s0: f64, %b0: f64, %xs: f64[5], %w: f64) -> (f64, f64[5]) {
  %b, %ys = revolve %s0, %b0, %xs, %w body=@bwd step=@fwd state=1 carry=1 xs=1 snapshots=2 : (f64, f64[5])
  return %b, %ys
}
";

const ARGS: [&str; 8] = [
    "--arg",
    "s0=1",
    "--arg",
    "b0=0",
    "--arg",
    "xs=[2, 3, 1, 0.5, 2]",
    "--arg",
    "w=2",
];

#[test]
fn the_stats_line_is_last_on_stderr_and_counts_every_body_run() {
    let mut args = vec!["run", "-", "--engine", "interp", "--stats"];
    args.extend(ARGS);
    let o = run(&args, REVOLVE);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    // stdout is what it is without --stats.
    let mut plain = vec!["run", "-", "--engine", "interp"];
    plain.extend(ARGS);
    let p = run(&plain, REVOLVE);
    assert_eq!(p.status.code(), Some(0));
    assert_eq!(text(&o.stdout), text(&p.stdout));
    assert!(text(&p.stderr).is_empty(), "{}", text(&p.stderr));
    assert!(text(&o.stdout).contains("[585,1168,2304,3456,2304]"));
    let stderr = text(&o.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let s = parse_stats(&stderr);
    assert_eq!(s.engine, "interp");
    // 5 reverse steps; t(5, 2) = 2·5 − C(4, 3) = 6 forward steps.
    let want: BTreeMap<String, u64> = [("bwd".to_string(), 5), ("fwd".to_string(), 6)].into();
    assert_eq!(s.body_evals, want);
    // The measurement is the interpreter's.
    let m = parse_module(REVOLVE).unwrap();
    let inputs = [
        Tensor::scalar_f64(1.0),
        Tensor::scalar_f64(0.0),
        Tensor::from_f64([5], vec![2.0, 3.0, 1.0, 0.5, 2.0]).unwrap(),
        Tensor::scalar_f64(2.0),
    ];
    let (_, lib) =
        eval_with_stats(m.main_func().unwrap(), &inputs, &EvalOptions::default()).unwrap();
    assert_eq!(s.working_bytes, lib.working_bytes);
    assert!(s.working_bytes > 0);
}

#[test]
fn the_stats_line_follows_the_pass_dumps_and_counts_straight_line_bytes() {
    // a = sin x and b = cos a, f64[4]: both held at once, 2 × 32 bytes.
    let prog = "\
func @main(%x: f64[4]) -> f64[4] {
  %a = sin %x : f64[4]
  %b = cos %a : f64[4]
  return %b
}
";
    let o = run(
        &[
            "run",
            "-",
            "--engine",
            "interp",
            "--stats",
            "--passes",
            "cse",
            "--print-after",
            "cse",
            "--arg",
            "x=[1, 2, 3, 4]",
        ],
        prog,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let stderr = text(&o.stderr);
    assert!(stderr.lines().count() > 1, "the dump is on stderr too");
    let s = parse_stats(&stderr);
    assert_eq!(s.working_bytes, 64);
    assert!(s.body_evals.is_empty());
    assert_eq!(s.engine, "interp");
}

#[test]
fn errors_keep_their_exit_codes_with_stats() {
    // Usage errors: status 2.
    let o = run(&["run", "--stats"], "");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let o = run(&["print", "-", "--stats"], REVOLVE);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    // Bad input: status 1, one error line, no stats line.
    let o = run(
        &["run", "-", "--engine", "interp", "--stats", "--arg", "s0=1"],
        REVOLVE,
    );
    assert_eq!(o.status.code(), Some(1));
    let stderr = text(&o.stderr);
    assert!(
        stderr.starts_with("adjoint: ") && !stderr.contains("working_bytes"),
        "{stderr}"
    );
}
