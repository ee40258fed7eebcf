"""The workloads of shared/workloads.md: ids, deterministic inputs, reference values.

Everything here is plain numpy (float64), so both peers (and any reader) start
from bit-identical inputs.  Each peer converts the arrays to its own tensors.

workloads.md fixes shapes, dtypes and the inputs of W1, W2, W3, W6 and W7.  It
does not fix the parameter values of W4 (MLP) and W5 (tanh chains); the values
below are this script's definition, documented in benches/peers/README.md so
that adjoint's criterion benchmarks can use the very same numbers:

    det(rows, cols, salt)[i, j] = sin(0.7 * (i * cols + j) + salt) / sqrt(cols)

The reference functions (closed-form gradients, Hessian-vector products,
Jacobians, losses) are hand-derived in numpy and used to check every peer's
answer, so a wrong setup (float32 instead of float64, a wrong formula) shows
up as a failed check instead of a plausible-looking timing.
"""

from __future__ import annotations

import numpy as np

# Workload ids, in table order.  W5 has one id per chain.
W1 = "W1_seed_scalar_grad"
W2 = "W2_sigmoid3_grad"
W3_SMALL = "W3_rosenbrock_grad_n1000"
W3_LARGE = "W3_rosenbrock_grad_n1000000"
W3_VALUE_SMALL = "W3_rosenbrock_value_n1000"  # the function alone, for grad/value ratios
W3_VALUE_LARGE = "W3_rosenbrock_value_n1000000"
W4 = "W4_mlp_step_f32"
W4_LOSS = "W4_mlp_loss_f32"  # the loss alone
W5_CHAINS = {
    "W5_jacobian_hourglass": [800, 8, 800, 8, 800],
    "W5_jacobian_diamond": [8, 800, 800, 8, 800, 8],
    "W5_jacobian_wide_in": [1000, 500, 250, 50, 10],
}
W6 = "W6_hvp_rosenbrock_n10000"
W7 = "W7_compile_1000op_grad"

ALL_IDS = [W1, W2, W3_SMALL, W3_VALUE_SMALL, W3_LARGE, W3_VALUE_LARGE, W4, W4_LOSS, *W5_CHAINS, W6, W7]

W1_EXPECTED = (6.583853163452858, 2.0)
W3_SIZES = {W3_SMALL: 1000, W3_LARGE: 1_000_000}
W3_VALUE_SIZES = {W3_VALUE_SMALL: 1000, W3_VALUE_LARGE: 1_000_000}
W6_SIZE = 10_000
W4_LAYERS = [784, 256, 256, 10]
W4_BATCH = 128
W7_STEPS = 250
W7_WIDTH = 16


def select(only: str | None) -> list[str]:
    """Ids selected by --only (comma-separated prefixes such as ``W1,W3``)."""
    if not only:
        return list(ALL_IDS)
    prefixes = [p.strip() for p in only.split(",") if p.strip()]
    chosen = [i for i in ALL_IDS if any(i == p or i.startswith(p + "_") for p in prefixes)]
    return chosen


def det(rows: int, cols: int, salt: float) -> np.ndarray:
    """Deterministic dense matrix with entries of size about 1/sqrt(cols)."""
    k = np.arange(rows * cols, dtype=np.float64)
    return (np.sin(0.7 * k + salt) / np.sqrt(cols)).reshape(rows, cols)


# --- W2 -------------------------------------------------------------------

W2_X = 100.0


def w2_reference() -> tuple[float, float]:
    """d/dx s(s(s(x))) at x = 100 by the chain rule, two ways.

    From primitives, s'(v) = exp(-v) / (1 + exp(-v))^2, which keeps the tiny
    exp(-100) and gives about 1.6e-45.  Through the sigmoid rule
    s' = s (1 - s), s(100) rounds to exactly 1.0 and the product is exactly 0.
    Both are right to rounding; a peer must return one of them.
    """
    def s(v):
        return 1.0 / (1.0 + np.exp(-v))

    def ds_primitive(v):
        return np.exp(-v) / (1.0 + np.exp(-v)) ** 2

    def ds_rule(v):
        return s(v) * (1.0 - s(v))

    x = W2_X
    a = s(x)
    b = s(a)
    primitive = ds_primitive(b) * ds_primitive(a) * ds_primitive(x)
    rule = ds_rule(b) * ds_rule(a) * ds_rule(x)
    return float(primitive), float(rule)


# --- W3 / W6: Rosenbrock ----------------------------------------------------


def rosenbrock_x(n: int) -> np.ndarray:
    return np.linspace(-1.0, 1.0, n, dtype=np.float64)


