"""Procedural CT-like axial chest slices, so the quick start needs no download.

The phantom mimics the task images (and ``luna16-3patients``): 8-bit lung window (level -600 HU,
width 1500 HU), so air outside the body is dark gray (~60), lung ~75, fat ~210, soft tissue
~232 and bone saturates near 255. Each slice holds a body outline with a subcutaneous fat layer,
two lungs with branching vessel texture that thins toward the periphery, the mediastinum and
heart, trachea/bronchi, a vertebra with canal and processes, ribs, sternum, the liver dome at the
lung bases and the patient table. Anatomy varies per patient and smoothly along z (``z = 0`` is
the most inferior slice: liver dome, then heart, hila, apex), so neighbouring slices are similar.
Everything is drawn in normalised coordinates, so a patient looks the same at every image size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from medimprint.errors import InputError

#: Images up to this size are rendered at twice their size and averaged down (anti-aliasing).
_SUPERSAMPLE_UP_TO = 128


def phantom_slices(
    n_patients: int, slices_per_patient: int, image_size: int, seed: int
) -> tuple[np.ndarray, pd.DataFrame]:
    """Return uint8 ``N x S x S`` phantom slices and their meta (``id, patient, z``).

    ``N = n_patients * slices_per_patient``; ids look like ``p003_z017``. Patient ``p`` depends
    only on ``(seed, p)``, so adding patients leaves the earlier ones unchanged.
    """
    _check_args(n_patients, slices_per_patient, image_size, seed)
    factor = 2 if image_size <= _SUPERSAMPLE_UP_TO else 1
    grid = _Grid(image_size * factor)
    images = np.empty((n_patients * slices_per_patient, image_size, image_size), np.uint8)
    rows = []
    for p in range(n_patients):
        rng = np.random.default_rng([seed, p])
        patient = _draw_patient(rng, grid)
        for z in range(slices_per_patient):
            frac = z / (slices_per_patient - 1) if slices_per_patient > 1 else 0.5
            t = patient.t0 + (patient.t1 - patient.t0) * frac
            raw = _render(patient, t, grid)
            images[len(rows)] = _finish(raw, factor, rng)
            rows.append({"id": f"p{p:03d}_z{z:03d}", "patient": f"p{p:03d}", "z": z})
    meta = pd.DataFrame(rows, columns=["id", "patient", "z"]).astype({"z": int})
    return images, meta


def _check_args(n_patients: int, slices_per_patient: int, image_size: int, seed: int) -> None:
    checks = {
        "demo.patients": (n_patients, 1),
        "demo.slices_per_patient": (slices_per_patient, 1),
        "image_size": (image_size, 16),
        "seed": (seed, 0),
    }
    for key, (value, low) in checks.items():
        if not isinstance(value, int | np.integer) or value < low:
            raise InputError(f"{key}: must be an integer >= {low}, got {value!r}")


# --------------------------------------------------------------------------- geometry helpers


Window = tuple[slice, slice]
Layer = tuple[Window, np.ndarray]  # a shape's coverage inside its bounding window

_EMPTY: Layer = ((slice(0, 0), slice(0, 0)), np.zeros((0, 0), np.float32))


class _Grid:
    """Pixel-centre coordinates in [-1, 1] (x right, y down = posterior) at render size."""

    def __init__(self, size: int) -> None:
        c = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
        self.y, self.x = np.meshgrid(c, c, indexing="ij")
        self.size = size
        self.px = 2.0 / size  # one pixel in normalised units

    def window(self, cx: float, cy: float, rx: float, ry: float) -> Window:
        """Pixel window holding the box ``cx +- rx, cy +- ry`` (plus a margin)."""

        def span(c: float, r: float) -> slice:
            lo = int(np.floor((c - r + 1) / self.px)) - 2
            hi = int(np.ceil((c + r + 1) / self.px)) + 2
            return slice(min(max(lo, 0), self.size), min(max(hi, 0), self.size))

        return span(cy, ry), span(cx, rx)

    def full(self) -> np.ndarray:
        return np.zeros_like(self.x)


def _cover(d: np.ndarray, g: _Grid) -> np.ndarray:
    """Anti-aliased coverage from a signed distance (negative inside), in [0, 1]."""
    return np.clip(0.5 - d / g.px, 0.0, 1.0)


def _ellipse(g: _Grid, cx: float, cy: float, a: float, b: float, angle: float = 0.0) -> Layer:
    """Coverage of a (rotated) ellipse with centre ``cx, cy`` and half-axes ``a, b``."""
    if a <= g.px / 4 or b <= g.px / 4:
        return _EMPTY
    r = max(a, b)
    win = g.window(cx, cy, r, r) if angle else g.window(cx, cy, a, b)
    dx, dy = g.x[win] - cx, g.y[win] - cy
    if angle:
        ca, sa = np.cos(angle), np.sin(angle)
        dx, dy = ca * dx + sa * dy, -sa * dx + ca * dy
    q = np.sqrt((dx / a) ** 2 + (dy / b) ** 2)
    return win, _cover((q - 1) * min(a, b), g)


def _blob(
    g: _Grid, cx: float, cy: float, a: float, b: float, harmonics: np.ndarray | None = None
) -> Layer:
    """Coverage of a boxy ellipse (like a superellipse of power ~2.3) whose radius is modulated
    by ``harmonics`` rows (k, amplitude, phase)."""
    if a <= g.px / 4 or b <= g.px / 4:
        return _EMPTY
    grow = 1 + (np.abs(harmonics[:, 1]).sum() if harmonics is not None else 0)
    win = g.window(cx, cy, a * grow, b * grow)
    dx, dy = (g.x[win] - cx) / a, (g.y[win] - cy) / b
    dx2, dy2 = dx * dx, dy * dy
    q = np.sqrt(dx2 + dy2 - 0.35 * np.minimum(dx2, 1) * np.minimum(dy2, 1))
    if harmonics is not None and len(harmonics):
        q = q / _radius(dx, dy, harmonics)
    return win, _cover((q - 1) * min(a, b), g)


def _radius(dx: np.ndarray, dy: np.ndarray, harmonics: np.ndarray) -> np.ndarray:
    """``1 + sum amp * cos(k theta + phase)`` with cos/sin(k theta) by recurrence (no trig)."""
    norm = np.sqrt(dx * dx + dy * dy) + 1e-6
    c1, s1 = dx / norm, dy / norm
    ck, sk = c1, s1
    radius = np.ones_like(dx)
    for k in range(1, int(harmonics[:, 0].max()) + 1):
        for kk, amp, phase in harmonics:
            if kk == k:
                radius += amp * (ck * np.cos(phase) - sk * np.sin(phase))
        ck, sk = ck * c1 - sk * s1, sk * c1 + ck * s1
    return radius


def _smoothstep(lo: float, hi: float, v: float | np.ndarray) -> float | np.ndarray:
    s = np.clip((np.asarray(v) - lo) / (hi - lo), 0.0, 1.0)
    return s * s * (3 - 2 * s)


def _paint(img: np.ndarray, layer: Layer, value: float | np.ndarray, alpha: float = 1.0) -> None:
    """Blend ``value`` (a number or a full-size array) into ``img`` where ``layer`` covers."""
    win, cover = layer
    sub = img[win]
    if isinstance(value, np.ndarray):
        value = value[win]
    sub += (cover * alpha if alpha != 1.0 else cover) * (value - sub)


def _cut(mask: np.ndarray, layer: Layer) -> None:
    """Remove ``layer`` from a full-size coverage mask, in place."""
    win, cover = layer
    mask[win] *= 1 - cover


def _full(g: _Grid, layer: Layer) -> np.ndarray:
    out = g.full()
    out[layer[0]] = layer[1]
    return out


def _unit_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise scaled to unit standard deviation (float32)."""
    field = ndi.gaussian_filter(rng.standard_normal(shape), sigma)
    return (field / (field.std() + 1e-12)).astype(np.float32)


