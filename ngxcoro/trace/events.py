"""The one registry of the model's events.

The model reports each step as `fire(name, **fields)` (see `Hooks`).  Every
name it fires is an `Event` here, with what the listeners need:

fields    what the step carries (co ctxs, counts, codes, URIs)
explain   one line for the stepper, formatted over the fields (or f(fields) giving it)
probe     the C probe macro of src/ngx_http_lua_probe.h it stands for, if any
stap      the line the module's test suite prints for that probe with its
          systemtap "GC script" (t/StapThread.pm); co ctxs become small ids
words     how nginx's debug log says it, in the normalised words of
          scheduler-semantics.md section 6.1 ("RUN c=1", "SLEEP 100")
nginx     the debug-log lines that say it: (regex on the message, words);
          the regex's named groups fill the words
compared  the words take part in the line-by-line comparison with real
          nginx (`TRACE_WORDS`); the others are artefacts one side lacks
keep      kept in `Result.events` (the --json event log)
quiet     not a step of its own for snapshots
line      the text of the debug line nginx writes for it (ngx_log_debug* in
          the C), formatted over the fields and `debug_extras`; the worker
          writes it to its error log at level debug (`debug_lines`)
cycle     that line goes to the cycle log, so it has no "*N" connection

`StapTrace`, `EventLog`, `DebugTrace` and `Snapshots` read this table, and
so does the oracle's debug-log normaliser (`nginx_lines`), so the model and
nginx are put into the same words in one place.  `NGINX_ONLY` holds the
debug lines nginx writes that have no model event.
"""
from __future__ import annotations

from ..nginx.core import rc_name
from .event import Event, _uri, fake_pointer  # noqa: F401 (fake_pointer: the registry's API)
from .events_ring2 import SECOND_RING


_OPS = {"USER_THREAD_RESUME": "spawn-child", "USER_CORO_RESUME": "coro-resume",
        "USER_CORO_YIELD": "coro-yield"}
OP_TEXT = {"NOP": "an API blocked, run_thread returns NGX_AGAIN",
           "USER_THREAD_RESUME": "spawn, run the new light thread now",
           "USER_CORO_RESUME": "resume, pass the arguments to the target and run it",
           "USER_CORO_YIELD": "yield, back to the resumer (or a time slice)"}
_OP_LINES = {"USER_THREAD_RESUME": "lua user thread resume",
             "USER_CORO_RESUME": "lua coroutine: resume", "USER_CORO_YIELD": "lua coroutine: yield"}
RV_TEXT = {0: "0 (finished)", 1: "1 (LUA_YIELD)", 2: "2 (LUA_ERRRUN)"}

