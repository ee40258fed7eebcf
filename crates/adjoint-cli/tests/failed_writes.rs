//! Issue 11 item 8: failed writes. A reader that closes the pipe early
//! (`adjoint print f.adj | head -1`) is a quiet exit with status 0; any
//! other failed write (`>/dev/full`) is one line on stderr and status 1;
//! when stderr fails as well, status 1 alone. Never a panic or an abort.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// A scratch directory with a chain file and a program whose gradient
/// check fails (a kink at 0).
fn fixtures() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("adjoint-writes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("chain.txt"),
        "3\n50 1000 60000\n5 50 300\n1 5 10\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("kink.adj"),
        "func @f(%x: f64) -> f64 {\n  %y = relu %x\n  return %y\n}\n",
    )
    .unwrap();
    dir
}

/// Every subcommand that writes to standard output, with arguments that
/// succeed.
fn commands() -> Vec<Vec<String>> {
    let chain = fixtures().join("chain.txt").to_string_lossy().into_owned();
    let seed = ["examples/seed.adj", "--arg", "x1=2", "--arg", "x2=7"];
    let cmds: Vec<Vec<&str>> = vec![
        vec!["print", "examples/seed.adj"],
        vec!["dot", "examples/seed.adj"],
        vec![
            "opt",
            "examples/seed.adj",
            "--passes",
            "grad,simplify,cse,dce",
        ],
        [&["run"][..], &seed, &["--engine", "interp"]].concat(),
        [&["run"][..], &seed].concat(),
        [&["check"][..], &seed].concat(),
        [&["check"][..], &seed, &["--json"]].concat(),
        vec!["chain", &chain],
        vec!["--help"],
        vec!["chain", "--help"],
        vec!["--version"],
    ];
    cmds.into_iter()
        .map(|c| c.into_iter().map(String::from).collect())
        .collect()
}

fn bin<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_adjoint"));
    c.args(args)
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .stdin(Stdio::null());
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A pipe whose read end is already closed: every write to the other end
/// fails with EPIPE, whenever the child makes it.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    writer.into()
}

#[cfg(target_os = "linux")]
fn dev_full() -> Stdio {
    File::options()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full")
        .into()
}

fn output(mut c: Command) -> Output {
    c.output().expect("spawn adjoint")
}

#[test]
fn the_commands_succeed_normally() {
    for args in &commands() {
        let o = output(bin(args));
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o.stderr));
        assert!(!o.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn a_closed_pipe_is_a_quiet_exit_0() {
    for args in &commands() {
        let mut c = bin(args);
        c.stdout(closed_pipe()).stderr(Stdio::piped());
        let o = output(c);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: {err}");
    }
}

#[test]
fn a_failed_check_still_exits_1_when_the_pipe_is_closed() {
    // d/dx relu(x) at the kink x = 0: finite differences give 1/2.
    let path = fixtures().join("kink.adj").to_string_lossy().into_owned();
    let mut c = bin(&["check", &path, "--arg", "x=0"]);
    c.stdout(closed_pipe()).stderr(Stdio::piped());
    let o = output(c);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("adjoint: ") && err.contains("gradient check failed"),
        "{err}"
    );
}

#[test]
fn requested_diagnostics_on_a_closed_stderr_stop_quietly() {
    let seed = ["examples/seed.adj", "--arg", "x1=2", "--arg", "x2=7"];
    let cases: Vec<Vec<&str>> = vec![
        [&["run"][..], &seed, &["--arena", "--dump-clif"]].concat(),
        vec![
            "opt",
            "examples/seed.adj",
            "--passes",
            "grad",
            "--print-after=all",
        ],
        vec![
            "opt",
            "examples/seed.adj",
            "--passes",
            "grad,dce",
            "--time-passes",
        ],
    ];
    for args in &cases {
        let mut c = bin(args);
        c.stdout(Stdio::piped()).stderr(closed_pipe());
        let o = output(c);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {:?}", o.status);
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_device_is_one_line_and_exit_1() {
    for args in &commands() {
        let mut c = bin(args);
        c.stdout(dev_full()).stderr(Stdio::piped());
        let o = output(c);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("adjoint: ") && err.contains("cannot write to standard output"),
            "{args:?}: {err}"
        );
        assert!(
            !err.contains("panicked") && !err.contains("internal error"),
            "{err}"
        );
    }
}

#[cfg(target_os = "linux")]
#[test]
fn when_stderr_fails_too_the_status_alone_tells() {
    // Before the fix, the panic hook's own print panicked and the process
    // aborted (SIGABRT, no exit code).
    for args in &commands() {
        let mut c = bin(args);
        c.stdout(dev_full()).stderr(dev_full());
        let o = output(c);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {:?}", o.status);
    }
    // Errors and requested diagnostics with a full stderr.
    for (args, code) in [
        (&["print", "does/not/exist.adj"][..], 1),
        (&["frobnicate"], 2),
        (
            &[
                "run",
                "examples/seed.adj",
                "--arg",
                "x1=2",
                "--arg",
                "x2=7",
                "--arena",
            ],
            1,
        ),
        (
            &[
                "opt",
                "examples/seed.adj",
                "--passes",
                "grad",
                "--print-after=all",
            ],
            1,
        ),
        (
            &[
                "opt",
                "examples/seed.adj",
                "--passes",
                "grad",
                "--time-passes",
            ],
            1,
        ),
    ] {
        let mut c = bin(args);
        c.stdout(Stdio::piped()).stderr(dev_full());
        let o = output(c);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {:?}", o.status);
    }
}
