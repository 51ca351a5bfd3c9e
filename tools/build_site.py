"""Build a static site of the lessons: one HTML page per notebook, an index,
and the widget JavaScript vendored next to them.  The steppers keep stepping
in these pages with no kernel and no network.

    python tools/build_site.py                 # every notebooks/*.ipynb and zh/*.ipynb -> site/
    python tools/build_site.py 00 03           # some lessons only (by name prefix)
    python tools/build_site.py 00 zh/00        # the tour in English and in Chinese
    python tools/build_site.py --out /tmp/s    # somewhere else

What it does:

1. Fetches the widget renderer from the npm registry with `npm pack` into a
   cache dir (build/npm/, or $NGXCORO_NPM_CACHE; reused when present):
   @jupyter-widgets/html-manager (renders widget state without a kernel),
   anywidget (same version as the Python anywidget that wrote the state) and
   requirejs.  They are copied into the site (_static/ and
   @jupyter-widgets/); the pages load nothing from a CDN.
2. Executes each lesson with nbclient (in notebooks/, so relative paths
   behave as in JupyterLab); nbclient stores the widget state in the
   notebook by default, and the stepper keeps every step in that state.
3. Exports each executed notebook with nbconvert's `lab` template, pointing
   require.js and the widget renderer at the vendored copies.  MathJax is
   not vendored: the pages load an empty local stub instead of cdnjs, so
   TeX in a lesson's markdown stays as plain text (a warning says which).
   Links between lessons (`01-x.ipynb`) are pointed at the pages (`01-x.html`).
4. Writes a page for each markdown note in notebooks/ (glossary.md ...) and
   index.html listing the lessons (title and first paragraph), in English
   and in Chinese, and the notes.

The Chinese lessons (notebooks/zh/*.ipynb, built by tools/build_lessons.py)
become pages under zh/: a link from one to another (`01-x.ipynb`) stays in
zh/, `../glossary.md` is the glossary's page, and their widgets load the
same vendored JavaScript (zh/ has a require.js configuration of its own, and
the icon fonts, which the renderer's CSS asks for next to the page).

Needs npm (Node) on PATH the first time, and the `[test]` or `[lab]` extras.
"""
from __future__ import annotations

import argparse
import html
import importlib.metadata
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import time

import nbformat

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
LANGS = ("", "zh")          # the English lessons (notebooks/), the Chinese ones (notebooks/zh/)
DEFAULT_OUT = ROOT / "site"
DEFAULT_CACHE = pathlib.Path(os.environ.get("NGXCORO_NPM_CACHE", ROOT / "build" / "npm"))
STATIC = "_static"

# html-manager 1.x renders ipywidgets 8 state (widget-state+json 2.0)
HTML_MANAGER = "@jupyter-widgets/html-manager@1.0.15"
REQUIREJS = "requirejs@2.3.8"


def anywidget_spec():
    """The npm anywidget matching the Python anywidget that wrote the state."""
    return f"anywidget@{importlib.metadata.version('anywidget')}"


def log(*a):
    print(*a, flush=True)


# ------------------------------------------------------------------ vendor
def _safe_extract(tgz, dest):
    with tarfile.open(tgz) as tf:
        for m in tf.getmembers():
            p = (dest / m.name).resolve()
            if not str(p).startswith(str(dest.resolve()) + os.sep):
                raise RuntimeError(f"{tgz}: unsafe path {m.name!r}")
        tf.extractall(dest)