E = Event
_ALL = [
    # --- the phase handlers and run_thread (ngx_http_lua_*by.c, _util.c) ---------------
    E("phase_handler", ("phase", "c"), keep=True,
      explain="the {phase} phase handler starts a new entry thread (r->count {c})",
      words="HANDLER {phase} c={c}",
      nginx=((r'lua (?P<phase>rewrite|access|content) handler, uri:".*" c:(?P<c>\d+)$',
              "HANDLER {phase} c={c}"),),
      line='lua {phase} handler, uri:"{uri}" c:{c}'),
    E("reset_ctx", explain="reset_ctx: the ctx is cleared for a new handler "
                           "(posted_threads is kept)",
      words="RESET_CTX", nginx=((r"lua reset ctx$", "RESET_CTX"),),
      line="lua reset ctx"),
    E("load_error", ("chunk", "error"),
      explain="the Lua code of {chunk} does not compile: nginx answers 500"),
    E("run_thread", ("r", "c", "co"), keep=True, compared=True,
      explain="run_thread resumes {co} (r->count {c})", words="RUN c={c}",
      nginx=((r"lua run thread, top:-?\d+ c:(?P<c>\d+)", "RUN c={c}"),),
      line="lua run thread, top:{top} c:{c}"),
    E("resume", ("co", "nrets"), quiet=True, explain="lua_resume({co}, {nrets})"),
    E("resume_returned", ("co", "rv"), keep=True, compared=True,
      explain="lua_resume returned {rv_text} for {co}", words="RESUMED rv={rv}",
      nginx=((r"lua resume returned (?P<rv>-?\d+)", "RESUMED rv={rv}"),),
      line=lambda d: ("lua resume returned {rv}",) + (("lua thread yielded",) if d["rv"] == 1 else ())),
    E("co_op", ("co", "op"), compared=True,
      explain="{co} yielded with co_op {op}: {op_text}",
      words=lambda d: _OPS.get(d["op"]) and f"OP {_OPS[d['op']]}",
      nginx=((r"lua user thread resume$", "OP spawn-child"),
             (r"lua coroutine: resume$", "OP coro-resume"),
             (r"lua coroutine: yield$", "OP coro-yield")),
      line=lambda d: _OP_LINES.get(d["op"])),
    E("run_thread_returned", ("rc",), keep=True, explain="run_thread returned {rc_text}",
      words="RUN_RETURNED {rc}",
      nginx=((r"lua run thread returned (?P<rc>-?\d+)", "RUN_RETURNED {rc}"),),
      line="lua run thread returned {rc}"),
    E("thread_ended", ("co",), compared=True, explain="{co} ended normally", words="ENDED",
      nginx=((r"lua light thread ended normally", "ENDED"),),
      line="lua light thread ended normally"),
    E("back_to_parent", ("co", "parent"), compared=True,
      explain="{co} hands its results to {parent}, which resumes in the same run_thread",
      words="TO_PARENT",
      nginx=((r"lua coroutine: lua user thread ended normally", "TO_PARENT"),),
      line="lua coroutine: lua user thread ended normally"),
    E("zombie", ("parent", "co"),
      explain="{co} ended before its parent {parent} waited: it becomes a zombie"),

    # --- the probes of src/ngx_http_lua_probe.h --------------------------------------------
    E("user_coroutine_create", ("parent", "child"), keep=True,
      probe="ngx_http_lua_probe_user_coroutine_create", stap="create {child:x} in {parent:x}",
      explain="{child} is created by {parent}"),
    E("user_thread_spawn", ("parent", "child"), keep=True,
      probe="ngx_http_lua_probe_user_thread_spawn", stap="spawn user thread {child:x} in {parent:x}",
      explain="ngx.thread.spawn: {child} is created by {parent}; {parent} goes to the "
              "tail of posted_threads and {child} runs first"),
    E("user_coroutine_resume", ("parent", "child"),
      probe="ngx_http_lua_probe_user_coroutine_resume",
      explain="coroutine.resume: {parent} asks run_thread to resume {child}"),
    E("user_coroutine_yield", ("parent", "child"),
      probe="ngx_http_lua_probe_user_coroutine_yield", explain="coroutine.yield in {child}"),
    E("thread_yield", ("co",), probe="ngx_http_lua_probe_thread_yield",
      explain="coroutine.yield in the light thread {co}: a time slice"),
    E("coroutine_done", ("co", "success"), keep=True,
      probe="ngx_http_lua_probe_coroutine_done", stap="terminate {co:d}: {result}",
      explain="{co} {done_text}"),
    E("thread_delete", ("co",), keep=True, compared=True,
      probe="ngx_http_lua_probe_thread_delete", stap="delete thread {co:x}",
      explain="del_thread: {co} loses its registry reference", words="DELETE",
      nginx=((r"lua deleting light thread (?P<thread>\S+)", "DELETE"),),
      line="lua deleting light thread {ptr} (ref {ref})"),
    E("run_posted_thread", ("co", "status"), keep=True,
      probe="ngx_http_lua_probe_run_posted_thread",
      explain="run_posted_threads pops {co} ({status})"),
    E("user_thread_wait", ("parent", "child"), probe="ngx_http_lua_probe_user_thread_wait",
      explain="ngx.thread.wait: {parent} waits for {child}"),
    E("post_thread", ("co",), keep=True,
      explain="post_thread appends {co} at the tail of posted_threads (walking the list)"),

    # --- sleeping and waking (ngx_http_lua_sleep.c, the event loop) -----------------------
    E("sleep", ("co", "ms"), keep=True, compared=True,
      explain="ngx.sleep arms a {ms} ms timer for {co} and yields", words="SLEEP {ms}",
      nginx=((r"lua ready to sleep for (?P<ms>\d+) ms", "SLEEP {ms}"),),
      line="lua ready to sleep for {ms} ms"),
    E("timer_expired", ("co", "label"), keep=True, compared=True,
      explain="the timer of {label} fires at {t_ms} ms",
      # echo_sleep's timer (co None) logs nothing of the kind
      words=lambda d: "SLEEP_EXPIRED" if d.get("co") is not None else None,
      nginx=((r"lua sleep timer expired", "SLEEP_EXPIRED"),),
      line=lambda d: d.get("co") is not None and 'lua sleep timer expired: "{co_uri}"'),
    E("sleep_cleanup", ("co",), compared=True, explain="the pending ngx.sleep of {co} is cancelled",
      words="SLEEP_CANCELLED",
      nginx=((r"lua clean up the timer for pending ngx\.sleep", "SLEEP_CANCELLED"),),
      line="lua clean up the timer for pending ngx.sleep", cycle=True),
    E("useless_wev", explain="a write event with nothing to do (useless lua write event "
                             "handler)",
      words="USELESS_WEV", nginx=((r"useless lua write event handler", "USELESS_WEV"),),
      line="useless lua write event handler"),

    # --- leaving early (ngx_http_lua_control.c, _uri.c, _util.c) --------------------------
    E("exit", ("code",), keep=True, compared=True,
      explain="ngx.exit({code}) records the exit and yields", words="EXIT {code}",
      nginx=((r"lua exit with code (?P<code>-?\d+)", "EXIT {code}"),),
      line="lua exit with code {code}"),
    E("handle_exit", ("code",), compared=True,
      explain="run_thread acts on ngx.exit({code}): every thread of the handler dies",
      words="HANDLE_EXIT {code}",
      nginx=((r"lua thread aborting request with status (?P<code>-?\d+)", "HANDLE_EXIT {code}"),),
      line="lua thread aborting request with status {code}"),
    E("exec", ("uri", "args"), keep=True, compared=True,
      explain="ngx.exec(\"{uri}\") records the redirect and yields",
      words=lambda d: f"EXEC {d['uri']}" + (f"?{d['args']}" if d.get("args") else ""),
      nginx=((r'lua exec "(?P<uri>.*)"$', "EXEC {uri}"),),
      line=lambda d: 'lua exec "{uri}?' + (d.get("args") or "") + '"'),
    E("handle_exec", ("uri",),
      explain="run_thread acts on ngx.exec: every thread dies, then an internal redirect",
      words="HANDLE_EXEC {uri}",
      nginx=((r"lua thread initiated internal redirect to (?P<target>\S+)",
              "HANDLE_EXEC {target}"),),
      line="lua thread initiated internal redirect to {uri}"),
    E("redirect", ("uri", "code"), explain="ngx.redirect to {uri} with {code}",
      words="REDIRECT {uri} {code}",
      nginx=((r'lua redirect to "(?P<target>.*)" with code (?P<code>\d+)',
              "REDIRECT {target} {code}"),),
      line='lua redirect to "{uri}" with code {code}'),
    E("set_uri_jump", ("uri",),
      explain="ngx.req.set_uri(\"{uri}\", true) yields for a rewrite jump"),
    E("handle_rewrite_jump", ("uri",),
      explain="run_thread acts on the rewrite jump: threads die, the ctx starts afresh"),
    E("internal_redirect", ("uri",), explain="internal redirect to {uri} (r->count +1)"),
    E("request_cleanup", ("forcible",), keep=True, compared=True,
      explain="request_cleanup (forcible={forcible})", words="REQ_CLEANUP forcible={forcible}",
      nginx=((r"lua request cleanup: forcible=(?P<forcible>\d)",
              "REQ_CLEANUP forcible={forcible}"),),
      line=lambda d: f"lua request cleanup: forcible={int(bool(d['forcible']))}"),
    E("finalize_threads", keep=True,
      explain="finalize_threads deletes every thread of the handler",
      words="FINALIZE_THREADS", nginx=((r"http lua finalize threads$", "FINALIZE_THREADS"),),
      line="http lua finalize threads"),

    # --- subrequests (ngx_http_lua_subrequest.c, ngx_http_request.c) ----------------------
    E("capture", ("uri", "c"), compared=True,
      explain="ngx.location.capture from {uri} (r->count {c})", words="CAPTURE c={c}",
      nginx=((r'lua location capture, uri:".*" c:(?P<c>\d+)', "CAPTURE c={c}"),),
      line='lua location capture, uri:"{uri}" c:{c}'),
    E("subrequest", ("uri",), compared=True, explain="subrequest {uri} is created and posted",
      words="SUBREQ {uri}", nginx=((r'lua http subrequest "(?P<uri>.*)"$', "SUBREQ {uri}"),),
      line='lua http subrequest "{q_uri}"'),
    E("posted_request", ("uri",), explain="ngx_http_run_posted_requests runs {uri}",
      words="POSTED_REQ {uri}",
      nginx=((r'http posted request: "(?P<uri>.*)"$', "POSTED_REQ {uri}"),),
      line='http posted request: "{q_uri}"'),
    E("post_subrequest", ("uri", "rc", "c"), compared=True,
      explain="the subrequest {uri} is done (rc {rc}): its parent is posted at the head",
      words="POST_SUBREQ rc={rc} c={c}",
      nginx=((r"lua run post subrequest handler, rc:(?P<rc>-?\d+) c:(?P<c>\d+)",
              "POST_SUBREQ rc={rc} c={c}"),),
      line="lua run post subrequest handler, rc:{rc} c:{c}"),
    E("wake_parent", ("uri",), explain="the parent {uri} is woken", words="WAKE_PARENT",
      nginx=((r"http wake parent request", "WAKE_PARENT"),),
      line='http wake parent request: "{q_uri}"'),
    E("subrequests_done", ("co",), compared=True,
      explain="all subrequests of {co} are done: it resumes with their results",
      words="SUBREQ_RESUME", nginx=((r"lua run subrequests done", "SUBREQ_RESUME"),),
      line="lua run subrequests done, resuming lua thread"),

    # --- the request body (ngx_http_lua_req_body.c, ngx_http_request_body.c) -------------
    E("read_body", explain="ngx.req.read_body starts reading the request body",
      words="READ_BODY", nginx=((r"lua start to read buffered request body", "READ_BODY"),),
      line="lua start to read buffered request body"),
    E("body_arrived", ("uri",), explain="the rest of the request body has arrived"),
    E("discard_body", ("uri",), explain="the request ends before its body is read: "
      "nginx discards the rest as it arrives", line="http set discard body"),
    E("body_post_read", ("c", "wake"), explain="the body reader's post handler runs "
      "(wake: a reader was waiting for more body, so it is resumed)",
      words="BODY_POST_READ c={c}",
      nginx=((r"lua req body post read, c:(?P<c>\d+)", "BODY_POST_READ c={c}"),),
      line="lua req body post read, c:{c}"),

    # --- the response and the request's end (ngx_http_request.c) -------------------------
    E("send_last_buf", keep=True, compared=True, explain="the last buf of the response is sent",
      words="LAST_BUF", nginx=((r"lua sending last buf of the response body", "LAST_BUF"),),
      line="lua sending last buf of the response body"),
    E("finalize_request", ("rc", "uri", "a", "c"), keep=True, compared=True,
      explain="finalize_request(r, {rc_text}) on {uri} with r->count {c}",
      words="FINALIZE rc={rc} uri={uri} a={a} c={c}",
      nginx=((r'http finalize request: (?P<rc>-?\d+), "(?P<uri>.*)" a:(?P<a>\d+), c:(?P<c>\d+)',
              "FINALIZE rc={rc} uri={uri} a={a} c={c}"),),
      line='http finalize request: {rc}, "{uri}" a:{a}, c:{c}'),
    E("count", ("delta", "c", "cause"), keep=True, explain="r->count {delta:+d} -> {c}: {cause}"),
    E("close_request", ("c",), keep=True, compared=True,
      explain="close_request: r->count {c} -> {c_after}", words="CLOSE_REQ c={c}",
      nginx=((r"http request count:(?P<c>\d+) blk:\d+", "CLOSE_REQ c={c}"),),
      line="http request count:{c} blk:0"),
    E("terminate_request", ("c",), keep=True, compared=True,
      explain="terminate_request: the connection will be closed", words="TERMINATE c={c}",
      nginx=((r"http terminate request count:(?P<c>\d+)", "TERMINATE c={c}"),),
      line="http terminate request count:{c}"),
    E("free_request", ("uri",), keep=True,
      explain="the request is freed: its cleanup handlers run"),
    E("close_connection", explain="the connection is closed: c->destroyed = 1"),
    E("hang", ("message",), keep=True, explain="nothing is left that could wake the request"),

    E("log", ("level", "msg"), quiet=True, explain="[{level}] {msg}"),

] + SECOND_RING
EVENTS = {e.name: e for e in _ALL}

