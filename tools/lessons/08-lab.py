# %% [markdown]
# # 8 · Lab: your Lua, the model and real nginx
#
# **Previous:** [7 · Fan-out](07-fan-out.ipynb) · **Next:** [9 · Cost](09-cost.ipynb)
#
# Every lesson so far trusted the model because its test suite compares it with real nginx.
# This lab lets you do that comparison yourself, on your own code. You write a location block
# (or bare Lua), and the lab runs it twice: once in the model and once in the nginx installed
# on this machine, on 127.0.0.1 with the debug log on. The two traces are lined up next to
# each other, and any line where they disagree is marked.
#
# One mechanism: **how a debug log becomes a trace you can compare.** nginx writes thousands
# of debug lines. `ngxcoro.oracle.normalise_debug` keeps the ones the scheduler writes and
# names them with a small vocabulary: `RUN c=1` for
# `ngx_http_lua_run_thread`'s "lua run thread", `FINALIZE rc=-4 ...` for
# `ngx_http_finalize_request`, and so on. The model reports the same moments through its
# hooks, and the cell below translates them into the same words.

# %%
import difflib
import html

import ngxcoro
from ngxcoro import oracle
from ngxcoro.compare import config_level
from ngxcoro.viz.lessons import Predict, Tweak, BlogBox, scenario, count_chart_svg

NGINX, why = oracle.available()
print("real nginx:", why if NGINX else "not installed here")
if not NGINX:
    print("The lab still runs the model. To get nginx on Debian/Ubuntu:\n"
          "    apt-get install nginx-light libnginx-mod-http-lua libnginx-mod-http-echo\n"
          "(or point NGXCORO_NGINX and NGXCORO_NGINX_MODULES at another build).")

# %% [markdown]
# ## The translation
# `TRACE_WORDS` (in `ngxcoro.trace`) are the words of the vocabulary that the model also produces. Some lines stay out:
# `NEWTHREAD` (pointer ids), `YIELD`, `SAY`, and the `HANDLER` line, which nginx doubles on a
# worker's first request. Also left out are `POSTED_REQ` and `WAKE_PARENT`, nginx's own
# posted-request loop, which the model does not log line for line. On the 160 recorded
# scenarios in `ngxcoro/oracle/scenarios/`, the model's trace and nginx's trace in these words are
# identical.

# %%
# the model's side: a hook listener saying each step in those words
from ngxcoro.trace import DebugTrace as ModelTrace, trace_words as nginx_words


def as_config(text, request):
    """A bare Lua chunk becomes the location block the editor would make."""
    from ngxcoro.viz.stepper import is_config
    return text if is_config(text) else ngxcoro.lua_location(text, ngxcoro.parse_request(request)[1])


def model_side(text, request="GET /t", body=None):
    """(model result, its trace in TRACE_WORDS)."""
    hooks = ngxcoro.Hooks()
    mt = hooks.add(ModelTrace())
    model = ngxcoro.run(as_config(text, request), request, body=body, hooks=hooks,
                        log_level="debug")
    return model, mt.lines


def run_both(text, request="GET /t", body=None, recording=None):
    """(model result, model trace, nginx dict or None, nginx trace or None).
    `recording`: a stored real-nginx answer (ngxcoro/oracle/scenarios/expected) instead of a live run."""
    model, trace = model_side(text, request, body)
    real = recording or (oracle.run_real(as_config(text, request), request, body=body)
                         if NGINX else None)
    return model, trace, real, (nginx_words(real["debug"]) if real else None)


MARK_STYLE = {"!": "background:rgba(230,159,0,.25)", "<": "background:rgba(213,94,0,.18)",
              ">": "background:rgba(0,114,178,.15)", " ": ""}


def aligned(left, right):
    """Rows (mark, left, right): ' ' same, '!' changed, '<' only nginx, '>' only the model."""
    rows = []
    sm = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        for k in range(max(i2 - i1, j2 - j1)):
            a = left[i1 + k] if i1 + k < i2 else None
            b = right[j1 + k] if j1 + k < j2 else None
            mark = " " if tag == "equal" else ("!" if a is not None and b is not None
                                              else ("<" if b is None else ">"))
            rows.append((mark, a or "", b or ""))
    return rows


def record_rows(records):
    """Whole error-log records as rows (a traceback's lines are rows of their own)."""
    return [row for rec in records for row in rec.split("\n")]


