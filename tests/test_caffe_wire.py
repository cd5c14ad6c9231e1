"""The fast caffemodel path (converter.caffe.wire) changes nothing: on float, double, legacy
and V1 files, odd blobs and hundreds of truncated or byte-flipped files, load_caffe gives the
same net, the same weights (bytes, shapes, dtypes) and the same errors as the whole-file parse.
The check itself is bench/check_fast_paths.py (also run by hand after touching the fast path).
"""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "check_fast_paths.py"


def test_fast_path_equals_whole_file_parse():
    spec = importlib.util.spec_from_file_location("check_fast_paths", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.check_reader() == 0
