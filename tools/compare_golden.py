"""Compare freshly derived golden files against the committed ones.

    python3 tools/compare_golden.py COMMITTED_DIR FRESH_DIR [--strict]

Every dataset and attribute of each file in FRESH_DIR (and its
subfolders, e.g. pending/) must equal its namesake in COMMITTED_DIR.  Equality is bitwise: the chroot's Caffe, BLAS
and libm are fixed packages and run single-threaded, so a re-run on the
same kind of CPU reproduces every bit.  glibc picks some libm routines
(exp, pow) by CPU feature at run time, so on another CPU a float may move
by an ulp; unless --strict is given such near-misses (within 1e-6
relative) are reported as warnings and the caffemodel bytes, which then
differ too, are not compared.  Needs only numpy and h5py.
"""
import argparse
import os
import sys

import h5py
import numpy as np

#: Attributes describing the environment rather than the result.
PROVENANCE = ("caffe_package", "blas_package", "numpy_version")
NEAR_RTOL, NEAR_ATOL = 1e-6, 1e-9


def collect(h5):
    """{path: dataset value} for every dataset in an open file."""
    found = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            found[name] = obj[()]
    h5.visititems(visit)
    return found


def collect_attrs(h5):
    """{path@attr: value} for the attributes of every object and the root."""
    found = {"@" + k: v for k, v in h5.attrs.items()}

    def visit(name, obj):
        for key, value in obj.attrs.items():
            found[name + "@" + key] = value
    h5.visititems(visit)
    return found


def same_value(a, b):
    """Exact equality for arrays, strings and scalars (NaN == NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        # equal_nan exists from numpy 1.19, the chroot's version.
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def near_value(a, b):
    """True for float arrays of one shape that agree to about an ulp."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype.kind != "f" or b.dtype.kind != "f":
        return False
    return bool(np.allclose(a, b, rtol=NEAR_RTOL, atol=NEAR_ATOL,
                            equal_nan=True))


def compare_maps(old, new, label, strict, report):
    """Compare two {key: value} maps; return the number of hard failures."""
    failures = 0
    for key in sorted(set(old) | set(new)):
        if key not in old or key not in new:
            report("FAIL %s %s: only in %s" % (
                label, key, "committed" if key in old else "fresh"))
            failures += 1
        elif same_value(old[key], new[key]):
            continue
        elif key.split("@")[-1] in PROVENANCE:
            report("WARN %s %s: %r -> %r" % (label, key, old[key], new[key]))
        elif key == "caffemodel" and not strict:
            report("WARN %s caffemodel bytes differ (see params/)" % label)
        elif not strict and near_value(old[key], new[key]):
            report("WARN %s %s: not bitwise, within %g" % (
                label, key, NEAR_RTOL))
        else:
            report("FAIL %s %s differs" % (label, key))
            failures += 1
    return failures


def compare_file(old_path, new_path, strict, report):
    """Number of failures between two golden files."""
    label = os.path.basename(new_path)
    with h5py.File(old_path, "r") as old, h5py.File(new_path, "r") as new:
        failures = compare_maps(collect(old), collect(new), label, strict,
                                report)
        failures += compare_maps(collect_attrs(old), collect_attrs(new),
                                 label, strict, report)
    return failures


def main(argv=None):
    """Compare every .h5 of FRESH_DIR with COMMITTED_DIR; 1 on mismatch."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("committed")
    parser.add_argument("fresh")
    parser.add_argument("--strict", action="store_true",
                        help="require bitwise equality everywhere")
    args = parser.parse_args(argv)
    names = sorted(os.path.relpath(os.path.join(d, n), args.fresh)
                   for d, _, files in os.walk(args.fresh)
                   for n in files if n.endswith(".h5"))
    failures = 0
    for name in names:
        old_path = os.path.join(args.committed, name)
        if not os.path.exists(old_path):
            print("FAIL %s: no committed file" % name)
            failures += 1
            continue
        count = compare_file(old_path, os.path.join(args.fresh, name),
                             args.strict, print)
        print("%s %s" % ("FAIL" if count else "ok  ", name))
        failures += count
    if not names:
        print("FAIL: nothing to compare in %s" % args.fresh)
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