class Comparison:
    """Status, body, error log and trace of one run, nginx beside the model."""

    def __init__(self, text, request="GET /t", body=None, recording=None, logs=None):
        self.model, self.model_trace, self.real, self.real_trace = run_both(
            text, request, body, recording)
        self.source = "recorded nginx" if recording else "real nginx"
        m = self.model
        # the error log as `python -m ngxcoro compare` puts both sides: the config's level,
        # no time, pid or connection number; a recording keeps nginx's whole records
        self.level = config_level(as_config(text, request))
        if logs is not None:
            self.log = (record_rows(logs["error_records"]),
                        record_rows(oracle.error_records(m.error_log)))
        elif recording is not None:          # a recording without its logs: notice and above
            self.log = (recording["error_log"], oracle.normalise_error_log(m.error_log))
        else:
            self.log = ((oracle.log_view(self.real["raw_error_log"], self.level)
                         if self.real else None), oracle.log_view(m.error_log, self.level))
        mine = {"status": [str(m.status)], "body": m.body.split("\n"),
                "error log": self.log[1], "trace": self.model_trace}
        if m.startup_error or (self.real or {}).get("startup_error"):
            mine = {"startup error": [m.startup_error or ""], **mine}
        self.sections = []
        for name, ours in mine.items():
            if self.real is None:
                theirs = None
            elif name == "startup error":
                theirs = [self.real.get("startup_error") or ""]
            elif name == "status":
                theirs = [str(self.real["status"])]
            elif name == "body":
                theirs = self.real["body"].split("\n")
            elif name == "error log":
                theirs = self.log[0]
            else:
                theirs = self.real_trace
            rows = aligned(theirs, ours) if theirs is not None else [(" ", "", x) for x in ours]
            self.sections.append((name, rows))

    def differences(self):
        return sum(1 for _, rows in self.sections for r in rows if r[0] != " ")

    def __repr__(self):
        out = []
        if self.real is None:
            out.append("real nginx is not installed here: the model's side only")
        for name, rows in self.sections:
            out.append(f"== {name}")
            out += [f"{m} {a:<42} | {b}" if self.real else f"  {b}" for m, a, b in rows]
        if self.real is not None:
            out.append(f"{self.differences()} differing rows")
        return "\n".join(out)

    def _repr_html_(self):
        esc = html.escape
        # two equal columns that wrap long rows, so a long log line on one side
        # does not push the other side away
        cell = ("style='text-align:left;vertical-align:top;padding:0 10px;"
                "white-space:pre-wrap;overflow-wrap:anywhere'")
        head = (f"<b>{esc(self.source)}</b> vs <b>the model</b>: "
                + (f"{self.differences()} differing rows (marked ! changed, &lt; only nginx, "
                   "&gt; only the model)" if self.real is not None else
                   "nginx is not installed here, so only the model's side is shown "
                   "(<code>apt-get install nginx-light libnginx-mod-http-lua "
                   "libnginx-mod-http-echo</code>)"))
        trs = [f"<tr><th {cell}></th><th {cell}>{esc(self.source)}</th><th {cell}>model</th></tr>"]
        for name, rows in self.sections:
            trs.append(f"<tr><th colspan='3' {cell}>{esc(name)}</th></tr>")
            trs += [f"<tr style='{MARK_STYLE[m]}'><td {cell}>{esc(m)}</td><td {cell}>{esc(a)}</td>"
                    f"<td {cell}>{esc(b)}</td></tr>" for m, a, b in rows]
        return (f"<div style='font-size:12px'>{head}<div style='max-height:420px;overflow:auto'>"
                "<table style='font-family:monospace;border-collapse:collapse;margin:0;"
                "width:100%;table-layout:fixed'><colgroup><col style='width:2em'>"
                "<col style='width:50%'><col style='width:50%'></colgroup>"
                + "".join(trs) + "</table></div></div>")


# %% [markdown]
# ## An example
# A light thread sleeps 10 ms while the entry thread captures a location that answers after
# 20 ms. It uses the pieces of the last lessons: spawn, sleep, capture and wait.

# %%
example = """location = /t {
    content_by_lua_block {
        local t = ngx.thread.spawn(function()
            ngx.sleep(0.01)
            ngx.say("child woke up")
        end)
        local res = ngx.location.capture("/sub")
        ngx.say("sub said: ", res.body)
        ngx.thread.wait(t)
        ngx.say("done")
    }
}
location = /sub {
    echo_sleep 0.02;
    echo "hello";
}
"""

# %% [markdown]
# The model's side is the same on every machine, so it is checked:

# %% check
model, trace = model_side(example)
print(model.status, model.body, "\n".join(trace), sep="\n")

# %% [markdown]
# And here it is next to real nginx (when it is installed). Rows without a mark agree.

# %%
Comparison(example)

# %% [markdown]
# ## Where they must disagree
# The model runs on a virtual clock. It starts at 2023-01-01 00:00:00 UTC and only moves
# when a timer fires.

