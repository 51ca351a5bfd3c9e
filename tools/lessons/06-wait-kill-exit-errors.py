# %% [markdown]
# # 6 · wait, kill, exit and errors
#
# Light threads share one request, so the interesting question is who outlives whom. This
# lesson covers how a parent collects a child (`ngx_http_lua_uthread_wait` and
# `ngx_http_lua_uthread_kill` in `ngx_http_lua_uthread.c`), what `ngx.exit` and Lua errors do
# to the threads around them (`ngx_http_lua_run_thread` and `ngx_http_lua_handle_exit` in
# `ngx_http_lua_util.c`), and ends with a bug in 0.10.23.
#
# **Previous:** [5 · NGX_DONE and r->count](05-ngx-done-and-count.ipynb) ·
# **Next:** [7 · Fan-out](07-fan-out.ipynb)

# %% [markdown] zh
# # 6 · wait、kill、exit 与错误
#
# 轻线程共享同一个请求，所以真正有意思的问题是：谁比谁活得久。这一课讲父协程如何回收子线程（`ngx_http_lua_uthread.c` 里的 `ngx_http_lua_uthread_wait` 和 `ngx_http_lua_uthread_kill`），`ngx.exit` 和 Lua 错误会对周围的线程做什么（`ngx_http_lua_util.c` 里的 `ngx_http_lua_run_thread` 和 `ngx_http_lua_handle_exit`），最后看 0.10.23 里的一个 bug。
#
# **上一课：** [5 · NGX_DONE 与 r->count](05-ngx-done-and-count.ipynb) · **下一课：** [7 · 扇出：同时发出两个子请求](07-fan-out.ipynb)

# %%
import re

import ngxcoro
from ngxcoro.viz.lessons import BlogBox, Predict, Tweak, report, scenario
from ngxcoro.viz.timeline import timeline_svg

# the words the cells below print (the Chinese notebook has its own)
W = {"variants": ["nobody acts", "t1: ngx.exit(0)", "t1: ngx.exit(403)", "t1: error()",
                  "entry: error()", "entry: error() after ngx.say",
                  "access, t1: ngx.exit(ngx.OK)"],
     "name col": 30, "empty reply": "empty reply", "error page": "{status} error page",
     "nothing logged": "(nobody went on, nothing logged)", "variant": "variant",
     "real": "real nginx: ", "same body": "real nginx sent the same body: "}

# %% zh
import re

import ngxcoro
from ngxcoro.viz import set_language
from ngxcoro.viz.lessons import BlogBox, Predict, Tweak, report, scenario
from ngxcoro.viz.timeline import timeline_svg

set_language("zh")
W = {"variants": ["什么都不做", "t1：ngx.exit(0)", "t1：ngx.exit(403)", "t1：error()",
                  "入口线程：error()", "入口线程：ngx.say 后 error()",
                  "access 阶段，t1：ngx.exit(ngx.OK)"],
     "name col": 34, "empty reply": "空响应", "error page": "{status} 错误页",
     "nothing logged": "（没有线程继续执行，日志为空）", "variant": "变体",
     "real": "真实 nginx：", "same body": "真实 nginx 发出的响应体与此相同："}

# %% [markdown]
# ## Zombies and ngx.thread.wait
# A light thread that ends while its parent is not waiting for it becomes a **zombie**: dead,
# but it keeps its return values (and still counts in `ctx->uthreads`) until the parent
# collects them. `wait` on a zombie returns at once, without yielding.
#
# Below, `quick` ends inside `spawn` (it never blocks), `slow` sleeps 10 ms. Then the entry
# waits for both, with the sleeper first in the argument list.

# %% [markdown] zh
# ## 僵尸与 ngx.thread.wait
# 一个轻线程结束时，如果父协程并没有在等它，它就成为**僵尸**：已经死了，但还保留着自己的返回值（并且仍然计在 `ctx->uthreads` 里），直到父协程来回收。对僵尸调用 `wait` 会立即返回，不会让出。
#
# 下面的 `quick` 在 `spawn` 里面就结束了（它从不阻塞），`slow` 要 sleep 10 ms。然后入口线程同时等待两者，参数列表里 sleep 的那个排在前面。

# %%
waits = """
location /t {
    content_by_lua_block {
        local quick = ngx.thread.spawn(function() return "quick result" end)
        local slow = ngx.thread.spawn(function() ngx.sleep(0.01) return "slow result" end)
        ngx.say("quick is ", coroutine.status(quick), ", slow is ", coroutine.status(slow))
        ngx.say("wait(slow, quick): ", tostring(select(2, ngx.thread.wait(slow, quick))))
        ngx.say("wait(quick) again: ", tostring(select(2, ngx.thread.wait(quick))))
        ngx.say("wait(slow): ", tostring(select(2, ngx.thread.wait(slow))))
    }
}
"""

