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
import json
import operator
import pathlib
import re
from collections import Counter

import anywidget
import traitlets

_HERE = pathlib.Path(__file__).resolve().parent
_PKG = _HERE.parent

#: The stages of the scheduler a learner should keep apart, in the order a
#: request usually meets them (JSV9000's "which part of the loop are we in").
STAGES = ("event handler", "phase handler", "run_thread", "run_posted_threads",
          "finalize_request")

_STAGE_OF_C = {
    "ngx_http_lua_run_thread": "run_thread",
    # ngx.* and coroutine.* APIs run inside run_thread's lua_resume
    **{f"ngx_http_lua_{n}": "run_thread" for n in (
        "ngx_sleep", "uthread_spawn", "uthread_wait", "uthread_kill", "coroutine_resume",
        "coroutine_yield", "coroutine_wrap", "ffi_exit", "ngx_exec", "ngx_redirect",
        "ngx_location_capture_multi", "ngx_req_read_body", "ngx_req_set_uri", "handle_exit",
        "handle_exec", "handle_rewrite_jump", "post_zombie_thread", "on_abort", "ffi_sema_new",
        "ffi_sema_wait", "ffi_sema_post", "ffi_sema_count")},
    "ngx_http_echo_handler": "phase handler",
    "ngx_http_proxy_handler": "phase handler",
    **{n: "finalize_request" for n in (
        "ngx_http_finalize_request", "ngx_http_close_request", "ngx_http_free_request",
        "ngx_http_close_connection", "ngx_http_terminate_request",
        "ngx_http_lua_request_cleanup", "ngx_http_lua_post_subrequest")},
    **{n: "event handler" for n in (
        "ngx_http_lua_sleep_handler", "ngx_http_lua_sleep_resume",
        "ngx_http_echo_sleep_event_handler", "ngx_http_lua_wev_handler",
        "ngx_http_run_posted_requests", "ngx_http_lua_subrequest_resume",
        "ngx_http_lua_req_body_post_read", "ngx_http_lua_content_phase_post_read",
        "ngx_http_lua_generic_phase_post_read", "ngx_http_read_client_request_body",
        "ngx_http_request_handler", "ngx_http_block_reading",
        "ngx_http_lua_rd_check_broken_connection", "ngx_http_lua_check_broken_connection",
        "ngx_http_lua_on_abort_resume", "ngx_http_lua_sema_handler",
        "ngx_http_lua_sema_timeout_handler", "ngx_http_lua_sema_resume")},
}


def stage_of(c_function, event, previous):
    """Which stage a step belongs to.  Helpers that many stages call
    (post_thread, del_thread, finalize_threads, send_chain_link ...) stay in
    the stage of the step before them."""
    if c_function and c_function.endswith("run_posted_threads"):
        return "run_posted_threads"
    if event == "client_close":                 # an I/O event: the client's FIN
        return "event handler"
    if c_function and c_function.endswith("_by_chunk") or event == "phase_handler":
        return "phase handler"
    if c_function in _STAGE_OF_C:
        return _STAGE_OF_C[c_function]
    if previous is None and event in ("reset_ctx", "finalize_threads"):
        return "phase handler"
    return previous


_CONFIG_RE = re.compile(
    r"(?m)^\s*(?:location\s+(?:(?:=|\^~)\s*[/@]\S*|~\*?\s*\S+|[/@]\S*)\s*\{"
    r"|server\s*\{|http\s*\{)")


def is_config(text):
    """True for nginx config text (a `location`, `server` or `http` block),
    False for a bare Lua chunk (`ngx.location.capture` is Lua, not a block)."""
    return bool(_CONFIG_RE.search(text))


# ----------------------------------------------------------------- graphs
# drawn in windows by pictures.py; the names stay importable from here
from .pictures import (PRECOMPUTED, Pictures, _trim_svg, graph_dots, graph_svgs,  # noqa: E402,F401
                       intern as _intern, pack_svgs, unpack_svgs)


def timeline(snaps):
    from .timeline import timeline_svg
    return _trim_svg(timeline_svg(snaps))


# ----------------------------------------------------------------- frames
def _main_request(snap):
    reqs = snap.get("requests") or []
    return next((r for r in reqs if r.get("main")), reqs[0] if reqs else None)


#: a frame carries its whole coroutine list ("cos") at step 0 and then once the
#: steps and changes since the last such frame reach this, or the list's length
CO_CHECKPOINT = 64


