"""`python -m ngxcoro lab [--zh] [LESSON] [JUPYTERLAB ARGS...]`: open the lessons.

It starts JupyterLab on a lesson of this checkout's notebooks/ (the tour by
default; `05` opens lesson 5; `--zh` the Chinese one in notebooks/zh/) with
the save hook of ngxcoro/viz/save_hook.py, so a lesson saved and opened again
later shows its pictures instead of `widget model not found` errors; as root
(a container, a class VM) it adds JupyterLab's --allow-root.  Anything after
the lesson goes to JupyterLab as it is (e.g. --port 8899, --no-browser).
"""
from __future__ import annotations

import os
import pathlib
import sys

from .viz.save_hook import HOOK

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"


def command(argv):
    """(the jupyterlab command line, None) or (None, a one-line error)."""
    args = list(argv)
    zh = "--zh" in args
    if zh:
        args.remove("--zh")
    lesson = args.pop(0) if args and not args[0].startswith("-") else "00"
    folder = NOTEBOOKS / "zh" if zh else NOTEBOOKS
    if not folder.is_dir():
        return None, (f"ngxcoro lab: no lessons at {folder}: they are in the repository's "
                      "notebooks/ folder (pip install -e . from a clone)")
    found = sorted(folder.glob(f"{lesson}*.ipynb")) if lesson.isdigit() else \
        [folder / lesson] if (folder / lesson).exists() else []
    if not found:
        names = ", ".join(p.stem[:2] for p in sorted(folder.glob("*.ipynb")))
        return None, f"ngxcoro lab: no lesson {lesson!r} in {folder} (lessons: {names})"
    root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    return [sys.executable, "-m", "jupyterlab", f"--ContentsManager.pre_save_hook={HOOK}",
            *root, *args, str(found[0])], None


def main(argv):
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__.strip())
        return 0
    cmd, error = command(argv)
    if error:
        print(error, file=sys.stderr)
        return 2
    print("ngxcoro lab:", " ".join(cmd[1:]), flush=True)
    os.execv(cmd[0], cmd)
