"""Every lesson in a real JupyterLab, driven by a real Chromium.

One JupyterLab server (loopback, random port and token, throwaway config,
data, runtime, workspace and settings dirs) serves a *copy* of notebooks/
for the whole module; one headless Chromium (the `browser` fixture in
conftest.py) opens each lesson in turn, runs all cells and checks:

* no cell fails, every widget draws (none says "Error displaying widget");
* the first stepper's next / prev buttons, its slider, the arrow keys and
  play / pause change the step counter and the picture (graph + explanation);
* a Predict answers, a Tweak shows another value;
* in a lesson with an Editor, Run on a new location block gives a new stepper;
* the browser console shows no errors.

The tour also runs in the Notebook 7 interface, on its own `jupyter notebook`
server (see the `notebook7` fixture for why not the Lab one).  Screenshots go
to test-artifacts/screenshots/ (gitignored), one or more per lesson; the
servers' logs to test-artifacts/.

Marked `browser`: skipped without playwright or chromium, failed in CI
(NGXCORO_REQUIRE_BROWSER=1).  About 10-15 s per lesson.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import ARTIFACTS, ROOT, browser_required
from ngxcoro.viz.save_hook import HOOK as SAVE_HOOK

pytestmark = pytest.mark.browser

NOTEBOOKS = (sorted((ROOT / "notebooks").glob("*.ipynb"))
             + sorted((ROOT / "notebooks").glob("zh/*.ipynb")))
SHOTS = ARTIFACTS / "screenshots"
KERNEL_IDLE = "Python 3 (ipykernel) | Idle"
RUN_TIMEOUT = 300_000            # ms, Run All of one lesson
MARK = "ngxcoro-browser-test"    # in the editor's new location block

NEW_BLOCK = f"""location = /b {{
    content_by_lua_block {{
        local t = ngx.thread.spawn(function()
            ngx.sleep(0.2)
            ngx.say("{MARK}: child")
        end)
        ngx.say("{MARK}: entry")
        ngx.thread.wait(t)
    }}
}}
"""

# console messages that are not about the lessons: none so far.  Add a
# pattern here only with the reason next to it.
CONSOLE_ALLOWED: list[str] = []


# ------------------------------------------------------------------ server
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_settings(settings):
    """User settings for a quiet, deterministic Lab (and Notebook 7)."""
    files = {
        # no "get notified about Jupyter news?" toast over the screenshots
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False},
        # the copy is throwaway, but never write a notebook back anyway
        "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
        # every cell in the DOM (no virtual scrolling), so prompts can be read
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }
    for rel, data in files.items():
        path = settings / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))


class Server:
    def __init__(self, base, token, root, proc, log):
        self.base, self.token, self.root, self.proc, self.log = base, token, root, proc, log

    def url(self, path):
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}token={self.token}"


@contextlib.contextmanager
def jupyter_server(app, tmp):
    """`python -m <app>` (jupyterlab, or notebook for Notebook 7) on
    127.0.0.1, a free port and a random token, with throwaway config, data,
    runtime, workspace and settings dirs, serving a copy of notebooks/;
    stopped by its pid (SIGTERM shuts its kernels down too)."""
    root = tmp / "root"
    root.mkdir()
    # the lessons, copied (running them must never touch notebooks/); the
    # rest of the repository is linked, so relative paths still resolve
    shutil.copytree(ROOT / "notebooks", root / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for entry in ROOT.iterdir():
        if entry.name not in ("notebooks", ".git", "site", "build", "test-artifacts"):
            (root / entry.name).symlink_to(entry)
    dirs = {k: tmp / k.lower() for k in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR",
                                         "JUPYTER_DATA_DIR", "JUPYTERLAB_WORKSPACES_DIR",
                                         "JUPYTERLAB_SETTINGS_DIR")}
    for d in dirs.values():
        d.mkdir()
    _write_settings(dirs["JUPYTERLAB_SETTINGS_DIR"])
    env = dict(os.environ, **{k: str(v) for k, v in dirs.items()})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    port, token = _free_port(), secrets.token_hex(16)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / f"{app}-server.log"
    extra = (["--LabApp.extension_manager=readonly",
              "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
             if app == "jupyterlab" else [])
    t0 = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", app, "--no-browser", f"--port={port}",
             "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
             f"--IdentityProvider.token={token}", "--allow-root",
             # as `python -m ngxcoro lab` starts it (ngxcoro/lab.py)
             f"--ContentsManager.pre_save_hook={SAVE_HOOK}",
             f"--ServerApp.root_dir={root}", *extra],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"{app} exited with {proc.returncode}; see {log_path}")
                try:
                    with urllib.request.urlopen(f"{base}/api/status?token={token}",
                                                timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"{app} did not answer in 90 s; see {log_path}")
                time.sleep(0.25)
            print(f"\n[{app}] server ready in {time.monotonic() - t0:.1f} s", flush=True)
            yield Server(base, token, root, proc, log_path)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.fixture(scope="module")
def lab(browser, tmp_path_factory):
    """One JupyterLab server for every lesson."""
    if browser is None:                  # NGXCORO_REQUIRE_BROWSER=1 and none: the gate fails
        yield None
        return
    with jupyter_server("jupyterlab", tmp_path_factory.mktemp("lab")) as server:
        yield server


@pytest.fixture
def notebook7(browser, tmp_path_factory):
    """`jupyter notebook` (Notebook 7) on its own.  Not the Lab server: after
    Lab has served a page, jupyter_server 2.21's static-file cache (keyed by
    file name only) answers Notebook 7's request for a font with the same
    hashed name as Lab's with 403 "not in root static directory"."""
    if browser is None:
        yield None
        return
    try:
        import notebook
        ok = int(notebook.__version__.split(".")[0]) >= 7
    except Exception:
        ok = False
    if not ok:
        msg = "Notebook 7 is not installed (pip install 'notebook>=7', in the [test] extra)"
        pytest.fail(msg) if browser_required() else pytest.skip(msg)
    with jupyter_server("notebook", tmp_path_factory.mktemp("nb7")) as server:
        yield server


