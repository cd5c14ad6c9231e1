"""Print the oracle's layer types, one a line: ``caffe.layer_type_list()``.

Runs inside the Caffe chroot:  tools/caffe-run.sh tools/caffe_layer_types.py
tools/cases/caffe_layer_types.txt classifies this list (issue 14).
"""
import sys

import caffe


def main():
    """Write the sorted list to stdout."""
    for name in sorted(caffe.layer_type_list()):
        sys.stdout.write(name + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
