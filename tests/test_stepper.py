"""The stepper widget and the editor: frames, determinism, the static
fallback, the ESM's syntax, show() on both kinds of input, the editor's
error path and the completion order."""
from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import types

import pytest

pytest.importorskip("anywidget")
pytest.importorskip("ipywidgets")

import ngxcoro  # noqa: E402


def _install_graph_fallback():
    """graph.py / render.py / timeline.py are written alongside this widget;
    if they cannot be imported, stand in with the smallest thing that works
    (the stepper's own logic is what is tested here)."""
    try:
        from ngxcoro.viz import graph, render, timeline  # noqa: F401
        return
    except Exception:
        pass
    graph = types.ModuleType("ngxcoro.viz.graph")
    graph.to_dot = lambda snap, prev=None, universe=None: "digraph { %s }" % " ".join(
        f'"{c["name"]}" [label="{c["name"]}\\n{c["status"]}"];' for c in snap["coroutines"])
    render = types.ModuleType("ngxcoro.viz.render")
    render.svg = lambda dot: f"<svg xmlns='http://www.w3.org/2000/svg'><text>{len(dot)}</text></svg>"
    timeline = types.ModuleType("ngxcoro.viz.timeline")
    timeline.timeline_svg = lambda snaps: f"<svg xmlns='http://www.w3.org/2000/svg' data-n='{len(snaps)}'/>"
    import ngxcoro.viz as viz
    for m in (graph, render, timeline):
        sys.modules[m.__name__] = m
        setattr(viz, m.__name__.rsplit(".", 1)[1], m)


_install_graph_fallback()

from ngxcoro.viz.pictures import WINDOW  # noqa: E402
from ngxcoro.viz.stepper import (Stepper, show, is_config, timer_labels, unpack_svgs,  # noqa: E402
                                  parse_order, frame_cos)
from ngxcoro.viz.editor import Editor  # noqa: E402

TWO_SLEEPERS = """
location = /t {
    content_by_lua_block {
        local t1 = ngx.thread.spawn(function() ngx.sleep(0.1) ngx.say("t1") end)
        local t2 = ngx.thread.spawn(function() ngx.sleep(0.1) ngx.say("t2") end)
        ngx.thread.wait(t1)
        ngx.thread.wait(t2)
        ngx.say("entry")
    }
}
"""

BARE = """
local t = ngx.thread.spawn(function() ngx.sleep(0.05) ngx.say("child") end)
ngx.say("parent")
"""


@pytest.fixture(scope="module")
def stepper():
    return show(TWO_SLEEPERS)


def test_one_frame_per_snapshot(stepper):
    res = ngxcoro.run(TWO_SLEEPERS, "GET /t", snapshots=True)
    assert len(stepper.frames) == len(res.snapshots) > 10
    # every frame points at an SVG in the pool, the pool has no duplicates,
    # and what the browser unpacks is the pool
    pool = stepper.svg_pool
    assert all(0 <= f["svg"] < len(pool) for f in stepper.frames)
    assert len(set(pool)) == len(pool) and all(p.startswith("<svg") for p in pool)
    assert unpack_svgs(stepper.graphs) == pool
    # the ngxcoro source each frame points into is shipped once
    assert {f["file"] for f in stepper.frames if f["file"]} <= set(stepper.sources)


def test_frames_are_json_and_deterministic(stepper):
    again = show(TWO_SLEEPERS)
    state = lambda s: json.dumps([s.frames, s.co_pool, s.graphs, s.timeline, s.sources, s.source, s.meta],
                                 sort_keys=True)
    assert state(stepper) == state(again)
    # no addresses or object ids slipped into the data
    assert not re.search(r"0x[0-9a-f]{6,}", json.dumps(stepper.frames))


def test_frames_are_the_same_in_another_process():
    # a fresh interpreter with another hash seed: no set/dict-order or id() leaks
    code = ("import hashlib, json, sys; sys.path.insert(0, sys.argv[1]); "
            "from ngxcoro.viz.stepper import show; s = show(sys.argv[2]); "
            "print(hashlib.sha256(json.dumps([s.frames, s.co_pool, s.graphs, s.timeline, s.meta], "
            "sort_keys=True).encode()).hexdigest())")
    root = str(pathlib.Path(__file__).resolve().parent.parent)
    digests = set()
    for seed in ("1", "2"):
        p = subprocess.run([sys.executable, "-c", code, root, TWO_SLEEPERS], capture_output=True,
                           text=True, env=dict(os.environ, PYTHONHASHSEED=seed), timeout=120)
        assert p.returncode == 0, p.stderr
        digests.add(p.stdout.strip())
    assert len(digests) == 1


