# %% [markdown]
# # 4 · The return codes
#
# Every time the scheduler resumes Lua it ends with one number: the return code of
# `ngx_http_lua_run_thread` (`ngx_http_lua_util.c`). The phase handler that called it
# (`ngx_http_lua_rewrite_by_chunk`, `ngx_http_lua_access_by_chunk`,
# `ngx_http_lua_content_by_chunk`) turns that number into its own answer to nginx's phase
# engine. This lesson runs one tiny location per case and records what each handler did.
#
# | run_thread returns | meaning for the caller |
# |---|---|
# | `NGX_OK` (0) | every thread of this handler has finished (or `ngx.exit(0)`): the handler is done |
# | `NGX_AGAIN` (-2) | some thread is parked on a timer, a body read, a subrequest…; `r->count` untouched |
# | `NGX_DONE` (-4) | parked too, but someone already took a reference on the request (in practice: `ngx.exec`) |
# | `NGX_ERROR` (-1) | give up on the connection |
# | a status ≥ 200 | `ngx.exit(status)`, or 500 after a Lua error |
#
# **Previous:** [3 · run_posted_threads](03-run-posted-threads.ipynb) ·
# **Next:** [5 · NGX_DONE and r->count](05-ngx-done-and-count.ipynb)

# %% [markdown] zh
# # 4 · 返回值
#
# 调度器每恢复一次 Lua，最后都会得到一个数：`ngx_http_lua_run_thread`（`ngx_http_lua_util.c`）的返回值。调用它的阶段处理函数（`ngx_http_lua_rewrite_by_chunk`、`ngx_http_lua_access_by_chunk`、`ngx_http_lua_content_by_chunk`）再把这个数转换成自己对 nginx 阶段引擎的回答。本课对每种情况各跑一个极小的 location，记录每个处理函数做了什么。
#
# | run_thread 返回 | 对调用者的含义 |
# |---|---|
# | `NGX_OK` (0) | 这个处理函数的所有线程都已结束（或者 `ngx.exit(0)`）：处理函数完成了 |
# | `NGX_AGAIN` (-2) | 有线程停在定时器、读请求体、子请求……上；`r->count` 不变 |
# | `NGX_DONE` (-4) | 同样停下了，但已经有人对请求加了一个引用（实际上就是 `ngx.exec`） |
# | `NGX_ERROR` (-1) | 放弃这个连接 |
# | ≥ 200 的状态码 | `ngx.exit(status)`，或者 Lua 出错后的 500 |
#
# **上一课：** [3 · run_posted_threads](03-run-posted-threads.ipynb) · **下一课：** [5 · NGX_DONE 与 r->count](05-ngx-done-and-count.ipynb)

# %%
import inspect

import ngxcoro
from ngxcoro.viz.lessons import BlogBox, Predict, Tweak, pre, report, scenario
from ngxcoro.nginx.core import rc_name
from ngxcoro.ngx_lua import by

# the words the helpers below print (the Chinese notebook has its own)
W = {"lua in": "Lua in {phase}", "then": "then", "client gets": "client gets", "sep": ", ",
     "timer fires": "timer fires", "last buf": "last buf", "phase runs": "{phase} phase runs",
     "empty reply": "empty reply", "error page": "{status} error page",
     "variant": "{lua} in {phase}", "client:": "client gets: ", "tweak": "code in phase",
     "returned": "run_thread returned: ", "real": "real nginx: "}

# %% zh
import inspect

import ngxcoro
from ngxcoro.viz import set_language
from ngxcoro.viz.lessons import BlogBox, Predict, Tweak, pre, report, scenario
from ngxcoro.nginx.core import rc_name
from ngxcoro.ngx_lua import by

set_language("zh")

W = {"lua in": "{phase} 阶段的 Lua", "then": "之后", "client gets": "客户端收到", "sep": "，",
     "timer fires": "定时器触发", "last buf": "发送 last buf", "phase runs": "{phase} 阶段运行",
     "empty reply": "空响应", "error page": "{status} 错误页",
     "variant": "{phase} 阶段的 {lua}", "client:": "客户端收到：", "tweak": "阶段中的代码",
     "returned": "run_thread 的返回值：", "real": "真实 nginx："}