# --------------------------------------------------------------------------- patient model


@dataclass
class _Patient:
    t0: float
    t1: float
    cx: float
    cy: float
    body_a: float
    body_b: float
    fat: float
    air: float
    fat_value: float
    soft_value: float
    lung_value: float
    lung_x: float
    lung_y: float
    lung_a: float
    lung_b: float
    lung_shape: list[np.ndarray]
    heart: tuple[float, float, float, float]
    dome: tuple[float, float, float]
    ribs: np.ndarray
    rib_cycles: float
    table_gap: float
    table_curve: float
    drift: np.ndarray
    vessel_speed: float
    vessel_phase: float
    vessels: dict[str, np.ndarray]


def _draw_patient(rng: np.random.Generator, g: _Grid) -> _Patient:
    u = rng.uniform
    body_a = u(0.84, 0.95)
    body_b = body_a * u(0.66, 0.84)
    cy = u(-0.1, 0.0)
    lung_x, lung_y = u(0.44, 0.52) * body_a, cy - u(0.0, 0.06) * body_b
    lung_a, lung_b = u(0.42, 0.5) * body_a, u(0.8, 0.95) * body_b
    p = _Patient(
        t0=u(0.0, 0.08),
        t1=u(0.9, 1.0),
        cx=u(-0.03, 0.03),
        cy=cy,
        body_a=body_a,
        body_b=body_b,
        fat=u(0.05, 0.13),
        air=u(57, 63),
        fat_value=u(205, 218),
        soft_value=u(228, 238),
        lung_value=u(68, 80),
        lung_x=lung_x,
        lung_y=lung_y,
        lung_a=lung_a,
        lung_b=lung_b,
        lung_shape=[_harmonics(rng) for _ in range(2)],
        heart=(u(0.08, 0.18) * body_a, u(-0.2, -0.05) * body_b, u(0.34, 0.42), u(0.27, 0.34)),
        dome=(u(-0.25, -0.1) * body_a, u(0.15, 0.28), u(0.6, 0.75)),
        ribs=_draw_ribs(rng),
        rib_cycles=u(4.0, 6.0),
        table_gap=u(0.02, 0.07),
        table_curve=u(0.05, 0.15),
        drift=rng.uniform(-1, 1, size=(3, 2)) * [[0.02, 6.28], [0.02, 6.28], [0.05, 6.28]],
        vessel_speed=u(1.5, 2.5) * np.pi,
        vessel_phase=u(0, 2 * np.pi),
        vessels={},
    )
    p.vessels = _vessel_fields(rng, g, p)
    return p