def build_frames(snaps, body=None, co_pool=None):
    """Snapshots -> frames: only what the browser shows, as plain JSON.
    Only coroutines that are on a Lua line are listed (the graph shows the
    rest), as numbers into `co_pool` (a list, filled here: most coroutines
    look the same from one step to the next).  With `body` (the final
    response body), output sent so far that is a prefix of it is stored as
    its length, `sent_n`, not as text.

    Linear in (steps + changes) (trace.snapshot.walk): a frame does not
    carry the whole list.  A checkpoint frame has "cos" (the pool numbers,
    in creation order) and "co_at" (each one's place among the run's
    coroutines); a frame after it has "co_diff", [[place, number or -1 (not
    listed any more)], ...], when its list changed.  `frame_cos(frames, k)`
    (and stepper.js) rebuild step k's list from the checkpoint before it.
    A checkpoint comes when the steps and changes since the one before
    reach CO_CHECKPOINT or the list's length, so checkpoints cost no more
    than the changes, and a list is rebuilt from at most that many."""
    from ..trace.snapshot import walk
    pool = [] if co_pool is None else co_pool
    index = {(c["name"], c["kind"], c["status"], c["line"], c["waiting"]): k
             for k, c in enumerate(pool)}
    frames, stage = [], None
    shown = []                 # per coroutine of the run: its pool number, or -1 (not listed)
    listed = {}                # place -> pool number, of the listed ones
    since = 0                  # steps and changes since the last checkpoint
    last_out, out = None, None
    for i, s, changed in walk(snaps):
        where = s.get("where") or {}
        stage = stage_of(where.get("c_function"), s["event"], stage)
        main = _main_request(s)
        focus = next((r for r in s.get("requests") or [] if r["uri"] == s.get("focus")), main)
        ctx = (focus or {}).get("ctx") or {}
        cos = s.get("coroutines") or []
        if changed is None:
            changed = range(max(len(cos), len(shown)))
        diff = []
        for j in changed:
            num = -1
            if j < len(cos):
                c = cos[j]
                line = c.get("config_line")
                if line is not None:
                    co = {"name": c["name"], "kind": c["kind"], "status": c["status"],
                          "line": line, "waiting": c.get("waiting") or ""}
                    num = _intern(pool, index, tuple(co.values()), co)
            while len(shown) <= j:
                shown.append(-1)
            if shown[j] != num:
                shown[j] = num
                diff.append([j, num])
                if num < 0:
                    del listed[j]
                else:
                    listed[j] = num
        if s.get("output") is not last_out or out is None:
            last_out = s.get("output")
            o = last_out or {}
            sent = o.get("sent", "")
            out = {"status": o.get("status"), "held": o.get("held", ""),
                   "complete": bool(o.get("complete"))}
            if body is not None and body.startswith(sent):
                out["sent_n"] = len(sent)
            else:
                out["sent"] = sent
        frame = {
            "step": s.get("step", i),
            "event": s["event"],
            "explain": s.get("explain", ""),
            "c_function": where.get("c_function"),
            "function": where.get("function"),
            "file": where.get("file"),
            "line": where.get("line"),
            "stage": stage,
            "phase": s.get("phase", ""),
            "uri": s.get("focus"),
            "count": main["count"] if main else None,
            "t_ms": s.get("t_ms", 0),
            "rc": s.get("rc"),
            "cur_co_ctx": ctx.get("cur_co_ctx"),
            "co_op": ctx.get("co_op"),
            "posted_threads": list(ctx.get("posted_threads") or []),
            "uthreads": ctx.get("uthreads"),
            "out": dict(out),
            "log_lines": s.get("log_lines", 0),
        }
        since += 1 + len(diff)
        if not frames or since >= max(CO_CHECKPOINT, len(listed)):
            at = sorted(listed)
            frame["co_at"] = at
            frame["cos"] = [listed[j] for j in at]
            since = 0
        elif diff:
            frame["co_diff"] = diff
        frames.append(frame)
    return frames


def frame_cos(frames, k):
    """Step k's coroutine list (pool numbers, in creation order), rebuilt
    from the checkpoint frame before it and the "co_diff"s since (what
    stepper.js does)."""
    c = k
    while "cos" not in frames[c]:
        c -= 1
    listed = dict(zip(frames[c]["co_at"], frames[c]["cos"]))
    for f in frames[c + 1:k + 1]:
        for j, num in f.get("co_diff", ()):
            if num < 0:
                listed.pop(j, None)
            else:
                listed[j] = num
    return [listed[j] for j in sorted(listed)]