# %% [markdown]
# ## The seed's function, in the model
# The blog walks through `ngx_http_lua_access_by_chunk` (`ngx_http_lua_accessby.c`). The
# model's version keeps the C's shape: error or status → hand it back;
# `NGX_AGAIN` → drain `posted_threads`; `NGX_DONE` → give one reference back first, then
# drain; `NGX_OK` → `access_done`, which looks at `r->header_sent`.

# %% [markdown] zh
# ## 博客里的函数，在模型中
# 博客以 `ngx_http_lua_access_by_chunk`（`ngx_http_lua_accessby.c`）为例逐段讲解。模型的版本保留了 C 代码的结构：错误或状态码 → 原样交回；`NGX_AGAIN` → 清空 `posted_threads`；`NGX_DONE` → 先归还一个引用，再清空；`NGX_OK` → `access_done`，它要看 `r->header_sent`。

# %%
print(inspect.getsource(by.access_by_chunk))
print(inspect.getsource(by.access_done))

# %% [markdown]
# ## One location per case
# `location(phase, lua)` puts one line of Lua in the chosen phase; rewrite and access are
# followed by a content handler, so we can see whether the request got that far. `/e` is a
# target for `ngx.exec`. `what_happened` reads the run's steps: the code `run_thread` gave
# the phase handler on its first run, then what followed (a later phase, finalize calls,
# a terminated connection).

# %% [markdown] zh
# ## 每种情况一个 location
# `location(phase, lua)` 把一行 Lua 放进指定的阶段；rewrite 和 access 后面跟一个 content 处理函数，这样能看出请求有没有走到那一步。`/e` 是 `ngx.exec` 的跳转目标。`what_happened` 读取这次运行的步骤：阶段处理函数第一次运行时 `run_thread` 给它的返回值，以及之后发生的事（后面的阶段、finalize 调用、连接被终止）。

# %%
import unicodedata


def wpad(s, n):
    """s padded with spaces to n columns (a Chinese character takes two)."""
    return s + " " * max(0, n - sum(2 if unicodedata.east_asian_width(c) in "WF" else 1
                                    for c in s))


HANDLER = {"rewrite": "rewrite_by_lua_block", "access": "access_by_lua_block",
           "content": "content_by_lua_block"}


def location(phase, lua):
    later = "" if phase == "content" else '\n    content_by_lua_block { ngx.say("content ran") }'
    return (f"location /t {{\n    {HANDLER[phase]} {{\n        {lua}\n    }}{later}\n}}\n"
            'location /e {\n    content_by_lua_block { ngx.say("exec target") }\n}\n')


def what_happened(res, phase):
    """(run_thread's code on the handler's first run, [what came next])."""
    steps = res.snapshots
    start = next(i for i, s in enumerate(steps)
                 if s["event"] == "phase_handler" and s["data"]["phase"] == phase)
    rc, nested, then = None, 0, []
    for s in steps[start + 1:]:
        e, d = s["event"], s["data"]
        if rc is None:                     # an exec target runs inside our run_thread
            if e == "phase_handler":
                nested += 1
            elif e == "run_thread_returned":
                if nested:
                    nested -= 1
                else:
                    rc = rc_name(d["rc"])
            continue
        word = {"timer_expired": W["timer fires"], "send_last_buf": W["last buf"],
                "terminate_request": "terminate_request"}.get(e)
        if e == "phase_handler":
            word = W["phase runs"].format(phase=d["phase"])
        elif e == "finalize_request" and d["a"]:
            word = f"finalize({rc_name(d['rc'])})"
        if word and (not then or then[-1] != word):
            then.append(word)
        if e == "phase_handler":
            break
    return rc, then


def client(res):
    if res.status is None:
        return W["empty reply"]
    if res.body.startswith("<html>"):
        return W["error page"].format(status=res.status)
    return f"{res.status} {res.body.strip()!r}"


CASES = ['ngx.say("hi")', "ngx.exit(ngx.OK)", "ngx.exit(200)", "ngx.exit(403)",
         "ngx.exit(ngx.ERROR)", 'error("boom")', "ngx.sleep(0.01)", 'ngx.exec("/e")']


