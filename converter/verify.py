"""Blob-by-blob verification of a converted model against golden activations from real Caffe.

The converted model runs on the golden input; every blob present in the golden file is
compared in Caffe's order (full tensors element-wise; signature blobs through their
per-channel statistics and sampled values) and the first diverging blob is named.
A blob passes when ``max |ours - caffe| <= atol + rtol * max |caffe|``: the tolerance scales
with the blob's magnitude, not each element's, because float32 rounding error in a sum grows
with the size of its terms, so an output element near zero carries the absolute error of its
blob's scale. (An element-wise rule would fail on exactly-right results that cancel to ~0.)

By default the tolerances are the golden file's own: per channel, a stated multiple of how far
Caffe's float32 output is from an exact float64 evaluation of the same net (written by the
golden maker; see golden/README.md "Tolerances"), so a deep net's well-conditioned channels are
held as tightly as its early blobs. Explicit ``atol``/``rtol`` (or a file without per-channel
tolerances) apply the one blob-scale rule above instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from .golden import Golden, read_golden, signature
from .errors import UsageError

#: Blobs of the Split layers Caffe inserts ("<blob>_<layer>_<i>_split_<j>"); they share
#: memory with their source blob, which is compared itself, and our reader folds them away.
SPLIT_BLOB = re.compile(r"_split_\d+$")


@dataclass
class BlobResult:
    """One row of the report."""
    name: str
    kind: str  # "full", "signature", "split" (skipped) or "missing"
    max_abs: float = 0.0
    rel: float = 0.0
    passed: bool = True


@dataclass
class Report:
    """The comparison of one model with one golden file."""
    golden: str
    framework: str
    atol: float
    rtol: float
    rows: List[BlobResult] = field(default_factory=list)
    #: True when the golden file's per-channel tolerances were applied.
    per_channel: bool = False

    @property
    def passed(self) -> bool:
        """Every blob within tolerance, and at least one compared (nothing is not a pass)."""
        return self.compared > 0 and all(r.passed for r in self.rows)

    @property
    def first_failure(self) -> Optional[BlobResult]:
        """The first blob, in Caffe's order, that diverges."""
        return next((r for r in self.rows if not r.passed), None)

    @property
    def compared(self) -> int:
        return sum(r.kind in ("full", "signature") for r in self.rows)


def _errors(ours: np.ndarray, ref: np.ndarray, atol: float, rtol: float):
    """(max abs error, relative error, pass) for two same-shaped arrays."""
    ours = np.asarray(ours, np.float64)
    ref = np.asarray(ref, np.float64)
    if ours.shape != ref.shape:
        return float("inf"), float("inf"), False
    # Caffe itself yields NaN in places (AVE pooling's 0/0 windows): NaN must meet NaN.
    same_nan = np.isnan(ours) == np.isnan(ref)
    diff = np.abs(np.nan_to_num(ours) - np.nan_to_num(ref))
    max_abs = float(diff.max()) if diff.size else 0.0
    scale = float(np.abs(np.nan_to_num(ref)).max()) if ref.size else 0.0
    ok = max_abs <= atol + rtol * scale and bool(same_nan.all())
    return max_abs, max_abs / max(scale, 1e-30), ok


def _channels(data) -> np.ndarray:
    """``data`` as (channels, elements) in float64; a 0/1-D blob is one channel."""
    data = np.asarray(data, np.float64)
    return data.reshape(1, -1) if data.ndim < 2 else np.moveaxis(data, 1, 0).reshape(
        data.shape[1], -1)


def _within(diff: np.ndarray, channel: np.ndarray, tol: np.ndarray) -> bool:
    """Every difference within the tolerance of its channel."""
    return bool(np.all(np.nan_to_num(diff, nan=np.inf) <= tol[channel]))


def _channel_errors(name, ours, ref, tol) -> BlobResult:
    """A full blob against its per-channel tolerances."""
    ours, ref = np.asarray(ours), np.asarray(ref)
    if ours.shape != ref.shape or len(tol) != _channels(ref).shape[0]:
        return BlobResult(name, "full", float("inf"), float("inf"), False)
    a, b = _channels(ours), _channels(ref)
    diff = np.abs(np.nan_to_num(a) - np.nan_to_num(b))
    worst = diff.max(axis=1) if diff.shape[1] else np.zeros(len(tol))
    same_nan = bool((np.isnan(a) == np.isnan(b)).all())
    scale = float(np.abs(np.nan_to_num(b)).max()) if b.size else 0.0
    max_abs = float(worst.max()) if worst.size else 0.0
    return BlobResult(name, "full", max_abs, max_abs / max(scale, 1e-30),
                      same_nan and _within(worst, np.arange(len(tol)), tol))


