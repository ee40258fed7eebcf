//! The examples that train through loops run, at small sizes, and do what
//! they claim: `lorenz_fit` recovers the Lorenz parameters through an RK4
//! `scan` (forward-mode Jacobian), `rnn` lowers the held-out error through
//! a `scan` (reverse mode). Each example's `run` is called with its
//! `Config::quick()`; the full runs are `cargo run --release --example …`.

// Each example is a crate of its own with the shared `examples/common`
// modules; this test includes two examples, so two copies of each.
#![allow(clippy::duplicate_mod)]

#[allow(dead_code)]
#[path = "../examples/lorenz_fit.rs"]
mod lorenz_fit;
#[path = "../examples/common/plot.rs"]
mod plot;
#[allow(dead_code)]
#[path = "../examples/rnn.rs"]
mod rnn;

use plotters::prelude::*;

use std::path::PathBuf;

/// A fresh directory for one test's PNG.
fn out_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("adjoint-examples-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The file is a PNG of the given size.
fn assert_png(path: &std::path::Path, width: u32, height: u32) {
    let bytes = std::fs::read(path).expect("the example wrote its PNG");
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((w, h), (width, height));
}

#[test]
fn lorenz_fit_recovers_sigma_rho_beta() {
    let png = out_dir("lorenz").join("lorenz_fit.png");
    let fit = lorenz_fit::run(&lorenz_fit::Config::quick(), &png).expect("the fit converges");
    for (got, want) in fit.theta.iter().zip(lorenz_fit::TRUTH) {
        assert!(
            ((got - want) / want).abs() < lorenz_fit::TOLERANCE,
            "recovered {:?}, true {:?}",
            fit.theta,
            lorenz_fit::TRUTH
        );
    }
    // From σ=8, ρ=25, β=2 the loss falls by two orders of magnitude, to
    // the noise floor (uniform noise of ±0.5 has variance 1/12).
    let (first, last) = (fit.losses[0], *fit.losses.last().unwrap());
    assert!(last < first / 50.0, "loss {first} -> {last}");
    assert!((last - 1.0 / 12.0).abs() < 0.03, "final loss {last}");
    assert_png(&png, 1400, 900);
}

#[test]
fn rnn_beats_its_baseline_on_held_out_sequences() {
    let png = out_dir("rnn").join("rnn.png");
    let cfg = rnn::Config::quick();
    let r = rnn::run(&cfg, &png).expect("training lowers the held-out error");
    let (first, last) = (r.held_out[0].1, r.held_out.last().unwrap().1);
    assert!(last < first, "held-out {first} -> {last}");
    assert!(
        last <= cfg.must_beat * r.baseline,
        "held-out {last}, baseline {}",
        r.baseline
    );
    assert_eq!(r.train_losses.len(), cfg.steps);
    assert!(r.train_losses.iter().all(|l| l.is_finite()));
    assert_png(&png, 1300, 520);
}

#[test]
fn the_bundled_font_draws_text_without_system_fonts() {
    let (w, h) = (240u32, 40u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        plot::register_font();
        let style = TextStyle::from((plot::FONT, 24)).color(&BLACK);
        root.draw_text("σ = 10, x₁ 0.5", &style, (4, 8))
            .expect("text draws");
        root.present().expect("present");
    }
    // Glyphs cover a fair share of the strip, and only its left part.
    let dark: Vec<usize> = (0..(w * h) as usize)
        .filter(|&i| buf[3 * i] < 128)
        .map(|i| i % w as usize)
        .collect();
    assert!(dark.len() > 200, "{} dark pixels", dark.len());
    assert!(dark.iter().all(|&x| x < 200));
}

#[test]
fn tick_labels_are_short_and_log_ticks_are_1_2_5() {
    assert_eq!(plot::format_tick(0.0), "0");
    assert_eq!(plot::format_tick(-2.2e-16), "0");
    assert_eq!(plot::format_tick(2.5), "2.5");
    assert_eq!(plot::format_tick(0.05), "0.05");
    assert_eq!(plot::format_tick(1234.0), "1234");
    assert_eq!(plot::format_tick(1e-5), "1e-5");
    let (bold, light) = plot::log_ticks(0.015, 0.26);
    let close = |a: &[f64], b: &[f64]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12)
    };
    assert!(close(&bold, &[0.02, 0.05, 0.1, 0.2]), "{bold:?}");
    assert!(close(&light[..3], &[0.03, 0.04, 0.06]), "{light:?}");
    // Many decades: powers of ten only.
    let (bold, _) = plot::log_ticks(3e-6, 20.0);
    assert!(
        close(&bold, &[1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0]),
        "{bold:?}"
    );
}
