"""Load prototxts in real Caffe, forward once, check blob shapes.

Runs inside the Caffe chroot; use tools/check-caffe-load.sh from the host.

    python3 check_caffe_load.py EXPECT.json [--report OUT.json]

EXPECT.json maps a prototxt path (relative paths are relative to the JSON
file's folder) to its expectations, in either of two forms:

    {blob name: expected shape, ..., "@learnable_params": N}
    {"output_blob": "prob", "shape": [1, 10], "learnable_params": N}

(the second is what tools/gen_caffe_check.py writes); the parameter count
is optional in both.

For each net: construct it in TEST phase (Caffe's own fillers set the
weights), fill the inputs from goldenlib, forward once, and compare the
shape of every listed blob; all blobs must be finite.  Learnable parameters
are the elements of every layer blob except BatchNorm's running statistics
and blobs frozen with lr_mult 0.  Prints a table; exit status 1 when any
net fails to load or mismatches.
"""
import argparse
import json
import os
import subprocess
import sys

import caffe
import numpy as np

import golden_calib
import goldenlib

PARAMS_KEY = "@learnable_params"


def learnable_params(net, params):
    """Count learnable parameter elements (see module docstring)."""
    total = 0
    for name, ltype, layer in golden_calib.layer_table(net):
        if ltype == "BatchNorm":
            continue
        for index, blob in enumerate(layer.blobs):
            if not golden_calib.frozen(params, name, index):
                total += blob.data.size
    return total


def run_net(path):
    """Load and forward one net; return (net, learnable parameter count)."""
    caffe.set_random_seed(goldenlib.DEFAULT_SEED)
    net = caffe.Net(path, caffe.TEST)
    shapes = golden_calib.input_shapes(net)
    golden_calib.set_inputs(net, goldenlib.DEFAULT_SEED, 1.0,
                            goldenlib.golden_input, shapes)
    net.forward()
    params = golden_calib.layer_params(path)
    return net, learnable_params(net, params)


def probe(path):
    """Load one net in a child process; return (result dict, error text).

    Caffe reports bad nets through glog CHECKs that abort the process, so
    each net runs in its own interpreter (``--one``) and a crash becomes
    an ordinary "does not load" row.
    """
    child = subprocess.run([sys.executable, os.path.abspath(__file__),
                            "--one", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    if child.returncode != 0:
        return None, crash_reason(child)
    return json.loads(child.stdout.decode("utf-8")), None


def crash_reason(child):
    """The most telling stderr line of a crashed child.

    glog's fatal line ("F0101 12:00:00 ... Check failed: ...") beats the
    stack-trace banner after it; Python errors end with the exception.
    """
    lines = child.stderr.decode("utf-8", "replace").strip().splitlines()
    fatal = [l for l in lines if l[:1] == "F" and l[1:5].isdigit()]
    if fatal:
        return fatal[-1]
    return lines[-1] if lines else "exit status %d" % child.returncode


def one(path):
    """--one mode: print {"shapes", "learnable_params", "finite"} as JSON."""
    caffe.set_mode_cpu()
    net, count = run_net(path)
    shapes = {n: list(b.data.shape) for n, b in net.blobs.items()}
    bad = [n for n, b in net.blobs.items() if not np.isfinite(b.data).all()]
    print(json.dumps({"shapes": shapes, "learnable_params": count,
                      "non_finite": bad}))
    return 0


def normalize(entry):
    """Return ({blob: shape}, expected count or None) for either form."""
    entry = dict(entry)
    count = entry.pop(PARAMS_KEY, entry.pop("learnable_params", None))
    if "output_blob" in entry:
        return {entry["output_blob"]: entry["shape"]}, count
    return entry, count


def check_net(path, entry):
    """Return (result dict, problems) for one prototxt."""
    expected, count = normalize(entry)
    result, error = probe(path)
    if result is None:
        return {"error": error}, ["does not load: %s" % error]
    problems, shapes = [], result["shapes"]
    if count is not None and result["learnable_params"] != count:
        problems.append("learnable params %d != %d" % (
            result["learnable_params"], count))
    for blob, shape in sorted(expected.items()):
        if blob not in shapes:
            problems.append("no blob %r" % blob)
        elif shapes[blob] != list(shape):
            problems.append("%s: %s != %s" % (blob, shapes[blob], shape))
    if result["non_finite"]:
        problems.append("non-finite blobs: %s" % ", ".join(
            result["non_finite"][:5]))
    result["problems"] = problems
    return result, problems


def main(argv=None):
    """Check every net listed in the JSON file; print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("expect", help="JSON {prototxt: {blob: shape}}")
    parser.add_argument("--one", action="store_true",
                        help=argparse.SUPPRESS)  # internal: child process
    parser.add_argument("--report", help="write per-net results as JSON")
    args = parser.parse_args(argv)
    if args.one:
        return one(args.expect)
    with open(args.expect) as handle:
        table = json.load(handle)
    base = os.path.dirname(os.path.abspath(args.expect))
    report, failures = {}, 0
    print("%-4s %12s  %s" % ("ok", "learnable", "prototxt"))
    for entry in sorted(table):
        result, problems = check_net(os.path.join(base, entry), table[entry])
        ok = not problems
        report[entry] = result
        failures += not ok
        count = result.get("learnable_params", -1)
        print("%-4s %12d  %s" % ("ok" if ok else "FAIL", count, entry))
        for problem in problems:
            print("       %s" % problem)
    if args.report:
        with open(args.report, "w") as handle:
            json.dump(report, handle, indent=1, sort_keys=True)
    print("%d of %d nets failed" % (failures, len(table)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
