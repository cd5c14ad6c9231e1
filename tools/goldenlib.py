"""Deterministic synthetic weights and inputs for the golden parity files.

This module is imported in two very different worlds: by ``make_golden.py``
inside the Debian bullseye chroot (Python 3.9, numpy 1.19, pycaffe) and by
the project's tests (Python 3.11+, numpy 1.23 .. 2.x).  It therefore uses
only the standard library and numpy, and only numpy APIs that exist and
behave identically across that whole range.

Every random array comes from ``numpy.random.RandomState``: NEP 19 froze the
legacy RandomState bit stream, so the same seed yields the same float64
values on every machine and every numpy release.  The new ``Generator`` API
makes no such promise and must not be used here.

Per-array seeds are derived from ``zlib.crc32`` of a text key, never from
Python's ``hash()``, which is salted per process for strings.
"""
import zlib

import numpy as np

#: Seed used by every committed golden case unless its spec overrides it.
DEFAULT_SEED = 20240601

#: Layer types whose first blob (the weight) is *not* stored in large golden
#: files, because ``param_blob`` regenerates it bit-exactly.
REGENERATED_TYPES = ("Convolution", "Deconvolution", "InnerProduct")


def key_seed(seed, key):
    """Return a 32-bit RandomState seed for the array named ``key``.

    ``seed`` is folded into the text so two cases with different seeds get
    unrelated streams for the same layer name.
    """
    text = "%d/%s" % (int(seed), key)
    return zlib.crc32(text.encode("utf-8")) & 0xFFFFFFFF


def rng(seed, key):
    """Return a fresh legacy ``RandomState`` for (``seed``, ``key``)."""
    return np.random.RandomState(key_seed(seed, key))


def he_normal(seed, key, shape, fan_in):
    """He-normal weights N(0, 2/fan_in) as float32.

    Drawn in float64 (the frozen stream) and rounded once to float32, so the
    result is identical wherever the float64 stream is.
    """
    std = np.sqrt(2.0 / float(fan_in))
    values = rng(seed, key).standard_normal(size=tuple(shape)) * std
    return values.astype(np.float32)


def uniform(seed, key, shape, low, high):
    """Uniform U(low, high) float32 array keyed by (``seed``, ``key``)."""
    values = rng(seed, key).uniform(low, high, size=tuple(shape))
    return values.astype(np.float32)


def weight_fan_in(layer_type, shape, transpose=False):
    """Fan-in used to scale the weight blob of a Caffe layer.

    Convolution blobs are (out, in/group, kh, kw) and Deconvolution blobs are
    (in, out/group, kh, kw); both use the product of all but the first axis,
    which is what Caffe's own "msra" filler does.  InnerProduct stores
    (N, K), or (K, N) when ``transpose`` is set; the fan-in is K.
    """
    shape = tuple(int(d) for d in shape)
    if layer_type == "InnerProduct":
        return shape[0] if transpose else shape[-1]
    fan_in = 1
    for dim in shape[1:]:
        fan_in *= dim
    return fan_in


def param_blob(seed, layer_type, layer_name, index, shape, transpose=False):
    """Synthetic value of blob ``index`` of a Conv/Deconv/InnerProduct layer.

    Index 0 is the He-normal weight; index 1 is a bias U(-0.1, 0.1).  These
    are the exact arrays ``make_golden.py`` loads into Caffe, so a consumer
    can rebuild a large net's weights from the seed instead of a stored
    caffemodel.
    """
    if layer_type not in REGENERATED_TYPES:
        raise ValueError("no synthetic filler for layer type %r" % layer_type)
    key = "%s/%d" % (layer_name, index)
    if index == 0:
        fan_in = weight_fan_in(layer_type, shape, transpose)
        return he_normal(seed, key, shape, fan_in)
    if index == 1:
        return uniform(seed, key, shape, -0.1, 0.1)
    raise ValueError("%s has no blob %d" % (layer_type, index))


def scale_params(seed, layer_name, shape):
    """Realistic (gamma, beta) for a Scale layer: U(0.5, 1.5), U(-0.2, 0.2).

    A gamma near 1 keeps calibrated activations O(1) through deep nets while
    still differing per channel, so a converter that drops gamma fails.
    """
    gamma = uniform(seed, layer_name + "/gamma", shape, 0.5, 1.5)
    beta = uniform(seed, layer_name + "/beta", shape, -0.2, 0.2)
    return gamma, beta