# debug lines nginx writes that no model event stands for: (regex, words); a
# "NEWTHREAD" line gives its thread pointer a fresh id
NGINX_ONLY = (
    (r"lua (?:ref lua thread|reusing cached lua thread) (?P<thread>\S+)", "NEWTHREAD"),
    (r"lua thread yielded$", "YIELD"),
    (r"lua (?P<kind>user|entry) thread aborted: (?P<msg>.*)$", 'ABORTED {kind} "{msg}"'),
    (r"lua read buffered request body requires I/O interruptions", "READ_BODY_AGAIN"),
    (r"lua has read buffered request body in a single run", "READ_BODY_SYNC"),
    (r"lua say response$", "SAY"),
)



def _word(words):
    """The first word of a words template, with its space when more follow:
    "RUN c={c}" -> "RUN ", "ENDED" -> "ENDED"."""
    first, sep, _ = words.partition(" ")
    return first + sep


# the words both sides can say, in the line-by-line trace comparison
TRACE_WORDS = tuple(dict.fromkeys(_word(w) for e in _ALL if e.compared for _, w in e.nginx))

# the words of the count history (finalize / close / terminate), and the events that say them
COUNT_WORDS = ("FINALIZE ", "CLOSE_REQ ", "TERMINATE ")
COUNT_EVENTS = tuple(e.name for e in _ALL if isinstance(e.words, str)
                     and e.words.startswith(COUNT_WORDS))