# %% predict
Predict("What does <code>ngx.thread.wait(slow, quick)</code> return?",
        ["slow result", "quick result", "both, in argument order"], "quick result",
        "wait scans its arguments left to right: slow is alive, so it is only flagged, but "
        "quick is a zombie and returns immediately. A zombie anywhere in the list wins over "
        "any thread that still has to finish.")

# %% predict zh
Predict("<code>ngx.thread.wait(slow, quick)</code> 返回什么？",
        ["slow result", "quick result", "两个都返回，按参数顺序"], "quick result",
        "wait 从左到右扫描参数：slow 还活着，只是被打上标记；quick 已经是僵尸，于是立即返回。"
        "参数列表里只要有僵尸，它就胜过任何还没结束的线程。")

# %% check answer
report(ngxcoro.run(waits).body)

# %% [markdown]
# Once collected, a thread is plain dead: a second `wait` on it gives
# `nil, "already waited or killed"` (when it is the last argument; earlier in the list a dead
# thread is skipped).
#
# ## ngx.thread.kill
# `kill` never yields. It refuses more often than it succeeds:

# %% [markdown] zh
# 被回收之后，线程就彻底死了：再对它 `wait` 一次，得到 `nil, "already waited or killed"`（当它是最后一个参数时；排在列表前面的死线程会被跳过）。
#
# ## ngx.thread.kill
# `kill` 从不让出。它拒绝的情况比成功的还多：

# %%
kills = """
location /t {
    content_by_lua_block {
        local function try(label, t)
            local ok, err = ngx.thread.kill(t)
            ngx.say(label, ": ", tostring(ok), " ", tostring(err))
        end
        local sleeper = ngx.thread.spawn(function() ngx.sleep(1) end)
        local zombie = ngx.thread.spawn(function() return "done" end)
        local grandchild
        ngx.thread.spawn(function()
            grandchild = ngx.thread.spawn(function() ngx.sleep(0.01) end)
        end)
        local capturer = ngx.thread.spawn(function() ngx.location.capture("/sub") end)
        ngx.sleep(0.001)
        try("a sleeping thread", sleeper)
        try("the same one again", sleeper)
        try("a zombie", zombie)
        try("someone else's child", grandchild)
        try("a thread with a capture pending", capturer)
        try("a plain coroutine", coroutine.create(function() end))
    }
}
location /sub {
    content_by_lua_block { ngx.sleep(0.02) }
}
"""

# %% check
report(ngxcoro.run(kills).body)

# %% [markdown]
# Only the sleeper is really killed (its timer is cancelled, `del_thread`, `uthreads--`).
# The zombie is removed too, but reported as "already terminated". A thread with a
# subrequest in flight cannot be killed at all; it finishes normally later.
#
# ## Who dies with whom
# One location, three threads: `t1` wakes at 10 ms, the entry at 20 ms, `t2` at 30 ms. Each
# variant makes `t1` or the entry do something; the log (at `notice` level) shows who
# got past their sleep.

# %% [markdown] zh
# 只有 sleep 中的那个线程是真的被杀死了（定时器被取消，`del_thread`，`uthreads--`）。僵尸也被删除了，但报告的是 "already terminated"。有子请求在途的线程根本杀不掉，它之后会正常结束。
#
# ## 谁和谁一起结束
# 一个 location，三个线程：`t1` 在 10 ms 醒来，入口线程在 20 ms，`t2` 在 30 ms。每个变体让 `t1` 或入口线程做一件事；日志（`notice` 级别）显示谁在 sleep 之后还继续执行了。

# %%
BASE = """
location /t {
    PHASE_by_lua_block {
        ngx.thread.spawn(function()            -- t1
            ngx.sleep(0.01)
            T1_ACTS
            ngx.log(ngx.NOTICE, "t1 goes on")
        end)
        ngx.thread.spawn(function()            -- t2
            ngx.sleep(0.03)
            ngx.log(ngx.NOTICE, "t2 woke")
        end)
        ENTRY_SAYS
        ngx.sleep(0.02)
        ENTRY_ACTS
        ngx.log(ngx.NOTICE, "entry goes on")
    }
    CONTENT
}
"""


def config(phase, t1="-- nothing", entry="-- nothing", says="-- says nothing"):
    content = 'content_by_lua_block { ngx.say("content ran") }' if phase != "content" else ""
    return (BASE.replace("PHASE", phase).replace("T1_ACTS", t1).replace("ENTRY_ACTS", entry)
            .replace("ENTRY_SAYS", says).replace("CONTENT", content))


