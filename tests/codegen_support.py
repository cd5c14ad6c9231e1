"""Running generated model files where this package cannot be imported.

:func:`isolated_site` links only the distributions torch and safetensors need (their
dependency closure, read from the installed metadata) into a folder; :func:`run_isolated`
runs generated modules with ``python -I -S`` and that folder as the only site-packages. So the
generated file is checked as a user without resnet-convert would run it, whether this
package is installed editable (development) or as a wheel next to torch (CI).
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

#: Run inside the isolated interpreter: refuse if `converter` imports; then, for each job,
#: import the generated file by path, Net.load its weights and save its eval outputs.
RUNNER = r'''
import importlib.util, json, sys
sys.path.insert(0, sys.argv[1])
try:
    import converter  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("converter is importable in the isolated interpreter")
import torch
from safetensors.torch import load_file
torch.set_num_threads(1)
for job in json.loads(open(sys.argv[2]).read()):
    spec = importlib.util.spec_from_file_location(job["module"], job["py"])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    net = mod.Net.load(job["weights"])
    if job.get("logits"):
        setattr(net, job["logits"], torch.nn.Identity())
    inputs = load_file(job["inputs"])
    with torch.no_grad():
        y = net(*[inputs[name] for name in net.caffe_inputs])
    ys = y if isinstance(y, tuple) else (y,)
    names = [job["logits_name"]] if job.get("logits") else list(net.caffe_outputs)
    # torch.save: safetensors' writer needs numpy, which is not installed here.
    torch.save({n: t.contiguous() for n, t in zip(names, ys)}, job["out"])
print("isolated ok", torch.__version__, sorted(m for m in sys.modules if m == "numpy"))
'''


def _closure(names: List[str]) -> Dict[str, metadata.Distribution]:
    """Installed distributions ``names`` need (requirements without extras, recursively)."""
    found: Dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        try:
            dist = metadata.distribution(todo.pop())
        except metadata.PackageNotFoundError:
            continue  # a platform-specific requirement that is not installed here
        key = dist.metadata["Name"].lower()
        if key in found:
            continue
        found[key] = dist
        for req in dist.requires or []:
            if "extra ==" not in req:
                todo.append(re.match(r"[A-Za-z0-9_.\-]+", req).group(0))
    return found


def isolated_site(folder: Path) -> Path:
    """A folder holding links to torch, safetensors and their dependencies only."""
    folder.mkdir(parents=True, exist_ok=True)
    for dist in _closure(["torch", "safetensors"]).values():
        site = Path(dist.locate_file(""))
        tops = {f.parts[0] for f in dist.files or () if f.parts and f.parts[0] != ".."}
        for top in tops - {"__pycache__"}:
            target = folder / top
            if (site / top).exists() and not target.exists():
                target.symlink_to(site / top)
    return folder


def run_isolated(site: Path, jobs: List[dict], work: Path) -> str:
    """Run the generated modules of ``jobs`` in the isolated interpreter; returns its output
    (raises CalledProcessError with the output on failure)."""
    job_file = work / "jobs.json"
    job_file.write_text(json.dumps(jobs))
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR")}
    result = subprocess.run([sys.executable, "-I", "-S", "-c", RUNNER, str(site),
                             str(job_file)], capture_output=True, text=True, env=env,
                            cwd=str(work), timeout=900)
    if result.returncode != 0:
        raise AssertionError(f"isolated run failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def ruff_binary():
    """The ruff executable (not a script that may call back into ``python -m ruff``), or
    None when ruff is not installed."""
    import shutil
    candidates = []
    try:  # the binary the ruff wheel installed (its RECORD lists it)
        dist = metadata.distribution("ruff")
        candidates += [Path(dist.locate_file(f)).resolve() for f in dist.files or ()
                       if f.name in ("ruff", "ruff.exe")]
    except metadata.PackageNotFoundError:
        pass
    which = shutil.which("ruff")
    candidates += [Path(which)] if which else []
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK) and path.read_bytes()[:2] != b"#!":
            return path
    return None
