"""The stepper: one run of the model, every step precomputed, switched in the browser.

    >>> import ngxcoro
    >>> ngxcoro.show('''
    ... local t = ngx.thread.spawn(function() ngx.sleep(0.1) ngx.say("child") end)
    ... ngx.say("parent")
    ... ''')                                            # doctest: +SKIP

`Stepper(result)` turns `result.snapshots` into frames (plain JSON: the
explanation, where the model is, each coroutine's Lua line, the output so
far, an index into a pool of graph SVGs) and ships them once, with the
config text and the ngxcoro source files the steps point into.  The
JavaScript (stepper.js) only looks frames up: first/prev/next/last, the
slider, play, "next run_posted_thread", a click in the event log -- none of
it talks to the kernel, so an exported notebook keeps stepping.  The one
control that does need Python is the completion order ("what if t2
finished first?"): it runs the model again with `order=[...]`.
"""
from __future__ import annotations

import gc
import html
import pathlib

import anywidget
import traitlets

from .i18n import STEPPER_KEYS, word, words as _words

_HERE = pathlib.Path(__file__).resolve().parent

# the frames (frames.py), and the pictures drawn in windows (pictures.py): the
# names stay importable from here
from .frames import (STAGES, CO_CHECKPOINT, stage_of, is_config, timeline,  # noqa: F401
                     build_frames, frame_cos, timer_labels, parse_order, source_files,
                     _is_lua_wrapper, error_lines, _main_request)
from .pictures import (PRECOMPUTED, Pictures, _trim_svg, graph_dots, graph_svgs,  # noqa: F401
                       intern as _intern, pack_svgs, unpack_svgs)