def _fill(template, fields):
    return template.format(**{k: _uri(v) if k == "uri" else v for k, v in fields.items()})


def debug_words(name, fields):
    """The normalised debug-log words of a model event, or None."""
    e = EVENTS.get(name)
    if e is None or e.words is None:
        return None
    if callable(e.words):
        return e.words(fields)
    return _fill(e.words, fields)


def debug_lines(name, fields, top=0, ref=None):
    """The debug lines nginx writes for a model event (its `line`), as
    message texts; fields the template needs beyond the event's own:
    top (lua_gettop of the main state), ptr / ref (the thread's fake
    pointer and its lua_State number), co_uri (the sleeper's request as
    "%V?%V"), q_uri (a URI with the '?' nginx always prints)."""
    e = EVENTS.get(name)
    if e is None or e.line is None:
        return ()
    texts = e.line(fields) if callable(e.line) else e.line
    if not texts:
        return ()
    if isinstance(texts, str):
        texts = (texts,)
    d = _LineFields(fields)
    d.top, d.ref = top, ref
    return tuple([t.format_map(d) for t in texts])


class _LineFields(dict):
    """An event's fields as debug_lines' templates read them: the values
    beyond the event's own are worked out when a template names one."""
    __slots__ = ("top", "ref")

    def __missing__(self, k):
        co, sem, uri = self.get("co"), self.get("sem"), self.get("uri")
        if k == "top":
            return self.top
        if k in ("ptr", "ref", "co_uri") and hasattr(co, "L"):
            if k == "ptr":
                return fake_pointer(co.L)
            if k == "ref":
                return co.L if self.ref is None else self.ref
            req = getattr(co, "req", None)
            if req is not None:
                return req.log_uri
        elif k in ("sem_ptr", "ev_ptr") and hasattr(sem, "number"):
            return (f"{0x000055000000A000 + 0x40 * sem.number:016X}" if k == "sem_ptr" else
                    f"{0x000055000000A020 + 0x40 * sem.number:016X}")
        elif k == "q_uri" and isinstance(uri, str):
            return uri if "?" in uri else uri + "?"
        raise KeyError(k)


