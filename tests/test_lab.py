"""`python -m ngxcoro lab` (ngxcoro/lab.py) and the save hook it starts JupyterLab
with (ngxcoro/viz/save_hook.py).  The hook's effect in a real JupyterLab is
tests/test_browser_lab.py's test_lesson_reopens_without_console_errors."""
from __future__ import annotations

import copy
import pathlib

from ngxcoro.lab import command
from ngxcoro.viz.save_hook import HOOK, STATE, VIEW, drop_orphan_widget_views

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_command_opens_the_tour_with_the_hook():
    cmd, error = command([])
    assert error is None
    assert cmd[1:3] == ["-m", "jupyterlab"]
    assert f"--ContentsManager.pre_save_hook={HOOK}" in cmd
    assert cmd[-1] == str(ROOT / "notebooks" / "00-tour.ipynb")


def test_command_chinese_lesson_and_passthrough():
    cmd, error = command(["--zh", "05", "--no-browser"])
    assert error is None
    assert cmd[-1] == str(ROOT / "notebooks" / "zh" / "05-ngx-done-and-count.ipynb")
    assert "--no-browser" in cmd


def test_command_unknown_lesson_is_one_line():
    cmd, error = command(["99"])
    assert cmd is None and error.startswith("ngxcoro lab: no lesson '99'")
    assert "\n" not in error


def _nb(views, kept=()):
    out = [{"output_type": "display_data",
            "data": {VIEW: {"model_id": m, "version_major": 2, "version_minor": 0},
                     "text/plain": f"Stepper {m}", "text/html": f"<div>{m}</div>"},
            "metadata": {}} for m in views]
    meta = {"widgets": {STATE: {"state": {m: {} for m in kept}, "version_major": 2,
                                "version_minor": 0}}} if kept else {}
    return {"type": "notebook", "content": {"metadata": meta, "cells": [
        {"cell_type": "code", "outputs": out, "source": "x", "metadata": {}},
        {"cell_type": "markdown", "source": "y", "metadata": {}}]}}


def test_hook_drops_views_of_models_the_notebook_does_not_keep():
    model = _nb(["a", "b"], kept=["b"])
    drop_orphan_widget_views(model, path="x.ipynb", contents_manager=None)
    outs = model["content"]["cells"][0]["outputs"]
    # a: its model is nowhere once the kernel is gone -- the fallbacks stay
    assert outs[0]["data"] == {"text/plain": "Stepper a", "text/html": "<div>a</div>"}
    # b: the notebook keeps its state (JupyterLab's "save widget state" setting)
    assert VIEW in outs[1]["data"]


def test_hook_leaves_other_files_and_plain_outputs_alone():
    model = {"type": "file", "content": "x"}
    drop_orphan_widget_views(copy.deepcopy(model))
    assert model == {"type": "file", "content": "x"}
    nb = _nb([])
    before = copy.deepcopy(nb)
    drop_orphan_widget_views(nb)
    assert nb == before
