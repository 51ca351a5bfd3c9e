# %% [markdown]
# # 1 · Coroutines inside nginx
#
# Every piece of Lua that nginx runs for a request runs inside a Lua **coroutine**, and
# nginx's C code decides when each one runs. This lesson is about the one C function that
# does all the resuming, `ngx_http_lua_util.c: ngx_http_lua_run_thread` (in the model:
# `ngxcoro/ngx_lua/util.py: run_thread`), and about what `coroutine.status` tells you inside it.
#
# You will see:
# 1. the **entry thread** each `*_by_lua` handler starts;
# 2. why `coroutine.resume` does not resume anything by itself (the **trampoline**);
# 3. the five statuses, and two that surprise people who know plain Lua.

# %% [markdown] zh
# # 1 · nginx 中的协程
#
# nginx 为一个请求执行的每一段 Lua 代码，都运行在某个 Lua **协程**里，而由 nginx 的 C 代码决定每个协程何时运行。本课讲的是负责全部恢复（resume）工作的那一个 C 函数：`ngx_http_lua_util.c: ngx_http_lua_run_thread`（在模型中是 `ngxcoro/ngx_lua/util.py: run_thread`），以及在它内部 `coroutine.status` 告诉你的是什么。
#
# 你将看到：
# 1. 每个 `*_by_lua` 处理函数启动的**入口线程**；
# 2. 为什么 `coroutine.resume` 自己并不恢复任何协程（**蹦床**，trampoline）；
# 3. 五种协程状态，以及其中两种会让熟悉普通 Lua 的人感到意外的情况。
#
# **上一课：** [0 · ngxcoro 导览](00-tour.ipynb) · **下一课：** [2 · ngx.thread.spawn 与 post_thread](02-spawn-post-thread.ipynb)

# %%
import ngxcoro
from ngxcoro.viz.lessons import Predict, Tweak, BlogBox, pre
from ngxcoro.viz.timeline import timeline_svg

# the words the helpers below print (the Chinese notebook has its own)
W = {"threads head": f"{'phase':<8} {'C function':<32} {'resumes':<8} returns",
     "called after": "run_thread (called after {fn}):",
     "row": "  {step:>3}  {co:<6} {how:<9} co_op {op:<19} then: {then}",
     "yielded": "yielded", "finished": "finished", "failed": "failed ({rv})",
     "return": "return", "resume": "resume",
     "v ping": "ping-pong", "v sleep": "sleep inside co1",
     "v nested": "a coroutine inside a coroutine", "variant": "variant",
     "same": "same as real nginx:"}

# %% zh
import ngxcoro
from ngxcoro.viz import set_language
from ngxcoro.viz.lessons import Predict, Tweak, BlogBox, pre
from ngxcoro.viz.timeline import timeline_svg
set_language("zh")

W = {"threads head": "阶段     C 函数                           恢复     返回值",
     "called after": "run_thread（在 {fn} 之后调用）：",
     "row": "  {step:>3}  {co:<6} {how}  co_op {op:<19} 接着：{then}",
     "yielded": "让出", "finished": "结束", "failed": "失败 ({rv})",
     "return": "返回", "resume": "恢复",
     "v ping": "来回 ping-pong", "v sleep": "co1 里有 sleep",
     "v nested": "协程里套协程", "variant": "变体",
     "same": "与真实 nginx 相同："}

# %% [markdown]
# ## One entry thread per handler
# `rewrite_by_lua*`, `access_by_lua*` and `content_by_lua*` each get their own coroutine,
# the *entry thread*. The phase's `*_by_chunk` function (for example
# `ngx_http_lua_contentby.c: ngx_http_lua_content_by_chunk`) clears the request's Lua ctx
# (`ngx_http_lua_reset_ctx`), makes the coroutine (`ngx_http_lua_new_thread`) and calls
# `run_thread` on it. Here is a location with all three.

# %% [markdown] zh
# ## 每个处理函数一个入口线程
# `rewrite_by_lua*`、`access_by_lua*` 和 `content_by_lua*` 各自拥有一个协程，即*入口线程*。阶段的 `*_by_chunk` 函数（例如 `ngx_http_lua_contentby.c: ngx_http_lua_content_by_chunk`）会清空请求的 Lua ctx（请求上下文，`ngx_http_lua_reset_ctx`），创建协程（`ngx_http_lua_new_thread`），然后对它调用 `run_thread`。下面是一个三个阶段都有 Lua 的 location。