# ----------------------------------------------------------------- widget
class Stepper(anywidget.AnyWidget):
    """Step through one run of the model.

    `Stepper(result)` takes a Result from ``ngxcoro.run(..., snapshots=True)``;
    `lua=True` says the config is ngxcoro.lua_location's wrapper around a
    bare chunk (the source pane then shows the chunk with nginx's chunk line
    numbers); `rerun(order)` (optional) returns a new Result for a
    completion order -- by default the same config and request run again.

    Synced state: `frames` (one dict per snapshot, plain JSON), `graphs`
    (every step's SVG, packed: see pack_svgs), `timeline` (one SVG),
    `co_pool` (each coroutine's name, kind, status, Lua line and what it
    waits for; a checkpoint frame's "cos" are numbers into it, the other
    frames carry "co_diff": see build_frames and frame_cos), `sources` (the
    ngxcoro files the frames point into, once), `source`
    (the config or Lua), `meta` (request, status, body, error log, timer
    labels, event kinds), `index` (the step shown, 0-based like
    ``snapshots[i]["step"]``), `view` ("graph" or "timeline")."""

    _esm = traitlets.Unicode((_HERE / "stepper.js").read_text(encoding="utf-8")).tag(sync=True)
    _css = traitlets.Unicode((_HERE / "stepper.css").read_text(encoding="utf-8")).tag(sync=True)

    frames = traitlets.List(traitlets.Dict()).tag(sync=True)
    graphs = traitlets.Unicode("").tag(sync=True)   # pack_svgs(svg_pool)
    co_pool = traitlets.List(traitlets.Dict()).tag(sync=True)   # frame["cos"] / "co_diff" number into this
    timeline = traitlets.Unicode("").tag(sync=True)
    sources = traitlets.Dict().tag(sync=True)       # ngxcoro/*.py text, once
    source = traitlets.Dict().tag(sync=True)        # {kind, text, name}: the config or Lua
    meta = traitlets.Dict().tag(sync=True)          # request, status, body, log, labels ...
    index = traitlets.Int(0).tag(sync=True)         # the step shown
    view = traitlets.Unicode("graph").tag(sync=True)   # "graph" | "timeline"
    rerun_status = traitlets.Unicode("").tag(sync=True)
    words = traitlets.Dict().tag(sync=True)         # the chrome, in the lesson's language (i18n.py)

    def __init__(self, result, rerun=None, *, lua=None, precomputed=None, **kw):
        kw.setdefault("words", _words(*STEPPER_KEYS))
        super().__init__(**kw)
        self._rerun = rerun
        self._lua = lua
        self._run = 0
        self.precomputed = PRECOMPUTED if precomputed is None else precomputed
        self.svg_pool = []                 # the unpacked SVGs (Python side only)
        self.on_msg(self._on_msg)
        self.load(result)

    # -------------------------------------------------------------- data
    def load(self, result, index=0):
        """Show another Result (same widget, new frames)."""
        # the frames are plain data (no cycles) made beside a big run: no collection
        # walks the run again and again while they are made (trace/snapshot.py freezes
        # for the same reason while it records)
        enabled = gc.isenabled()
        gc.disable()
        try:
            return self._load(result, index)
        finally:
            if enabled:
                gc.enable()

    def _load(self, result, index):
        self.result = result
        snaps = result.snapshots or []    # a Steps: read by walk() and slices, never copied whole
        # a bare chunk is shown inside the location block ngxcoro wrapped it in,
        # numbered as nginx.conf lines: the graph's "line N" uses the same numbers
        wrapped = bool(self._lua) and _is_lua_wrapper(result.config_text or "")
        source = {"kind": "lua" if wrapped else "config", "text": result.config_text or "",
                  "first": 1}
        co_pool = []
        frames = build_frames(snaps, body=result.body or "", co_pool=co_pool)
        self._pictures = Pictures(snaps)
        self._run += 1
        # the first PRECOMPUTED pictures travel with the page; the kernel draws the rest
        pool, idx = self._pictures.precompute(self.precomputed) if snaps else ([], [])
        for f, k in zip(frames, idx):
            f["svg"] = k
        tl = timeline(snaps) if snaps else ""
        seen, fired = timer_labels(snaps)
        kinds = list(dict.fromkeys(f["event"] for f in frames))
        order = getattr(result, "order", None)
        export, export_note = export_block(result)
        self.meta = {
            "request": result.request or "",
            "status": result.status,
            "body": result.body or "",
            "message": result.message or "",
            "startup_error": getattr(result, "startup_error", None) or "",
            "errors": error_lines(result),
            "error_log": list(result.error_log or []),
            "labels": seen,
            "fired": fired,
            "order": list(order) if order else None,
            "kinds": kinds,
            "stages": list(STAGES),
            "steps": len(frames),
            "pictures": len(idx),          # steps 0 .. pictures-1 have one in `graphs`
            "run": self._run,              # the kernel's answers name the run they are for
            "export": export,              # the run as a Test::Nginx block, or ""
            "export_note": export_note,    # ... and why there is none
        }
        self.svg_pool = pool
        with self.hold_sync():
            self.co_pool = co_pool
            self.graphs = pack_svgs(pool) if pool else ""
            self.timeline = tl
            self.sources = source_files(frames)
            self.source = source
            self.frames = frames
            self.index = max(0, min(index, len(frames) - 1))
        return self

    # ------------------------------------------------------------ re-run
    def rerun(self, order):
        """Run again with a completion order (a list of timer labels, or
        "t2, t1") and show the new frames.  Returns the new Result."""
        self.rerun_status = ""             # so the same message twice still arrives
        labels = self.meta.get("labels") or []
        if isinstance(order, str):
            order = parse_order(order, labels)
        unknown = [x for x in order if x not in labels]
        if unknown:
            self.rerun_status = word("unknown label", label=repr(unknown[0]),
                                     labels=", ".join(labels) or word("none"))
            return None
        try:
            res = (self._rerun(order) if self._rerun is not None else
                   _default_rerun(self.result, order))
        except Exception as e:             # a learner's input never becomes a traceback
            self.rerun_status = word("rerun failed", error=e)
            return None
        except KeyboardInterrupt:
            self.rerun_status = word("rerun interrupted")
            return None
        res.order = list(order)
        self.load(res)
        self.rerun_status = word("reran", order=", ".join(order), status=res.status,
                                 steps=_steps(len(res.snapshots), said=True))
        return res

    def _on_msg(self, _widget, content, _buffers):
        if isinstance(content, dict) and content.get("kind") == "rerun":
            self.rerun(content.get("order", ""))
        elif isinstance(content, dict) and content.get("kind") == "pictures":
            self.send_pictures(content.get("step", 0), content.get("run"))

    def send_pictures(self, k, run=None):
        """The browser has no picture of step k: draw steps k .. k+WINDOW-1
        and send them ({"kind": "pictures", "run", "svgs": {step: svg}}).
        A request for an earlier run (the learner re-ran meanwhile) is dropped."""
        if run is not None and run != self._run or not len(self._pictures):
            return None
        try:
            svgs = self._pictures.window(k)
        except Exception as e:             # a renderer error is a note, not a traceback
            self.send({"kind": "pictures", "run": self._run, "error": str(e)})
            return None
        self.send({"kind": "pictures", "run": self._run, "svgs": {str(i): v for i, v in svgs.items()}})
        return svgs

    # ----------------------------------------------------------- display
    def __repr__(self):
        return (f"Stepper({self.meta.get('request', '')!r}: {_steps(len(self.frames))}, "
                f"status {self.meta.get('status')})")

    def static_html(self):
        """The last step as plain HTML: the graph and its explanation, for
        pages that never run widget JavaScript (GitHub, nbviewer)."""
        esc = html.escape
        if not self.frames:
            errs = "<br>".join(esc(e) for e in self.meta.get("errors") or []) or esc(word("no steps"))
            return f'<div class="ngxcoro-static"><b>ngxcoro</b>: {errs}</div>'
        f = self.frames[-1]
        if "svg" in f and self.svg_pool:
            svg = self.svg_pool[f["svg"]]
        else:                              # past the precomputed pictures: draw this one
            svg = self._pictures.svgs(len(self.frames) - 1, len(self.frames))[0]
        body = esc(self.meta.get("body") or "")
        return (
            '<div class="ngxcoro-static" style="font-family:sans-serif">'
            f'<div><b>{esc(self.meta.get("request", ""))}</b> &rarr; {esc(word("status"))} '
            f'{esc(str(self.meta.get("status")))} &middot; '
            f'{esc(word("static step", step=f["step"], steps=_steps(len(self.frames), said=True)))}'
            '</div>'
            f'<div><code>{esc(f["event"])}</code>: {esc(f["explain"])}</div>'
            f'<div style="max-width:100%;overflow:auto">{svg}</div>'
            f'<pre style="margin:4px 0">{body}</pre></div>')

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if isinstance(bundle, tuple):
            data, md = bundle
        else:
            data, md = bundle, {}
        data = dict(data or {})
        data["text/plain"] = repr(self)
        data["text/html"] = self.static_html()
        return data, md


