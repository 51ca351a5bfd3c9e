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

# %% [markdown] zh
# # 8 · 实验：你的 Lua、模型与真实 nginx
#
# 前面各课之所以能相信模型，是因为它的测试套件一直拿它和真实 nginx 做对比。这个实验让你自己来做这种对比，用的是你自己的代码。你写一个 location 块（或者直接写 Lua），实验会把它运行两遍：一遍在模型里，一遍在本机安装的 nginx 里（监听 127.0.0.1，打开调试日志）。两边的跟踪记录并排对齐，不一致的行都会被标出来。
#
# 这里的机制是：**调试日志如何变成可以对比的跟踪记录。** nginx 会写出成千上万行调试日志。`ngxcoro.oracle.normalise_debug` 只保留调度器写的那些行，并用一套小词汇给它们命名：`RUN c=1` 对应 `ngx_http_lua_run_thread` 的 "lua run thread"，`FINALIZE rc=-4 ...` 对应 `ngx_http_finalize_request`，等等。模型通过它的钩子报告同样的时刻，下面的单元格把它们翻译成同样的词。
#
# **上一课：** [7 · 扇出：同时发出两个子请求](07-fan-out.ipynb) · **下一课：** [9 · 开销：post_thread 一路走到链表尾部](09-cost.ipynb)

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

T = {"recorded": "recorded nginx", "real": "real nginx", "model": "model",
     "sections": {},                     # a section's shown name (English: its own)
     "no nginx": "real nginx is not installed here: the model's side only",
     "differing": "{n} differing rows",
     "head": "<b>{source}</b> vs <b>the model</b>: ",
     "head diff": "{n} differing rows (marked ! changed, &lt; only nginx, &gt; only the model)",
     "head no nginx": "nginx is not installed here, so only the model's side is shown "
                      "(<code>apt-get install nginx-light libnginx-mod-http-lua "
                      "libnginx-mod-http-echo</code>)",
     "thread": "the light thread", "to its end": "runs to its end",
     "rows": "differing rows: {n}", "status": "status: {s} (no complete response)"}

# %% zh
import difflib
import html

import ngxcoro
from ngxcoro import oracle
from ngxcoro.compare import config_level
from ngxcoro.viz import set_language
from ngxcoro.viz.lessons import Predict, Tweak, BlogBox, scenario, count_chart_svg

set_language("zh")

NGINX, why = oracle.available()
print("真实 nginx：", why if NGINX else "本机没有安装")
if not NGINX:
    print("没有 nginx 时，实验照样运行模型。在 Debian/Ubuntu 上安装 nginx：\n"
          "    apt-get install nginx-light libnginx-mod-http-lua libnginx-mod-http-echo\n"
          "（也可以用 NGXCORO_NGINX 和 NGXCORO_NGINX_MODULES 指向另一个构建）。")

T = {"recorded": "录制的 nginx", "real": "真实 nginx", "model": "模型",
     "sections": {"startup error": "启动错误", "status": "状态", "body": "响应体",
                  "error log": "错误日志", "trace": "跟踪记录"},
     "no nginx": "本机没有安装真实 nginx：只显示模型这一边",
     "differing": "{n} 行不一致",
     "head": "<b>{source}</b> 对比 <b>模型</b>：",
     "head diff": "{n} 行不一致（标记：! 不同，&lt; 只有 nginx 有，&gt; 只有模型有）",
     "head no nginx": "本机没有安装 nginx，所以只显示模型这一边"
                      "（<code>apt-get install nginx-light libnginx-mod-http-lua "
                      "libnginx-mod-http-echo</code>）",
     "thread": "轻线程", "to its end": "一直运行到结束",
     "rows": "不一致的行数：{n}", "status": "状态：{s}（没有完整的响应）"}

# %% [markdown]
# ## The translation
# `TRACE_WORDS` (in `ngxcoro.trace`) are the words of the vocabulary that the model also produces. Some lines stay out:
# `NEWTHREAD` (pointer ids), `YIELD`, `SAY`, and the `HANDLER` line, which nginx doubles on a
# worker's first request. Also left out are `POSTED_REQ` and `WAKE_PARENT`, nginx's own
# posted-request loop, which the model does not log line for line. On the 160 recorded
# scenarios in `ngxcoro/oracle/scenarios/`, the model's trace and nginx's trace in these words are
# identical.

