"""The lesson notebooks are well-formed for JupyterLab, and the outputs they store for the
cells tagged `nbval-check-output` are what running them gives today, byte for byte."""
from __future__ import annotations

import json
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "notebooks"
# the English lessons, then their Chinese twins (tools/build_lessons.py)
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb")) + sorted(NB_DIR.glob("zh/*.ipynb"))
CHECK_TAG = "nbval-check-output"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def tagged(nb):
    return [c for c in nb["cells"]
            if c["cell_type"] == "code" and CHECK_TAG in c.get("metadata", {}).get("tags", [])]


def text_outputs(cell):
    """What a reader sees as text: stream text and text/plain results, in order."""
    out = []
    for o in cell.get("outputs", []):
        if o["output_type"] == "stream":
            t = o["text"]
            out.append((o["name"], "".join(t) if isinstance(t, list) else t))
        elif o["output_type"] in ("execute_result", "display_data"):
            t = o.get("data", {}).get("text/plain")
            if t is not None:
                out.append((o["output_type"], "".join(t) if isinstance(t, list) else t))
        elif o["output_type"] == "error":
            out.append(("error", o["ename"] + ": " + o["evalue"]))
    return out


def test_there_is_a_tour():
    assert (NB_DIR / "00-tour.ipynb") in NOTEBOOKS
    assert (NB_DIR / "zh" / "00-tour.ipynb") in NOTEBOOKS


def test_every_lesson_in_both_languages():
    # one source per lesson (tools/lessons/), one notebook per language
    sources = sorted(p.stem for p in (ROOT / "tools" / "lessons").glob("*.py"))
    assert sorted(p.stem for p in NB_DIR.glob("*.ipynb")) == sources
    assert sorted(p.stem for p in NB_DIR.glob("zh/*.ipynb")) == sources


def test_notebooks_match_their_sources():
    # the committed cells (sources, tags, hidden flags) are what the builder makes
    # of tools/lessons/ today, in both languages: a source edited without a rebuild
    # fails here
    import importlib.util
    spec = importlib.util.spec_from_file_location("build_lessons",
                                                  ROOT / "tools" / "build_lessons.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.check() == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(NB_DIR)))
def test_notebook_is_json_with_kernelspec(path):
    nb = load(path)                                    # parses as JSON
    assert nb["nbformat"] == 4
    assert nb["metadata"]["kernelspec"] == KERNELSPEC
    assert nb["cells"], "an empty notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(NB_DIR)))
def test_notebook_validates(path):
    nbformat = pytest.importorskip("nbformat")
    nbformat.validate(nbformat.read(str(path), as_version=4))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(NB_DIR)))
def test_checked_cells_have_stored_outputs(path):
    nb = load(path)
    cells = tagged(nb)
    assert cells, f"{path.name}: no cell is tagged {CHECK_TAG}"
    for c in cells:
        src = "".join(c["source"])[:60]
        assert isinstance(c.get("execution_count"), int), f"not executed: {src!r}"
        assert c.get("outputs"), f"no stored output: {src!r}"
        assert text_outputs(c), f"no text output: {src!r}"
        assert not any(o["output_type"] == "error" for o in c["outputs"]), src


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(NB_DIR)))
def test_no_stored_traceback_anywhere(path):
    for c in load(path)["cells"]:
        for o in c.get("outputs", []):
            assert o["output_type"] != "error", "".join(c["source"])[:60]
            if o["output_type"] == "stream":
                assert "Traceback" not in "".join(o["text"])


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name == "00-tour.ipynb"],
                         ids=lambda p: str(p.relative_to(NB_DIR)))
def test_checked_outputs_reproduce(path, monkeypatch):
    try:
        import nbformat
        from nbclient import NotebookClient
        import ipykernel  # noqa: F401
    except ImportError as e:
        pytest.skip(f"cannot execute notebooks here: {e}")
    nb = nbformat.read(str(path), as_version=4)
    stored = [text_outputs(c) for c in tagged(nb)]
    # the kernel must import this checkout's ngxcoro
    monkeypatch.setenv("PYTHONPATH",
                       os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(NB_DIR)}})
    client.execute()
    fresh = [text_outputs(c) for c in tagged(nb)]
    assert len(fresh) == len(stored)
    for i, (a, b) in enumerate(zip(stored, fresh)):
        assert a == b, f"checked cell #{i} printed something else:\n{b}\nstored:\n{a}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(NB_DIR)))
def test_relative_links_resolve(path):
    # every [text](target) of a lesson's markdown that is not a web address names a
    # file that exists, seen from the notebook's own folder (zh/ lessons link
    # ../glossary.md); an #anchor or ?query is not part of the file name
    import re
    for c in load(path)["cells"]:
        if c["cell_type"] != "markdown":
            continue
        for target in re.findall(r"\]\(([^)\s]+)\)", "".join(c["source"])):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            file = target.split("#")[0].split("?")[0]
            assert (path.parent / file).exists(), f"{path.name}: broken link {target!r}"


def test_glossary_links_resolve_and_cover_both_languages():
    import re
    text = (NB_DIR / "glossary.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+\.ipynb)\)", text)
    assert targets
    for t in targets:
        assert (NB_DIR / t).exists(), f"glossary.md: broken link {t!r}"
    # a lesson linked in English is linked in Chinese too, and the other way round
    en = {t for t in targets if not t.startswith("zh/")}
    zh = {t[3:] for t in targets if t.startswith("zh/")}
    assert en == zh