# ------------------------------------------------------------------ pages
class Console:
    """Errors the page reports: console.error and uncaught exceptions."""

    def __init__(self, page):
        self.errors = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("response", lambda r: r.status >= 400 and self.errors.append(
            f"HTTP {r.status}: {r.request.method} {r.url}"))

    def _on_console(self, msg):
        if msg.type == "error" and not any(re.search(p, msg.text) for p in CONSOLE_ALLOWED):
            loc = msg.location or {}
            self.errors.append(f"console.error: {msg.text} ({loc.get('url', '')}:"
                               f"{loc.get('lineNumber', '')})")


def _new_page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1500})
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    return ctx, page, Console(page)


def _shot(locator_or_page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    locator_or_page.screenshot(path=str(path))
    return path


def _run_all(page):
    """Run > Run All Cells, from the menu bar (Lab and Notebook 7 both have it)."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


# a cell whose source the lesson hides (a Predict: tools/build_lessons.py) shows a
# placeholder with an empty prompt of its own; its input area keeps the real prompt
_PROMPTS = ("[...document.querySelectorAll(sel + ' .jp-CodeCell .jp-InputPrompt')]"
            ".filter((p) => !p.classList.contains('jp-Placeholder-prompt')"
            " && !p.closest('.jp-Placeholder'))")


def _run_all_and_wait(page, nb_selector):
    """Run All, then wait until the run is over: no prompt is [*] any more
    (every cell numbered, or the rest left [ ] by a failing cell).  A Run All
    that a not-yet-connected kernel drops leaves every prompt empty: it is
    clicked once more (and said so).  Returns the prompts that never ran."""
    _run_all(page)
    started = f"(sel) => {_PROMPTS}.some((p) => /\\[(\\*|\\d+)\\]/.test(p.textContent))"
    try:
        page.wait_for_function(started, arg=nb_selector, timeout=20_000, polling=100)
    except Exception:
        print("\n[lab] Run All was dropped (kernel not connected yet); running again", flush=True)
        _run_all(page)
    page.wait_for_function(
        f"""(sel) => {{
            const ps = {_PROMPTS};
            return ps.length > 0 && !ps.some((p) => p.textContent.includes('[*]'))
                && ps.some((p) => /\\[\\d+\\]/.test(p.textContent));
        }}""", arg=nb_selector, timeout=RUN_TIMEOUT, polling=250)
    return page.evaluate(f"(sel) => {_PROMPTS}.filter((p) => !/\\[\\d+\\]/.test(p.textContent)).length",
                         nb_selector)


# an error output is rendered as stderr text holding the traceback
_ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|^\s*\w*(Error|Exception)\b", re.M)


def _cell_errors(page, nb_selector):
    outs = page.locator(f'{nb_selector} .jp-OutputArea-output'
                        '[data-mime-type="application/vnd.jupyter.stderr"]')
    return [t for t in outs.all_inner_texts() if _ERROR_TEXT.search(t)]


def _check_ran(page, nb_selector, name):
    never = _run_all_and_wait(page, nb_selector)
    errors = _cell_errors(page, nb_selector)
    assert not errors, f"{name}: a cell failed:\n" + "\n---\n".join(e[-1500:] for e in errors)
    assert never == 0, f"{name}: {never} cell(s) never ran"


def _wait_widgets(page, nb_selector):
    """Every widget output (a Lumino panel in the output area) has drawn
    something, and none says 'Error displaying widget'.  Returns how many."""
    page.wait_for_function(
        """(sel) => [...document.querySelectorAll(sel + ' .jp-OutputArea-output.lm-Panel')].every(
            (o) => o.getBoundingClientRect().height > 0
                && !/Loading widget|Error displaying widget/.test(o.textContent))""",
        arg=nb_selector, timeout=30_000, polling=250)
    bad = page.locator(f"{nb_selector} .jp-OutputArea-output.lm-Panel",
                       has_text="Error displaying widget")
    assert bad.count() == 0, bad.first.inner_text()
    return page.locator(f"{nb_selector} .jp-OutputArea-output.lm-Panel").count()


# ---------------------------------------------------------------- stepper
# The checks read what a widget says in any language (a lesson in notebooks/zh/
# calls set_language("zh")): the stepper's controls by their data-ngxc names,
# its counter by data-step / data-last (the words are "step 3 of 9" or
# "第 3 / 9 步"), a Predict's verdict by data-verdict.
STEP_RE = re.compile(r"step (\d+) of (\d+)|第 (\d+) / (\d+) 步")


def _step(stepper):
    # words and attributes read at once (a playing stepper moves in between)
    text, *data = stepper.locator(".ngxc-steplabel").evaluate(
        "(el) => [el.textContent, el.dataset.step, el.dataset.last]")
    m = STEP_RE.fullmatch(text.strip())
    assert m, f"step counter reads {text!r}"
    step, last = (int(g) for g in (m.groups()[:2] if m.group(1) else m.groups()[2:]))
    # the words and the data attributes say the same
    assert data == [str(step), str(last)], f"step counter {text!r} and its data {data} differ"
    return step, last


def _button(stepper, name):
    """A stepper control by its data-ngxc name (first, prev, next, last, play ...)."""
    return stepper.locator(f'button[data-ngxc="{name}"]')


def _svg(stepper):
    return stepper.locator(".ngxc-graph:not(.ngxc-timeline)").inner_html()


def _picture(stepper):
    return _svg(stepper) + "\n" + stepper.locator(".ngxc-explain").inner_text()


def _wait_step(page, stepper, want, timeout=10_000):
    """Wait until the counter shows step `want` (an int, or a predicate)."""
    ok = want if callable(want) else (lambda s: s == want)
    deadline = time.monotonic() + timeout / 1000
    while True:
        s = _step(stepper)[0]
        if ok(s):
            return s
        if time.monotonic() > deadline:
            raise AssertionError(f"stepper stayed at step {s}")
        page.wait_for_timeout(50)


def exercise_stepper(page, stepper, label):
    """next / prev / slider / play / keys on one stepper; returns notes."""
    stepper.scroll_into_view_if_needed()
    graph_svg = stepper.locator(".ngxc-graph:not(.ngxc-timeline) svg")
    graph_svg.first.wait_for(state="visible")
    first, last = _step(stepper)
    assert first == 0 and last > 0, f"{label}: counter 'step {first} of {last}'"
    pic0, svg0 = _picture(stepper), _svg(stepper)
    btn = lambda name: _button(stepper, name)

    # next: one step on, a new picture
    btn("next").click()
    s1 = _wait_step(page, stepper, lambda s: s > 0)
    pic1 = _picture(stepper)
    assert pic1 != pic0, f"{label}: next changed the counter but not the picture"
    # prev: back to the first step and its picture
    btn("prev").click()
    _wait_step(page, stepper, 0)
    assert _picture(stepper) == pic0, f"{label}: prev did not restore the first picture"

    # slider: a click at its right end is the last step, with another graph
    slider = stepper.locator("input.ngxc-slider")
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    page.mouse.click(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
    _wait_step(page, stepper, last)
    assert _svg(stepper) != svg0, f"{label}: the last step's graph is the first step's"
    # ... and one in the middle is a step in between
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    mid = _wait_step(page, stepper, lambda s: 0 < s < last)

    # keyboard: with focus in the stepper, the arrow keys step
    btn("first").click()
    _wait_step(page, stepper, 0)
    page.keyboard.press("ArrowRight")
    _wait_step(page, stepper, s1, timeout=3000)
    page.keyboard.press("ArrowLeft")
    _wait_step(page, stepper, 0, timeout=3000)

    # play (at the fastest speed): it moves on by itself; pause stops it
    stepper.locator('select[data-ngxc="speed"]').select_option("60")
    play = btn("play")
    play.click()
    moved = _wait_step(page, stepper, lambda s: s >= min(3, last))
    assert play.get_attribute("data-state") == "playing", f"{label}: the play button is not playing"
    assert _picture(stepper) != pic0, f"{label}: play moved the counter, not the picture"
    play.click()
    page.wait_for_timeout(150)
    held = _step(stepper)[0]
    page.wait_for_timeout(400)
    assert _step(stepper)[0] == held, f"{label}: still stepping after pause"
    assert play.get_attribute("data-state") == "paused"

    # the Test::Nginx button shows the run as `python -m ngxcoro export` writes it, or
    # why there is none ("no Test::Nginx block: ..."); a second click hides it
    export = stepper.locator("pre.ngxc-export")
    assert export.is_hidden(), f"{label}: the Test::Nginx block shows before its button"
    btn("export").click()
    export.wait_for(state="visible", timeout=3000)
    block = export.text_content()
    assert block.startswith(("=== TEST 1: ", "no Test::Nginx block: ")), \
        f"{label}: the Test::Nginx button shows {block[:80]!r}"
    btn("export").click()
    export.wait_for(state="hidden", timeout=3000)
    return (f"{last + 1} steps; next->{s1}, slider end->{last}, mid->{mid}, play->{moved}; "
            f"export {'block' if block.startswith('===') else 'note'}")


def exercise_predict(widget, label):
    widget.scroll_into_view_if_needed()
    widget.locator("button[data-option]").first.click()
    widget.locator('button[data-ngxc="check"]').click()
    verdict = widget.locator(".ngxcoro-verdict")
    assert verdict.get_attribute("data-verdict") in ("right", "wrong"), \
        f"{label}: Predict did not answer"
    assert verdict.inner_text().strip(), f"{label}: Predict's verdict is empty"


def exercise_tweak(row, label):
    """A Tweak (lessons.py): a range input and its value; moving it shows
    another precomputed view, in the browser."""
    row.scroll_into_view_if_needed()
    rng, value = row.locator("input[type=range]"), row.locator("code")
    before, hi = value.inner_text(), rng.get_attribute("max")
    rng.fill("0" if rng.input_value() == hi else hi)        # an input event, like a drag
    assert value.inner_text() != before, f"{label}: the Tweak did not move"


def exercise_editor(page, editor, label):
    """Type a new location block into the editor, press Run, step the result."""
    editor.scroll_into_view_if_needed()
    editor.locator(".ngxc-editor-code textarea").fill(NEW_BLOCK)
    editor.locator(".widget-text input").first.fill("GET /b")
    editor.locator("button.jupyter-button").first.click()       # Run (ipywidgets)
    st = editor.locator(".ngxc")
    st.locator(".ngxc-src").get_by_text(f'ngx.say("{MARK}: entry")').wait_for(timeout=60_000)
    st.locator(".ngxc-graph:not(.ngxc-timeline) svg").first.wait_for(state="visible")
    assert editor.locator("[data-status='200']").count() == 1, \
        f"{label}: the editor's run did not give 200"
    assert _step(st)[0] == 0
    _button(st, "last").click()
    _wait_step(page, st, _step(st)[1])
    out = st.locator(".ngxc-out").inner_text()
    assert f"{MARK}: entry" in out and f"{MARK}: child" in out, out
    return st


# ------------------------------------------------------------------ tests
NB = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"


def check_lesson(page, name, nb_selector, shot_prefix):
    """Run everything, then exercise each kind of widget the lesson has."""
    _check_ran(page, nb_selector, name)
    n_widgets = _wait_widgets(page, nb_selector)
    notes = [f"{n_widgets} widget(s)"]
    steppers = page.locator(f"{nb_selector} .ngxc")
    n = steppers.count()
    if n:
        for k in range(n):       # every stepper draws its graph
            steppers.nth(k).locator(".ngxc-graph:not(.ngxc-timeline) svg").first.wait_for(
                state="attached")
        target = next((steppers.nth(k) for k in range(n) if _step(steppers.nth(k))[1] > 0), None)
        assert target is not None, f"{name}: no stepper with more than one step"
        notes.append(f"{n} stepper(s): " + exercise_stepper(page, target, name))
        _shot(target, f"{shot_prefix}-stepper")
    predicts = page.locator(f"{nb_selector} .ngxcoro-predict")
    if predicts.count():
        exercise_predict(predicts.first, name)
        notes.append(f"{predicts.count()} predict")
    tweaks = page.locator(f"{nb_selector} .jp-OutputArea-output.lm-Panel "
                          "div:has(> input[type=range] + code)")
    if tweaks.count():
        exercise_tweak(tweaks.first, name)
        notes.append(f"{tweaks.count()} tweak")
    editors = page.locator(f"{nb_selector} .widget-vbox:has(> .ngxc-editor-code)")
    if editors.count():
        exercise_editor(page, editors.first, name)
        _shot(editors.first, f"{shot_prefix}-editor")
        notes.append("editor ran /b")
    return "; ".join(notes)


def _rel(nb):
    return nb.relative_to(ROOT / "notebooks").as_posix()          # 05-x.ipynb, zh/05-x.ipynb


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[_rel(p)[:-6] for p in NOTEBOOKS])
def test_lesson_in_jupyterlab(browser, lab, nb):
    ctx, page, console = _new_page(browser)
    t0 = time.monotonic()
    try:
        page.goto(lab.url(f"/lab/tree/notebooks/{_rel(nb)}?reset"))
        page.locator(".jp-Notebook").first.wait_for(state="visible")
        # the status bar, not the toolbar: the toolbar says idle before the
        # kernel is connected, and a Run All then is silently dropped
        page.get_by_text(KERNEL_IDLE).wait_for(timeout=60_000)
        t_open = time.monotonic() - t0
        tag = _rel(nb)[:-6].replace("/", "-")
        note = check_lesson(page, nb.name, NB, f"lab-{tag}")
        _shot(page, f"lab-{tag}")
        print(f"\n[lab] {tag}: open {t_open:.1f} s, run + checks "
              f"{time.monotonic() - t0 - t_open:.1f} s; {note}", flush=True)
        assert not console.errors, f"{nb.name}: browser console errors:\n" + "\n".join(
            console.errors)
    except Exception:
        _failed_shot(page, f"lab-{_rel(nb)[:-6].replace('/', '-')}")
        raise
    finally:
        ctx.close()


def _failed_shot(page, name):
    try:
        _shot(page, f"{name}-FAILED")
    except Exception:
        pass


TOUR = ROOT / "notebooks" / "00-tour.ipynb"

# Notebook 7.6.5's own frontend logs this on every page (/tree, and an empty
# notebook too), before any cell has run: not the lessons' doing
NB7_ALLOWED = [
    r"^pageerror: Cannot read properties of undefined \(reading 'schema'\)",
]


@pytest.mark.skipif(not TOUR.exists(), reason="no notebooks/00-tour.ipynb")
def test_tour_in_notebook7(browser, notebook7):
    """The tour in the Notebook 7 interface (`jupyter notebook`)."""
    ctx, page, console = _new_page(browser)
    t0 = time.monotonic()
    try:
        page.goto(notebook7.url(f"/notebooks/notebooks/{TOUR.name}"))
        page.locator(".jp-Notebook").first.wait_for(state="visible")
        # Notebook 7 has no status bar; its toolbar names the kernel and its
        # execution indicator goes idle -> connecting -> idle: wait for the
        # kernel's name, idle, and no "Kernel Connecting" note
        page.locator(".jp-KernelName").get_by_text("Python 3 (ipykernel)").wait_for(timeout=60_000)
        page.wait_for_function("""() => {
            const ind = document.querySelector('.jp-Notebook-ExecutionIndicator');
            const note = document.querySelector('.jp-NotebookKernelStatus');
            return ind && ind.dataset.status === 'idle'
                && !(note && /Connecting|Starting/.test(note.textContent));
        }""", timeout=60_000, polling=100)
        note = check_lesson(page, TOUR.name, ".jp-Notebook", "nb7-00-tour")
        _shot(page, "nb7-00-tour")
        print(f"\n[nb7] {TOUR.stem}: {time.monotonic() - t0:.1f} s; {note}", flush=True)
        errors = [e for e in console.errors if not any(re.search(p, e) for p in NB7_ALLOWED)]
        assert not errors, "browser console errors:\n" + "\n".join(errors)
    except Exception:
        _failed_shot(page, "nb7-00-tour")
        raise
    finally:
        ctx.close()


# the review found `widget model not found` in the console on opening lessons 02 and
# 08; a lesson that was run, saved and opened again (its outputs saved with widget
# views, the kernel gone) must open without console errors, in both languages
REOPEN = [p for p in NOTEBOOKS if p.stem in ("02-spawn-post-thread", "08-lab")]


BIG_STEPPER = ("import ngxcoro\n"
               "ngxcoro.show('local ts = {} for i = 1, 60 do ts[i] = ngx.thread.spawn("
               "function() ngx.sleep(i / 1000) end) end for i = 1, 60 do ngx.thread.wait(ts[i]) "
               "end ngx.say(\"done\")')\n")


def test_stepper_past_the_precomputed_pictures_asks_the_live_kernel(browser, lab):
    # the first PRECOMPUTED (200) pictures travel with the page; a later step's is drawn
    # by the live kernel on request (viz/pictures.py): in a real JupyterLab, the last
    # step of a ~1,200-step run shows its picture, not the no-kernel note
    import json
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "big", "metadata": {},
                     "outputs": [], "source": BIG_STEPPER}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                      "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    body = json.dumps({"type": "notebook", "content": nb}).encode()
    req = urllib.request.Request(lab.url("/api/contents/notebooks/big-stepper.ipynb"),
                                 data=body, method="PUT",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).close()
    ctx, page, console = _new_page(browser)
    try:
        page.goto(lab.url("/lab/tree/notebooks/big-stepper.ipynb?reset"))
        page.locator(".jp-Notebook").first.wait_for(state="visible")
        page.get_by_text(KERNEL_IDLE).wait_for(timeout=60_000)
        _run_all_and_wait(page, NB)
        stepper = page.locator(f"{NB} .ngxc").first
        stepper.wait_for(state="visible", timeout=60_000)
        first, last = _step(stepper)
        assert last >= 400, f"only {last + 1} steps: the run does not pass the 200 pictures"
        _button(stepper, "last").click()
        _wait_step(page, stepper, last)
        graph = stepper.locator(".ngxc-graph:not(.ngxc-timeline)")
        graph.locator("svg").first.wait_for(state="attached", timeout=30_000)
        assert not graph.locator(".ngxc-warn").count(), graph.inner_text()
        assert not console.errors, "\n".join(console.errors)
    finally:
        ctx.close()


def _shut_down_sessions(server):
    """Every session and its kernel, through the server's REST API."""
    import json
    with urllib.request.urlopen(server.url("/api/sessions"), timeout=10) as r:
        sessions = json.load(r)
    for sess in sessions:
        req = urllib.request.Request(server.url(f"/api/sessions/{sess['id']}"), method="DELETE")
        urllib.request.urlopen(req, timeout=30).close()


@pytest.mark.parametrize("nb", REOPEN, ids=[_rel(p)[:-6] for p in REOPEN])
def test_lesson_reopens_without_console_errors(browser, lab, nb):
    ctx, page, console = _new_page(browser)
    try:
        page.goto(lab.url(f"/lab/tree/notebooks/{_rel(nb)}?reset"))
        page.locator(".jp-Notebook").first.wait_for(state="visible")
        page.get_by_text(KERNEL_IDLE).wait_for(timeout=60_000)
        _run_all_and_wait(page, NB)
        page.keyboard.press("Control+s")
        page.wait_for_timeout(2000)
    finally:
        ctx.close()
    _shut_down_sessions(lab)                 # as after a restart: the widgets' models are gone
    ctx, page, console = _new_page(browser)
    try:
        page.goto(lab.url(f"/lab/tree/notebooks/{_rel(nb)}"))
        page.locator(".jp-Notebook").first.wait_for(state="visible")
        page.get_by_text(KERNEL_IDLE).wait_for(timeout=60_000)
        for _ in range(12):                  # every cell is drawn (JupyterLab draws lazily)
            page.mouse.wheel(0, 1500)
            page.wait_for_timeout(250)
        assert not console.errors, f"{_rel(nb)} reopened: console errors:\n" + "\n".join(
            console.errors)
    finally:
        ctx.close()

