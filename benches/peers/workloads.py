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
W8_SMALL = "W8_lorenz_rk4_grad_T1000"
W8_LARGE = "W8_lorenz_rk4_grad_T100000"
W8_VALUE = "W8_lorenz_rk4_value_T1000"  # the forward scan alone, for t(grad)/t(f)
W9 = "W9_rnn_step_f32"
W10 = "W10_while_newton_jvp"
W11 = "W11_scan_compile_10k_grad"
W12 = "W12_rnn_long_grad_memory"

ALL_IDS = [W1, W2, W3_SMALL, W3_VALUE_SMALL, W3_LARGE, W3_VALUE_LARGE, W4, W4_LOSS, *W5_CHAINS, W6, W7,
           W8_SMALL, W8_VALUE, W8_LARGE, W9, W10, W11, W12]

W1_EXPECTED = (6.583853163452858, 2.0)
W3_SIZES = {W3_SMALL: 1000, W3_LARGE: 1_000_000}
W3_VALUE_SIZES = {W3_VALUE_SMALL: 1000, W3_VALUE_LARGE: 1_000_000}
W6_SIZE = 10_000
W4_LAYERS = [784, 256, 256, 10]
W4_BATCH = 128
W7_STEPS = 250
W7_WIDTH = 16
W8_STEPS = {W8_SMALL: 1000, W8_LARGE: 100_000, W8_VALUE: 1000}
W8_THETA = (10.0, 28.0, 8.0 / 3.0)
W8_X0 = (1.0, 1.0, 1.0)
W8_LOSS_T1000 = 1019.94373821745
W9_SEQ, W9_BATCH, W9_IN, W9_HIDDEN, W9_OUT = 100, 32, 32, 128, 10
W9_LOSS = 0.507641613
W10_A = 0.7
W10_EXPECTED = (0.8342699518670651, -0.33188796349353455)
W11_STEPS = 10_000
# W12: W9's cell and formulas, batch 1, hidden 256, 10,000 steps; the figure
# is time and the working memory of the gradient.
W12_SEQ, W12_BATCH, W12_IN, W12_HIDDEN, W12_OUT = 10_000, 1, 32, 256, 10


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


# --- W8: Lorenz RK4 -------------------------------------------------------------


def lorenz_rhs(u: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """dx/dt of the Lorenz system; u has shape (..., 3), theta (..., 3)."""
    x, y, z = u[..., 0], u[..., 1], u[..., 2]
    s, r, b = theta[..., 0], theta[..., 1], theta[..., 2]
    return np.stack([s * (y - x), x * (r - z) - y, x * y - b * z], axis=-1)


def lorenz_loss(theta: np.ndarray, x0: np.ndarray, steps: int) -> np.ndarray:
    """sum(x_T^2) after `steps` classic RK4 steps of dt = 1/steps (batched over leading axes)."""
    dt = 1.0 / steps
    u = np.array(x0, dtype=np.float64)
    for _ in range(steps):
        k1 = lorenz_rhs(u, theta)
        k2 = lorenz_rhs(u + 0.5 * dt * k1, theta)
        k3 = lorenz_rhs(u + 0.5 * dt * k2, theta)
        k4 = lorenz_rhs(u + dt * k3, theta)
        u = u + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return np.sum(u * u, axis=-1)


def lorenz_grad_reference(steps: int) -> tuple[float, np.ndarray, np.ndarray]:
    """Loss, d/dtheta and d/dx0 by central differences (all 13 trajectories in one batch)."""
    base = np.concatenate([W8_THETA, W8_X0])
    h = 1e-6 * np.maximum(np.abs(base), 1.0)
    pts = np.tile(base, (13, 1))
    for i in range(6):
        pts[1 + 2 * i, i] += h[i]
        pts[2 + 2 * i, i] -= h[i]
    vals = lorenz_loss(pts[:, :3], pts[:, 3:], steps)
    grad = np.array([(vals[1 + 2 * i] - vals[2 + 2 * i]) / (2 * h[i]) for i in range(6)])
    return float(vals[0]), grad[:3], grad[3:]


# --- W9: Elman RNN ---------------------------------------------------------------


def rnn_weight(shape: tuple[int, ...], off: float) -> np.ndarray:
    n = np.arange(int(np.prod(shape)), dtype=np.float64)
    return (0.05 * np.sin(n + off)).reshape(shape)


def rnn_inputs(seq: int = W9_SEQ, batch: int = W9_BATCH, n_in: int = W9_IN,
               hidden: int = W9_HIDDEN, n_out: int = W9_OUT) -> dict:
    """x[t,i,j] = sin(0.01 (t*1024 + i*32 + j)), y[i,k] = cos(0.1 (10 i + k)), weights 0.05 sin(n + off)."""
    t, i, j = np.meshgrid(np.arange(seq), np.arange(batch), np.arange(n_in), indexing="ij")
    x = np.sin(0.01 * (t * 1024 + i * 32 + j))
    i2, k = np.meshgrid(np.arange(batch), np.arange(n_out), indexing="ij")
    y = np.cos(0.1 * (10 * i2 + k))
    return {"x": x, "y": y, "wx": rnn_weight((n_in, hidden), 0), "wh": rnn_weight((hidden, hidden), 1),
            "b": rnn_weight((hidden,), 2), "wo": rnn_weight((hidden, n_out), 3)}


def rnn_loss_and_grads(inp: dict) -> tuple[float, tuple[np.ndarray, ...]]:
    """Loss and (dWx, dWh, db, dWo) by hand-written backpropagation through time, in float64."""
    x, y, wx, wh, b, wo = (inp[k].astype(np.float64) for k in ("x", "y", "wx", "wh", "b", "wo"))
    hs = [np.zeros((x.shape[1], wh.shape[0]))]
    for t in range(x.shape[0]):
        hs.append(np.tanh(x[t] @ wx + hs[-1] @ wh + b))
    out = hs[-1] @ wo - y
    loss = float(np.mean(out ** 2))
    dout = 2.0 * out / out.size
    dwo = hs[-1].T @ dout
    dh = dout @ wo.T
    dwx, dwh, db = np.zeros_like(wx), np.zeros_like(wh), np.zeros_like(b)
    for t in reversed(range(x.shape[0])):
        dz = dh * (1.0 - hs[t + 1] ** 2)
        dwx += x[t].T @ dz
        dwh += hs[t].T @ dz
        db += dz.sum(axis=0)
        dh = dz @ wh.T
    return loss, (dwx, dwh, db, dwo)


def w12_inputs() -> dict:
    """W9's inputs and weights (same formulas) at W12's sizes."""
    return rnn_inputs(W12_SEQ, W12_BATCH, W12_IN, W12_HIDDEN, W12_OUT)


# --- W11: W7's step as a 10,000-step scan -------------------------------------------


def w11_grad_reference(x: np.ndarray) -> np.ndarray:
    g = np.ones_like(x)
    for _ in range(W11_STEPS):
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
