"""Golden cases whose input comes from a Caffe data layer (issue 14, item 2).

Runs inside the Caffe chroot (needs pycaffe), from make_golden.py:

* builder "dataform": the case's prototxt starts with a data layer (Data,
  ImageData, HDF5Data, MemoryData, WindowData, DummyData, Python) reading
  sources that ``make_sources`` writes into a scratch folder (the prototxt's
  paths are relative to it).  Caffe's own data layer produces the input; the
  golden records that batch as ``input/<top>`` and every blob the deploy net
  keeps (the loss, accuracy and label blobs are left out and listed in the
  ``dropped_blobs`` attribute).  The caffemodel is ``net.save()`` of that net.
* builder "train_net": the prototxt is a training net whose only data layer
  is TRAIN-only.  The caffemodel is Caffe's save of the TRAIN-phase net; the
  blobs are Caffe's TEST forward of the same weights with the data layer
  replaced by an Input of its shape (what a deploy converter must compute).
"""
import ctypes
import os
import shutil
import sys
import tempfile

import caffe
import h5py
import numpy as np
from caffe.proto import caffe_pb2
from google.protobuf import text_format
from PIL import Image

import golden_calib
import goldenlib

#: Layer types whose tops a deploy net drops (losses, metrics).
DROPPED_TYPES = ("SoftmaxWithLoss", "EuclideanLoss", "SigmoidCrossEntropyLoss",
                 "HingeLoss", "InfogainLoss", "MultinomialLogisticLoss",
                 "ContrastiveLoss", "Accuracy")
DATA_TYPES = ("Data", "ImageData", "HDF5Data", "MemoryData", "WindowData",
              "DummyData", "Python")
#: Folder of the Python data layer module (dataforms_python).
MODULES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "cases", "dataforms")


class _MDBVal(ctypes.Structure):
    _fields_ = [("mv_size", ctypes.c_size_t), ("mv_data", ctypes.c_void_p)]


def write_lmdb(path, records):
    """Write {key bytes: value bytes} into a new LMDB at ``path`` through
    liblmdb (the library Caffe itself links; the chroot has no Python lmdb)."""
    lib = ctypes.CDLL("liblmdb.so.0")
    os.makedirs(path)
    env, txn, dbi = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_uint()

    def check(code, what):
        if code:
            raise RuntimeError("%s failed: %d" % (what, code))
    check(lib.mdb_env_create(ctypes.byref(env)), "mdb_env_create")
    check(lib.mdb_env_set_mapsize(env, ctypes.c_size_t(1 << 24)), "mapsize")
    check(lib.mdb_env_open(env, path.encode(), 0, 0o664), "mdb_env_open")
    check(lib.mdb_txn_begin(env, None, 0, ctypes.byref(txn)), "txn_begin")
    check(lib.mdb_dbi_open(txn, None, 0, ctypes.byref(dbi)), "dbi_open")
    for key, value in sorted(records.items()):
        kbuf, vbuf = ctypes.create_string_buffer(key), \
            ctypes.create_string_buffer(value)
        k = _MDBVal(len(key), ctypes.cast(kbuf, ctypes.c_void_p))
        v = _MDBVal(len(value), ctypes.cast(vbuf, ctypes.c_void_p))
        check(lib.mdb_put(txn, dbi, ctypes.byref(k), ctypes.byref(v), 0),
              "mdb_put")
    check(lib.mdb_txn_commit(txn), "mdb_txn_commit")
    lib.mdb_env_close(env)


def pixels(seed, key, shape):
    """Deterministic uint8 image data (goldenlib's keyed stream)."""
    return goldenlib.rng(seed, key).randint(0, 256, size=shape).astype(np.uint8)


def write_datums(path, seed, count):
    """An LMDB of ``count`` 3x8x8 uint8 Datums with labels i % 3."""
    records = {}
    for i in range(count):
        datum = caffe_pb2.Datum(channels=3, height=8, width=8, label=i % 3)
        datum.data = pixels(seed, "%s/%d" % (path, i), (3, 8, 8)).tobytes()
        records[b"%08d" % i] = datum.SerializeToString()
    write_lmdb(path, records)


def write_images(folder, seed, count):
    """``count`` 9x11 RGB PNG files img<i>.png; returns their names."""
    os.makedirs(folder, exist_ok=True)
    names = []
    for i in range(count):
        name = "img%d.png" % i
        Image.fromarray(pixels(seed, "img/%d" % i, (9, 11, 3))).save(
            os.path.join(folder, name))
        names.append(name)
    return names


def write_window_file(path, names):
    """An R-CNN window file: per image 1 foreground and 2 background boxes."""
    lines = []
    for i, name in enumerate(names):
        lines += ["# %d" % i, name, "3", "9", "11", "3",
                  "%d 0.9 1 1 8 7" % (1 + i % 2), "0 0.1 0 0 4 4",
                  "0 0.2 5 3 10 8"]
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")


