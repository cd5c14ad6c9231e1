"""Run a net forward in real Caffe (inside the chroot) and save its blobs.

Usage (through tools/caffe-run.sh, as root):

    tools/caffe-run.sh tools/caffe_forward.py NET.prototxt NET.caffemodel IN.npz OUT.npz
        [--all | --blobs NAME...]

IN.npz holds one array per input blob (by name); OUT.npz receives the net's output blobs,
every blob with --all, or the named ones (after in-place layers, as Caffe holds them). Caffe runs in TEST
phase on the CPU, one thread (caffe-run.sh), so results are reproducible.
"""

import sys

import numpy as np

import caffe  # pycaffe: only inside the chroot


def main(argv):
    prototxt, caffemodel, inputs, output = argv[:4]
    caffe.set_mode_cpu()
    net = caffe.Net(prototxt, caffe.TEST, weights=caffemodel)
    data = np.load(inputs)
    for name in data.files:
        net.blobs[name].reshape(*data[name].shape)
        net.blobs[name].data[...] = data[name]
    net.forward()
    if "--blobs" in argv:
        names = argv[argv.index("--blobs") + 1:]
    else:
        names = list(net.blobs.keys()) if "--all" in argv else list(net.outputs)
    np.savez(output, **{name: np.array(net.blobs[name].data) for name in names})


if __name__ == "__main__":
    main(sys.argv[1:])