# %%
three = """
location /t {
    rewrite_by_lua_block { ngx.ctx.seen = "rewrite" }
    access_by_lua_block  { ngx.ctx.seen = ngx.ctx.seen .. ", access" }
    content_by_lua_block { ngx.say(ngx.ctx.seen, ", content") }
}
"""
res3 = ngxcoro.run(three, "GET /t", snapshots=True)

def entry_threads(res):
    """Each phase handler, the coroutine its run_thread resumed, and what run_thread returned."""
    rows, phase = [W["threads head"]], None
    for s in res.snapshots:
        if s["event"] == "phase_handler":
            phase, fn = s["data"]["phase"], s["where"]["c_function"]
        elif s["event"] == "run_thread" and phase:
            co = s["data"]["co"]
        elif s["event"] == "run_thread_returned" and phase:
            rows.append(f"{phase:<8} {fn:<32} {co:<8} {s['rc']}")
            phase = None
    return "\n".join(rows)

# %% check
print(res3.body)
print(entry_threads(res3))

# %% [markdown]
# Three handlers, three entry threads, each finished within a single `run_thread` call
# (`NGX_OK`). The coroutine is called `entry` each time because the ctx keeps one
# `entry_co_ctx` and zeroes it for every handler. Even the `lua_State` is the same one: when an
# entry thread ends, `ngx_http_lua_del_thread` puts it in a cache, and the next handler takes
# it back. The systemtap trace of lua-nginx-module's test suite names states by number, and
# it sees state 1 end three times:

# %% [markdown] zh
# 三个处理函数，三个入口线程，每个都在一次 `run_thread` 调用之内就结束了（`NGX_OK`）。协程每次都叫 `entry`，因为 ctx 里只有一个 `entry_co_ctx`，每个处理函数都会把它清零后重用。就连 `lua_State` 也是同一个：入口线程结束时，`ngx_http_lua_del_thread` 把它放进缓存，下一个处理函数再把它取回来。lua-nginx-module 测试套件的 systemtap 跟踪用编号来称呼这些 `lua_State`，它看到 1 号结束了三次：

# %% check
print("\n".join(res3.stap))

# %% [markdown]
# ## coroutine.resume does not resume
# In plain Lua, `coroutine.resume(co)` calls into `co` and returns when `co` yields: the C
# stack grows by one `lua_resume` per nested resume. ngx_lua replaces `coroutine.resume`,
# `coroutine.yield` and `ngx.thread.spawn` with functions that only **record an intention**
# in `ctx->co_op` (and the next coroutine in `ctx->cur_co_ctx`), then yield the *calling*
# coroutine back to `run_thread`. `run_thread` sees `LUA_YIELD`, reads `co_op` and resumes the
# next coroutine itself, in its own loop. It is a trampoline: Lua never resumes Lua.
#
# | `ctx->co_op` | set by | what `run_thread` does next |
# |---|---|---|
# | `NOP` | any API that blocks (`ngx.sleep`, ...) | return `NGX_AGAIN`; a timer or I/O event will call it again |
# | `USER_CORO_RESUME` | `coroutine.resume` (`ngx_http_lua_coroutine.c`) | move the arguments to the target, resume it |
# | `USER_CORO_YIELD` | `coroutine.yield` | move the values to the resumer, resume it (in an entry or light thread: a time slice, lesson 3) |
# | `USER_THREAD_RESUME` | `ngx.thread.spawn` (`ngx_http_lua_uthread.c`) | resume the new light thread (lesson 2) |
#
# A resume/yield ping-pong, in the content phase:

