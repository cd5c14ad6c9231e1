"""Blob-by-blob verification of a converted model against golden activations from real Caffe.

The converted model runs on the golden input; every blob present in the golden file is
compared in Caffe's order (full tensors element-wise; signature blobs through their
per-channel statistics and sampled values) and the first diverging blob is named.
A blob passes when ``max |ours - caffe| <= atol + rtol * max |caffe|``: the tolerance scales
with the blob's magnitude, not each element's, because float32 rounding error in a sum grows
with the size of its terms, so an output element near zero carries the absolute error of its
blob's scale. (An element-wise rule would fail on exactly-right results that cancel to ~0.)
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

    ``blob_rtol`` gives per-blob tolerances (measured floors) that override ``rtol``.
    """
    atol = golden.atol if atol is None else atol
    rtol = golden.rtol if rtol is None else rtol
    blob_rtol = blob_rtol or {}
    report = Report(golden.path, framework, atol, rtol)
    for name in golden.blob_names:
        if name not in golden.blobs and name not in golden.signatures:
            continue
        if name not in computed:
            kind = "split" if SPLIT_BLOB.search(name) else "missing"
            report.rows.append(BlobResult(name, kind, passed=kind == "split"))
        elif name in golden.blobs:
            err = _errors(computed[name], golden.blobs[name], atol, blob_rtol.get(name, rtol))
            report.rows.append(BlobResult(name, "full", *err))
        else:
            report.rows.append(_compare_signature(name, np.asarray(computed[name]),
                                                  golden.signatures[name], atol,
                                                  blob_rtol.get(name, rtol)))
    return report


def run_torch(net, weights, inputs: Dict[str, np.ndarray], device: str = "cpu",
              dtype: str = "float32") -> Dict[str, np.ndarray]:
    """Every Caffe blob of the net as computed by the PyTorch back end."""
    import torch
    from .backends.torch_backend import to_torch
    torch_dtype = getattr(torch, dtype)
    module = to_torch(net, weights).to(device=device, dtype=torch_dtype)
    args = [torch.from_numpy(np.asarray(inputs[n])).to(device=device, dtype=torch_dtype)
            for n in module.input_names]
    with torch.no_grad():
        blobs = module.forward_all(*args)
    return {k: v.detach().float().cpu().numpy() for k, v in blobs.items()}


def run_mxnet(net, weights, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Every Caffe blob of the net as computed by the MXNet back end."""
    from .backends.mxnet_backend import forward_all
    # One input is the MXNet variable 'data' whatever its Caffe name; several keep theirs.
    x = next(iter(inputs.values())) if len(inputs) == 1 else dict(inputs)
    return forward_all(net, weights, x)


def verify_model(model, golden_path, framework: str = "torch", prototxt=None,
                 device: str = "cpu", atol: Optional[float] = None,
                 rtol: Optional[float] = None) -> Report:
    """Convert ``model`` (a .caffemodel) and compare it blob by blob with ``golden_path``."""
    from .caffe.weights import load_caffe
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
    verdict = (f"PASS: {report.compared} blobs match (atol {report.atol:g}, rtol {report.rtol:g})"
               if first is None else
               f"FAIL: first diverging blob: {first.name} (max abs err {first.max_abs:.3e})")
    return "\n".join(lines + [verdict])