def rosenbrock_value(x: np.ndarray) -> float:
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def rosenbrock_grad(x: np.ndarray) -> np.ndarray:
    d = x[1:] - x[:-1] ** 2
    g = np.zeros_like(x)
    g[:-1] += -400.0 * x[:-1] * d - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * d
    return g


def rosenbrock_hvp(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """H v with the tridiagonal Hessian of the Rosenbrock sum."""
    d = x[1:] - x[:-1] ** 2
    diag = np.zeros_like(x)
    diag[:-1] += -400.0 * d + 800.0 * x[:-1] ** 2 + 2.0
    diag[1:] += 200.0
    off = -400.0 * x[:-1]  # H[i, i+1] = H[i+1, i]
    hv = diag * v
    hv[:-1] += off * v[1:]
    hv[1:] += off * v[:-1]
    return hv


# --- W4: MLP 784-256-256-10, tanh, softmax cross-entropy ---------------------


def mlp_inputs() -> dict:
    """Parameters (x @ W + b layout), batch and labels, all float32."""
    params = []
    for layer, (fan_in, fan_out) in enumerate(zip(W4_LAYERS[:-1], W4_LAYERS[1:])):
        w = det(fan_in, fan_out, salt=1.0 + layer)
        b = 0.1 * np.sin(0.3 * np.arange(fan_out, dtype=np.float64) + layer)
        params.append(w.astype(np.float32))
        params.append(b.astype(np.float32))
    k = np.arange(W4_BATCH * W4_LAYERS[0], dtype=np.float64)
    x = np.sin(0.013 * k + 0.5).reshape(W4_BATCH, W4_LAYERS[0]).astype(np.float32)
    labels = (np.arange(W4_BATCH) % W4_LAYERS[-1]).astype(np.int32)
    return {"params": params, "x": x, "labels": labels}


def mlp_loss_reference(inp: dict) -> float:
    """Mean softmax cross-entropy, computed in float64."""
    h = inp["x"].astype(np.float64)
    params = [p.astype(np.float64) for p in inp["params"]]
    n_layers = len(params) // 2
    for i in range(n_layers):
        h = h @ params[2 * i] + params[2 * i + 1]
        if i + 1 < n_layers:
            h = np.tanh(h)
    m = h.max(axis=1, keepdims=True)
    logz = m[:, 0] + np.log(np.exp(h - m).sum(axis=1))
    picked = h[np.arange(h.shape[0]), inp["labels"]]
    return float(np.mean(logz - picked))


# --- W5: tanh chains ----------------------------------------------------------


def chain_inputs(widths: list[int]) -> dict:
    """x in R^widths[0]; W_i has shape (widths[i], widths[i-1])."""
    weights = [det(m, n, salt=0.5 * i) for i, (n, m) in enumerate(zip(widths[:-1], widths[1:]))]
    x = np.linspace(-1.0, 1.0, widths[0], dtype=np.float64)
    return {"weights": weights, "x": x}


def chain_jacobian_reference(inp: dict) -> np.ndarray:
    """J = D_k W_k ... D_1 W_1 with D_i = diag(1 - tanh(z_i)^2)."""
    h = inp["x"]
    jac = np.eye(h.shape[0])
    for w in inp["weights"]:
        z = w @ h
        h = np.tanh(z)
        jac = (1.0 - h**2)[:, None] * (w @ jac)
    return jac


# --- W7: 1000-op gradient ------------------------------------------------------


def w7_x() -> np.ndarray:
    return np.linspace(-1.0, 1.0, W7_WIDTH, dtype=np.float64)


def w7_grad_reference(x: np.ndarray) -> np.ndarray:
    """Gradient of sum(x_250) by forward accumulation of the elementwise chain."""
    g = np.ones_like(x)
    for _ in range(W7_STEPS):
        g = g * (np.cos(x) * 1.01 - np.sin(x) * 0.5)
        x = np.sin(x) * 1.01 + np.cos(x) * 0.5
    return g


# --- checks ---------------------------------------------------------------------


def close(got, want, rtol: float, atol: float = 0.0) -> tuple[bool, str]:
    """Compare arrays; return (ok, short description of the worst error)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return False, f"shape {got.shape} != expected {want.shape}"
    if not np.all(np.isfinite(got)):
        return False, "non-finite values"
    err = np.abs(got - want)
    tol = atol + rtol * np.abs(want)
    ok = bool(np.all(err <= tol))
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    rel = float(np.max(err)) / scale if scale > 0 else float(np.max(err, initial=0.0))
    return ok, f"max rel err {rel:.1e}"
