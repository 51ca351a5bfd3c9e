"""pytest's root conftest: how the suite runs in parallel (tests/conftest.py has
the rest of the shared test setup).  It sits at the root so that it also holds
when only lessons are collected (`python3 -m pytest notebooks/...`)."""
from __future__ import annotations

import pathlib

import pytest


# ------------------------------------------------------------ running in parallel
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """With pytest-xdist's `--dist loadgroup` (pyproject's addopts), tests that
    must share one process stay together: each lesson's nbval cells (one kernel
    runs them in order), the browser tests (the lessons' in two groups, one per
    language, each with its own JupyterLab; the site's in one, over one npm
    cache), the differential checks of one scenario (they share its memoised
    model run), and test_viz_graph.py's tests over every scenario's frames
    (memoised for the module; its rendering runs in parts, spread).  Everything else is spread one test at a time."""
    for item in items:
        path = pathlib.Path(str(item.fspath))
        if path.suffix == ".ipynb":
            group = f"nb:{path.parent.name}/{path.name}"
        elif path.name == "test_browser_lab.py":
            # two groups, so two workers share the lessons (each starts its own
            # JupyterLab and chromium once)
            group = f"browser:{path.name}:{'zh' if '[zh/' in item.nodeid else 'en'}"
        elif item.get_closest_marker("browser") is not None:
            group = f"browser:{path.name}"     # test_site: one npm cache, one build
        elif path.name == "test_viz_graph.py" and not item.name.startswith(
                "test_every_scenario_renders"):
            group = "module:test_viz_graph.py"
        elif path.name == "test_differential.py" and hasattr(item, "callspec") \
                and "path" in item.callspec.params:
            group = f"scenario:{pathlib.Path(str(item.callspec.params['path'])).stem}"
        else:
            continue
        item.add_marker(pytest.mark.xdist_group(group))
