"""Run a net forward in real Caffe and save every blob; run by caffe_runner under pycaffe.

    python3 pycaffe_forward.py JOB.json

JOB.json names the prototxt, the caffemodel (or none: build the net only), the inputs
(``[blob, file.npy]`` pairs) and where to write the blobs (none: no forward pass) (``.npz``: ``b0``, ``b1``, ... in ``net.blobs`` order) and the facts
(``.json``: blob names, layers with their parameter-blob shapes, Caffe's version). It
imports only caffe, numpy and the standard library (it runs with the user's own pycaffe,
whatever else that Python has), and is plain Python 3 of the age of Caffe 1.0.
"""
import json
import os
import sys

import numpy as np


def fail(message):
    """One line on stderr for caffe_runner to show, and exit 3."""
    sys.stderr.write("pycaffe_forward: %s\n" % message)
    sys.exit(3)


def load_inputs(net, pairs):
    """Reshape every input blob to its array, then fill it (Caffe's Reshape-then-Forward)."""
    arrays = []
    for name, path in pairs:
        if name not in net.blobs:
            fail("the net has no blob named %r for the input" % name)
        array = np.load(path).astype(np.float32)
        net.blobs[name].reshape(*array.shape)
        arrays.append((name, array))
    net.reshape()
    for name, array in arrays:
        net.blobs[name].data[...] = array


def facts(net, caffe):
    """What the host needs besides the blob values."""
    layers = []
    for name, layer in zip(net._layer_names, net.layers):
        layers.append([name, layer.type, [list(b.data.shape) for b in layer.blobs]])
    return {"blob_names": list(net.blobs.keys()), "layers": layers,
            "caffe_version": getattr(caffe, "__version__", "")}


def main(job_path):
    with open(job_path) as handle:
        job = json.load(handle)
    os.environ.setdefault("GLOG_minloglevel", "2")  # read when caffe is imported
    import caffe
    caffe.set_mode_cpu()
    if job.get("seed") is not None:
        caffe.set_random_seed(int(job["seed"]))
    # The (prototxt, weights, phase) form works in every pycaffe since 2014; without a
    # caffemodel the net is only built (its facts: layers and parameter shapes).
    if job.get("caffemodel"):
        net = caffe.Net(job["prototxt"], job["caffemodel"], caffe.TEST)
    else:
        net = caffe.Net(job["prototxt"], caffe.TEST)
    if job.get("blobs"):
        load_inputs(net, job["inputs"])
        net.forward()
        names = list(net.blobs.keys())
        np.savez(job["blobs"], **{"b%d" % i: net.blobs[n].data for i, n in enumerate(names)})
    with open(job["facts"], "w") as handle:
        json.dump(facts(net, caffe), handle)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        fail("usage: pycaffe_forward.py JOB.json")
    sys.exit(main(sys.argv[1]))