def table(phase, cases=CASES):
    rows = [f"{wpad(W['lua in'].format(phase=phase), 22)} {'run_thread':<11} "
            f"{wpad(W['then'], 58)} {W['client gets']}",
            "-" * 110]
    for lua in cases:
        res = ngxcoro.run(location(phase, lua), "GET /t", snapshots=True)
        rc, then = what_happened(res, phase)
        rows.append(f"{lua:<22} {rc:<11} {wpad(W['sep'].join(then), 58)} {client(res)}")
    return "\n".join(rows)

# %% [markdown]
# ## Predict
# In access, `ngx.exit(ngx.OK)` makes `run_thread` return `NGX_OK` and the seed says the
# handler then "only has to send the response".

# %% [markdown] zh
# ## 预测
# 在 access 阶段，`ngx.exit(ngx.OK)` 让 `run_thread` 返回 `NGX_OK`，而博客说这时处理函数“只需要调用ngx_http_lua_send_chain_link发送响应即可”。

# %% predict
Predict("<code>access_by_lua_block { ngx.exit(ngx.OK) }</code> followed by a "
        "<code>content_by_lua_block</code> that says \"content ran\". What does the client get?",
        ["200 with an empty body", "200 'content ran'", "403 error page", "an empty reply"],
        "200 'content ran'",
        "Nothing has been sent yet, so access_done returns NGX_OK and nginx's access checker "
        "moves on: exit(ngx.OK) in access ends only this phase, not the request.")

# %% predict zh
Predict("<code>access_by_lua_block { ngx.exit(ngx.OK) }</code>，后面跟一个输出 "
        "\"content ran\" 的 <code>content_by_lua_block</code>。客户端收到什么？",
        ["200，响应体为空", "200 'content ran'", "403 错误页", "空响应（什么也没收到）"],
        "200 'content ran'",
        "此时还什么都没发送，所以 access_done 返回 NGX_OK，nginx 的 access 阶段检查函数继续往下走："
        "在 access 阶段 exit(ngx.OK) 只结束这个阶段，而不是整个请求。")

# %% check answer
report(table("access", ["ngx.exit(ngx.OK)"]))

# %% [markdown]
# ## Access: the whole table
# Read it column by column: the code the handler got, what nginx did next, what the client
# saw.

# %% [markdown] zh
# ## access：完整的表
# 按列来读：处理函数拿到的返回值，nginx 接下来做了什么，客户端看到了什么。

# %% check
report(table("access"))

# %% [markdown]
# * `NGX_OK` splits in two on `r->header_sent`: output went out → the handler sends the last
#   buffer and returns 200, which finalizes the request and skips content; nothing sent →
#   `NGX_OK`, the next phase runs.
# * `200`, `403`, `500` and `NGX_ERROR` are all "bigger than OK or an error" for the seed,
#   yet they end very differently: a plain finalize, an error page (two finalize calls),
#   a terminated connection with nothing written.
# * `NGX_AGAIN` drains `posted_threads` (empty here) and parks; the timer re-runs the phase
#   engine, the handler is re-entered through `ctx->resume_handler`, and this time the answer
#   is `NGX_OK`.
# * `NGX_DONE` appears only for `ngx.exec`: the target has already run and answered by the
#   time `run_thread` returns. Lesson 5 follows that reference.

# %% [markdown] zh
# * `NGX_OK` 按 `r->header_sent` 分成两种：已经有输出发出去了 → 处理函数发送最后一个缓冲区（last buf）并返回 200，这会结束请求、跳过 content 阶段；什么都没发 → 返回 `NGX_OK`，进入下一个阶段。
# * 对博客来说，`200`、`403`、`500` 和 `NGX_ERROR` 都属于“大于 200 或出错”，但它们的结局大不相同：一次普通的 finalize、一个错误页（两次 finalize 调用）、一个什么都没写就被终止的连接。
# * `NGX_AGAIN` 清空 `posted_threads`（这里本来就是空的）后让请求停下等待；定时器再次驱动阶段引擎，处理函数通过 `ctx->resume_handler` 重新进入，这一次的回答是 `NGX_OK`。
# * `NGX_DONE` 只在 `ngx.exec` 时出现：`run_thread` 返回时，跳转目标已经运行完并且做出了响应。第 5 课会追踪这个引用。

