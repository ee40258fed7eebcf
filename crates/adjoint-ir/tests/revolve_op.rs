//! The `revolve` op (checkpointed reverse scan): its text form, type rule
//! and errors. Its meaning is tested on the engines.

use adjoint_ir::{parse_module, print_module, Op};

/// A reverse sweep of `s_{t+1} = s_t * x_t`: `b` accumulates
/// `b * x_t + s_t` from `t = n-1` down to 0 and `ys[t] = b * s_t`.
const TEXT: &str = include_str!("programs/revolve.adj");

const MASKED: &str = include_str!("programs/revolve_masked.adj");

#[test]
fn text_round_trips_and_length_comes_from_the_scanned_inputs() {
    for text in [TEXT, MASKED] {
        let m = parse_module(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(print_module(&m), text);
    }
    let m = parse_module(TEXT).unwrap();
    let g = m.main_func().unwrap();
    let node = g
        .node_ids()
        .into_iter()
        .find(|&n| matches!(g[n].op, Op::Revolve { .. }))
        .unwrap();
    let Op::Revolve {
        length,
        snapshots,
        state,
        carry,
        xs,
        masked,
        ..
    } = g[node].op.clone()
    else {
        unreachable!()
    };
    assert_eq!(
        (length, snapshots, state, carry, xs, masked),
        (5, 2, 1, 1, 1, false)
    );
    let tys: Vec<String> = g
        .result_types(node)
        .unwrap()
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(tys, ["f64", "f64[5]"]);
    // A masked revolve takes its length from the mask.
    let m = parse_module(MASKED).unwrap();
    let g = m.main_func().unwrap();
    assert!(g.node_ids().into_iter().any(|n| matches!(
        g[n].op,
        Op::Revolve {
            length: 4,
            masked: true,
            ..
        }
    )));
}

fn error_of(text: &str) -> String {
    match parse_module(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_revolves_are_errors_at_the_statement() {
    let zero = TEXT.replace("snapshots=2", "snapshots=0");
    let e = error_of(&zero);
    assert!(
        e.starts_with("15:") && e.contains("revolve: snapshots=0"),
        "{e}"
    );

    let wrong_step = TEXT.replace(
        "func @fwd(%s: f64, %x: f64, %w: f64)",
        "func @fwd(%s: f64, %x: f64, %w: f64, %v: f64)",
    );
    let wrong_step = wrong_step.replace("%y = mul %a, %w : f64", "%y = mul %a, %v : f64");
    let e = error_of(&wrong_step);
    assert!(
        e.contains("revolve: step=@fwd must take (f64, f64, f64)"),
        "{e}"
    );

    let wrong_mask = MASKED.replace("%m: bool[4]", "%m: f64[4]");
    let e = error_of(&wrong_mask);
    assert!(e.contains("the mask must be bool[4], it is f64[4]"), "{e}");
    assert!(e.starts_with("13:16:"), "{e}");

    let few = TEXT.replace("%b0, %xs, %w body", "%b0 body");
    let e = error_of(&few);
    assert!(e.contains("need 3 operands, there are 2"), "{e}");

    let stateless = TEXT.replace("state=1", "state=0");
    assert!(error_of(&stateless).contains("revolve"));
}
