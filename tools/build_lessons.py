"""Build the lesson notebooks, English and Chinese, from their sources in tools/lessons/.

    python tools/build_lessons.py            # every lesson, both languages
    python tools/build_lessons.py 02 05      # some of them
    python tools/build_lessons.py --lang zh  # one language only (en or zh)
    python tools/build_lessons.py --check    # do the committed notebooks match? (no kernel)

A source is a Python file in "percent" form: cells start with a line
`# %%` (code) or `# %% [markdown]` (markdown, every line commented with
`# `).  `# %% check` marks a code cell whose output states a fact: it gets
the `nbval-check-output` tag, and nbval compares it.  `# %% predict` marks
the cell that makes a Predict widget: its source (which holds the answer)
is hidden, the widget shows.  `# %% check answer` is a checked cell whose
output gives a Predict's answer away: its output is stored (nbval compares
it) but collapsed, so a reader sees it only by running or opening it.

One source holds both languages.  A head ending in ` zh` (`# %% [markdown] zh`,
`# %% zh`, `# %% check zh`, ...) is the Chinese twin of the cell just above
it: notebooks/NN-name.ipynb leaves it out, notebooks/zh/NN-name.ipynb puts it
in that cell's place.  A twin has its cell's kind and tags.  Every markdown
cell needs a twin; a code cell needs one only when it shows words (a Predict,
a BlogBox, labels), otherwise both languages run the same code.

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
LANGS = {"en": OUT, "zh": OUT / "zh"}
CHECK_TAG = "nbval-check-output"
PREDICT_TAG = "predict"           # the source holds a Predict's answer: hidden
ANSWER_TAG = "answer"             # the output gives it away: collapsed
HEADS = {"": [], "check": [CHECK_TAG], "predict": [PREDICT_TAG],
         "check answer": [CHECK_TAG, ANSWER_TAG]}
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def parse(text, lang="en"):
    """Source text -> [(kind, source, tags)] of one language's notebook."""
    cells, kind, tags, zh, lines = [], None, [], False, []
    out = []

    def flush():
        if kind is None:
            return
        body = "\n".join(lines).strip("\n")
        if kind == "markdown":
            body = "\n".join(l[2:] if l.startswith("# ") else l.lstrip("#")
                             for l in body.splitlines())
        cells.append((kind, body, tags, zh))

    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("# %%"):
            flush()
            head = line[4:].strip()
            zh = head == "zh" or head.endswith(" zh")
            if zh:
                head = head[:-2].strip()
            kind = "markdown" if head.startswith("[markdown]") else "code"
            if kind == "code" and head not in HEADS:
                raise SystemExit(f"line {n}: unknown cell head: {line!r}")
            tags = list(HEADS.get(head, []))
            lines = []
        elif kind is not None:
            lines.append(line)
    flush()
    for i, (kind, body, tags, zh) in enumerate(cells):
        if zh:
            if i == 0 or cells[i - 1][3] or cells[i - 1][:1] != (kind,) \
                    or cells[i - 1][2] != tags:
                raise SystemExit(f"a zh cell must follow the cell it translates, with the "
                                 f"same kind and tags: {body[:60]!r}")
            continue
        twin = cells[i + 1] if i + 1 < len(cells) and cells[i + 1][3] else None
        if lang == "zh" and twin is None and kind == "markdown":
            raise SystemExit(f"a markdown cell has no zh twin: {body[:60]!r}")
        use = twin if lang == "zh" and twin else (kind, body, tags, zh)
        out.append(use[:3])
    return out


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


def execute(nb, where):
    from nbclient import NotebookClient
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(where)}}).execute()
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


def cell_ids_name(name, lang):
    return name if lang == "en" else f"{lang}/{name}"


def build(path, lang):
    name, where = path.stem, LANGS[lang]
    where.mkdir(exist_ok=True)
    cells = parse(path.read_text(encoding="utf-8"), lang)
    nb = trim(execute(notebook(cell_ids_name(name, lang), cells), where))
    target = where / f"{name}.ipynb"
    nbformat.write(nb, target)
    return target


def check(langs=tuple(LANGS)):
    """The committed notebooks have the sources' cells (outputs aside)."""
    bad = []
    sources = sorted(SRC.glob("*.py"))
    for lang in langs:
        for path in sources:
            target = LANGS[lang] / f"{path.stem}.ipynb"
            shown = target.relative_to(OUT)
            try:
                cells = parse(path.read_text(encoding="utf-8"), lang)
            except SystemExit as e:
                bad.append(f"{shown}: {e}")
                continue
            want = notebook(cell_ids_name(path.stem, lang), cells)
            if not target.exists():
                bad.append(f"{shown}: missing")
                continue
            have = nbformat.read(target, as_version=4)
            if [(c.cell_type, c.source, c.metadata) for c in have.cells] != \
               [(c.cell_type, c.source, c.metadata) for c in want.cells]:
                bad.append(f"{shown}: differs from tools/lessons/{path.name}")
        stems = {p.stem for p in sources}
        for extra in sorted(LANGS[lang].glob("*.ipynb")):
            if extra.stem not in stems:
                bad.append(f"{extra.relative_to(OUT)}: no source in tools/lessons/")
    return bad


def main(argv):
    langs = tuple(LANGS)
    if "--lang" in argv:
        i = argv.index("--lang")
        langs = tuple(argv[i + 1].split(","))
        argv = argv[:i] + argv[i + 2:]
        if not set(langs) <= set(LANGS):
            raise SystemExit(f"--lang: one of {', '.join(LANGS)}")
    if argv[:1] == ["--check"]:
        bad = check(langs)
        print("\n".join(bad) or "notebooks match their sources")
        return 1 if bad else 0
    wanted = [a for a in argv if not a.startswith("-")]
    for path in sorted(SRC.glob("*.py")):
        if wanted and not any(path.stem.startswith(w) for w in wanted):
            continue
        for lang in langs:
            print("built", build(path, lang).relative_to(ROOT), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