# %% [markdown] zh
# ## coroutine.resume 并不恢复协程
# 在普通 Lua 里，`coroutine.resume(co)` 会调用进 `co`，等 `co` 让出（yield）时才返回：每嵌套一层 resume，C 栈上就多一个 `lua_resume`。ngx_lua 把 `coroutine.resume`、`coroutine.yield` 和 `ngx.thread.spawn` 换成了自己的函数，它们只是在 `ctx->co_op` 里**记下一个意图**（并把下一个要运行的协程记在 `ctx->cur_co_ctx` 里），然后让*调用者*协程让出，回到 `run_thread`。`run_thread` 看到 `LUA_YIELD`，读出 `co_op`，在它自己的循环里亲自恢复下一个协程。这就是蹦床（trampoline）：Lua 从不直接恢复 Lua。
#
# | `ctx->co_op` | 由谁设置 | `run_thread` 接下来做什么 |
# |---|---|---|
# | `NOP` | 任何会阻塞的 API（`ngx.sleep` 等） | 返回 `NGX_AGAIN`；之后由定时器或 I/O 事件再次调用它 |
# | `USER_CORO_RESUME` | `coroutine.resume`（`ngx_http_lua_coroutine.c`） | 把参数搬到目标协程，恢复它 |
# | `USER_CORO_YIELD` | `coroutine.yield` | 把让出的值搬给恢复它的协程，恢复后者（在入口线程或轻线程中：一个时间片，见第 3 课） |
# | `USER_THREAD_RESUME` | `ngx.thread.spawn`（`ngx_http_lua_uthread.c`） | 恢复新建的轻线程（第 2 课） |
#
# 在 content 阶段里来回 resume/yield：

# %%
ping = """
local gen = coroutine.create(function(n)
    for i = 1, n do
        coroutine.yield("ping " .. i)
    end
    return "done"
end)
for k = 1, 3 do
    local ok, v = coroutine.resume(gen, 2)
    ngx.say(tostring(ok), " ", v)
end
"""
res = ngxcoro.run_lua(ping, "GET /t", snapshots=True)

def trampoline(res):
    """Every lua_resume that came back, grouped by the run_thread call that made it: how the
    coroutine came back (a yield with its co_op, or its end) and what run_thread did next."""
    snaps, out = res.snapshots, []
    for i, s in enumerate(snaps):
        if s["event"] == "run_thread":
            out.append(W["called after"].format(fn=snaps[i - 1]["where"]["c_function"]))
        if s["event"] != "resume_returned":
            continue
        co, rv = s["data"]["co"], s["data"]["rv"]
        op = snaps[i + 1]["data"]["op"] if snaps[i + 1]["event"] == "co_op" else "-"
        then = W["return"]
        for x in snaps[i + 1:]:
            if x["event"] == "resume_returned":          # the loop went round: same call
                then = W["resume"] + " " + x["data"]["co"]
            elif x["event"] == "run_thread_returned":    # the caller logs the rc
                then = W["return"] + " " + x["rc"]
            elif x["event"] == "send_last_buf":          # label `done`: everything ended
                then = W["return"] + " NGX_OK"
            elif x["event"] in ("run_posted_thread", "run_thread", "count", "timer_expired"):
                if x["requests"][0]["ctx"]["cur_co_ctx"] is None:
                    then = W["return"] + " NGX_AGAIN"  # every NGX_AGAIN clears cur_co_ctx
            else:
                continue
            break
        how = W["yielded"] if rv == 1 else W["finished"] if rv == 0 else W["failed"].format(rv=rv)
        out.append(W["row"].format(step=s["step"], co=co, how=how, op=op, then=then))
    return "\n".join(out)

# %% check
print(res.body)
print(trampoline(res))

# %% [markdown]
# Read it top to bottom: the entry's `lua_resume` **returns** (with `USER_CORO_RESUME`)
# before `co1` starts, and `co1`'s returns (with `USER_CORO_YIELD`) before the entry goes on.
# At no point are two `lua_resume` calls on the C stack. All seven `lua_resume` calls are made
# by one `run_thread` call, in its loop, and the call ends when the entry itself finishes.
#
# ## Tweak: what the coroutine does
# Pick a variant. The table is the same view as above; the picture is a timeline with one
# lane per coroutine (green: Lua is running in it; yellow: *normal*, it resumed someone and
# waits; blue: *suspended*; pale green: blocked in an API). With a sleep inside `co1`,
# `run_thread` returns `NGX_AGAIN` and the timer's own `run_thread` call resumes `co1`
# directly: the entry is never resumed in between, it stays *normal*. With a coroutine inside
# a coroutine, two of them are *normal* at once, and still only one `lua_resume` is running.