def npm_package(spec, cache):
    """`npm pack` spec into cache (once) and unpack it; the package dir."""
    name, version = spec.rsplit("@", 1)
    slug = name.replace("@", "").replace("/", "-")
    unpacked = cache / f"{slug}-{version}"
    if (unpacked / "package" / "package.json").exists():
        return unpacked / "package"
    npm = shutil.which("npm")
    if not npm:
        sys.exit("build_site: npm is needed to fetch the widget JavaScript "
                 f"({spec}) from the npm registry; install Node.js/npm "
                 "(Debian: apt-get install npm)")
    cache.mkdir(parents=True, exist_ok=True)
    log(f"npm pack {spec}")
    out = subprocess.run([npm, "pack", "--silent", "--json", "--pack-destination", str(cache), spec],
                         check=True, capture_output=True, text=True).stdout
    filename = json.loads(out)[0]["filename"]
    tmp = cache / f".{slug}-{version}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    _safe_extract(cache / filename, tmp)
    shutil.rmtree(unpacked, ignore_errors=True)
    tmp.rename(unpacked)
    return unpacked / "package"


def vendor(out, cache):
    """Copy the widget JavaScript into out/_static; returns the URLs the
    pages use (relative to a page in out/) and the versions."""
    static = out / STATIC
    static.mkdir(parents=True, exist_ok=True)
    specs = {"html-manager": HTML_MANAGER, "anywidget": anywidget_spec(), "requirejs": REQUIREJS}
    pkgs = {k: npm_package(v, cache) for k, v in specs.items()}

    # html-manager's embed-amd.js, and the icon fonts its CSS asks for: the
    # bundled CSS resolves them against the *page*, at
    # @jupyter-widgets/html-manager/dist/ and at @jupyter-widgets/ (both are
    # requested), so they go to both places (woff2/woff/ttf; the eot and svg
    # fonts are for browsers that cannot run these pages anyway)
    dist = pkgs["html-manager"] / "dist"
    hm = out / "@jupyter-widgets"
    shutil.rmtree(hm, ignore_errors=True)
    (hm / "html-manager" / "dist").mkdir(parents=True)
    shutil.copy(dist / "embed-amd.js", hm / "html-manager" / "dist" / "embed-amd.js")
    fonts = [f for f in dist.iterdir() if f.suffix in (".woff2", ".woff", ".ttf")]
    for font in fonts:
        shutil.copy(font, hm / "html-manager" / "dist" / font.name)
        shutil.copy(font, hm / font.name)
    # ... and next to the pages in zh/ (the fonts only: the script is loaded from the root)
    for sub in filter(None, LANGS):
        shutil.rmtree(out / sub / "@jupyter-widgets", ignore_errors=True)
        (out / sub / "@jupyter-widgets" / "html-manager" / "dist").mkdir(parents=True)
        for font in fonts:
            shutil.copy(font, out / sub / "@jupyter-widgets" / "html-manager" / "dist" / font.name)
            shutil.copy(font, out / sub / "@jupyter-widgets" / font.name)
    shutil.copy(pkgs["anywidget"] / "dist" / "index.js", static / "anywidget.js")
    # require.js, configured so that html-manager's require(['anywidget'])
    # finds the vendored copy instead of falling back to a CDN; require.js
    # resolves the path against the page, so the pages in zh/ have their own
    require_js = (pkgs["requirejs"] / "require.js").read_text(encoding="utf-8")
    for sub in LANGS:
        up = "../" if sub else ""
        (static / (f"require-{sub}.js" if sub else "require.js")).write_text(
            require_js + f'\nrequire.config({{paths: {{anywidget: "{up}{STATIC}/anywidget"}}}});\n',
            encoding="utf-8")
    (static / "no-mathjax.js").write_text("/* MathJax is not vendored (see tools/build_site.py) */\n")
    versions = {k: v.rsplit("@", 1)[1] for k, v in specs.items()}
    (static / "VERSIONS.json").write_text(json.dumps(versions, indent=1) + "\n")
    return versions


def page_urls(sub=""):
    """The script URLs of a page in out/ (sub "") or in out/zh/ (sub "zh")."""
    up = "../" if sub else ""
    return {"require_js_url": f"{up}{STATIC}/" + (f"require-{sub}.js" if sub else "require.js"),
            "widget_renderer_url": f"{up}@jupyter-widgets/html-manager/dist/embed-amd.js",
            "mathjax_url": f"{up}{STATIC}/no-mathjax.js"}