#: Learned blobs of the other parameterized types, by (type, blob index):
#: (kind, a, b) where kind "normal" means N(0, 1/fan_in)·a, fan_in being the
#: product of all but the first axis (a weight matrix (out, in) or an Embed
#: table, whose rows are picked, not summed: fan_in 1), and "uniform" means
#: U(a, b).  Values stay O(1) so a wrong axis or blob order shows.
LEARNED_FILLERS = {
    ("Bias", 0): ("uniform", -0.5, 0.5),
    ("PReLU", 0): ("uniform", -0.3, 0.6),      # both signs: slope < 0 exists
    ("Embed", 0): ("normal", 1.0, None),
    ("Embed", 1): ("uniform", -0.1, 0.1),
    ("Parameter", 0): ("normal", 1.0, None),
    # RNN (RNNLayer::FillUnrolledNet): W_xh, b_h, W_hh, W_ho, b_o
    ("RNN", 0): ("normal", 1.0, None), ("RNN", 1): ("uniform", -0.1, 0.1),
    ("RNN", 2): ("normal", 1.0, None), ("RNN", 3): ("normal", 1.0, None),
    ("RNN", 4): ("uniform", -0.1, 0.1),
    # LSTM (LSTMLayer::FillUnrolledNet): W_xc, b_c, W_hc
    ("LSTM", 0): ("normal", 1.0, None), ("LSTM", 1): ("uniform", -0.1, 0.1),
    ("LSTM", 2): ("normal", 1.0, None),
}


def learned_blob(seed, layer_type, layer_name, index, shape):
    """Synthetic value of blob ``index`` of a Bias/PReLU/Embed/Parameter/
    RNN/LSTM layer (see ``LEARNED_FILLERS``), keyed like ``param_blob``."""
    slot = index
    if layer_type in ("RNN", "LSTM"):
        # A static input puts W_x*_static at index 2 and shifts the rest: the kind
        # follows the blob's rank (weight matrices normal, biases uniform) instead.
        slot = 0 if len(tuple(shape)) == 2 else 1
    try:
        kind, a, b = LEARNED_FILLERS[(layer_type, slot)]
    except KeyError:
        raise ValueError("no synthetic filler for %s blob %d"
                         % (layer_type, index))
    key = "%s/%d" % (layer_name, index)
    if kind == "uniform":
        return uniform(seed, key, shape, a, b)
    fan_in = 1
    if layer_type not in ("Embed", "Parameter"):
        for dim in tuple(shape)[1:]:
            fan_in *= int(dim)
    values = rng(seed, key).standard_normal(size=tuple(shape))
    return (values * (a / np.sqrt(float(fan_in)))).astype(np.float32)


def case_input(seed, name, shape, scale=1.0, spec=None):
    """The golden value of input ``name`` under its case's input ``spec``.

    No spec: ``golden_input``.  ``{"values": [...]}``: exactly those values
    (e.g. a Filter selector or an RNN ``cont`` marker), reshaped.
    ``{"integers": [low, high]}``: uniform integers in [low, high) as
    float32 (Embed, BatchReindex indices), drawn from their own stream.
    """
    if not spec:
        return golden_input(seed, name, shape, scale)
    if "values" in spec:
        values = np.asarray(spec["values"], dtype=np.float64)
        return values.reshape(tuple(shape)).astype(np.float32)
    if "integers" in spec:
        low, high = spec["integers"]
        values = rng(seed, "__integers__/" + name).randint(
            low, high, size=tuple(shape))
        return values.astype(np.float32)
    raise ValueError("unknown input spec for %s: %r" % (name, spec))


def golden_input(seed, name, shape, scale=1.0):
    """The value of input blob ``name`` for the recorded forward pass.

    Standard normal times ``scale``, float32.  Kaiming's ImageNet cases use
    scale 64, roughly the spread of mean-subtracted 0..255 pixels, so conv1
    sees realistic magnitudes; per-layer cases use scale 1.
    """
    values = rng(seed, "__input__/" + name).standard_normal(size=tuple(shape))
    return (values * float(scale)).astype(np.float32)


def calibration_input(seed, name, shape, scale=1.0):
    """Input blob ``name`` of the batch used to set BatchNorm statistics.

    Using different data keeps the recorded forward pass from being exactly
    normalized, which would hide a converter that ignores the BN statistics.
    """
    key = "__calibration__/" + name
    values = rng(seed, key).standard_normal(size=tuple(shape))
    return (values * float(scale)).astype(np.float32)


def sample_indices(seed, blob_name, size, count):
    """Sorted flat indices of the elements sampled from a large blob.

    Sampling without replacement via a permutation prefix keeps the choice
    a pure function of (seed, blob name, size).
    """
    if size <= count:
        return np.arange(size, dtype=np.int64)
    perm = rng(seed, "__sample__/" + blob_name).permutation(size)
    return np.sort(perm[:count]).astype(np.int64)