# %% [markdown] zh
# 从上往下读：入口线程的 `lua_resume` 先**返回**（带着 `USER_CORO_RESUME`），`co1` 才开始运行；`co1` 的 `lua_resume` 返回（带着 `USER_CORO_YIELD`）之后，入口线程才继续。任何时刻 C 栈上都不会同时有两个 `lua_resume`。全部七次 `lua_resume` 都出自同一次 `run_thread` 调用，在它的循环里完成；这次调用在入口线程自己结束时才结束。
#
# ## 调一调：协程做了什么
# 选一个变体。表格和上面是同一种视图；图是一条时间线，每个协程一条泳道（绿色：Lua 正在其中运行；黄色：*normal*，它恢复了别的协程，正在等待；蓝色：*suspended*；浅绿色：阻塞在某个 API 中）。如果 `co1` 里有 sleep，`run_thread` 返回 `NGX_AGAIN`，定时器触发的那次 `run_thread` 调用会直接恢复 `co1`：中间入口线程从未被恢复，一直处于 *normal*。协程里再套一个协程时，会有两个协程同时处于 *normal*，但仍然只有一个 `lua_resume` 在运行。

# %%
variants = {
    W["v ping"]: ping,
    W["v sleep"]: ping.replace('coroutine.yield("ping " .. i)',
                               'ngx.sleep(0.01)\n        coroutine.yield("ping " .. i)'),
    W["v nested"]: """
local outer = coroutine.create(function()
    local inner = coroutine.create(function()
        coroutine.yield("inner 1")
    end)
    local _, v = coroutine.resume(inner)
    coroutine.yield("outer got " .. v)
end)
local _, v = coroutine.resume(outer)
ngx.say(v)
""",
    "ngx.thread.spawn": """
local t = ngx.thread.spawn(function()
    ngx.say("light thread runs")
end)
ngx.say("entry goes on")
""",
}

def view(name):
    r = ngxcoro.run_lua(variants[name], "GET /t", snapshots=True)
    return pre(r.body + "\n" + trampoline(r)) + timeline_svg(r.snapshots)

Tweak(W["variant"], list(variants), view)

# %% [markdown]
# With `ngx.thread.spawn` there are **two** `run_thread` calls: the light thread ran first, and
# the entry came back through a second call, made by the loop that runs *posted* threads.
# That is lesson 2 and lesson 3.
#
# ## Step through it
# The stepper shows the same run one event at a time: the coroutine tree, `cur_co_ctx` and
# `co_op` in the ctx box, and the Lua line of each coroutine.

# %% [markdown] zh
# 用 `ngx.thread.spawn` 时有**两次** `run_thread` 调用：轻线程先运行，入口线程则通过第二次调用回来，这次调用来自运行*已投递*（posted）线程的那个循环。这就是第 2 课和第 3 课的内容。
#
# ## 单步执行
# 步进器把同一次运行一个事件一个事件地展示出来：协程树、ctx 框里的 `cur_co_ctx` 和 `co_op`，以及每个协程当前所在的 Lua 行。

# %%
ngxcoro.show(ping, "GET /t")

# %% [markdown]
# ## Statuses
# Each coroutine has a `co_status` in its `ngx_http_lua_co_ctx_t`, and `coroutine.status`
# (`ngx_http_lua_coroutine.c: ngx_http_lua_coroutine_status`) returns its name:
#
# | status | a coroutine is... |
# |---|---|
# | `running` | being run, **or** an entry thread / light thread that is blocked in an API (`ngx.sleep`, ...) or waiting in `posted_threads` |
# | `suspended` | a plain coroutine that was created and not resumed, or that called `coroutine.yield` |
# | `normal` | one that resumed a plain coroutine which has not come back yet |
# | `dead` | finished, failed or killed (also: a coroutine this request does not know) |
# | `zombie` | a light thread that finished before its parent waited for it (lesson 2) |
#
# Only `coroutine.resume` and `coroutine.yield` move a coroutine to `normal` or `suspended`.
# Blocking in `ngx.sleep` does not change the status at all.

# %% [markdown] zh
# ## 协程状态
# 每个协程在它的 `ngx_http_lua_co_ctx_t` 里有一个 `co_status`，`coroutine.status`（`ngx_http_lua_coroutine.c: ngx_http_lua_coroutine_status`）返回的就是它的名字：
#
# | 状态 | 这个协程…… |
# |---|---|
# | `running` | 正在运行，**或者**是阻塞在某个 API（`ngx.sleep` 等）中、或在 `posted_threads` 里排队的入口线程/轻线程 |
# | `suspended`（挂起） | 已创建但还没被恢复过的普通协程，或者调用了 `coroutine.yield` 的普通协程 |
# | `normal` | 恢复了一个普通协程、而那个协程还没回来 |
# | `dead` | 已结束、出错或被杀死（另外：本请求不认识的协程也是 dead） |
# | `zombie`（僵尸） | 在父协程等待它之前就已结束的轻线程（第 2 课） |
#
# 只有 `coroutine.resume` 和 `coroutine.yield` 会把协程变成 `normal` 或 `suspended`。阻塞在 `ngx.sleep` 里根本不会改变状态。