def _harmonics(rng: np.random.Generator) -> np.ndarray:
    """Radius modulation (k, amplitude, phase) that makes each lung outline individual."""
    ks = np.array([2.0, 3.0, 4.0])
    return np.stack([ks, rng.normal(0, 0.035, 3), rng.uniform(0, 2 * np.pi, 3)], axis=1)


def _draw_ribs(rng: np.random.Generator) -> np.ndarray:
    """Rib positions as rows (angle around the body, z phase, size)."""
    side = np.linspace(0.25, 1.35, 7)  # from posterolateral to anterior, one body side
    angles = np.concatenate([np.pi / 2 - side - 0.15, np.pi / 2 + side + 0.15])
    angles = angles + rng.normal(0, 0.04, angles.size)
    phases = rng.uniform(0, 2 * np.pi, angles.size)
    sizes = rng.uniform(0.8, 1.2, angles.size)
    return np.stack([angles, phases, sizes], axis=1)


def _vessel_fields(rng: np.random.Generator, g: _Grid, p: _Patient) -> dict[str, np.ndarray]:
    """Per-patient noise fields behind the vessel texture (two of each, mixed along z).

    Vessels are the zero lines of noise drawn in polar coordinates around each hilum: smooth
    along the radius, and rougher across it the farther from the hilum, so few trunks leave the
    hilum and branch into more, thinner vessels toward the periphery.
    """
    hilum = [(p.cx + s * 0.07 * p.body_a, p.lung_y) for s in (-1, 1)]
    right_side = g.x > p.cx
    rmax = 2.2 * max(p.lung_a, p.lung_b)
    dist = [np.hypot(g.x - hx, g.y - hy) for hx, hy in hilum]
    r = np.where(right_side, dist[1], dist[0])
    out: dict[str, np.ndarray] = {}
    for name in ("f1", "f2"):
        field = np.zeros_like(g.x)
        for side, (hx, hy) in enumerate(hilum):
            polar = _polar_tree_noise(rng)
            rr = np.clip(dist[side] / rmax, 0, 1) * (polar.shape[0] - 1)
            th = (np.arctan2(g.y - hy, g.x - hx) + np.pi) / (2 * np.pi) * polar.shape[1]
            mapped = ndi.map_coordinates(polar, [rr, th], order=1, mode="grid-wrap")
            field = np.where(right_side == bool(side), mapped, field)
        gy, gx = np.gradient(field)
        out[name], out[name + "_grad"] = field, np.hypot(gx, gy) + 1e-3
    rel = np.clip(r / rmax, 0, 1)
    scale = g.size / 256
    out["width"] = (np.maximum(0.35, 1.8 * (1 - rel) ** 2) * scale).astype(np.float32)
    out["amp"] = (150 * np.clip(1.1 - 1.5 * rel, 0.25, 1)).astype(np.float32)
    for name in ("gate1", "gate2"):
        out[name] = _unit_noise(rng, g.x.shape, 0.025 * g.size)
    for name in ("dots1", "dots2"):
        out[name] = _unit_noise(rng, g.x.shape, max(0.6, 0.005 * g.size))
    return out