# %%
BlogBox("NGX_OK means the phase is finished and only the response needs to be sent.",
        "When nothing has been sent, access returns NGX_OK and the request continues to the "
        "content phase; only a header already sent turns it into 200, which skips content.",
        "121-exit-ok-access-entry")

# %% zh
BlogBox("返回NGX_OK表明当前阶段处理完成，此时只需要调用ngx_http_lua_send_chain_link发送响应即可。",
        "如果什么都还没发送，access 返回 NGX_OK，请求继续进入 content 阶段；只有响应头已经"
        "发出时，才会变成 200，从而跳过 content。",
        "121-exit-ok-access-entry")

# %%
BlogBox("NGX_ERROR or a status above 200 unconditionally ends the request.",
        "They end it in different ways: 403 gets nginx's error page, but NGX_ERROR (and 444) "
        "terminate the connection and the client gets no reply at all.",
        "125-exit-error-access-entry")

# %% zh
BlogBox("按照Nginx的处理规则，返回NGX_ERROR或大于200的HTTP状态码时，将会无条件结束当前请求的处理。",
        "结束的方式各不相同：403 得到 nginx 的错误页，而 NGX_ERROR（以及 444）会终止连接，"
        "客户端根本收不到响应。",
        "125-exit-error-access-entry")

# %% [markdown]
# ## The siblings: rewrite and content
# `ngx_http_lua_rewrite_by_chunk` (`ngx_http_lua_rewriteby.c`) answers like access, except
# that "go on" is `NGX_DECLINED` for the rewrite checker. `ngx_http_lua_content_by_chunk`
# (`ngx_http_lua_contentby.c`) hands `NGX_OK`, errors and statuses straight back to
# `ngx_http_core_content_phase`, which finalizes with them; on `NGX_AGAIN` it calls
# `ngx_http_lua_content_run_posted_threads`, which parks the request with a reference of
# its own (the `finalize(NGX_DONE)` below).

# %% [markdown] zh
# ## 兄弟函数：rewrite 和 content
# `ngx_http_lua_rewrite_by_chunk`（`ngx_http_lua_rewriteby.c`）的回答和 access 一样，只是对 rewrite 阶段的检查函数来说，“继续”是 `NGX_DECLINED`。`ngx_http_lua_content_by_chunk`（`ngx_http_lua_contentby.c`）把 `NGX_OK`、错误和状态码原样交给 `ngx_http_core_content_phase`，由后者用它们结束请求；遇到 `NGX_AGAIN` 时，它调用 `ngx_http_lua_content_run_posted_threads`，后者用自己加的一个引用让请求停下等待（即下面的 `finalize(NGX_DONE)`）。

# %% check
report(table("rewrite"), "", table("content"))

# %% [markdown]
# Two things to notice in content: `ngx.exit(200)` reaches the handler as `NGX_OK`
# (`ngx_http_lua_handle_exit` sends the last buffer itself and reports success), and the
# sleep's park is the one place where the count moves, the `finalize(NGX_DONE)` before the
# timer.
#
# ## Tweak: phase × code
# Each position is a precomputed run; the text is the run's key steps, from the handler's
# start to the end of the request.

# %% [markdown] zh
# content 阶段有两点值得注意：`ngx.exit(200)` 到达处理函数时变成了 `NGX_OK`（`ngx_http_lua_handle_exit` 自己发送了最后一个缓冲区并报告成功）；sleep 引起的停下等待是引用计数唯一变化的地方，也就是定时器之前的那个 `finalize(NGX_DONE)`。
#
# ## 调一调：阶段 × 返回值
# 每个位置都是一次预先算好的运行；文字是这次运行的关键步骤，从处理函数开始到请求结束（步骤说明是模型的原文）。

# %%
KEY = {"phase_handler", "run_thread_returned", "run_posted_thread", "handle_exit",
       "handle_exec", "timer_expired", "send_last_buf", "finalize_request",
       "terminate_request", "count", "free_request"}