# %%
sleeper = """
local t = ngx.thread.spawn(function()
    ngx.sleep(0.05)
end)
ngx.say(coroutine.status(t))
"""

# %% predict
Predict("A light thread <code>t</code> is blocked in <code>ngx.sleep(0.05)</code>. "
        "What does the entry thread print for <code>coroutine.status(t)</code>?",
        ["running", "suspended", "normal", "dead"], "running",
        "<code>ngx.sleep</code> yields with <code>co_op</code> NOP and leaves "
        "<code>co_status</code> alone. A light thread stays RUNNING from spawn to its end; "
        "<code>suspended</code> is only for plain coroutines that yielded.")

# %% predict zh
Predict("轻线程 <code>t</code> 阻塞在 <code>ngx.sleep(0.05)</code> 中。"
        "入口线程打印 <code>coroutine.status(t)</code> 会得到什么？",
        ["running", "suspended", "normal", "dead"], "running",
        "<code>ngx.sleep</code> 以 <code>co_op</code> NOP 让出，不改动 "
        "<code>co_status</code>。轻线程从 spawn 到结束一直是 RUNNING；"
        "<code>suspended</code> 只属于让出了的普通协程。")

# %% check answer
print(ngxcoro.run_lua(sleeper, "GET /t").body)

# %% [markdown]
# Scenario `011-status` collects every case, and real nginx answered the same (its recording
# is in `ngxcoro/oracle/scenarios/expected/011-status.json`). Note the third and fourth lines: a light
# thread whose plain coroutine sleeps is `normal`, and that plain coroutine is `running` while
# it sleeps.

# %% [markdown] zh
# 场景 `011-status` 收集了所有情况，真实 nginx 的回答与此相同（录制结果在 `ngxcoro/oracle/scenarios/expected/011-status.json`）。注意第三、四行：如果轻线程里的普通协程在 sleep，轻线程是 `normal`，而那个正在 sleep 的普通协程是 `running`。

# %% check
from ngxcoro.viz.lessons import scenario
status_conf, status_req, recorded = scenario("011-status")
model = ngxcoro.run(status_conf, status_req)
print(model.body)
print(W["same"], model.body == recorded["body"])

# %%
BlogBox("The light thread runs first and its parent is 'forced to pause' "
        "(父协程被迫暂停) until run_posted_threads runs it again.",
        "Paused is not 'suspended'. A light thread blocked in ngx.sleep, and the entry thread "
        "itself, report 'running'; a thread whose plain coroutine is blocked reports 'normal'. "
        "Only a plain coroutine that yielded, or was never resumed, is 'suspended'.",
        "011-status")

# %% zh
BlogBox("这个\"light thread\"运行优先级比它的父协程高，会优先运行，父协程被迫暂停，"
        "直到 run_posted_threads 再去运行它。",
        "“暂停”不等于 suspended（挂起）。阻塞在 ngx.sleep 中的轻线程，以及入口线程本身，状态都是 "
        "running；如果轻线程里的普通协程阻塞了，轻线程的状态是 normal。只有让出了、或者"
        "从未被恢复过的普通协程才是 suspended。",
        "011-status")

# %% [markdown]
# ## Your turn
# Change the ping-pong: resume `gen` a fourth time, or call `coroutine.status(gen)` between the
# resumes, and press Run.

# %% [markdown] zh
# ## 动手试试
# 改一改上面的 ping-pong：第四次恢复 `gen`，或者在两次 resume 之间调用 `coroutine.status(gen)`，然后点 **Run**。

# %%
from ngxcoro.viz import Editor
Editor(lua=ping)

# %% [markdown]
# **Previous:** [0 · A tour of ngxcoro](00-tour.ipynb) ·
# **Next:** [2 · ngx.thread.spawn and post_thread](02-spawn-post-thread.ipynb) — why the child
# runs first, and the queue the parent waits in.

# %% [markdown] zh
# **上一课：** [0 · ngxcoro 导览](00-tour.ipynb) · **下一课：** [2 · ngx.thread.spawn 与 post_thread](02-spawn-post-thread.ipynb)：为什么子线程先运行，以及父协程在哪个链表里等待。