def _polar_tree_noise(rng: np.random.Generator, n_r: int = 48, n_theta: int = 192) -> np.ndarray:
    """Noise on a (radius, angle) grid whose angular smoothness falls with the radius."""
    white = ndi.gaussian_filter1d(rng.standard_normal((n_r, n_theta)), 6.0, axis=0)
    rows = []
    for i, row in enumerate(white):
        sigma = 6.0 - 4.8 * i / (n_r - 1)
        smooth = ndi.gaussian_filter1d(row, sigma, mode="wrap")
        rows.append(smooth / (smooth.std() + 1e-12))
    return np.asarray(rows, dtype=np.float32)


# --------------------------------------------------------------------------- rendering


def _render(p: _Patient, t: float, g: _Grid) -> np.ndarray:
    """Float image of patient ``p`` at axial position ``t`` (0 = base, 1 = apex)."""
    img = np.full(g.x.shape, p.air, np.float32)
    # body: rounder at the abdomen, flatter toward the shoulders
    a = p.body_a * (1 - 0.05 * _smoothstep(0.7, 1.0, t) + 0.03 * _smoothstep(0.3, 0.0, t))
    b = p.body_b * (1 - 0.12 * _smoothstep(0.75, 1.0, t) + 0.08 * _smoothstep(0.3, 0.0, t))
    cx = p.cx + p.drift[0, 0] * np.sin(3 * t + p.drift[0, 1])
    cy = p.cy + p.drift[1, 0] * np.sin(2 * t + p.drift[1, 1])
    _table(img, g, p, cy + b)
    _paint(img, _blob(g, cx, cy, a, b), p.fat_value)
    fat = p.fat * (1 + 0.4 * _smoothstep(0.3, 0.0, t))
    ia, ib, icy = a * (1 - fat), b * (1 - 1.3 * fat), cy + 0.3 * fat * b
    _paint(img, _blob(g, cx, icy, ia, ib), p.soft_value)
    wall = 0.07 * p.body_a
    ca, cb = ia - wall, ib - wall
    _ribs(img, g, p, t, cx, icy, ca + 0.6 * wall, cb + 0.6 * wall)
    _lungs(img, g, p, t, cx, cy, _full(g, _blob(g, cx, icy, ca, cb)))
    _airways(img, g, p, t, cx, cy, b)
    _spine(img, g, p, cx, cy + 0.62 * b)
    return img


