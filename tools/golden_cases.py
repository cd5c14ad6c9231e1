"""The case list (tools/cases/cases.json) and command-line case selection.

Shared by make_golden.py (inside the Caffe chroot) and gen_cases.py (host
Python), so it imports nothing beyond the standard library.
"""
import json
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = os.path.join(REPO, "tools", "cases", "cases.json")


def load_cases(path=CASES):
    """Return {name: spec} with the file's defaults merged into each case."""
    with open(path) as handle:
        table = json.load(handle)
    cases = {}
    for case in table["cases"]:
        spec = dict(table["defaults"])
        spec.update(case)
        cases[spec["name"]] = spec
    return cases


def defaults(path=CASES):
    """The default settings shared by every case."""
    with open(path) as handle:
        return dict(json.load(handle)["defaults"])


def add_selection_args(parser):
    """Add --case/--all/--group/--prototxt/--name/--cases to ``parser``."""
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--case", action="append", help="case name(s)")
    which.add_argument("--all", action="store_true", help="every case")
    which.add_argument("--group", action="append",
                       help="every case of this group (repeatable)")
    which.add_argument("--prototxt", help="ad-hoc case from a prototxt")
    parser.add_argument("--name", help="file stem for --prototxt")
    parser.add_argument("--cases", default=CASES, help="case list (JSON)")


def selected(args):
    """The case specs chosen on the command line, in case-list order.

    Prototxt paths of listed cases are relative to the repository root and
    are made absolute here; an ad-hoc --prototxt stays as given.
    """
    if args.prototxt:
        spec = defaults(args.cases)
        spec.update(name=args.name or os.path.basename(args.prototxt),
                    prototxt=args.prototxt, group="adhoc")
        return [spec]
    cases = load_cases(args.cases)
    if args.case:
        chosen = [cases[name] for name in args.case]
    else:
        chosen = [c for c in cases.values()
                  if args.all or c["group"] in args.group]
    return chosen


def prototxt_path(spec):
    """Absolute path of a case's prototxt (relative ones are repo-based)."""
    path = spec["prototxt"]
    if spec.get("group") == "adhoc" or os.path.isabs(path):
        return path
    return os.path.join(REPO, path)


def golden_file(spec):
    """A case's golden file relative to golden/: ``<dir>/<name>.h5``.

    Cases whose layer types the converter does not run yet carry
    ``"dir": "pending"``: their files live in golden/pending/, which the
    parity tests do not glob; the file-integrity tests cover them all.
    """
    return os.path.join(spec.get("dir", ""), spec["name"] + ".h5")