def make_sources(seed):
    """Write every data source the dataform prototxts name, relative to the
    working folder (see each prototxt's comment)."""
    write_datums("examples/lmdb/train_lmdb", seed, 8)
    write_datums("examples/lmdb/val_lmdb", seed, 4)
    mean = goldenlib.uniform(seed, "mean", (1, 3, 8, 8), 90.0, 130.0)
    blob = caffe.io.array_to_blobproto(mean.astype(np.float64))
    with open("data/mean.binaryproto", "wb") as handle:
        handle.write(blob.SerializeToString())
    names = write_images("data/images", seed, 4)
    with open("data/images.txt", "w") as handle:
        handle.write("".join("%s %d\n" % (n, i % 3)
                             for i, n in enumerate(names)))
    write_window_file("data/windows.txt", names)
    with h5py.File("data/train.h5", "w") as h5:
        h5["data"] = goldenlib.golden_input(seed, "hdf5", (4, 3, 6, 6))
        h5["label"] = (np.arange(4) % 3).astype(np.float32)
    with open("data/hdf5_list.txt", "w") as handle:
        handle.write("data/train.h5\n")


def dropped_blobs(net):
    """Blobs a deploy net does not have: tops of loss/metric layers, the data
    layer's label tops, and the Split copies of either."""
    dropped = set()
    for name, layer in zip(net._layer_names, net.layers):
        tops = list(net.top_names[name])
        bottoms = list(net.bottom_names[name])
        if layer.type in DROPPED_TYPES:
            dropped.update(tops)
        elif layer.type in DATA_TYPES:
            dropped.update(tops[1:])
        elif layer.type == "Split" and bottoms[0] in dropped:
            dropped.update(tops)
    return dropped


def feed_memory_data(net, seed):
    """Give a MemoryData layer its batch (golden_input) and labels."""
    top = net.top_names[net._layer_names[0]][0]
    shape = tuple(net.blobs[top].data.shape)
    data = goldenlib.golden_input(seed, "data", shape)
    labels = (np.arange(shape[0]) % 3).astype(np.float32)
    net.set_input_arrays(np.ascontiguousarray(data), labels)
    return data, labels


def build_dataform(spec, path):
    """(net, inputs, batch, extra) for a data-layer case; see the module doc."""
    seed = spec["seed"]
    params = golden_calib.layer_params(path)
    scratch = tempfile.mkdtemp(prefix="rc-dataforms-")
    here = os.getcwd()

    def cleanup():
        os.chdir(here)
        shutil.rmtree(scratch, ignore_errors=True)
    # The data layer's prefetch thread keeps reading the relative sources
    # until the net is freed, so the scratch folder stays the working folder
    # until make_golden.py has written the case and calls ``cleanup``.
    os.chdir(scratch)
    try:
        os.makedirs("data")
        make_sources(seed)
        if MODULES not in sys.path:
            sys.path.insert(0, MODULES)
        caffe.set_random_seed(seed)
        net = caffe.Net(path, caffe.TEST)
        golden_calib.fill_learned(net, seed, params)
        keep = ()
        if any(l.type == "MemoryData" for l in net.layers):
            keep = feed_memory_data(net, seed)
        net.forward()
    except BaseException:
        cleanup()
        raise
    first = net._layer_names[0]
    ltype = net.layers[0].type
    top = net.top_names[first][0]
    inputs = {top: net.blobs[top].data.copy()}
    extra = {"dropped": dropped_blobs(net), "keep": keep, "cleanup": cleanup,
             "input_specs": {top: {"data_layer": ltype}}}
    return net, inputs, inputs[top].shape[0], extra


def deploy_of_train(path):
    """The TEST-phase deploy NetParameter of a train net: its TRAIN-only data
    layer becomes an Input of the data layer's shape (MemoryData's fields);
    losses and metrics go."""
    netp = caffe_pb2.NetParameter()
    with open(path) as handle:
        text_format.Merge(handle.read(), netp)
    deploy = caffe_pb2.NetParameter(name=netp.name)
    for lp in netp.layer:
        if lp.type in DROPPED_TYPES:
            continue
        if lp.type == "MemoryData":
            m = lp.memory_data_param
            new = deploy.layer.add(name=lp.name, type="Input", top=[lp.top[0]])
            new.input_param.shape.add(dim=[m.batch_size, m.channels, m.height,
                                           m.width])
            continue
        deploy.layer.add().CopyFrom(lp)
    return deploy


def build_train_net(spec, path):
    """(net, inputs, batch, extra) for the train-net case; see the module doc."""
    seed = spec["seed"]
    params = golden_calib.layer_params(path)
    caffe.set_random_seed(seed)
    train = caffe.Net(path, caffe.TRAIN)
    golden_calib.fill_learned(train, seed, params)
    with tempfile.NamedTemporaryFile("w", suffix=".prototxt") as handle:
        handle.write(text_format.MessageToString(deploy_of_train(path)))
        handle.flush()
        net = caffe.Net(handle.name, caffe.TEST)
    for name, blobs in net.params.items():
        for mine, theirs in zip(blobs, train.params[name]):
            mine.data[...] = theirs.data
    shapes = golden_calib.input_shapes(net)
    calib = golden_calib.input_shapes(net, spec["calib_batch"])
    golden_calib.set_inputs(net, seed, 1.0, goldenlib.calibration_input, calib)
    golden_calib.calibrate_bn(net, spec)
    for name, blobs in net.params.items():
        for mine, theirs in zip(blobs, train.params[name]):
            theirs.data[...] = mine.data
    inputs = golden_calib.set_inputs(net, seed, spec["input_scale"],
                                     goldenlib.golden_input, shapes)
    net.forward()
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "train.caffemodel")
        train.save(model)
        with open(model, "rb") as handle:
            raw = handle.read()
    extra = {"dropped": set(), "caffemodel": raw}
    return net, inputs, shapes[net.inputs[0]][0], extra