def nginx_lines():
    """(regex, words template, thread) for every debug line the normaliser
    knows, in the order it tries them; `thread` names the group holding a
    thread pointer (it becomes T1, T2 ...), or None."""
    out = [(rx, words) for e in _ALL for rx, words in e.nginx] + list(NGINX_ONLY)
    return [(rx, words, "thread" if "?P<thread>" in rx else None) for rx, words in out]


def nginx_words(match, words):
    """The words of a matched nginx debug line."""
    return _fill(words, match.groupdict())


def explain_fields(name, d, t_ms, op_text=OP_TEXT, rv_text=RV_TEXT,
                   done=("finished", "failed")):
    """A step's fields as the explanation templates name them (rc_text, op_text,
    rv_text, done_text, c_after, "-" for no coroutine), in the words given
    (viz/explain_zh.py passes Chinese ones)."""
    d = dict(d or {})
    d.setdefault("t_ms", t_ms)
    if "rc" in d and isinstance(d["rc"], int):
        d["rc_text"] = rc_name(d["rc"])
    if "op" in d:
        d["op_text"] = op_text.get(d["op"], "")
    if "rv" in d:
        d["rv_text"] = rv_text.get(d["rv"], str(d["rv"]))
    if "success" in d:
        d["done_text"] = done[0] if d["success"] else done[1]
    if name in ("close_request", "close_fake_request") and isinstance(d.get("c"), int):
        d["c_after"] = d["c"] - 1
    for k in ("co", "parent", "child"):
        d.setdefault(k, "-")
        if d[k] is None:
            d[k] = "-"
    return d


def explain(name, d, t_ms):
    """The one-line explanation of a step, from its (named) fields."""
    d = explain_fields(name, d, t_ms)
    e = EVENTS.get(name)
    try:
        text = e.explain(d) if e is not None and callable(e.explain) else \
            e.explain if e is not None and e.explain else name.replace("_", " ")
        return text.format(**d)
    except (KeyError, IndexError, ValueError):
        return name.replace("_", " ")
