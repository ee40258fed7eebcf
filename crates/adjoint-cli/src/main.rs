//! The `adjoint` command-line tool.
//!
//! Exit codes: 0 success; 1 bad input (one line on stderr, never a panic or
//! a backtrace); 2 usage errors.

use adjoint::ir::{self, Error, Graph, Module, Result, Tensor};
use adjoint::jit::JitOptions;
use adjoint::passes::gradcheck::{gradcheck, GradCheckOptions, GradCheckReport};
use adjoint::passes::{bracketing, PassFilter, PassManager, Registry};
use adjoint::values::{arg_to_tensor, json_number, outputs_json, parse_arg};
use adjoint::Engine;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// adjoint: an automatic-differentiation compiler.
#[derive(Parser)]
#[command(name = "adjoint", version, about, long_about = None)]
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
        /// The function (default: the first).
        #[arg(long)]
        func: Option<String>,
    },
    /// Run a pass pipeline and print the resulting IR, like mlir-opt.
    Opt {
        /// The IR file (`-` for standard input).
        file: PathBuf,
        /// The function (default: the first).
        #[arg(long)]
        func: Option<String>,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Run a function and print its outputs as JSON.
    Run {
        /// The IR file (`-` for standard input).
        file: PathBuf,
        /// The function (default: the first).
        #[arg(long)]
        func: Option<String>,
        /// An argument, `NAME=VALUE`: a JSON number, boolean, or nested or
        /// flat list reshaped to the parameter's shape.
        #[arg(long = "arg", value_name = "NAME=VALUE")]
        args: Vec<String>,
        /// The engine.
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
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Check reverse and forward mode against central finite differences.
    Check {
        /// The IR file (`-` for standard input).
        file: PathBuf,
        /// The function (default: the first).
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
    /// Solve a Jacobian chain bracketing problem given as `m n E` lines.
    Chain {
        /// The chain file (`-` for standard input).
        file: PathBuf,
    },
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

fn apply_pipeline(g: &Graph, p: &PipelineArgs) -> Result<Graph> {
    let mut g = g.clone();
    let Some(pipeline) = &p.passes else {
        if p.print_before.is_some() || p.print_after.is_some() || p.time_passes {
            return Err(Error::input(
                "--print-before/--print-after/--time-passes need --passes",
            ));
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
    pm.print_changed(p.print_changed)
        .time_passes(p.time_passes)
        .verify_each(!p.no_verify_each);
    if let Some(dir) = &p.dump_dir {
        pm.dump_dir(dir);
    }
    pm.run(&mut g)?;
    Ok(g)
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

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Print { file } => {
            let m = load(&file)?;
            print!("{}", ir::print_module(&m));
        }
        Cmd::Dot { file, func } => {
            let m = load(&file)?;
            print!("{}", ir::to_dot(pick(&m, &func)?));
        }
        Cmd::Opt {
            file,
            func,
            pipeline,
        } => {
            let m = load(&file)?;
            let g = apply_pipeline(pick(&m, &func)?, &pipeline)?;
            print!("{}", ir::print_graph(&g));
        }
        Cmd::Run {
            file,
            func,
            args,
            engine,
            dump_clif,
            disasm,
            arena,
            pipeline,
        } => {
            let m = load(&file)?;
            let g = apply_pipeline(pick(&m, &func)?, &pipeline)?;
            let inputs = parse_inputs(&g, &args)?;
            let engine: Engine = engine.parse()?;
            if (dump_clif || disasm || arena) && engine != Engine::Jit {
                return Err(Error::input(
                    "--dump-clif, --disasm and --arena need --engine jit",
                ));
            }
            let opts = JitOptions {
                keep_clif: dump_clif,
                keep_disasm: disasm,
                ..JitOptions::default()
            };
            let prepared = engine.prepare_with(&g, &opts)?;
            if let Some(f) = prepared.compiled() {
                if dump_clif {
                    eprint!("{}", f.clif().unwrap_or_default());
                }
                if disasm {
                    eprint!("{}", f.disasm().unwrap_or_default());
                }
                if arena {
                    eprint!("{}", f.plan());
                }
            }
            let outs = prepared.run(&inputs)?;
            println!("{}", outputs_json(&outs));
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
            let report = gradcheck(g, &inputs, &opts)?;
            if json {
                println!("{}", report_json(&report));
            } else {
                println!("{report}");
            }
            if !report.pass {
                return Err(Error::eval(format!(
                    "gradient check failed: max relative error {:.3e} exceeds {tol:e}",
                    report.max_rel()
                )));
            }
        }
        Cmd::Chain { file } => {
            let text = read_source(&file)?;
            let chain = bracketing::parse_chain(&text).map_err(|e| e.context(file.display()))?;
            println!("{}", bracketing::solve(&chain)?.to_json());
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A panic is a bug; still, the CLI reports it as one line and exit 1.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("adjoint: internal error: {info}");
    }));
    match std::panic::catch_unwind(|| run(cli)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("adjoint: {e}");
            ExitCode::from(1)
        }
        Err(_) => ExitCode::from(1),
    }
}