def _channel_signature(name, ours, sig, tol) -> BlobResult:
    """A signature blob against per-channel tolerances: each channel's mean and std, and
    each sampled value against the tolerance of the channel it lies in."""
    shape = tuple(sig["shape"])
    if tuple(ours.shape) != shape or len(tol) != (shape[1] if len(shape) >= 2 else 1):
        return BlobResult(name, "signature", float("inf"), float("inf"), False)
    index = np.asarray(sig["sample_index"], np.int64)
    inner = int(np.prod(shape[2:])) if len(shape) >= 2 else 0
    where = (index // inner) % shape[1] if inner else np.zeros_like(index)
    mine = signature(ours, index)
    checks = [(np.abs(mine["sample_value"] - np.asarray(sig["sample_value"], np.float64)),
               where)]
    for key in ("channel_mean", "channel_std"):
        checks.append((np.abs(mine[key] - np.asarray(sig[key], np.float64)),
                       np.arange(len(tol))))
    max_abs = max(float(np.nan_to_num(d, nan=np.inf).max(initial=0.0)) for d, _ in checks)
    spread = float(np.max(sig["channel_std"])) + float(np.abs(sig["channel_mean"]).max())
    return BlobResult(name, "signature", max_abs, max_abs / max(spread, 1e-30),
                      all(_within(d, c, tol) for d, c in checks))


def _compare_signature(name, ours, sig, atol, rtol) -> BlobResult:
    """Compare a blob with its stored signature: shape, sampled values, channel stats.
    Channel means and stds get ``rtol`` relative to the largest channel std, the blob's
    scale, since a mean can sit near zero while its elements do not."""
    if tuple(ours.shape) != tuple(sig["shape"]):
        return BlobResult(name, "signature", float("inf"), float("inf"), False)
    mine = signature(ours, sig["sample_index"])
    rows = [_errors(mine["sample_value"], sig["sample_value"], atol, rtol)]
    spread = float(np.max(sig["channel_std"])) + float(np.abs(sig["channel_mean"]).max())
    for key in ("channel_mean", "channel_std"):
        worst = float(np.abs(mine[key] - np.asarray(sig[key], np.float64)).max())
        rows.append((worst, worst / max(spread, 1e-30), worst <= atol + rtol * spread))
    return BlobResult(name, "signature", max(r[0] for r in rows), max(r[1] for r in rows),
                      all(r[2] for r in rows))


def compare(golden: Golden, computed: Dict[str, np.ndarray], framework: str = "torch",
            atol: Optional[float] = None, rtol: Optional[float] = None,
            blob_rtol: Optional[Dict[str, float]] = None) -> Report:
    """Compare ``computed`` (Caffe blob name -> array) with every blob of ``golden``.

    Without ``atol``/``rtol``/``blob_rtol`` the golden file's per-channel tolerances apply
    where it has them; ``blob_rtol`` gives per-blob rtols that override ``rtol``.
    """
    per_channel = atol is None and rtol is None and not blob_rtol and bool(golden.tolerances)
    atol = golden.atol if atol is None else atol
    rtol = golden.rtol if rtol is None else rtol
    blob_rtol = blob_rtol or {}
    report = Report(golden.path, framework, atol, rtol, per_channel=per_channel)
    for name in golden.blob_names:
        if name not in golden.blobs and name not in golden.signatures:
            continue
        if name not in computed:
            kind = "split" if SPLIT_BLOB.search(name) else "missing"
            report.rows.append(BlobResult(name, kind, passed=kind == "split"))
            continue
        value = _as_scalar_if_caffe(golden, name, computed[name])
        if per_channel and name in golden.tolerances:
            report.rows.append(_compare_channels(golden, name, value))
        elif name in golden.blobs:
            err = _errors(value, golden.blobs[name], atol, blob_rtol.get(name, rtol))
            report.rows.append(BlobResult(name, "full", *err))
        else:
            report.rows.append(_compare_signature(name, np.asarray(value),
                                                  golden.signatures[name], atol,
                                                  blob_rtol.get(name, rtol)))
    return report


def _as_scalar_if_caffe(golden: Golden, name: str, value):
    """A one-element result as Caffe's 0-axis blob (Reduction over every axis) when the golden
    blob has no axes: MXNet 1.x has no 0-d arrays and gives shape (1,)."""
    sig = golden.signatures.get(name)
    shape = tuple(np.asarray(sig["shape"]).tolist()) if sig is not None and "shape" in sig else None
    value = np.asarray(value)
    return value.reshape(()) if shape == () and value.size == 1 else value


def _compare_channels(golden: Golden, name: str, ours) -> BlobResult:
    """One blob against the golden file's per-channel tolerances."""
    tol = np.asarray(golden.tolerances[name], np.float64)
    if name in golden.blobs:
        return _channel_errors(name, ours, golden.blobs[name], tol)
    return _channel_signature(name, np.asarray(ours), golden.signatures[name], tol)


def run_torch(net, weights, inputs: Dict[str, np.ndarray], device: str = "cpu",
              dtype: str = "float32") -> Dict[str, np.ndarray]:
    """Every Caffe blob of the net as computed by the PyTorch back end."""
    import torch
    from .backends.torch.net import to_torch
    torch_dtype = getattr(torch, dtype)
    module = to_torch(net, weights).to(device=device, dtype=torch_dtype)
    args = [torch.from_numpy(np.asarray(inputs[n])).to(device=device, dtype=torch_dtype)
            for n in module.input_names]
    with torch.no_grad():
        blobs = module.forward_all(*args)
    return {k: v.detach().float().cpu().numpy() for k, v in blobs.items()}


def run_mxnet(net, weights, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Every Caffe blob of the net as computed by the MXNet back end."""
    from .backends.mxnet import forward_all
    # One input is the MXNet variable 'data' whatever its Caffe name; several keep theirs.
    x = next(iter(inputs.values())) if len(inputs) == 1 else dict(inputs)
    return forward_all(net, weights, x)


def verify_model(model, golden_path, framework: str = "torch", prototxt=None,
                 device: str = "cpu", atol: Optional[float] = None,
                 rtol: Optional[float] = None) -> Report:
    """Convert ``model`` (a .caffemodel) and compare it blob by blob with ``golden_path``."""
    from .caffe.loader import load_caffe
    golden = read_golden(golden_path)
    net, weights = load_caffe(model, prototxt)
    missing = [n for n in net.input_blobs() if n not in golden.inputs]
    if missing:
        raise UsageError(f"the golden file has no input named {', '.join(missing)}",
                         file=golden_path)
    inputs = {n: golden.inputs[n] for n in net.input_blobs()}
    _check_inputs(inputs, net.input_blobs(), golden_path)
    if framework == "torch":
        computed = run_torch(net, weights, inputs, device)
    elif framework == "mxnet":
        computed = run_mxnet(net, weights, inputs)
    else:
        raise UsageError(f"unknown framework '{framework}' (torch, mxnet)")
    return compare(golden, computed, framework, atol=atol, rtol=rtol)


def _check_inputs(inputs: Dict[str, np.ndarray], shapes, golden_path) -> None:
    """Golden inputs must be numbers in the net's input shape (any batch size)."""
    for name, value in inputs.items():
        want = tuple(shapes[name])
        if not np.issubdtype(np.asarray(value).dtype, np.number):
            raise UsageError(f"golden input '{name}' is not numeric", file=golden_path)
        got = np.shape(value)
        if len(got) != len(want) or got[1:] != want[1:] or not got[0]:
            raise UsageError(f"golden input '{name}' has shape {list(got)}, the net takes "
                             f"{list(want)}", file=golden_path)


def format_report(report: Report) -> str:
    """The table users see, in Caffe's layer order, ending with the verdict."""
    lines = [f"{'blob':<36} {'kind':<9} {'max abs err':>12} {'rel err':>10}  pass"]
    for r in report.rows:
        mark = "ok" if r.passed else "FAIL"
        if r.kind in ("split", "missing"):
            lines.append(f"{r.name:<36} {r.kind:<9} {'-':>12} {'-':>10}  {mark}")
        else:
            lines.append(f"{r.name:<36} {r.kind:<9} {r.max_abs:>12.3e} {r.rel:>10.3e}  {mark}")
    first = report.first_failure
    if first is None and not report.compared:
        return "\n".join(lines + ["FAIL: no blob compared (no blob of the golden file is "
                                   "computed by the net: is it the net's golden file?)"])
    rule = ("the golden file's per-channel tolerances" if report.per_channel
            else f"atol {report.atol:g}, rtol {report.rtol:g}")
    verdict = (f"PASS: {report.compared} blobs match ({rule})"
               if first is None else
               f"FAIL: first diverging blob: {first.name} (max abs err {first.max_abs:.3e})")
    return "\n".join(lines + [verdict])