def export_block(result):
    """(the Test::Nginx block of `result`, "") or ("", why there is none): the
    stepper's Test::Nginx button shows one of them (ngxcoro/export.py)."""
    from ..export import ExportError, export_test_nginx
    try:
        return export_test_nginx(result), ""
    except ExportError as e:
        return "", str(e)
    except Exception as e:                 # never a traceback in the widget
        return "", f"no Test::Nginx block: {e}"


def _steps(n, said=False):
    """How many steps, said as the stepper numbers them: from 0, like
    ``result.snapshots[k]["step"]`` ("steps 0-61" for 62 of them); with
    `said`, in the widgets' language (i18n.py), else in English (repr)."""
    if not said:
        return "no steps" if n <= 0 else "step 0 only" if n == 1 else f"steps 0-{n - 1}"
    return word("steps none") if n <= 0 else word("steps one") if n == 1 else \
        word("steps range", last=n - 1)


def _default_rerun(result, order):
    import ngxcoro
    return ngxcoro.run(result.config_text, result.request or "GET /t", snapshots=True,
                       order=order, abort_at=result.client_abort_at)


def show(config_or_lua, request="GET /t", **run_kw):
    """Run a location block (or a bare Lua chunk) with snapshots and return
    a Stepper for it.  Keyword arguments go to ngxcoro.run (headers, body,
    order, log_level ...)."""
    import ngxcoro
    run_kw.pop("snapshots", None)
    fn = ngxcoro.run if is_config(config_or_lua) else ngxcoro.run_lua

    def rerun(order):
        kw = dict(run_kw, order=order)
        return fn(config_or_lua, request, snapshots=True, **kw)

    result = fn(config_or_lua, request, snapshots=True, **run_kw)
    result.order = list(run_kw["order"]) if run_kw.get("order") else None
    return Stepper(result, rerun=rerun, lua=fn is ngxcoro.run_lua)
