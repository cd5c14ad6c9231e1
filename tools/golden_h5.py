"""HDF5 layout of a golden file (see golden/README.md for the contract).

Needs only numpy and h5py, so it runs inside the Caffe chroot (writing) and
in the project's environment (reading, comparing).
"""
import urllib.parse

import numpy as np

import goldenlib

#: Layout version; bump when the contract in golden/README.md changes.
FORMAT = "resnet-convert-golden/1"

#: Elements sampled from each blob for its signature.
SAMPLE_COUNT = 256



def h5_name(name):
    """Escape a Caffe name for use as one HDF5 path component.

    HDF5 treats '/' as a separator and '.' alone as "this group", so '%'
    and '/' are percent-encoded and a lone '.' becomes '%2E'.
    """
    escaped = name.replace("%", "%25").replace("/", "%2F")
    return "%2E" if escaped == "." else escaped


def caffe_name(key):
    """Invert ``h5_name``: the Caffe name behind an HDF5 path component.

    Equivalent to ``urllib.parse.unquote``, which consumers may use.
    """
    return urllib.parse.unquote(key)


def write_strings(group, key, values):
    """Store a list of str as a 1-D variable-length UTF-8 dataset."""
    import h5py
    dtype = h5py.string_dtype(encoding="utf-8")
    group.create_dataset(key, data=np.array(list(values), dtype=object),
                         dtype=dtype)


def write_array(group, key, value, keep_scalar=False):
    """Store an array; big ones gzip-compressed to keep golden/ small.

    Small arrays stay contiguous: a chunked dataset's index costs more
    bytes than compressing a few KB of random floats saves.
    """
    # np.ascontiguousarray makes a 0-axis array 1-D: params keep that
    # (1,) (golden/README.md, "Scalar blobs"); a 0-axis *activation*
    # (Reduction over every axis) keeps shape (), as its signature does.
    value = np.asarray(value)
    if value.ndim or not keep_scalar:
        value = np.ascontiguousarray(value)
    if value.size >= 16384:
        group.create_dataset(key, data=value, compression="gzip",
                             compression_opts=9, shuffle=True)
    else:
        group.create_dataset(key, data=value)


def signature(seed, name, data):
    """Compact fingerprint of one blob (dict of arrays).

    Per-channel mean and standard deviation (axis 1; accumulated in
    float64, stored as float32) see every element, so any error that
    changes a whole channel or a border row of it moves them; the seeded
    sample pins individual values exactly.
    """
    data = np.asarray(data, dtype=np.float32)
    flat = data.reshape(-1)
    if data.ndim >= 2:
        moved = np.moveaxis(data.astype(np.float64), 1, 0)
        moved = moved.reshape(data.shape[1], -1)
    else:
        moved = flat.astype(np.float64).reshape(1, -1)
    index = goldenlib.sample_indices(seed, name, flat.size, SAMPLE_COUNT)
    return {
        "shape": np.array(data.shape, dtype=np.int64),
        "channel_mean": moved.mean(axis=1).astype(np.float32),
        "channel_std": moved.std(axis=1).astype(np.float32),
        "sample_index": index.astype(np.int32),
        "sample_value": flat[index],
    }


def write_signatures(h5, seed, blobs):
    """Write /signatures/<blob>/... for every (name, array) pair."""
    root = h5.create_group("signatures")
    for name, data in blobs:
        group = root.create_group(h5_name(name))
        for key, value in signature(seed, name, data).items():
            write_array(group, key, value)


def write_blobs(h5, blobs, keep):
    """Write full tensors /blobs/<blob> for names accepted by ``keep``."""
    root = h5.create_group("blobs")
    for name, data in blobs:
        if keep(name):
            write_array(root, h5_name(name), np.asarray(data, np.float32),
                        keep_scalar=True)


def write_params(h5, layers, keep):
    """Write /params/<layer>/<index> for learned blobs ``keep`` accepts.

    ``layers`` yields (name, type, [arrays]); ``keep(name, type, index)``
    decides per blob.  Groups carry the layer type
    as attribute ``type`` so readers need not parse the prototxt.
    """
    root = h5.create_group("params")
    for name, ltype, arrays in layers:
        chosen = [(i, a) for i, a in enumerate(arrays)
                  if keep(name, ltype, i)]
        if not chosen:
            continue
        group = root.create_group(h5_name(name))
        group.attrs["type"] = ltype
        group.attrs["num_blobs"] = len(arrays)
        for index, array in chosen:
            write_array(group, str(index), np.asarray(array, np.float32))


def write_regenerated(h5, entries):
    """Write /regenerated/<layer>: the head of each goldenlib weight.

    ``entries`` yields (name, type, shape, transpose, weight).  The first
    16 values let a consumer confirm it regenerated the same tensor.
    """
    root = h5.create_group("regenerated")
    for name, ltype, shape, transpose, weight in entries:
        head = np.asarray(weight, np.float32).reshape(-1)[:16]
        data = root.create_dataset(h5_name(name), data=head)
        data.attrs["type"] = ltype
        data.attrs["shape"] = np.array(shape, dtype=np.int64)
        data.attrs["transpose"] = bool(transpose)
        data.attrs["fan_in"] = goldenlib.weight_fan_in(ltype, shape, transpose)
