"""Per-channel tolerances of a golden file, from Caffe's distance to an exact float64 run.

For every blob, ``reference64.forward`` gives the float64 result of the same net, weights and
input that Caffe ran in float32.  A channel's *floor* is the largest |Caffe - float64| over its
elements: how far float32 Caffe itself is from exact there.  A correct float32 converter sits
about as far from exact, in another direction, so it may differ from Caffe by up to about twice
the floor; the stored tolerance is ``SAFETY`` times the floor, raised to ``SAFETY`` times the
blob's 90th-percentile channel floor and to ``MIN_RELATIVE`` times the blob's largest magnitude.
A channel of fewer than ``FEW`` elements (per-class blobs: fc, prob, global pools at batch 1-2)
is no stable sample of the rounding error: one element can land near exact by chance, and in a
softmax the error scales with the value. Such channels also get at least the blob's median
relative floor times their own largest |value|, and the larger factor ``SAFETY_FEW``.  Imports only numpy: it
runs inside the Caffe chroot (called by make_golden.py) and on the host.
"""
import numpy as np

#: The stated safety factor over Caffe's own float32 error.
SAFETY = 4.0
#: Channels with fewer elements than this also get a relative floor ...
FEW = 16
#: ... and this factor (measured worst |ours - Caffe| / Caffe's floor on such blobs: 3.8).
SAFETY_FEW = 8.0
#: The smallest tolerance, relative to the blob's largest |value| (a few float32 ulps).
MIN_RELATIVE = 1e-6
#: Largest accepted |Caffe - float64| relative to the blob's scale: above it the reference
#: evaluator, not float32 rounding, is wrong, and the golden maker stops.
SANITY = 2e-2

RULE = ("per channel: %g x max(channel floor, 90th-percentile channel floor of the blob); "
        "channels of < %d elements: %g x max(that, median relative floor x max|channel|); "
        "at least %g x max|blob|; "
        "floor = max |Caffe float32 - float64 reference| (tools/reference64.py)"
        % (SAFETY, FEW, SAFETY_FEW, MIN_RELATIVE))


def by_channel(data):
    """``data`` as (channels, elements): axis 1 is the channel; a 0/1-D blob is one channel."""
    data = np.asarray(data, np.float64)
    if data.ndim < 2:
        return data.reshape(1, -1)
    return np.moveaxis(data, 1, 0).reshape(data.shape[1], -1)


def channel_floors(caffe, exact):
    """Per-channel max |caffe - exact|; NaN must meet NaN (Caffe's 0/0 AVE windows)."""
    a, b = by_channel(caffe), by_channel(exact)
    if a.shape != b.shape or not np.array_equal(np.isnan(a), np.isnan(b)):
        return None
    diff = np.abs(np.nan_to_num(a) - np.nan_to_num(b))
    return diff.max(axis=1) if diff.shape[1] else np.zeros(diff.shape[0])


def blob_scale(caffe):
    """The blob's largest finite magnitude (its scale)."""
    data = np.nan_to_num(np.asarray(caffe, np.float64))
    return float(np.abs(data).max()) if data.size else 0.0


def tolerance(name, caffe, exact):
    """(per-channel tolerances as float32, floor relative to the blob's scale)."""
    floors = channel_floors(caffe, exact)
    scale = blob_scale(caffe)
    if floors is None:
        raise ValueError("float64 reference and Caffe disagree on %s's shape or NaNs" % name)
    relative = float(floors.max()) / scale if scale else float(floors.max())
    if relative > SANITY:
        raise ValueError("float64 reference is %.2e (relative) from Caffe at %s: the "
                         "reference, not rounding, is wrong" % (relative, name))
    typical = float(np.percentile(floors, 90)) if floors.size else 0.0
    tol = SAFETY * np.maximum(floors, typical)
    values = np.abs(np.nan_to_num(by_channel(caffe)))
    if values.shape[1] < FEW:
        magnitude = values.max(axis=1) if values.shape[1] else np.zeros(floors.shape)
        ratio = float(np.median(floors / np.maximum(magnitude, 1e-30)))
        tol = SAFETY_FEW * np.maximum.reduce([floors, np.full(floors.shape, typical),
                                              ratio * magnitude])
    tol = np.maximum(tol, MIN_RELATIVE * scale)
    return tol.astype(np.float32), relative


def case_tolerances(caffe_blobs, exact_blobs):
    """{blob: per-channel tolerance} and {blob: relative floor} for a whole net."""
    tolerances, floors = {}, {}
    for name, data in caffe_blobs:
        tolerances[name], floors[name] = tolerance(name, data, exact_blobs[name])
    return tolerances, floors
