"""Build the lesson notebooks from their sources in tools/lessons/.

    python tools/build_lessons.py            # every lesson
    python tools/build_lessons.py 02 05      # some of them
    python tools/build_lessons.py --check    # do the committed notebooks match? (no kernel)

A source is a Python file in "percent" form: cells start with a line
`# %%` (code) or `# %% [markdown]` (markdown, every line commented with
`# `).  `# %% check` marks a code cell whose output states a fact: it gets
the `nbval-check-output` tag, and nbval compares it.  `# %% predict` marks
the cell that makes a Predict widget: its source (which holds the answer)
is hidden, the widget shows.  `# %% check answer` is a checked cell whose
output gives a Predict's answer away: its output is stored (nbval compares
it) but collapsed, so a reader sees it only by running or opening it.

Each notebook is executed once here (nbclient, in notebooks/), then only
the checked cells keep their outputs; the other outputs and the widget
state are dropped, because they hold random widget ids and renderer-specific
SVG.  So a rebuild gives the same bytes, and nbval has something to compare.
"""
from __future__ import annotations

import hashlib
import pathlib
import sys

import nbformat

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "tools" / "lessons"
OUT = ROOT / "notebooks"
CHECK_TAG = "nbval-check-output"
PREDICT_TAG = "predict"           # the source holds a Predict's answer: hidden
ANSWER_TAG = "answer"             # the output gives it away: collapsed
HEADS = {"": [], "check": [CHECK_TAG], "predict": [PREDICT_TAG],
         "check answer": [CHECK_TAG, ANSWER_TAG]}
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def parse(text):
    """Source text -> [(kind, source, tags)]."""
    cells, kind, tags, lines = [], None, [], []

    def flush():
        if kind is not None:
            body = "\n".join(lines).strip("\n")
            if kind == "markdown":
                body = "\n".join(l[2:] if l.startswith("# ") else l.lstrip("#")
                                 for l in body.splitlines())
            cells.append((kind, body, tags))

    for line in text.splitlines():
        if line.startswith("# %%"):
            flush()
            head = line[4:].strip()
            kind = "markdown" if head.startswith("[markdown]") else "code"
            if kind == "code" and head not in HEADS:
                raise SystemExit(f"unknown cell head: {line!r}")
            tags = list(HEADS.get(head, []))
            lines = []
        elif kind is not None:
            lines.append(line)
    flush()
    return cells


def notebook(name, cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNELSPEC),
                   "language_info": {"name": "python"}}
    for i, (kind, body, tags) in enumerate(cells):
        cell = (nbformat.v4.new_markdown_cell(body) if kind == "markdown"
                else nbformat.v4.new_code_cell(body))
        cell.id = hashlib.sha1(f"{name}:{i}".encode()).hexdigest()[:8]
        if tags:
            cell.metadata["tags"] = list(tags)
        if PREDICT_TAG in tags:           # JupyterLab and Notebook 7 collapse the input
            cell.metadata["jupyter"] = {"source_hidden": True}
        if ANSWER_TAG in tags:            # ... and this output until it is clicked
            cell.metadata["jupyter"] = {"outputs_hidden": True}
            cell.metadata["collapsed"] = True
        nb.cells.append(cell)
    return nb


def execute(nb):
    from nbclient import NotebookClient
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(OUT)}}).execute()
    return nb


def trim(nb):
    """Keep the outputs nbval checks; drop the rest and the widget state."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        if CHECK_TAG not in cell.metadata.get("tags", []):
            cell.outputs = []
            cell.execution_count = None
        else:
            merged = []
            for out in cell.outputs:             # a print may arrive in pieces
                if (merged and out.get("output_type") == "stream"
                        and merged[-1].get("output_type") == "stream"
                        and merged[-1]["name"] == out["name"]):
                    merged[-1]["text"] += out["text"]
                    continue
                if out.get("output_type") != "stream":
                    out.get("metadata", {}).clear()
                merged.append(out)
            cell.outputs = merged
    return nb


def build(path):
    name = path.stem
    nb = trim(execute(notebook(name, parse(path.read_text(encoding="utf-8")))))
    target = OUT / f"{name}.ipynb"
    nbformat.write(nb, target)
    return target


def check():
    """The committed notebooks have the sources' cells (outputs aside)."""
    bad = []
    for path in sorted(SRC.glob("*.py")):
        target = OUT / f"{path.stem}.ipynb"
        want = notebook(path.stem, parse(path.read_text(encoding="utf-8")))
        if not target.exists():
            bad.append(f"{target.name}: missing")
            continue
        have = nbformat.read(target, as_version=4)
        if [(c.cell_type, c.source, c.metadata) for c in have.cells] != \
           [(c.cell_type, c.source, c.metadata) for c in want.cells]:
            bad.append(f"{target.name}: differs from tools/lessons/{path.name}")
    return bad


def main(argv):
    if argv[:1] == ["--check"]:
        bad = check()
        print("\n".join(bad) or "notebooks match their sources")
        return 1 if bad else 0
    wanted = [a for a in argv if not a.startswith("-")]
    for path in sorted(SRC.glob("*.py")):
        if wanted and not any(path.stem.startswith(w) for w in wanted):
            continue
        print("built", build(path).relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