# %% [markdown] zh
# ## 翻译
# `TRACE_WORDS`（在 `ngxcoro.trace` 里）是模型也能产生的那部分词汇。有些行不参与对比：`NEWTHREAD`（里面是指针 id）、`YIELD`、`SAY`，以及 `HANDLER` 行（nginx 在一个 worker 的第一个请求上会把它写两遍）。`POSTED_REQ` 和 `WAKE_PARENT` 也不参与，它们来自 nginx 自己运行投递的请求的循环，模型不逐行记录这些。在 `ngxcoro/oracle/scenarios/` 里录制的 160 个场景上，用这套词汇表示的模型跟踪记录和 nginx 跟踪记录完全相同。

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
        self.source = T["recorded"] if recording else T["real"]
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
            out.append(T["no nginx"])
        for name, rows in self.sections:
            out.append(f"== {T['sections'].get(name, name)}")
            out += [f"{m} {a:<42} | {b}" if self.real else f"  {b}" for m, a, b in rows]
        if self.real is not None:
            out.append(T["differing"].format(n=self.differences()))
        return "\n".join(out)

    def _repr_html_(self):
        esc = html.escape
        # two equal columns that wrap long rows, so a long log line on one side
        # does not push the other side away
        cell = ("style='text-align:left;vertical-align:top;padding:0 10px;"
                "white-space:pre-wrap;overflow-wrap:anywhere'")
        head = (T["head"].format(source=esc(self.source))
                + (T["head diff"].format(n=self.differences()) if self.real is not None
                   else T["head no nginx"]))
        trs = [f"<tr><th {cell}></th><th {cell}>{esc(self.source)}</th><th {cell}>{T['model']}</th></tr>"]
        for name, rows in self.sections:
            trs.append(f"<tr><th colspan='3' {cell}>{esc(T['sections'].get(name, name))}</th></tr>")
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

# %% [markdown] zh
# ## 一个例子
# 一个轻线程 sleep 10 ms，同时入口线程 capture 一个 20 ms 后才应答的 location。用到的都是前几课的东西：spawn、sleep、capture 和 wait。

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

# %% [markdown] zh
# 模型这一边在任何机器上都一样，所以它的输出是受检的：

# %% check
model, trace = model_side(example)
print(model.status, model.body, "\n".join(trace), sep="\n")

# %% [markdown]
# And here it is next to real nginx (when it is installed). Rows without a mark agree.

# %% [markdown] zh
# 下面是它和真实 nginx（如果装了的话）的并排对照。没有标记的行两边一致。

# %%
Comparison(example)

# %% [markdown]
# ## Where they must disagree
# The model runs on a virtual clock. It starts at 2023-01-01 00:00:00 UTC and only moves
# when a timer fires.

# %% [markdown] zh
# ## 两边必然不同的地方
# 模型运行在虚拟时钟上。它从 2023-01-01 00:00:00 UTC 开始，只有定时器到期时才往前走。

# %% predict
Predict("The Lua is <code>ngx.say(\"now: \", ngx.now())</code>. Which section of the "
        "comparison will show a difference?",
        ["status", "body", "error log", "trace", "none"], "body",
        "Only the body: nginx prints the real time, the model its virtual clock. The "
        "scheduling is the same, so the trace lines up row for row.")

# %% predict zh
Predict("Lua 代码是 <code>ngx.say(\"now: \", ngx.now())</code>。对比结果里哪一部分会出现差异？",
        ["状态", "响应体", "错误日志", "跟踪记录", "都没有"], "响应体",
        "只有响应体：nginx 打印的是真实时间，模型打印的是它的虚拟时钟。调度过程完全一样，"
        "所以跟踪记录逐行对得上。")

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