# %% predict
Predict("The Lua is <code>ngx.say(\"now: \", ngx.now())</code>. Which section of the "
        "comparison will show a difference?",
        ["status", "body", "error log", "trace", "none"], "body",
        "Only the body: nginx prints the real time, the model its virtual clock. The "
        "scheduling is the same, so the trace lines up row for row.")

# %% check answer
now_lua = 'ngx.say("now: ", ngx.now())'
print(model_side(now_lua)[0].body)

# %%
Comparison(now_lua)

# %% [markdown]
# ## Tweak: what the light thread does
# Each position of the slider is a different light thread, run once in the model and once in
# nginx (when it is here) while this notebook was built. The chart is the model's `r->count`.
# The table lines up the two traces. Look at where `RUN`, `SLEEP` and `FINALIZE rc=-4` appear
# for each kind of block.

# %%
one_thread = """location = /t {
    content_by_lua_block {
        ngx.thread.spawn(function() BODY end)
        ngx.say("entry goes on")
    }
}
location = /sub {
    echo_sleep 0.02;
    echo "hello";
}
"""
bodies = {
    "runs to its end": 'ngx.say("child")',
    "ngx.sleep(0.01)": 'ngx.sleep(0.01) ngx.say("child")',
    "coroutine.yield()": 'coroutine.yield() ngx.say("child")',
    "capture /sub": 'ngx.say("child: ", ngx.location.capture("/sub").body)',
    'error("boom")': 'error("boom")',
}


def thread_variant(name):
    c = Comparison(one_thread.replace("BODY", bodies[name]))
    return count_chart_svg(c.model, height=130) + c._repr_html_()


Tweak("the light thread", list(bodies), thread_variant, index=1)

# %% [markdown]
# ## A recorded comparison
# The test suite keeps real nginx's answers in `ngxcoro/oracle/scenarios/expected/`. With `recording=`,
# the comparison uses a stored answer instead of a live run, so it is checked like the model.
# Scenario 169: the entry thread calls `ngx.exit(403)` while a light thread's capture is
# still in flight.

# %% check
text169, request169, recording169 = scenario("169-exit-entry-pending-capture")
c169 = Comparison(text169, request169, recording=recording169,
                  logs=oracle.read_log_recording("169-exit-entry-pending-capture"))
print(f"differing rows: {c169.differences()}",
      f"status: {c169.model.status} (no complete response)",
      *oracle.normalise_error_log(c169.model.error_log),
      *[x for x in c169.model_trace if x.startswith(("FINALIZE", "TERMINATE", "CLOSE_REQ"))],
      sep="\n")

# %% check
BlogBox("r->count is a reference count: every finalize_request(r, NGX_DONE) takes one "
        "off, and the request really ends only when it reaches 0.",
        "ngx_http_terminate_request does not wait for it. In 169 the exit is refused with "
        "a Lua error, the entry aborts with NGX_ERROR, and nginx terminates the request at "
        "c=2 while the subrequest still holds its reference (TERMINATE c=2, then "
        "CLOSE_REQ c=1). The client gets an empty reply.",
        "169-exit-entry-pending-capture")

# %% [markdown]
# ## Your turn
# Edit the code and press **Run**. Below the editor is the model's stepper for your code,
# the same stepper as in every lesson; it starts on the example above. Below the stepper, the
# comparison is redone at the same time (nginx's side needs nginx on this machine). A bare Lua
# chunk works too. It is served as `location = /t`, so its line numbers are the chunk's own.

# %%
import ipywidgets as W
from ngxcoro.viz import Editor

editor = Editor(example)
comparison = W.HTML()


def compare_editor(_button=None):
    try:
        comparison.value = Comparison(editor.code.value, editor.request.value or "GET /t",
                                      editor.body.value or None)._repr_html_()
    except Exception as e:                      # a bad request line, a config nginx refuses...
        comparison.value = f"<pre>{html.escape(str(e))}</pre>"


editor.run_button.on_click(compare_editor)
editor.run()
compare_editor()
W.VBox([editor, comparison])

# %% [markdown]
# **What is compared:** status, body, the error log at the config's `error_log` level as
# `python -m ngxcoro compare` shows it (`oracle.log_view`: no time, pid or connection number,
# tracebacks as rows of their own; a recording keeps nginx's whole records), and the trace in
# `TRACE_WORDS`. The same comparison from a shell: `python -m ngxcoro compare --config FILE`.
# **What is not:** how long
# things take, thread ids, and nginx's posted-request lines. A difference is either the
# virtual clock (as with `ngx.now()` above), something the model does not support (it says so
# in its error log), or a bug in the model. The last kind is worth a new scenario in
# `ngxcoro/oracle/scenarios/`.
#
# **Next:** [9 · Cost](09-cost.ipynb): what `post_thread`'s walk to the tail costs.
# Terms: [glossary](glossary.md).