def _table(img: np.ndarray, g: _Grid, p: _Patient, body_bottom: float) -> None:
    """Patient table: a curved bright board and a fainter line below it."""
    top0 = body_bottom + p.table_gap
    win = g.window(0.0, top0 + (0.1 - p.table_curve) / 2, 1.0, (0.1 + p.table_curve) / 2)
    x, y = g.x[win], g.y[win]
    top = top0 - p.table_curve * x**2
    inside = np.clip((0.95 - np.abs(x)) / g.px, 0, 1)
    for offset, thick, value in ((0.0, 0.025, 175.0), (0.07, 0.012, 110.0)):
        d = np.abs(y - top - offset - thick / 2) - thick / 2
        _paint(img, (win, _cover(d, g) * inside), value)


def _ribs(
    img: np.ndarray, g: _Grid, p: _Patient, t: float, cx: float, cy: float, a: float, b: float
) -> None:
    """Rib cross-sections come and go along z; the sternum sits anteriorly mid-chest."""
    for angle, phase, size in p.ribs:
        vis = _smoothstep(0.0, 0.5, np.sin(2 * np.pi * p.rib_cycles * t + phase))
        vis *= _smoothstep(0.02, 0.15, t)
        if vis <= 0.01:
            continue
        rx, ry = cx + a * np.cos(angle), cy + b * np.sin(angle)
        tangent = np.arctan2(b * np.cos(angle), -a * np.sin(angle))
        rib = _ellipse(g, rx, ry, 0.05 * size * p.body_a, 0.02 * size * p.body_a, tangent)
        _paint(img, rib, 252.0, float(vis))
    sternum = _smoothstep(0.3, 0.45, t) * _smoothstep(0.95, 0.8, t)
    if sternum > 0.01:
        _paint(img, _ellipse(g, cx, cy - b, 0.07 * p.body_a, 0.025), 250.0, float(sternum))


def _lungs(
    img: np.ndarray, g: _Grid, p: _Patient, t: float, cx: float, cy: float, cavity: np.ndarray
) -> None:
    """Lungs fill the thoracic cavity mid-chest and shrink toward base and apex; mediastinum,
    heart, spine and liver dome cut into them."""
    size = 0.35 + 0.65 * np.exp(-(((t - 0.5) / (0.55 if t < 0.5 else 0.38)) ** 2))
    shift = cy - p.cy
    lung = g.full()
    for side, shape in zip((-1, 1), p.lung_shape, strict=True):
        la = p.lung_a * size * (1.04 if side < 0 else 1.0)
        lb = p.lung_b * (0.4 + 0.6 * size)
        ly = p.lung_y + shift + 0.3 * p.lung_b * (1 - size) ** 1.5 - 0.1 * p.lung_b * (1 - size)
        win, cover = _blob(g, cx + side * p.lung_x * (0.85 + 0.15 * size), ly, la, lb, shape)
        np.maximum(lung[win], cover, out=lung[win])
    lung *= cavity
    half = p.body_a * (0.07 + 0.07 * (1 - size)) + 0.03 * np.clip(g.y - cy, 0, None)
    lung *= 1 - _cover(np.abs(g.x - cx) - half, g)  # mediastinum
    hx, hy, ha, hb = p.heart
    heart = np.exp(-(((t - p.dome[1] - 0.08) / 0.2) ** 2)) * p.body_a
    _cut(lung, _ellipse(g, cx + hx, cy + hy, ha * heart, hb * heart, 0.3))
    dx, dtop, dsize = p.dome
    dome_r = dsize * p.body_a * np.clip(1 - t / dtop, 0, 1) ** 0.5
    _cut(lung, _ellipse(g, cx + dx, cy - 0.3 * p.body_b, dome_r * 1.1, dome_r * 0.9))
    _cut(lung, _ellipse(g, cx, cy + 0.55 * p.body_b, 0.1, 0.16))  # paraspinal tissue
    _paint(img, ((slice(None), slice(None)), lung), _parenchyma(g, p, t, cy))


