"""Small lesson pieces (ngxcoro/viz/lessons.py) and the lesson notebooks'
Predict cells: what a reader sees before pressing Check."""
from __future__ import annotations

import json
import pathlib
import re

import pytest

import ngxcoro
from ngxcoro.viz.lessons import BlogBox, count_chart_svg

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = (sorted((ROOT / "notebooks").glob("*.ipynb"))
             + sorted((ROOT / "notebooks").glob("zh/*.ipynb")))


def test_blogbox_renders_inline_code():
    # markdown's `code` spans become <code>, the rest stays escaped
    assert BlogBox._inline("checks `c->destroyed` and <b>") == \
        "checks <code>c-&gt;destroyed</code> and &lt;b&gt;"


def _labels(svg):
    return [(float(x), float(y), name) for x, y, name in re.findall(
        r"<text x='([\d.]+)' y='([\d.]+)' font-size='9'[^>]*>([^<]+)</text>", svg)]


def test_count_chart_labels_do_not_overlap():
    # finalize_request(r, NGX_DONE) and, two events later, finalize_request(r, NGX_OK)
    # in a run of 100 events: 2 of 100 steps is 10 px, less than a label is wide
    from ngxcoro.nginx.core import NGX_DONE, NGX_OK
    events = [{"event": "other"}] * 100
    events[40] = {"event": "finalize_request", "rc": NGX_DONE}
    events[42] = {"event": "finalize_request", "rc": NGX_OK}
    events[70] = {"event": "finalize_request", "rc": NGX_OK}
    labels = _labels(count_chart_svg(type("R", (), {"events": events})()))
    assert [name for _, _, name in labels] == ["NGX_DONE", "NGX_OK", "NGX_OK"]
    for i, (x1, y1, a) in enumerate(labels):
        for x2, y2, b in labels[i + 1:]:
            if y1 == y2:             # same row: at least the two half widths apart
                assert abs(x1 - x2) >= 2.8 * (len(a) + len(b)) + 6, (a, b, x1, x2)
    assert labels[0][1] != labels[1][1]          # the close pair: two rows
    assert labels[2][1] == labels[0][1]          # the far one back on the first


@pytest.mark.parametrize("path", NOTEBOOKS,
                         ids=lambda p: str(p.relative_to(ROOT / "notebooks")))
def test_predict_keeps_its_answer_out_of_sight(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = nb["cells"]
    for i, cell in enumerate(cells):
        src = "".join(cell["source"])
        if cell["cell_type"] != "code" or not re.search(r"^Predict\(", src, re.M):
            continue
        # the widget's source (which names the answer) is hidden
        assert cell["metadata"].get("jupyter", {}).get("source_hidden"), f"cell {i}"
        # the next checked cell, which prints the answer, shows no stored output
        nxt = next(c for c in cells[i + 1:] if "nbval-check-output"
                   in c.get("metadata", {}).get("tags", []))
        assert nxt["metadata"].get("jupyter", {}).get("outputs_hidden"), f"after cell {i}"


def test_static_svg_keeps_the_natural_size():
    from ngxcoro.viz.render import static_svg
    out = static_svg('<svg width="945pt" height="246pt" viewBox="0 0 944.6 246.1"></svg>')
    # the graph keeps its own width (so its text its font size); the box scrolls
    assert '<svg style="max-width:none" width="945pt"' in out
    assert "overflow-x:auto" in out and "height:auto" not in out


def test_site_page_hides_predict_source_and_answer_output():
    import sys
    sys.path.insert(0, str(ROOT / "tools"))
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbconvert")
    import build_site
    nb = nbformat.read(str(ROOT / "notebooks" / "00-tour.ipynb"), as_version=4)
    page = build_site.export(nb, {})
    assert "Predict(" not in page                 # the predict cell's source
    answer = next(c for c in nb.cells if "answer" in c.metadata.get("tags", []))
    shown = answer.outputs[0]["text"].strip()     # the body without the sleep
    assert "first part\nlight thread: after its sleep" in shown
    assert shown not in page                      # its output is not on the page
    assert "Step through it" in page              # the rest is there