def timer_labels(snaps):
    """(labels seen, in the order first armed; labels in the order their
    timers fired).  A label that leaves the pending list at a step other
    than a cancellation fired there.  Linear in the run: a step that shares
    the step before's timer list (trace/snapshot.py keeps parts once) is
    passed over, and the lists are compared as multisets."""
    from ..trace.snapshot import walk
    seen, known, fired, before, last = [], set(), [], [], None
    before_set = set()
    for _k, s, _changed in walk(snaps):
        timers = s.get("timers") or []
        if timers is last:
            continue
        last = timers
        now = list(map(_LABEL, timers))
        now_set = set(now)
        new = now_set - known
        if len(now_set) == len(now) and len(before_set) == len(before) and len(new) <= 8:
            # labels once each (the usual case): set differences, in C, keep it cheap
            # when thousands of timers are pending; the same answer as below
            new_labels = sorted(new, key=now.index)
            left = sorted(before_set - now_set, key=before.index)
        else:
            new_labels = now
            still = Counter(now)
            left = []
            for lab in before:
                if still[lab]:
                    still[lab] -= 1
                else:
                    left.append(lab)
        for lab in new_labels:
            if lab and lab not in known:
                known.add(lab)
                seen.append(lab)
        if s["event"] not in ("sleep_cleanup", "finalize_threads", "request_cleanup"):
            fired.extend(lab for lab in left if lab)
        before, before_set = now, now_set
    return seen, fired


_LABEL = operator.itemgetter("label")


def parse_order(text, labels=()):
    """"t2, t1" -> ['t2', 't1'].  Labels are separated by commas (a label
    may contain spaces: "echo_sleep /sub"); a piece that is not a known
    label but whose words all are ("t2 t1") is split at the spaces."""
    out = []
    for piece in re.split(r"[,;\n]", text or ""):
        piece = " ".join(piece.split())
        if not piece:
            continue
        words = piece.split()
        if labels and piece not in labels and all(w in labels for w in words):
            out.extend(words)
        else:
            out.append(piece)
    return out


def source_files(frames):
    """{"ngxcoro/ngx_lua/util.py": text, ...} for every file a frame points into."""
    out = {}
    for f in frames:
        name = f.get("file")
        if name and name not in out:
            path = _PKG.parent / pathlib.PurePosixPath(name)
            try:
                out[name] = path.read_text(encoding="utf-8")
            except OSError:
                out[name] = ""
    return out


def _is_lua_wrapper(config_text):
    """Is `config_text` what ngxcoro.lua_location makes of a bare chunk?"""
    return re.fullmatch(r"location = \S+ \{\n    content_by_lua_block \{.*\n    \}\n\}\n",
                        config_text, flags=re.S) is not None


def error_lines(result):
    """What went wrong, in nginx's words: the startup error, the model's
    message, and error_log lines at level error or worse."""
    out = []
    if getattr(result, "startup_error", None):
        out.append(result.startup_error)
    if getattr(result, "message", None) and result.message != getattr(result, "startup_error", None):
        if not (result.startup_error and result.message in result.startup_error):
            out.append(result.message)
    for line in getattr(result, "error_log", None) or []:
        if re.search(r"\[(error|crit|alert|emerg)\]", line):
            out.append(line)
    return out


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

    def __init__(self, result, rerun=None, *, lua=None, precomputed=None, **kw):
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
            self.rerun_status = (f"unknown timer label {unknown[0]!r}; this run's timers are: "
                                 + (", ".join(labels) or "none"))
            return None
        try:
            res = (self._rerun(order) if self._rerun is not None else
                   _default_rerun(self.result, order))
        except Exception as e:             # a learner's input never becomes a traceback
            self.rerun_status = f"re-run failed: {e}"
            return None
        except KeyboardInterrupt:
            self.rerun_status = "re-run interrupted: the steps shown are still the previous run's"
            return None
        res.order = list(order)
        self.load(res)
        self.rerun_status = ("re-ran with order " + ", ".join(order) + ": status "
                             f"{res.status}, {_steps(len(res.snapshots))}")
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
            errs = "<br>".join(esc(e) for e in self.meta.get("errors") or []) or "no steps"
            return f'<div class="ngxcoro-static"><b>ngxcoro</b>: {errs}</div>'
        f = self.frames[-1]
        if "svg" in f and self.svg_pool:
            svg = self.svg_pool[f["svg"]]
        else:                              # past the precomputed pictures: draw this one
            svg = self._pictures.svgs(len(self.frames) - 1, len(self.frames))[0]
        body = esc(self.meta.get("body") or "")
        return (
            '<div class="ngxcoro-static" style="font-family:sans-serif">'
            f'<div><b>{esc(self.meta.get("request", ""))}</b> &rarr; status '
            f'{esc(str(self.meta.get("status")))} &middot; step {f["step"]} of '
            f'{_steps(len(self.frames))} (the interactive stepper needs widget JavaScript)</div>'
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


def _steps(n):
    """How many steps, said as the stepper numbers them: from 0, like
    ``result.snapshots[k]["step"]`` ("steps 0-61" for 62 of them)."""
    return "no steps" if n <= 0 else "step 0 only" if n == 1 else f"steps 0-{n - 1}"


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