VARIANTS = dict(zip(W["variants"], [             # names: W["variants"], in this order
    config("content"),
    config("content", t1="ngx.exit(0)"),
    config("content", t1="ngx.exit(403)"),
    config("content", t1='error("t1 fails")'),
    config("content", entry='error("entry fails")'),
    config("content", entry='error("entry fails")', says='ngx.say("entry said this")'),
    config("access", t1="ngx.exit(ngx.OK)"),
]))


def pad(text, width):
    """text padded with spaces to width columns (a Chinese character takes two)."""
    import unicodedata
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(width - used, 0)


def summary(res):
    if res.status is None:
        answer = W["empty reply"]
    elif res.body.startswith("<html>"):
        answer = W["error page"].format(status=res.status)
    else:
        answer = f"{res.status} {res.body.strip()!r}"
    log = []
    for line in res.error_log:                      # keep the message, drop the clutter
        msg = line.split(" 1#1: *1 ")[1].split("\n")[0].split(", client:")[0]   # not the traceback
        msg = re.sub(r"^\[lua\] |^lua |runtime error: |\S+\(nginx\.conf:\d+\):\d+: ", "", msg)
        log.append(msg)
    return answer, log


def row(name):
    answer, log = summary(ngxcoro.run(VARIANTS[name], log_level="notice"))
    return f"{pad(name, W['name col'])} {pad(answer, 18)} {'; '.join(log) or W['nothing logged']}"

# %% check
report(*(row(name) for name in VARIANTS))

# %% [markdown]
# * **exit from any thread ends them all.** `ngx_http_lua_handle_exit` calls
#   `ngx_http_lua_request_cleanup`, whose `ngx_http_lua_finalize_threads` deletes every
#   thread of the handler, the sleeping entry included. In content that ends the request; in
#   access, `ngx.exit(ngx.OK)` from `t1` ends only the phase, and content runs.
# * **an entry-thread error is fatal to everyone** by the same cleanup. Before any output the
#   client gets a 500 page; after output the handler can only return `NGX_ERROR`, the
#   connection is torn down, and even the text already "said" (still buffered) is lost.
# * **a light-thread error is local**: one `[error] lua user thread aborted` line, the thread
#   becomes a zombie holding `false, message`, and the others carry on.

# %% [markdown] zh
# * **任何线程调用 exit 都会结束所有线程。** `ngx_http_lua_handle_exit` 调用 `ngx_http_lua_request_cleanup`，其中的 `ngx_http_lua_finalize_threads` 删除这个处理函数的所有线程，包括正在 sleep 的入口线程。在 content 阶段这会结束请求；在 access 阶段，`t1` 调用 `ngx.exit(ngx.OK)` 只结束这个阶段，content 阶段照常运行。
# * **入口线程出错对所有线程都是致命的**，走的是同一个清理过程。还没有任何输出时，客户端收到一个 500 页面；已经有输出之后，处理函数只能返回 `NGX_ERROR`，连接被直接拆掉，连已经“说”出去（其实还在缓冲区里）的文字也丢了。
# * **轻线程出错只影响它自己**：一行 `[error] lua user thread aborted`，这个线程变成僵尸，保存着 `false, message`，其余线程继续运行。

# %%
BlogBox("NGX_ERROR means an execution error, which ends the request.",
        "A Lua error in the entry thread becomes 500 only while nothing has been sent. After "
        "ngx.say it is NGX_ERROR: the request is terminated and the client gets an empty reply, "
        "not even the line that was already said.",
        "029-error-entry-after-output")

# %% zh
BlogBox("NGX_ERROR 表示执行出错；返回 NGX_ERROR 时，将会无条件结束当前请求的处理。",
        "入口线程里的 Lua 错误，只有在还什么都没发送时才变成 500。ngx.say 之后就是 NGX_ERROR："
        "请求被终止，客户端收到空响应，连已经 say 出去的那一行也收不到。",
        "029-error-entry-after-output")

# %% [markdown]
# ## Tweak: watch the lanes
# One lane per coroutine; green runs, pale green is blocked, orange waits in
# `posted_threads`, hatched is a zombie, a thin line is dead. See where `t2`'s lane stops.

# %% [markdown] zh
# ## 调一调：看泳道
# 每个协程一条泳道：绿色是运行中，浅绿色是阻塞，橙色是在 `posted_threads` 里排队，斜线阴影是僵尸，细线表示已经死亡。看看 `t2` 的泳道在哪里中断。

# %%
def lanes(name):
    res = ngxcoro.run(VARIANTS[name], snapshots=True)
    answer, _ = summary(res)
    return timeline_svg(res.snapshots, title=f"{name} -> {answer}")