def test_esm_is_valid_javascript(tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    mjs = tmp_path / "stepper.mjs"
    mjs.write_text(Stepper._esm.default_value, encoding="utf-8")
    p = subprocess.run([node, "--check", str(mjs)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "export default" in Stepper._esm.default_value


def test_mimebundle_has_a_static_fallback(stepper):
    data, _ = stepper._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    html = data["text/html"]
    last = stepper.frames[-1]
    assert "<svg" in html and stepper.svg_pool[last["svg"]][:200] in html
    assert last["explain"].split(" ")[0] in html
    assert len(data["text/plain"]) < 200 and "steps" in data["text/plain"]


def test_pictures_past_the_cap_are_drawn_on_request(stepper):
    """A stepper that precomputes only the first 5 pictures: the other
    frames carry no picture, meta says how many have one (the browser's
    note "pictures precomputed for steps 0-4 only" comes from it), and the
    kernel's window for a later step holds the very pictures the full
    stepper precomputed (same universe, each step against the one before)."""
    res = ngxcoro.run(TWO_SLEEPERS, "GET /t", snapshots=True)
    capped = Stepper(res, precomputed=5)
    n = len(capped.frames)
    assert n == len(stepper.frames) > 10
    assert [("svg" in f) for f in capped.frames] == [True] * 5 + [False] * (n - 5)
    assert capped.meta["pictures"] == 5 and capped.meta["steps"] == n
    assert len(unpack_svgs(capped.graphs)) <= 5
    sent = []
    capped.send = sent.append                   # what goes to the browser
    got = capped.send_pictures(7, capped.meta["run"])
    assert sorted(got) == list(range(7, min(n, 7 + WINDOW)))
    for k, svg in got.items():
        assert svg == stepper.svg_pool[stepper.frames[k]["svg"]], k
    assert sent[-1]["kind"] == "pictures" and sent[-1]["run"] == capped.meta["run"]
    assert set(sent[-1]["svgs"]) == {str(k) for k in got}
    # a request made for an earlier run (the learner re-ran meanwhile) is dropped
    assert capped.send_pictures(7, capped.meta["run"] - 1) is None and len(sent) == 1
    # the static fallback draws the last step although it was not precomputed
    last = stepper.svg_pool[stepper.frames[-1]["svg"]]
    assert last[:200] in capped.static_html()


def test_step_counts_number_from_zero(stepper):
    """The counter reads "step 0 of 61" (stepper.js, numbered as
    snapshots[k]["step"]); every other count says the same range."""
    n = len(stepper.frames)
    assert [f["step"] for f in stepper.frames] == list(range(n))
    assert f"steps 0-{n - 1}" in repr(stepper)
    assert f"step {n - 1} of steps 0-{n - 1}" in stepper.static_html()
    assert 't("step of", { step: f.step, last: fs[n - 1].step })' in Stepper._esm.default_value
    assert stepper.words["step of"] == "step {step} of {last}"


def test_show_bare_chunk_and_location_block():
    assert not is_config(BARE) and not is_config('ngx.location.capture("/x")')
    assert is_config(TWO_SLEEPERS) and is_config("server {\n location /a { return 200; }\n}")
    s = show(BARE)
    assert s.meta["status"] == 200 and s.meta["body"] == "parent\nchild\n"
    assert s.source["kind"] == "lua"
    # the chunk is shown inside its location block, numbered as nginx.conf
    # lines like the graph: BARE's line 2 (line 1 is empty) is nginx.conf:3
    assert s.source["text"] == ngxcoro.lua_location(BARE)
    k = next(k for k, f in enumerate(s.frames) if f["event"] == "user_thread_spawn")
    entry = next(s.co_pool[j] for j in frame_cos(s.frames, k) if s.co_pool[j]["name"] == "entry")
    assert entry["line"] == 3
    assert s.source["text"].splitlines()[entry["line"] - 1].strip().startswith("local t = ngx.thread.spawn")
    loc = show(TWO_SLEEPERS)
    assert loc.source["kind"] == "config" and loc.meta["body"] == "t1\nt2\nentry\n"


def test_editor_shows_nginx_message_not_a_traceback():
    ed = Editor(lua='\nngx.say("a"\n', autorun=False)
    assert ed.stepper is None and ed.error.value == ""
    ed.run()
    shown = ed.error.value
    assert "failed to load inlined Lua code" in shown and "expected" in shown
    assert "of your Lua:" in shown          # the line, counted as in the text box
    assert "Traceback" not in shown and "lupa" not in shown
    ed.request.value = "fetch /t"
    ed.run()
    assert 'bad method "fetch"' in ed.error.value and "Traceback" not in ed.error.value
    ed.code.value = "location = /t {\n    foo bar;\n}\n"
    ed.request.value = "GET /t"
    ed.run()
    assert 'unknown directive "foo" in nginx.conf:2' in ed.error.value
    ed.code.value = BARE
    ed.run()
    assert ed.error.value == "" and ed.stepper is not None
    assert ed.stepper.meta["body"] == "parent\nchild\n"


def test_completion_order_changes_the_output(stepper):
    # both threads sleep 0.1 s: equal deadlines fire in the order they were armed
    # (t1 first), so the body starts "t1"; with order t2, t1 the model fires t2's
    # timer first, t2 says its line first, and t1 follows
    s = show(TWO_SLEEPERS)
    assert s.meta["labels"] == ["t1", "t2"] and s.meta["fired"] == ["t1", "t2"]
    assert s.meta["body"] == "t1\nt2\nentry\n"
    s.rerun("t2, t1")
    assert s.meta["body"] == "t2\nt1\nentry\n" and s.meta["order"] == ["t2", "t1"]
    assert s.rerun_status.startswith("re-ran")
    # the browser's message takes the same path
    s._on_msg(s, {"kind": "rerun", "order": "t1 t2"}, [])
    assert s.meta["body"] == "t1\nt2\nentry\n"
    s.rerun("t9")
    assert s.rerun_status.startswith("unknown timer label 't9'")
    assert s.meta["body"] == "t1\nt2\nentry\n"


def test_timer_labels_ignore_cancelled_timers():
    snaps = [{"event": "sleep", "timers": [{"label": "a"}, {"label": "b"}]},
             {"event": "sleep_cleanup", "timers": [{"label": "b"}]},
             {"event": "timer_expired", "timers": []}]
    assert timer_labels(snaps) == (["a", "b"], ["b"])


def test_parse_order():
    assert parse_order("t2, t1") == parse_order("t2 t1", ["t1", "t2"]) == ["t2", "t1"]
    # labels may contain spaces (echo_sleep timers of subrequests): commas separate them
    labels = ["echo_sleep /a", "echo_sleep /b"]
    assert parse_order("echo_sleep /b,  echo_sleep /a", labels) == ["echo_sleep /b", "echo_sleep /a"]


def test_editor_marks_a_stopped_run_and_never_shows_an_older_one(monkeypatch):
    forever = 'ngx.thread.spawn(function() while true do ngx.sleep(1) end end)\nngx.say("x")\n'
    ed = Editor(lua=forever)
    assert "ngxc-editor-banner" in ed.banner.value
    assert "stopped at the horizon: the client gives up after 3 s" in ed.banner.value
    assert "status stopped" in ed.summary.value and ed.holder.children == (ed.stepper,)
    # an interrupt (the kernel's stop button) leaves no run on show, and says so
    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(ngxcoro, "run_lua", interrupted)
    assert ed.run() is None
    assert ed.holder.children == () and ed.result is None and ed.error.value == ""
    assert "interrupted" in ed.banner.value and "stopped at the horizon" not in ed.banner.value
    assert "status" not in ed.summary.value
    monkeypatch.undo()
    # a run that fails to start clears the previous one too
    ed.request.value = "GET t"
    ed.run()
    assert ed.holder.children == () and ed.banner.value == "" and "GET t" in ed.error.value
    ed.request.value = "GET /t"
    ed.code.value = 'ngx.say("ok")'
    res = ed.run()
    assert res.status == 200 and ed.banner.value == "" and ed.holder.children == (ed.stepper,)


def test_export_button_shows_the_export_text():
    # the Test::Nginx button shows what `python -m ngxcoro export` prints for the run
    # (ngxcoro/export.py; tests/test_export.py runs such blocks on real nginx) ...
    res = ngxcoro.run_lua("ngx.sleep(0.01) ngx.say('done')", snapshots=True)
    st = Stepper(res)
    assert st.meta["export"] == ngxcoro.export_test_nginx(res)
    assert st.meta["export"].startswith("=== TEST 1: GET /t\n--- config\n")
    assert st.meta["export_note"] == ""
    assert "bExport" in st._esm and "ngxc-export" in st._css
    # ... or, for a run no block can say, why not: a what-if is not nginx
    odd = ngxcoro.run_lua("ngx.say('x')", snapshots=True, what_if="no-finalize-done")
    st.load(odd)
    assert st.meta["export"] == ""
    assert st.meta["export_note"].startswith("no Test::Nginx block: a what-if run")