# ----------------------------------------------------------------- lessons
_TEX = re.compile(r"\$\$|\\\(|\\\[|\$[^\s$][^$\n]*\\[A-Za-z]+[^$\n]*\$")


_NAV = re.compile(r"^\*\*(Previous|Next|Back)\b")


def lesson_info(nb, stem):
    """(title, first paragraph) from the first markdown cell with a `# `
    heading; navigation lines (**Previous:** ...) are not a paragraph."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.splitlines()
        heads = [k for k, line in enumerate(lines) if line.startswith("# ")]
        if not heads:
            continue
        title = lines[heads[0]][2:].strip()
        paras, cur = [], []
        for line in lines[heads[0] + 1:] + [""]:
            if line.strip() and not line.startswith("#"):
                cur.append(line.strip())
            elif cur:
                paras.append(" ".join(cur))
                cur = []
        blurb = next((para for para in paras if not _NAV.match(para)), "")
        return title, blurb
    return stem, ""


def execute(nb, timeout, where=NOTEBOOKS):
    from nbclient import NotebookClient
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(where)}}).execute()
    return nb


def export(nb, urls):
    from nbconvert import HTMLExporter
    from traitlets.config import Config
    # a Predict's source holds its answer, and the next checked output shows it:
    # the page keeps both out (the widget's Check still tells)
    c = Config()
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_input_tags = {"predict"}
    c.TagRemovePreprocessor.remove_all_outputs_tags = {"answer"}
    exporter = HTMLExporter(config=c, template_name="lab", **urls)
    body, _ = exporter.from_notebook_node(nb)
    return relink(body)


def relink(body):
    """Links between lessons (01-x.ipynb) and to notes next to them
    (glossary.md) point at their pages (relative links only): also from a
    Chinese lesson to the glossary (../glossary.md) and from an English page
    to a Chinese lesson (zh/01-x.ipynb), as the site keeps them."""
    return re.sub(r'href="(?![a-z]+:|/)((?:\.\./|zh/)?[^"#?/]+)\.(?:ipynb|md)(#[^"]*)?"',
                  lambda m: f'href="{m.group(1)}.html{m.group(2) or ""}"', body)


def markdown_inline(text):
    """`code` and **bold** in an index blurb; everything else escaped."""
    s = html.escape(text)
    s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
    s = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", s)
    s = re.sub(r"\*([^*]+)\*", r"<i>\1</i>", s)
    return re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", s)


def _items(entries):
    return "\n".join(
        f'<li><a href="{html.escape(page)}">{markdown_inline(title)}</a>'
        f'<div class="blurb">{markdown_inline(blurb)}</div></li>'
        for page, title, blurb in entries)


def index_page(entries, versions, notes=(), zh_entries=()):
    """The index: the English lessons, the Chinese ones (zh/...), the notes."""
    more = "".join(f'<li><a href="{html.escape(page)}">{markdown_inline(title)}</a></li>'
                   for page, title, _ in notes)
    more = f"<h2>Notes</h2>\n<ul>{more}</ul>" if more else ""
    items = _items(entries)
    zh = (f'<h2 id="zh" lang="zh">中文课程</h2>\n<p lang="zh">同样的课程，中文版：每个步进器都可以在'
          f'这里直接逐步查看，无需内核。</p>\n<ol lang="zh">\n{_items(zh_entries)}\n</ol>'
          if zh_entries else "")
    vs = ", ".join(f"{k} {v}" for k, v in versions.items())
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ngxcoro lessons</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 52rem;
       margin: 2rem auto; padding: 0 1rem; color: #1f2328; line-height: 1.5; }}
h1 {{ font-size: 1.6rem; margin-bottom: .2rem; }}
h2 {{ font-size: 1.2rem; margin-top: 2rem; }}
ol {{ padding-left: 1.4rem; }}
li {{ margin: .9rem 0; }}
li a {{ font-size: 1.1rem; font-weight: 600; color: #0969da; text-decoration: none; }}
li a:hover {{ text-decoration: underline; }}
.blurb {{ color: #59636e; }}
code {{ font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .9em; }}
footer {{ margin-top: 2rem; color: #59636e; font-size: .85rem; }}
</style>
</head>
<body>
<h1>ngxcoro lessons</h1>
<p>How OpenResty's lua-nginx-module schedules Lua light threads, step by step.
<a href="#zh" lang="zh">中文版</a> below.
These pages were executed when the site was built: every stepper steps right
here, with no kernel (re-running with another completion order, and the editor's
Run button, need a live Jupyter).</p>
<ol>
{items}
</ol>
{zh}
{more}
<footer>Built by <code>python tools/build_site.py</code>. Widget JavaScript
vendored from the npm registry ({html.escape(vs)}); no CDN.</footer>
</body>
</html>
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("lessons", nargs="*", help="name prefixes (default: every notebook)")
    ap.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    ap.add_argument("--cache", type=pathlib.Path, default=DEFAULT_CACHE,
                    help="where npm tarballs are kept (default build/npm)")
    ap.add_argument("--timeout", type=int, default=600, help="per cell, seconds")
    args = ap.parse_args(argv)

    # "00-tour" (notebooks/00-tour.ipynb) and "zh/00-tour" (notebooks/zh/...):
    # a prefix without "zh/" picks English lessons, one with it Chinese ones
    paths = [p for sub in LANGS for p in sorted((NOTEBOOKS / sub).glob("*.ipynb"))]
    rel = lambda p: p.relative_to(NOTEBOOKS).with_suffix("").as_posix()
    if args.lessons:
        paths = [p for p in paths if any(rel(p).startswith(w) for w in args.lessons)]
    if not paths:
        sys.exit("build_site: no notebooks matched")
    out = args.out.resolve()
    t0 = time.monotonic()
    # a fresh site each time (but only ever a directory this script made)
    if out.exists():
        if any(out.iterdir()) and not (out / STATIC / "VERSIONS.json").exists():
            sys.exit(f"build_site: {out} exists and is not a site built here; not touching it")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    versions = vendor(out, args.cache)
    log(f"vendored {', '.join(f'{k} {v}' for k, v in versions.items())} "
        f"({time.monotonic() - t0:.1f} s)")

    entries = {sub: [] for sub in LANGS}
    for path in paths:
        t = time.monotonic()
        sub = "" if path.parent == NOTEBOOKS else path.parent.name
        nb = nbformat.read(path, as_version=4)
        title, blurb = lesson_info(nb, path.stem)
        tex = [c for c in nb.cells if c.cell_type == "markdown" and _TEX.search(c.source)]
        if tex:
            log(f"warning: {path.name} has TeX in markdown; MathJax is not vendored, "
                "it shows as plain text")
        execute(nb, args.timeout, path.parent)
        page = f"{sub}/{path.stem}.html" if sub else f"{path.stem}.html"
        (out / page).parent.mkdir(parents=True, exist_ok=True)
        (out / page).write_text(export(nb, page_urls(sub)), encoding="utf-8")
        entries[sub].append((page, title, blurb))
        log(f"{page}: {time.monotonic() - t:.1f} s")
    # markdown notes next to the lessons (a glossary ...): a page each
    notes = []
    for path in sorted(NOTEBOOKS.glob("*.md")):
        nb = nbformat.v4.new_notebook()
        nb.metadata["title"] = path.stem
        nb.cells.append(nbformat.v4.new_markdown_cell(path.read_text(encoding="utf-8")))
        page = f"{path.stem}.html"
        (out / page).write_text(export(nb, page_urls()), encoding="utf-8")
        notes.append((page, lesson_info(nb, path.stem)[0], ""))
    (out / "index.html").write_text(index_page(entries[""], versions, notes, entries["zh"]),
                                    encoding="utf-8")
    log(f"site: {out} ({len(entries[''])} lessons, {len(entries['zh'])} in Chinese, "
        f"{time.monotonic() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
