"""The error profile of a verification: relative error per blob along the net.

One point per compared blob, in Caffe's order, on a log scale, with the tolerance as a line
and the first diverging blob marked: a wrong layer shows as the step where the curve leaves
the float32 rounding floor. Needs matplotlib (``pip install matplotlib``).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError

FORMATS = (".png", ".svg", ".pdf")
#: Relative errors below this are drawn at it (an exact match has no logarithm).
FLOOR = 1e-12


def check_format(out) -> Path:
    """``out`` as a Path if it names a format we plot (UsageError otherwise)."""
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise UsageError(f"the plot must end in {', '.join(FORMATS)}", file=out)
    return out


def plot_report(report, out) -> Path:
    """Draw ``report`` (a :class:`converter.verify.Report`) to ``out`` (.png/.svg/.pdf)."""
    out = check_format(out)
    try:
        import matplotlib
        matplotlib.use("Agg")
        matplotlib.rcParams["svg.fonttype"] = "none"  # SVG text stays text (searchable)
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install matplotlib") from None
    rows = [r for r in report.rows if r.kind in ("full", "signature")]
    xs = list(range(len(rows)))
    ys = [max(min(r.rel, 1e3), FLOOR) for r in rows]
    fig, ax = plt.subplots(figsize=(max(8, len(rows) / 12), 4.5))
    try:
        ax.semilogy(xs, ys, ".-", lw=0.8, ms=3, label="relative error (max |ours - Caffe| "
                                                      "/ max |Caffe|)")
        if not getattr(report, "per_channel", False):  # else each channel has its own
            ax.axhline(report.rtol, color="grey", ls="--", lw=0.8,
                       label=f"rtol {report.rtol:g}")
        bad = [i for i, r in enumerate(rows) if not r.passed]
        if bad:
            i = bad[0]
            ax.axvline(i, color="red", lw=1)
            ax.plot([i], [ys[i]], "o", color="red", label=f"first divergence: {rows[i].name}")
            ax.annotate(rows[i].name, (i, ys[i]), textcoords="offset points", xytext=(6, 6),
                        color="red", fontsize=9)
        ax.set_xlabel("blob, in Caffe's order")
        ax.set_ylabel("relative error")
        ax.set_title(f"{report.framework} vs {Path(str(report.golden)).name}: "
                     f"{'PASS' if report.passed else 'FAIL'}")
        ax.legend(loc="upper left", fontsize=8)
        fig.tight_layout()
        _save(fig, out)
    finally:
        plt.close(fig)
    return out


def _save(fig, out: Path) -> None:
    from ..fileio import atomic_output
    with atomic_output(out, out.suffix) as tmp:
        fig.savefig(tmp, format=out.suffix.lower()[1:], dpi=120)
