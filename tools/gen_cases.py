"""Write the generator-made case prototxts with the project's resnet-gen.

    python3 tools/gen_cases.py --all          (same selection flags as
                                               make_golden.py)

A case with a "generator" entry in tools/cases/cases.json, e.g.
["prototxt", "--n", "3"], gets its prototxt from
``python -m converter.cli.gen <generator...>`` (stdout) written to the
case's "prototxt" path.  The results are committed, so check-golden.sh and
CI re-derive those cases in Caffe without running the generator; a test on
the project side can compare them with fresh generator output.
Runs on the host (needs the project importable), not in the chroot.
"""
import argparse
import os
import subprocess
import sys

import golden_cases


def generate(spec):
    """Run the generator for one case and write its prototxt."""
    command = [sys.executable, "-m", "converter.cli.gen"] + spec["generator"]
    text = subprocess.run(command, cwd=golden_cases.REPO, check=True,
                          stdout=subprocess.PIPE).stdout
    path = golden_cases.prototxt_path(spec)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(text)
    print("generated %s" % os.path.relpath(path, golden_cases.REPO))


def main(argv=None):
    """Generate every selected case that names a generator command."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    golden_cases.add_selection_args(parser)
    parser.add_argument("--out", help="ignored (make_golden.py's flag)")
    args = parser.parse_args(argv)
    for spec in golden_cases.selected(args):
        if spec.get("generator"):
            generate(spec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