Tweak(W["variant"], list(VARIANTS), lanes, index=4)

# %% [markdown]
# ## pcall does not catch everything
# Errors inside a `coroutine.wrap` function are not returned to the caller: run_thread marks
# the wrap's parent with `propagate_error` and aborts *the parent* with the child's message.
# If the parent is the entry thread, that is the whole request.

# %% [markdown] zh
# ## pcall 并不能捕获所有错误
# `coroutine.wrap` 函数里的错误不会返回给调用者：run_thread 给 wrap 的父协程打上 `propagate_error` 标记，用子协程的错误信息中止*父协程*。如果父协程就是入口线程，那就是整个请求。

# %% predict
Predict("<code>local f = coroutine.wrap(function() error(\"werr\") end); "
        "local ok, err = pcall(f)</code> in content_by_lua. What happens?",
        ["pcall returns false, \"werr\"", "the entry thread aborts: 500",
         "the wrap coroutine is logged and ignored"],
        "the entry thread aborts: 500",
        "The wrap's error is propagated by run_thread to the coroutine that called it, "
        "outside pcall's reach: \"lua entry thread aborted ... werr\", then a 500 page.")

# %% predict zh
Predict("在 content_by_lua 里执行 <code>local f = coroutine.wrap(function() error(\"werr\") end); "
        "local ok, err = pcall(f)</code>，会发生什么？",
        ["pcall 返回 false, \"werr\"", "入口线程中止：500",
         "wrap 协程的错误被记入日志，然后被忽略"],
        "入口线程中止：500",
        "wrap 里的错误由 run_thread 传播给调用它的那个协程，这已经在 pcall 的管辖范围之外："
        "日志里是 \"lua entry thread aborted ... werr\"，然后是一个 500 页面。")

# %% check answer
text, request, rec = scenario("038-wrap-error")
wrapped = ngxcoro.run(text, request)
report(f"{wrapped.status} {summary(wrapped)[1]}",
       W["real"] + f"{rec['status']} {rec['error_log']}")

# %% [markdown]
# ## nginx surprises: a stale wait flag
# `wait(f, g)` sets `waited_by_parent` on both threads and returns when `f` ends; `g` keeps
# its flag. When `g` ends later, `run_thread` sees the flag and hands `g`'s results to the
# parent, which by then is blocked in something else: here an `ngx.sleep(0.2)` that returns
# after 0.04 s with `true, "g done"`.

# %% [markdown] zh
# ## nginx 的意外：残留的 wait 标记
# `wait(f, g)` 给两个线程都设置 `waited_by_parent`，在 `f` 结束时返回；`g` 的标记却留着。等 `g` 之后结束时，`run_thread` 看到这个标记，就把 `g` 的返回值交给父协程，而父协程此时正阻塞在别的事情上：这里是一个 `ngx.sleep(0.2)`，它在 0.04 s 后就返回了，返回值是 `true, "g done"`。

# %%
BlogBox("A coroutine parked by an API (NGX_AGAIN) is resumed by that API's event: its "
        "timer, its socket, its subrequest.",
        "After ngx.thread.wait(f, g) returned for f, g's end resumes the parent in the middle "
        "of an unrelated ngx.sleep(0.2), which returns g's values early.",
        "065-stale-wait-flag")

# %% zh
BlogBox("阻塞在某个 API 上（NGX_AGAIN）的协程，由这个 API 自己的事件恢复：它的定时器、它的"
        "套接字、它的子请求。",
        "ngx.thread.wait(f, g) 因 f 返回之后，g 的结束会在一个毫不相干的 ngx.sleep(0.2) 中途"
        "恢复父协程，让这个 sleep 提前返回 g 的返回值。",
        "065-stale-wait-flag")

# %%
text, request, rec = scenario("065-stale-wait-flag")
ngxcoro.show(text, request)

# %% check
stale = ngxcoro.run(text, request)
report(stale.body, W["same body"] + str(rec["body"] == stale.body))

# %% [markdown]
# In the stepper, find the step where `g` ends: the graph shows the entry still blocked in
# its sleep, and `g` goes back to its parent as if it had been waited for.
#
# **Next:** [7 · Fan-out](07-fan-out.ipynb) — several subrequests from light threads.

# %% [markdown] zh
# 在步进器里找到 `g` 结束的那一步：图中入口线程仍然阻塞在它的 sleep 里，而 `g` 却像被等待一样回到了父协程。
#
# **下一课：** [7 · 扇出：同时发出两个子请求](07-fan-out.ipynb)：从轻线程发出多个子请求。