VARIANTS = {W["variant"].format(lua=lua, phase=phase): (lua, phase)
            for lua in ["ngx.exit(ngx.OK)", "ngx.exit(200)", "ngx.exit(403)",
                        "ngx.exit(ngx.ERROR)", "ngx.sleep(0.01)", 'ngx.exec("/e")']
            for phase in HANDLER}


def story(label):
    lua, phase = VARIANTS[label]
    config = location(phase, lua)
    res = ngxcoro.run(config, "GET /t", snapshots=True)
    lines = [f"{s['t_ms']:>3} ms  {s['explain']}" for s in res.snapshots if s["event"] in KEY]
    return pre(config.split("location /e")[0] + "\n" + "\n".join(lines)
               + "\n\n" + W["client:"] + client(res))


Tweak(W["tweak"], list(VARIANTS), story, index=1)

# %% [markdown]
# ## Step through a light thread's exit
# Scenario `068-exit-ok-thread-in-access`: the access entry spawns a thread and sleeps, so
# the first `run_thread` answers `NGX_AGAIN` and `ngx_http_lua_run_posted_threads` runs the
# entry until it parks too. 20 ms later the thread calls `ngx.exit(ngx.OK)`: the handler is
# re-entered, `ngx_http_lua_handle_exit` kills both threads (the sleeping entry included),
# the answer is `NGX_OK`, and the content phase runs. Use "next run_posted_thread" and the
# event log to jump around.

# %% [markdown] zh
# ## 单步执行：轻线程里的 exit
# 场景 `068-exit-ok-thread-in-access`：access 的入口线程 spawn 一个线程然后 sleep，所以第一次 `run_thread` 的回答是 `NGX_AGAIN`，`ngx_http_lua_run_posted_threads` 再运行入口线程，直到它也停下。20 ms后，那个线程调用 `ngx.exit(ngx.OK)`：处理函数被重新进入，`ngx_http_lua_handle_exit` 杀掉两个线程（包括正在 sleep 的入口线程），回答是 `NGX_OK`，content 阶段开始运行。在“要跳转到的事件类型”里选 `run_posted_thread`，再用“下一个同类事件”按钮或事件日志来回跳转。

# %%
text, request, recording = scenario("068-exit-ok-thread-in-access")
ngxcoro.show(text, request)

# %% check
res = ngxcoro.run(text, request)
report(f"{res.status} {res.body!r}",
       W["returned"] + ", ".join(rc_name(e["rc"]) for e in res.events
                                  if e["event"] == "run_thread_returned"),
       W["real"] + f"{recording['status']} {recording['body']!r}")

# %% [markdown]
# Four codes: `NGX_AGAIN` from the first run in access; `NGX_AGAIN` again when
# `run_posted_threads` runs the entry thread until it parks in its sleep; `NGX_OK` when the
# thread's timer fires, `ngx_http_lua_sleep_resume` resumes it and it exits; `NGX_OK` from
# the content handler. The entry's "after sleep" line never ran: exit from *any* thread
# ends every thread of the handler (lesson 6 comes back to this).
#
# **Next:** [5 · NGX_DONE and r->count](05-ngx-done-and-count.ipynb) — who holds
# references on the request, and what `finalize_request(r, NGX_DONE)` gives back.

# %% [markdown] zh
# 四个返回值：access 中第一次运行的 `NGX_AGAIN`；`run_posted_threads` 运行入口线程、直到它阻塞在 sleep 上时的 `NGX_AGAIN`；线程的定时器到期、`ngx_http_lua_sleep_resume` 恢复它、它调用 exit 时的 `NGX_OK`；以及 content 处理函数的 `NGX_OK`。入口线程的 "after sleep" 那一行从未运行：*任何*一个线程调用 exit，都会结束这个处理函数的所有线程（第 6 课会再讲到这一点）。
#
# **下一课：** [5 · NGX_DONE 与 r->count](05-ngx-done-and-count.ipynb)：谁在请求上持有引用，以及 `finalize_request(r, NGX_DONE)` 归还的是什么。