# %% [markdown] zh
# ## 调一调：轻线程做什么
# 滑块的每个位置是一个不同的轻线程，在构建这个 notebook 时分别在模型和 nginx（如果有的话）里各运行了一次。图是模型的 `r->count`，表格把两边的跟踪记录对齐。看看每种代码块里 `RUN`、`SLEEP` 和 `FINALIZE rc=-4` 分别出现在哪里。

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
    T["to its end"]: 'ngx.say("child")',
    "ngx.sleep(0.01)": 'ngx.sleep(0.01) ngx.say("child")',
    "coroutine.yield()": 'coroutine.yield() ngx.say("child")',
    "capture /sub": 'ngx.say("child: ", ngx.location.capture("/sub").body)',
    'error("boom")': 'error("boom")',
}


def thread_variant(name):
    c = Comparison(one_thread.replace("BODY", bodies[name]))
    return count_chart_svg(c.model, height=130) + c._repr_html_()


Tweak(T["thread"], list(bodies), thread_variant, index=1)

# %% [markdown]
# ## A recorded comparison
# The test suite keeps real nginx's answers in `ngxcoro/oracle/scenarios/expected/`. With `recording=`,
# the comparison uses a stored answer instead of a live run, so it is checked like the model.
# Scenario 169: the entry thread calls `ngx.exit(403)` while a light thread's capture is
# still in flight.

# %% [markdown] zh
# ## 用录制结果做对比
# 测试套件把真实 nginx 的应答存放在 `ngxcoro/oracle/scenarios/expected/` 里。传入 `recording=` 时，对比用存下来的应答代替现场运行，所以它可以像模型一样受检。场景 169：一个轻线程的 capture 还在途时，入口线程调用了 `ngx.exit(403)`。

# %% check
text169, request169, recording169 = scenario("169-exit-entry-pending-capture")
c169 = Comparison(text169, request169, recording=recording169,
                  logs=oracle.read_log_recording("169-exit-entry-pending-capture"))
print(T["rows"].format(n=c169.differences()),
      T["status"].format(s=c169.model.status),
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

# %% check zh
BlogBox("r->count 是引用计数：每次调用 finalize_request(r, NGX_DONE) 时会将它减一，减为 0 时"
        "才会真正结束当前请求。",
        "ngx_http_terminate_request 并不等它。在 169 里，exit 被一个 Lua 错误拒绝，入口线程"
        "以 NGX_ERROR 中止，nginx 在 c=2 时终止请求，而子请求仍持有它的那份引用"
        "（TERMINATE c=2，然后 CLOSE_REQ c=1）。客户端收到空响应。",
        "169-exit-entry-pending-capture")

# %% [markdown]
# ## Your turn
# Edit the code and press **Run**. Below the editor is the model's stepper for your code,
# the same stepper as in every lesson; it starts on the example above. Below the stepper, the
# comparison is redone at the same time (nginx's side needs nginx on this machine). A bare Lua
# chunk works too. It is served as `location = /t`, so its line numbers are the chunk's own.

# %% [markdown] zh
# ## 轮到你了
# 修改代码，然后点 **Run**。编辑器下方是你的代码在模型里的步进器，和每一课里的步进器一样；它一开始显示的是上面那个例子。步进器下方的对比会同时重新生成（nginx 那一边需要本机装有 nginx）。直接写一段裸的 Lua 代码也可以：它会作为 `location = /t` 运行，所以行号就是这段代码自己的行号。

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

# %% [markdown] zh
# **对比的内容：** 状态、响应体、按配置里 `error_log` 级别显示的错误日志（和 `python -m ngxcoro compare` 显示的一样，即 `oracle.log_view`：不要时间、pid 和连接号，traceback 的每一行单独成行；录制结果保留 nginx 的完整记录），以及用 `TRACE_WORDS` 表示的跟踪记录。在 shell 里做同样的对比：`python -m ngxcoro compare --config FILE`。**不对比的内容：** 各步花了多长时间、线程 id，以及 nginx 运行投递的请求的那些行。出现差异，要么是虚拟时钟（比如上面的 `ngx.now()`），要么是模型不支持的功能（模型会在它的错误日志里说明），要么就是模型的 bug。最后这一种值得在 `ngxcoro/oracle/scenarios/` 里新增一个场景。
#
# **下一课：** [9 · 开销：post_thread 一路走到链表尾部](09-cost.ipynb)：这一路要走多少步，以及链表什么时候会变长。术语：[术语表](../glossary.md)。
