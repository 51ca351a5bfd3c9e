"""What importing ngxcoro costs: the model imports no widget and no Graphviz
package (`import ngxcoro` works where only lupa is installed), and
`import ngxcoro.viz` waits for a picture or a widget to be asked for.

Each import runs in a fresh interpreter: in this process the other tests
have imported the viz long before."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import ngxcoro

HEAVY = ("anywidget", "ipywidgets", "graphviz")

_PROBE = """
import json, sys
import {module}
import ngxcoro
print(json.dumps({{"file": ngxcoro.__file__, "modules": sorted(
    m for m in sys.modules if m.split(".")[0] in {heavy!r} or m.startswith("ngxcoro.viz"))}}))
"""


def imported_by(module):
    """The heavy and viz modules that `import module` loads, in a new Python
    that finds the same ngxcoro as this one."""
    root = str(pathlib.Path(ngxcoro.__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    p = subprocess.run([sys.executable, "-c", _PROBE.format(module=module, heavy=HEAVY)],
                       capture_output=True, text=True, cwd=root, timeout=120,
                       env=dict(os.environ, PYTHONPATH=path))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.splitlines()[-1])
    assert pathlib.Path(out["file"]).resolve() == pathlib.Path(ngxcoro.__file__).resolve()
    return out["modules"]


def test_import_ngxcoro_loads_no_viz_widgets_or_graphviz():
    assert imported_by("ngxcoro") == []


def test_import_ngxcoro_viz_loads_no_widgets_or_graphviz():
    assert imported_by("ngxcoro.viz") == ["ngxcoro.viz"]
