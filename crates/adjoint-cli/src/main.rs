//! The `adjoint` command-line tool.
//!
//! Exit codes: 0 success; 1 bad input (one line on stderr, never a panic or
//! a backtrace); 2 usage errors. Output goes through [`output`]: a closed
//! pipe on standard output (`| head`) is a quiet exit with status 0, any
//! other failed write an error (status 1).

mod output;
mod stats;

use adjoint::ir::{self, Error, Graph, Module, Result, Tensor};
use adjoint::jit::JitOptions;
use adjoint::passes::gradcheck::{gradcheck, GradCheckOptions, GradCheckReport};
use adjoint::passes::{bracketing, PassFilter, PassManager, Registry};
use adjoint::values::{arg_to_tensor, json_number, outputs_json, parse_arg};
use adjoint::Engine;
use clap::{Args, Parser, Subcommand};
use output::Stop;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// adjoint: an automatic-differentiation compiler.
#[derive(Parser)]
#[command(
    name = "adjoint",
    version,
    about,
    long_about = None,
    after_help = "Exit status: 0 on success, also when standard output is a pipe that its reader \
                  closed early (as in `adjoint print f.adj | head -1`: the output stops quietly); \
                  1 on an error, reported as one line on standard error (a failed write, such as a \
                  full disk, is an error); 2 on a usage error."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Parse, verify and print the canonical form of an IR file.
    Print {
        /// The IR file (`-` for standard input).
        file: PathBuf,
    },
    /// Print a function as Graphviz DOT.
    Dot {
        /// The IR file (`-` for standard input).
        file: PathBuf,
        /// The function (default: the first one that no `body=`, `cond=`,
        /// `then=`, `else=` attribute or `custom` declaration uses).
        #[arg(long)]
        func: Option<String>,
    },
    /// Run a pass pipeline and print the resulting IR, like mlir-opt.
    Opt {
        /// The IR file (`-` for standard input).
        file: PathBuf,
        /// The function (default: the first one that no `body=`, `cond=`,
        /// `then=`, `else=` attribute or `custom` declaration uses).
        #[arg(long)]
        func: Option<String>,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Export a function (after an optional pass pipeline) as a StableHLO
    /// module for XLA and IREE (see docs/export.md).
    Export {
        /// The IR file (`-` for standard input).
        file: PathBuf,
        /// The function (default: the first one that no `body=`, `cond=`,
        /// `then=`, `else=` attribute or `custom` declaration uses).
        #[arg(long)]
        func: Option<String>,
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// The output format (only `stablehlo`, MLIR text).
        #[arg(long, value_enum, default_value_t = ExportFormat::Stablehlo)]
        format: ExportFormat,
        /// Write the module to this file rather than standard output.
        #[arg(short = 'o', long = "output", value_name = "OUT")]
        output: Option<PathBuf>,
    },
    /// Run a function and print its outputs as JSON.
    Run {
        /// The IR file (`-` for standard input).
        file: PathBuf,
        /// The function (default: the first one that no `body=`, `cond=`,
        /// `then=`, `else=` attribute or `custom` declaration uses).
        #[arg(long)]
        func: Option<String>,
        /// An argument, `NAME=VALUE`: a JSON number, boolean or list, either
        /// nested exactly like the parameter's shape or a flat row-major
        /// list of all its elements; `"NaN"`, `"inf"` and `"-inf"` as
        /// strings. A number too large for the dtype is an error.
        #[arg(long = "arg", value_name = "NAME=VALUE")]
        args: Vec<String>,
        /// The engine. A program the JIT cannot compile yet (loops, before
        /// the JIT supports them) runs on the interpreter, with a note on
        /// stderr.
        #[arg(long, default_value = "jit", value_parser = ["interp", "jit"])]
        engine: String,
        /// Print the Cranelift IR of each generated function on stderr (JIT).
        #[arg(long)]
        dump_clif: bool,
        /// Print the native disassembly of each generated function on
        /// stderr (JIT).
        #[arg(long)]
        disasm: bool,
        /// Report the JIT's memory plan and arena size in bytes on stderr.
        #[arg(long)]
        arena: bool,
        /// Measure the call and write one JSON object as the last line of
        /// stderr: `{"body_evals":{NAME:RUNS,…},"engine":…,"working_bytes":N}`,
        /// the peak working memory and the runs of each loop body.
        #[arg(long)]
        stats: bool,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Check reverse and forward mode against central finite differences.
    Check {
        /// The IR file (`-` for standard input).
        file: PathBuf,
        /// The function (default: the first one that no `body=`, `cond=`,
        /// `then=`, `else=` attribute or `custom` declaration uses).
        #[arg(long)]
        func: Option<String>,
        /// An argument, `NAME=VALUE` (see `run`).
        #[arg(long = "arg", value_name = "NAME=VALUE")]
        args: Vec<String>,
        /// Relative tolerance for pass/fail.
        #[arg(long, default_value_t = 1e-6)]
        tol: f64,
        /// Absolute tolerance for pass/fail.
        #[arg(long, default_value_t = 1e-9)]
        atol: f64,
        /// The output to differentiate, when the function has several.
        #[arg(long)]
        of: Option<usize>,
        /// The parameters to check, comma-separated (default: every float
        /// parameter).
        #[arg(long, value_delimiter = ',')]
        wrt: Option<Vec<String>>,
        /// Check reverse mode only.
        #[arg(long)]
        reverse_only: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Solve a Jacobian chain bracketing problem given as `m n E` lines (at
    /// most 1024 factors: the solver is O(q³) in time and O(q²) in memory;
    /// costs are exact, and a cost of 2^128 − 1 FMAs or more is an error).
    Chain {
        /// The chain file (`-` for standard input).
        file: PathBuf,
    },
}

/// The formats `adjoint export` writes.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    /// StableHLO as MLIR text, entry `@main`.
    Stablehlo,
}

#[derive(Args, Default)]
struct PipelineArgs {
    /// A pass pipeline, e.g. `grad{wrt=x},simplify,cse,dce`.
    #[arg(long)]
    passes: Option<String>,
    /// Dump the IR before these passes (comma list or `all`).
    #[arg(long, value_name = "PASSES")]
    print_before: Option<String>,
    /// Dump the IR after these passes (comma list or `all`).
    #[arg(long, value_name = "PASSES")]
    print_after: Option<String>,
    /// Dump only when a pass changed the IR.
    #[arg(long)]
    print_changed: bool,
    /// Write dumps to this directory, one numbered file each, not stderr.
    #[arg(long, value_name = "DIR")]
    dump_dir: Option<PathBuf>,
    /// Print a per-pass timing report on stderr.
    #[arg(long)]
    time_passes: bool,
    /// Do not run the verifier after each pass.
    #[arg(long)]
    no_verify_each: bool,
}

fn read_source(path: &PathBuf) -> Result<String> {
    let bytes = if path.as_os_str() == "-" {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)
            .map_err(|e| Error::input(format!("cannot read standard input: {e}")))?;
        v
    } else {
        std::fs::read(path)
            .map_err(|e| Error::input(format!("cannot read {}: {e}", path.display())))?
    };
    String::from_utf8(bytes).map_err(|e| {
        Error::input(format!(
            "{}: not UTF-8 (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })
}

fn load(path: &PathBuf) -> Result<Module> {
    let src = read_source(path)?;
    ir::parse_module(&src).map_err(|e| e.context(path.display()))
}

/// An error located in the text of `path` (a pass's error about one
/// statement) names the file, as parse errors do.
fn in_file(e: Error, path: &Path) -> Error {
    if e.loc.is_some() {
        e.context(path.display())
    } else {
        e
    }
}

fn pick<'m>(m: &'m Module, func: &Option<String>) -> Result<&'m Graph> {
    match func {
        Some(name) => {
            let name = name.strip_prefix('@').unwrap_or(name);
            m.func(name).ok_or_else(|| {
                let names: Vec<String> = m.funcs().map(|g| format!("@{}", g.name())).collect();
                Error::input(format!(
                    "no function @{name}; the file defines {}",
                    names.join(", ")
                ))
            })
        }
        None => m
            .main_func()
            .ok_or_else(|| Error::input("the file defines no function")),
    }
}

fn apply_pipeline(g: &Graph, p: &PipelineArgs, file: &Path) -> std::result::Result<Graph, Stop> {
    let mut g = g.clone();
    let Some(pipeline) = &p.passes else {
        if p.print_before.is_some() || p.print_after.is_some() || p.time_passes {
            return Err(
                Error::input("--print-before/--print-after/--time-passes need --passes").into(),
            );
        }
        return Ok(g);
    };
    let registry = Registry::builtin();
    let mut pm = PassManager::parse_with(&registry, pipeline)?;
    if let Some(f) = &p.print_before {
        pm.print_before(PassFilter::parse(f, &registry)?);
    }
    if let Some(f) = &p.print_after {
        pm.print_after(PassFilter::parse(f, &registry)?);
    }
    let (stderr, stderr_closed) = output::DiagWriter::new();
    pm.print_changed(p.print_changed)
        .time_passes(p.time_passes)
        .verify_each(!p.no_verify_each)
        .dump_to(Box::new(stderr));
    if let Some(dir) = &p.dump_dir {
        pm.dump_dir(dir);
    }
    match pm.run(&mut g) {
        Ok(_) => Ok(g),
        // A dump or the timing report met a closed pipe.
        Err(_) if stderr_closed.load(std::sync::atomic::Ordering::Relaxed) => Err(Stop::Closed),
        Err(e) => Err(in_file(e, file).into()),
    }
}

fn parse_inputs(g: &Graph, args: &[String]) -> Result<Vec<Tensor>> {
    let mut given: Vec<Option<Tensor>> = vec![None; g.params().len()];
    for a in args {
        let (name, value) = a
            .split_once('=')
            .ok_or_else(|| Error::input(format!("--arg {a}: expected NAME=VALUE")))?;
        let name = name.trim().trim_start_matches('%');
        let p = g.param_by_name(name).ok_or_else(|| {
            Error::input(format!(
                "--arg {name}: @{} has no parameter %{name} (parameters: {})",
                g.name(),
                g.param_names()
                    .iter()
                    .map(|n| format!("%{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let index = g.params().iter().position(|&q| q == p).unwrap_or(0);
        let ty = g.ty(p);
        let v = parse_arg(value)
            .and_then(|v| arg_to_tensor(&v, ty))
            .map_err(|e| e.context(format!("--arg {name} ({ty})")))?;
        if given[index].replace(v).is_some() {
            return Err(Error::input(format!("--arg {name} given twice")));
        }
    }
    given
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            t.ok_or_else(|| {
                let p = g.params()[i];
                Error::input(format!(
                    "missing --arg {}=VALUE ({})",
                    g[p].name.as_deref().unwrap_or("?"),
                    g.ty(p)
                ))
            })
        })
        .collect()
}

fn report_json(r: &GradCheckReport) -> String {
    let num = |v: f64| json_number(v);
    let inputs: Vec<String> = r
        .inputs
        .iter()
        .map(|i| {
            format!(
                "{{\"name\":\"{}\",\"numel\":{},\"reverse_abs\":{},\"reverse_rel\":{},\"forward_abs\":{},\"forward_rel\":{},\"fd_max\":{},\"pass\":{}}}",
                i.name,
                i.numel,
                num(i.reverse_abs),
                num(i.reverse_rel),
                num(i.forward_abs),
                num(i.forward_rel),
                num(i.fd_max),
                i.pass
            )
        })
        .collect();
    format!("{{\"pass\":{},\"inputs\":[{}]}}", r.pass, inputs.join(","))
}

fn run(cli: Cli) -> std::result::Result<(), Stop> {
    match cli.cmd {
        Cmd::Print { file } => {
            let m = load(&file)?;
            output::out(&ir::print_module(&m))?;
        }
        Cmd::Dot { file, func } => {
            let m = load(&file)?;
            output::out(&ir::to_dot(pick(&m, &func)?))?;
        }
        Cmd::Opt {
            file,
            func,
            pipeline,
        } => {
            let m = load(&file)?;
            let g = apply_pipeline(pick(&m, &func)?, &pipeline, &file)?;
            output::out(&ir::print_graph(&g))?;
        }
        Cmd::Export {
            file,
            func,
            pipeline,
            format: ExportFormat::Stablehlo,
            output,
        } => {
            let m = load(&file)?;
            let g = apply_pipeline(pick(&m, &func)?, &pipeline, &file)?;
            let text = adjoint::stablehlo::export(&g)?;
            match output {
                None => output::out(&text)?,
                Some(path) => {
                    let what = path.display().to_string();
                    let f = std::fs::File::create(&path)
                        .map_err(|e| Error::input(format!("cannot create {what}: {e}")))?;
                    output::write_checked(std::io::BufWriter::new(f), &what, &text)?;
                }
            }
        }
        Cmd::Run {
            file,
            func,
            args,
            engine,
            dump_clif,
            disasm,
            arena,
            stats,
            pipeline,
        } => {
            let m = load(&file)?;
            let g = apply_pipeline(pick(&m, &func)?, &pipeline, &file)?;
            let inputs = parse_inputs(&g, &args)?;
            let engine: Engine = engine.parse()?;
            if (dump_clif || disasm || arena) && engine != Engine::Jit {
                return Err(
                    Error::input("--dump-clif, --disasm and --arena need --engine jit").into(),
                );
            }
            let opts = JitOptions {
                keep_clif: dump_clif,
                keep_disasm: disasm,
                ..JitOptions::default()
            };
            let prepared = engine.prepare_with(&g, &opts)?;
            if let Some(f) = prepared.compiled() {
                if dump_clif {
                    output::diag(f.clif().unwrap_or_default())?;
                }
                if disasm {
                    output::diag(f.disasm().unwrap_or_default())?;
                }
                if arena {
                    output::diag(f.plan())?;
                }
            }
            if stats {
                let (outs, line) = stats::run_measured(&prepared, &inputs)?;
                output::out(&format!("{}\n", outputs_json(&outs)))?;
                output::diag(&line)?;
                return Ok(());
            }
            let outs = prepared.run(&inputs)?;
            output::out(&format!("{}\n", outputs_json(&outs)))?;
        }
        Cmd::Check {
            file,
            func,
            args,
            tol,
            atol,
            of,
            wrt,
            reverse_only,
            json,
        } => {
            let m = load(&file)?;
            let g = pick(&m, &func)?;
            let inputs = parse_inputs(g, &args)?;
            let opts = GradCheckOptions {
                of,
                wrt,
                rtol: tol,
                atol,
                forward: !reverse_only,
            };
            let report = gradcheck(g, &inputs, &opts).map_err(|e| in_file(e, &file))?;
            let written = output::out(&if json {
                format!("{}\n", report_json(&report))
            } else {
                format!("{report}\n")
            });
            // A failed check is status 1 even if the reader closed the pipe.
            if !report.pass {
                return Err(Error::eval(format!(
                    "gradient check failed: max relative error {:.3e} exceeds {tol:e}",
                    report.max_rel()
                ))
                .into());
            }
            written?;
        }
        Cmd::Chain { file } => {
            let text = read_source(&file)?;
            let chain = bracketing::parse_chain(&text).map_err(|e| e.context(file.display()))?;
            output::out(&format!("{}\n", bracketing::solve(&chain)?.to_json()))?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    // A panic is a bug; still, the CLI reports it as one line and exit 1
    // (and never panics again if stderr cannot be written).
    std::panic::set_hook(Box::new(|info| {
        output::report(format_args!("internal error: {info}"));
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_exit(&e),
    };
    match std::panic::catch_unwind(|| run(cli)) {
        Ok(Ok(())) | Ok(Err(Stop::Closed)) => ExitCode::SUCCESS,
        Ok(Err(Stop::Error(e))) => {
            output::report(e);
            ExitCode::from(1)
        }
        Err(_) => ExitCode::from(1),
    }
}

/// Prints clap's help, version or usage error and gives its exit status:
/// 0 for help and version (or 1 if standard output cannot be written, 0 if
/// it is a closed pipe), 2 for a usage error (also when stderr fails).
fn clap_exit(e: &clap::Error) -> ExitCode {
    let code = u8::try_from(e.exit_code()).unwrap_or(2);
    let printed = e.print().and_then(|()| {
        std::io::stdout().flush()?;
        std::io::stderr().flush()
    });
    match printed {
        Ok(()) => ExitCode::from(code),
        Err(_) if code != 0 => ExitCode::from(code),
        Err(io) if io.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(io) => {
            output::report(format_args!("cannot write to standard output: {io}"));
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn chain_help_states_the_solver_limit() {
        let cmd = Cli::command();
        let chain = cmd.find_subcommand("chain").expect("chain subcommand");
        let about = chain.get_about().expect("about").to_string();
        let limit = format!("at most {} factors", bracketing::MAX_FACTORS);
        assert!(about.contains(&limit), "{about}");
    }
}