def _parenchyma(g: _Grid, p: _Patient, t: float, cy: float) -> np.ndarray:
    """Lung density with a posterior (dependent) gradient, vessels and vessel cross-sections."""
    v = p.vessels
    angle = p.vessel_phase + p.vessel_speed * t
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    field = c * v["f1"] + s * v["f2"]
    grad = np.abs(c) * v["f1_grad"] + np.abs(s) * v["f2_grad"]  # cheap |grad field| bound
    lines = np.exp(-((field / (grad * v["width"])) ** 2))
    gate = _smoothstep(0.0, 0.7, c * v["gate1"] + s * v["gate2"])
    dots = np.clip((c * v["dots1"] + s * v["dots2"] - 1.7) * 2, 0, 1)
    base = p.lung_value + 10 * np.clip((g.y - cy) / p.body_b, 0, 1)
    return base + v["amp"] * lines * gate + 90 * dots


def _airways(
    img: np.ndarray, g: _Grid, p: _Patient, t: float, cx: float, cy: float, b: float
) -> None:
    """Trachea above the carina, two main bronchi just below it."""
    y = cy - 0.05 * b
    if t > 0.6:
        _paint(img, _ellipse(g, cx, y, 0.055, 0.05), p.air)
    elif t > 0.45:
        spread = 0.16 * (0.6 - t) / 0.15 + 0.03
        for side in (-1, 1):
            _paint(img, _ellipse(g, cx + side * spread, y + 0.02, 0.035, 0.03), p.air)


def _spine(img: np.ndarray, g: _Grid, p: _Patient, cx: float, y: float) -> None:
    """Vertebral body, canal with posterior arch, spinous and transverse processes."""
    r = 0.1 * p.body_a
    _paint(img, _ellipse(g, cx, y, 1.05 * r, r), 255.0)
    arch_y = y + 1.6 * r
    _paint(img, _ellipse(g, cx, arch_y, 0.8 * r, 0.75 * r), 246.0)
    _paint(img, _ellipse(g, cx, arch_y + 0.75 * r, 0.22 * r, 0.8 * r), 246.0)
    for side in (-1, 1):
        _paint(img, _ellipse(g, cx + side * 0.9 * r, arch_y, 0.55 * r, 0.2 * r, side * 0.4), 246.0)
    _paint(img, _ellipse(g, cx, arch_y - 0.05 * r, 0.45 * r, 0.42 * r), p.soft_value - 8)
    _paint(img, _ellipse(g, cx, y, 0.7 * r, 0.65 * r), 251.0)  # cancellous core


def _finish(raw: np.ndarray, factor: int, rng: np.random.Generator) -> np.ndarray:
    """Downsample, blur slightly, add intensity-dependent grainy noise, quantise to uint8."""
    if factor > 1:
        s = raw.shape[0] // factor
        raw = raw.reshape(s, factor, s, factor).mean(axis=(1, 3))
    img = ndi.gaussian_filter(raw, 0.5)
    noise = ndi.gaussian_filter(rng.standard_normal(img.shape).astype(np.float32), 0.5)
    noise /= noise.std() + 1e-6
    img += (2.5 + 4.0 * np.clip((img - 60) / 170, 0, 1)) * noise
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)
