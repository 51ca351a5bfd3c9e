# %% [markdown]
# # 10 · Timers: a request of their own
#
# Lessons 1–9 had one client request and the coroutines it ran. `ngx.timer.at(delay, f, ...)`
# runs `f` later, with no client at all: when the delay is over, the event loop calls
# `ngx_http_lua_timer_handler` (`ngx_http_lua_timer.c`), which makes a **fake connection** and
# a **fake request** and runs `f` as that request's entry thread.
#
# You will see:
# 1. what `ngx.timer.at` does at call time: it arms an nginx timer and returns `1`; nothing
#    yields, and `r->count` does not move;
# 2. what happens when the timer fires: a new fake request with its own count, ctx and
#    `ngx.ctx`, and `premature` as the callback's first argument;
# 3. why a timer cannot `ngx.say`, and that it outlives the request that made it;
# 4. the order of 0-delay timers, deadlines and sleeps; and `premature = true` when the
#    worker exits.
#
# **Previous:** [9 · Cost](09-cost.ipynb) · **Next:** [11 · Cosockets](11-cosockets.ipynb)

# %% [markdown] zh
# # 10 · 定时器：属于自己的请求
#
# 第 1–9 课只有一个客户端请求，以及它运行的那些协程。`ngx.timer.at(delay, f, ...)` 则是让 `f` 在稍后运行，而且根本没有客户端：延时一到，事件循环调用 `ngx_http_lua_timer_handler`（`ngx_http_lua_timer.c`），它创建一个**假连接**和一个**假请求**，把 `f` 作为这个请求的入口线程来运行。
#
# 本课你会看到：
# 1. `ngx.timer.at` 被调用时做了什么：它挂上一个 nginx 定时器并返回 `1`；调用者不会阻塞，`r->count` 也不变；
# 2. 定时器到期时发生了什么：一个新的假请求，有自己的引用计数、请求上下文和 `ngx.ctx`，回调的第一个参数是 `premature`；
# 3. 为什么定时器里不能 `ngx.say`，以及定时器比创建它的请求活得更久；
# 4. 0 延时定时器、到期时间和 sleep 之间的先后顺序；以及 worker 退出时的 `premature = true`。
#
# **上一课：** [9 · 开销：post_thread 一路走到链表尾部](09-cost.ipynb) · **下一课：** [11 · cosocket](11-cosockets.ipynb)

# %%
import inspect
import json

import ngxcoro
from ngxcoro import oracle
from ngxcoro.ngx_lua import timer
from ngxcoro.oracle.scenario import EXPECTED_DIR
from ngxcoro.viz.lessons import Predict, Tweak, pre, report, scenario, scenario_info
from ngxcoro.viz.timeline import timeline_svg

T = {"real": "real nginx", "model": "model",
     "log same": "the model writes the same error log",
     "log differs": "the model's error log DIFFERS:",
     "debug same": "the model writes the same {n} debug lines",
     "debug differs": "the model's debug lines DIFFER",
     "counts": "r->count", "timers": "timers (@deadline)", "freed": "freed",
     "delay": "the timer's delay (the entry sleeps 100 ms)"}

# %% zh
import inspect
import json

import ngxcoro
from ngxcoro import oracle
from ngxcoro.ngx_lua import timer
from ngxcoro.oracle.scenario import EXPECTED_DIR
from ngxcoro.viz import set_language
from ngxcoro.viz.lessons import Predict, Tweak, pre, report, scenario, scenario_info
from ngxcoro.viz.timeline import timeline_svg

set_language("zh")
T = {"real": "真实的 nginx", "model": "模型",
     "log same": "模型写出的错误日志与之相同",
     "log differs": "模型写出的错误日志不同：",
     "debug same": "模型写出的 {n} 行调试日志与之相同",
     "debug differs": "模型写出的调试日志不同",
     "counts": "r->count", "timers": "定时器（@到期 ms）", "freed": "已释放",
     "delay": "定时器的延时（入口线程 sleep 100 ms）"}

# %%
def replay(name):
    """(the model's run, real nginx's recording, its recorded logs) of a scenario; the model
    runs it as the tests do (its headers, body, client timeout, `nginx -s quit` time)."""
    text, info, rec = scenario_info(name)
    res = ngxcoro.run(text, info["request"], headers=info["headers"], body=info["body"],
                      log_level="debug", timeout=info["timeout"],
                      abort_at=info["client_abort_at"], quit_at=info["quit_at"],
                      peers=info["peers"], snapshots=True)
    logs = json.loads((EXPECTED_DIR / "logs" / f"{name}.json").read_text(encoding="utf-8"))
    return res, rec, logs


def lua_of(name):
    """A scenario's config, without its header lines."""
    return scenario(name)[0].split("\n\n", 1)[1].strip("\n")


def error_logs(name):
    """Real nginx's answer and error log for a scenario, and the model's verdict."""
    res, rec, _ = replay(name)
    mine = oracle.normalise_error_log(res.error_log)
    rows = [f"{name}  ({T['real']}: {rec['status']} {rec['body']!r})"]
    rows += ["  " + line for line in rec["error_log"]]
    rows += (["  -> " + T["log same"]] if mine == rec["error_log"]
             else ["  -> " + T["log differs"]] + ["     " + line for line in mine])
    return "\n".join(rows)


def debug_story(name, keep):
    """Real nginx's debug lines that contain one of `keep`, and the model's verdict on all."""
    res, _, logs = replay(name)
    real = logs["debug_lines"]
    rows = [f"{name}  ({T['real']})"]
    rows += ["  " + line for line in real if any(k in line for k in keep)]
    same = oracle.debug_lines(res.error_log) == real
    rows.append("  -> " + (T["debug same"].format(n=len(real)) if same else T["debug differs"]))
    return "\n".join(rows)


def counts(res):
    """One row whenever a request's r->count or the set of armed timers changes: the
    requests by name (the fake ones as fake1, fake2 ...), and the timer tree."""
    rows, last, names = [], None, {}
    for s in res.snapshots:
        reqs = []
        for q in s["requests"]:
            if q["id"] not in names:
                names[q["id"]] = (f"fake{sum(1 for n in names.values() if n.startswith('fake')) + 1}"
                                  if q["fake"] else q["uri"])
            reqs.append(f"{names[q['id']]} {T['freed']}" if q["freed"]
                        else f"{names[q['id']]}={q['count']}")
        tree = ", ".join(f"{t['label']}@{t['deadline_ms']}" for t in s["timers"]) or "-"
        now = ("; ".join(reqs), tree)
        if now != last:
            rows.append(f"{s['t_ms']:>4} ms  {s['event']:<22} {tree:<22} {now[0]}")
            last = now
    return "\n".join([f"{'':>7}  {'':<22} {T['timers']:<22} {T['counts']}"] + rows)

# %% [markdown]
# ## At call time: arm a timer, return 1
# `ngx.timer.at` is `ngx_http_lua_ngx_timer_at`, which calls `ngx_http_lua_ngx_timer_helper`
# (`ngx_http_lua_timer.c`, shared with `ngx.timer.every`). In order, it:
#
# 1. checks the arguments: at least two, and `f` a Lua function. It answers `nil, "process
#    exiting"` when the worker is shutting down and the delay is not 0, and `nil, "too many
#    pending timers"` at `lua_max_pending_timers` (default 1024);
# 2. takes a Lua thread (a new one or a cached one) **on the worker's main VM**, not a child
#    of the caller, and moves `f` and the extra arguments onto it;
# 3. `malloc`s one block: an `ngx_event_t` plus a timer ctx. The ctx keeps copies of the
#    creator's location confs and client address (for the log lines). It does not keep the
#    request;
# 4. `pending_timers++` and `ngx_add_timer(ev, delay)`, then returns the integer `1`.
#
# Nothing here yields, and nothing touches `r->main->count` or adds a cleanup to the
# request. After `ngx.timer.at` returns, the timer and the request are independent.

# %% [markdown] zh
# ## 调用时：挂上定时器，返回 1
# `ngx.timer.at` 对应 `ngx_http_lua_ngx_timer_at`，它调用 `ngx_http_lua_ngx_timer_helper`（`ngx_http_lua_timer.c`，与 `ngx.timer.every` 共用）。按顺序：
#
# 1. 检查参数：至少两个，且 `f` 必须是 Lua 函数。worker 正在退出且延时不为 0 时返回 `nil, "process exiting"`；达到 `lua_max_pending_timers`（默认 1024）时返回 `nil, "too many pending timers"`；
# 2. 在 worker 的**主虚拟机上**取一个 Lua 线程（新建的或缓存复用的，不是调用者的子协程），把 `f` 和其余参数移到它上面；
# 3. `malloc` 一块内存：一个 `ngx_event_t` 加一个定时器上下文。上下文里复制了创建者所在 location 的配置和客户端地址（日志行要用），但没有保存请求本身；
# 4. `pending_timers++`，`ngx_add_timer(ev, delay)`，然后返回整数 `1`。
#
# 这里没有任何阻塞，也不碰 `r->main->count`，不往请求上挂清理回调。`ngx.timer.at` 返回之后，定时器和请求就互不相干了。

# %% [markdown]
# ## When it fires: a fake request
# Later, when the event loop finds the timer expired (`ngx_event_expire_timers`), it calls
# `ngx_http_lua_timer_handler`. The model's copy of the C function:

# %% [markdown] zh
# ## 到期时：一个假请求
# 之后，事件循环发现定时器到期（`ngx_event_expire_timers`），就调用 `ngx_http_lua_timer_handler`。下面是模型里照着 C 函数写的版本：

# %%
print(inspect.getsource(timer.timer_handler))

# %% [markdown]
# Line by line:
#
# * `ngx_http_lua_create_fake_connection` (`ngx_http_lua_util.c`): a connection slot with
#   `fd = -1`, a connection number of its own (the `*N` of the timer's log lines), and a log
#   handler that ends every message with `, context: ngx.timer`;
# * `ngx_http_lua_create_fake_request`: `r->main = r` and **`r->count = 1`**, no method, no
#   URI (debug lines print it as `"?"`), and the creator's location confs;
# * a **new Lua ctx** with `context = NGX_HTTP_LUA_CONTEXT_TIMER` and
#   `entered_content_phase = 1`. So `ngx.ctx` is a fresh table on every firing (scenario 517),
#   and blocking works as in a content handler: `NGX_AGAIN` goes to
#   `ngx_http_lua_content_run_posted_threads`, as in lesson 3;
# * the timer's thread becomes the **entry thread**. `premature` is pushed and moved in front
#   of the user's arguments, and `run_thread` starts it;
# * at the end, `ngx_http_lua_finalize_request` on a fake request is
#   `ngx_http_lua_finalize_fake_request`: count 1 → 0, the request cleanups run (this is where
#   `running_timers` goes down), and the fake connection is closed.

# %% [markdown] zh
# 逐行来看：
#
# * `ngx_http_lua_create_fake_connection`（`ngx_http_lua_util.c`）：占用一个连接槽位，`fd = -1`，有自己的连接号（定时器日志行里的 `*N`），它的日志回调会在每条消息末尾加上 `, context: ngx.timer`；
# * `ngx_http_lua_create_fake_request`：`r->main = r`，**`r->count = 1`**，没有 method，没有 URI（调试日志里打印成 `"?"`），配置用的是创建者所在 location 的；
# * 一个**新的请求上下文**，`context = NGX_HTTP_LUA_CONTEXT_TIMER`，`entered_content_phase = 1`。所以每次触发时 `ngx.ctx` 都是一张新表（场景 517），阻塞操作也和 content 阶段一样处理：`NGX_AGAIN` 交给 `ngx_http_lua_content_run_posted_threads`，就像第 3 课那样；
# * 定时器的线程成为**入口线程**。`premature` 被压栈并挪到用户参数前面，然后由 `run_thread` 启动；
# * 最后，对假请求调用 `ngx_http_lua_finalize_request` 就是 `ngx_http_lua_finalize_fake_request`：引用计数 1 → 0，执行请求的清理回调（`running_timers` 在这里减一），然后关闭假连接。

# %% [markdown]
# ## A timer outlives its request
# Scenario `504-timer-outlives-request`: the handler arms a 200 ms timer and answers at once.

# %% [markdown] zh
# ## 定时器比请求活得久
# 场景 `504-timer-outlives-request`：处理函数挂上一个 200 ms 的定时器，然后立刻响应。

# %% check
report(lua_of("504-timer-outlives-request"), "",
       debug_story("504-timer-outlives-request",
                   ("created timer", "http finalize request", "http request count",
                    "timer expired", "fake")), "",
       error_logs("504-timer-outlives-request"))

# %% [markdown]
# Real nginx finalizes `/t` and brings its count to 0 before `lua ngx.timer expired` is ever
# logged: the request, its pool and its ctx are gone. 200 ms later the timer runs in a
# request that never had a client, with count 1. It still reads `msg`, because an upvalue
# belongs to the Lua VM, not to the request's pool.
#
# ## r->count: the timer is not a reference
# Lesson 5 counted who holds a request. A timer holds nothing. Scenario
# `1172-timer-50ms-entry-sleeps-100ms` arms a 50 ms timer and then sleeps 100 ms. Below is
# every change of a count or of the timer tree, in the model (`timer1@50` is the timer, due
# at 50 ms; `entry@100` is the request's sleep):

# %% [markdown] zh
# 真实的 nginx 先结束了 `/t`，把它的引用计数减到 0，之后才打出 `lua ngx.timer expired`：这时请求、它的内存池和请求上下文都已经没有了。200 ms 后，定时器在一个从来没有客户端的请求里运行，引用计数是 1。它仍然能读到 `msg`，因为 upvalue 属于 Lua 虚拟机，而不属于请求的内存池。
#
# ## r->count：定时器不算引用
# 第 5 课数过谁持有一个请求。定时器什么都不持有。场景 `1172-timer-50ms-entry-sleeps-100ms` 挂上一个 50 ms 的定时器，然后 sleep 100 ms。下面列出模型里每一次引用计数或定时器树的变化（`timer1@50` 是 50 ms 到期的定时器，`entry@100` 是请求的 sleep）：

# %% check
res1172, _, _ = replay("1172-timer-50ms-entry-sleeps-100ms")
report(counts(res1172), "",
       debug_story("1172-timer-50ms-entry-sleeps-100ms",
                   ("created timer", "count", "finalize", "expired")))

# %% [markdown]
# `/t` goes to 2 only when the content handler parks for its sleep
# (`content_run_posted_threads`, lesson 5), and back to 1 with `finalize_request(r, NGX_DONE)`.
# The timer appears in the tree and in nothing else. `fake1` lives from 50 ms to 50 ms: it is
# created with count 1, ends with count 0, and `/t` never notices.
#
# ## Predict: where does a timer's `ngx.say` go?
# Scenario `1176-timer-say-without-pcall`:

# %% [markdown] zh
# `/t` 只有在 content 处理函数为了 sleep 停下等待时才变成 2（`content_run_posted_threads`，第 5 课），再由 `finalize_request(r, NGX_DONE)` 减回 1。定时器只出现在定时器树里，别处都没有它。`fake1` 在 50 ms 时创建、也在 50 ms 时结束：创建时计数为 1，结束时为 0，`/t` 对此毫无察觉。
#
# ## 预测：定时器里的 `ngx.say` 输出到哪里？
# 场景 `1176-timer-say-without-pcall`：

# %%
print(lua_of("1176-timer-say-without-pcall"))

# %% predict
Predict("The client asked for <code>/t</code>. 50 ms later the timer calls "
        "<code>ngx.say(\"hello from the timer\")</code>, without <code>pcall</code>. "
        "What happens?",
        ["the text goes to the client, after \"ok\"",
         "nothing: the fake request has no client, so the text is dropped",
         "a Lua error: API disabled in the context of ngx.timer",
         "the text is written to the error log"],
        "a Lua error: API disabled in the context of ngx.timer",
        "ngx_http_lua_ngx_echo (ngx_http_lua_output.c) starts with ngx_http_lua_check_context: "
        "output is allowed in rewrite, access and content only, not in "
        "NGX_HTTP_LUA_CONTEXT_TIMER. The error aborts the timer's entry thread, so "
        "\"after ngx.say\" is never logged. The fake request is finalized with 500, which "
        "is only a number: there is no client. The real client got \"ok\" 50 ms earlier.")

# %% predict zh
Predict("客户端请求 <code>/t</code>。50 ms 后，定时器调用 "
        "<code>ngx.say(\"hello from the timer\")</code>，没有用 <code>pcall</code>。会发生什么？",
        ["文本发给客户端，跟在 \"ok\" 后面",
         "什么都不发生：假请求没有客户端，文本被丢掉",
         "一个 Lua 错误：API disabled in the context of ngx.timer",
         "文本被写进错误日志"],
        "一个 Lua 错误：API disabled in the context of ngx.timer",
        "ngx_http_lua_ngx_echo（ngx_http_lua_output.c）一开头就调用 ngx_http_lua_check_context："
        "输出只允许在 rewrite、access、content 这三个上下文里，不包括 "
        "NGX_HTTP_LUA_CONTEXT_TIMER。这个错误使定时器的入口线程中止，所以 \"after ngx.say\" "
        "永远不会打出来。假请求以 500 结束，但这只是一个数字：根本没有客户端。"
        "真正的客户端早在 50 ms 前就收到了 \"ok\"。")

# %% check answer
report(error_logs("1176-timer-say-without-pcall"), "",
       debug_story("1176-timer-say-without-pcall", ("expired", "resume returned", "fake")))

# %% [markdown]
# `lua resume returned 2` is `LUA_ERRRUN`. The fake request is finalized with 500 and closed
# like any other. Scenario 508 tries the other output and request APIs under `pcall`. The ones
# implemented in C (`say`, `print`, `flush`, `send_headers`, `read_body`, `capture`, `exec`,
# `redirect`) all refuse with the same words. `ngx.req.get_headers` goes through
# lua-resty-core's FFI and gets a different refusal, `API disabled in the current context`.
# `ngx.sleep`, cosockets, semaphores, light threads, `ngx.log` and `ngx.timer.at` itself all
# work in a timer. To get a result from a timer to a client, you need a place both can reach:
# a shared dict, or a semaphore (a later lesson).

# %% [markdown] zh
# `lua resume returned 2` 就是 `LUA_ERRRUN`。假请求以 500 结束，照常关闭。场景 508 在 `pcall` 里试了其他输出类和请求类 API：C 实现的那些（`say`、`print`、`flush`、`send_headers`、`read_body`、`capture`、`exec`、`redirect`）都用同一句话拒绝。`ngx.req.get_headers` 走的是 lua-resty-core 的 FFI，拒绝的说法不同：`API disabled in the current context`。`ngx.sleep`、cosocket、信号量、轻线程、`ngx.log` 以及 `ngx.timer.at` 本身在定时器里都能用。想把定时器的结果交给客户端，需要一个双方都能访问的地方：共享字典（shared dict），或者信号量（后面的课）。

# %% check
report(error_logs("508-timer-disabled-apis"), "", error_logs("517-timer-ctx-fresh"))

# %% [markdown]
# ## Zero delay, deadlines, ties
# This build has no "delayed events" patch, so `ngx.timer.at(0, f)` goes into nginx's timer
# red-black tree like any other timer. It fires in the next `ngx_event_expire_timers`, which
# the event loop (`ngx_process_events_and_timers`) calls only after the current handler has
# returned or yielded. Timers fire in deadline order. Two timers with the same deadline (in
# ms) fire in the order they were armed: `ngx_rbtree_insert_timer_value` (`core/ngx_rbtree.c`)
# puts an equal key to the right. Three recordings:
#
# * 501: a 0 ms timer made by a handler that never yields runs after the request has ended;
# * 531: three 0 ms timers and an `ngx.sleep(0)` fire in the order they were armed;
# * 503: five timers armed out of order fire by deadline, and the tie D1/D2 in creation order.

# %% [markdown] zh
# ## 0 延时、到期时间与并列
# 这个构建没有打 "delayed events" 补丁，所以 `ngx.timer.at(0, f)` 和其他定时器一样进入 nginx 的定时器红黑树。它在下一次 `ngx_event_expire_timers` 时触发，而事件循环（`ngx_process_events_and_timers`）要等当前的处理函数返回或阻塞之后才会调用它。定时器按到期时间先后触发；到期时间（毫秒）相同的两个，按挂上的先后触发：`ngx_rbtree_insert_timer_value`（`core/ngx_rbtree.c`）把相等的键放在右边。三个录制结果：
#
# * 501：处理函数从不阻塞，它挂上的 0 ms 定时器在请求结束之后才运行；
# * 531：三个 0 ms 定时器和一个 `ngx.sleep(0)`，按挂上的顺序触发；
# * 503：五个定时器不按顺序挂上，按到期时间触发，并列的 D1、D2 按创建顺序。

# %% check
report(error_logs("501-timer-zero-delay-after-request"), "",
       error_logs("531-timer-zero-several"), "",
       error_logs("503-timer-order"))

# %% [markdown]
# ## Tweak: the timer's delay against the request's sleep
# The same handler four times: it arms a timer, logs `before sleep`, sleeps 100 ms, logs
# `after sleep` and answers. Only the timer's delay changes. Each position was run by real
# nginx (scenarios 1175, 1172, 1173, 1174). The view shows its error log, the model's verdict,
# and the model's timeline: the timer's coroutine `timer1` gets a lane of its own.

# %% [markdown] zh
# ## 调一调：定时器的延时与请求的 sleep
# 同一个处理函数跑四次：挂上一个定时器，打出 `before sleep`，sleep 100 ms，打出 `after sleep` 并响应。变的只有定时器的延时。每一档都由真实的 nginx 跑过（场景 1175、1172、1173、1174）。画面显示它的错误日志、模型的结论，以及模型的时间线：定时器的协程 `timer1` 有自己的一条泳道。

# %%
TWEAK = {"0 ms": "1175-timer-0ms-entry-sleeps-100ms",
         "50 ms": "1172-timer-50ms-entry-sleeps-100ms",
         "100 ms": "1173-timer-100ms-entry-sleeps-100ms",
         "200 ms": "1174-timer-200ms-entry-sleeps-100ms"}


def race(delay):
    res, _, _ = replay(TWEAK[delay])
    return pre(error_logs(TWEAK[delay]) + "\n\n" + counts(res)) + timeline_svg(res.snapshots)


Tweak(T["delay"], list(TWEAK), race, index=1)

# %% [markdown]
# At 0 and 50 ms the timer runs while the entry sleeps. At 100 ms both deadlines are the same
# millisecond, and the timer, armed first, runs first. At 200 ms the request has already
# answered and been freed, as in scenario 504. In all four, `/t`'s count is the same.
#
# ## Step through it
# Scenario 1172 in the stepper. At 50 ms a second request box appears: the fake request,
# context `ngx.timer`, count 1, with `timer1` as its entry thread. It is freed at 50 ms too,
# while `/t` still sleeps. The graph draws the pending timers with their deadlines.

# %% [markdown] zh
# 0 ms 和 50 ms 时，定时器在入口线程 sleep 期间运行。100 ms 时两个到期时间落在同一毫秒，先挂上的定时器先运行。200 ms 时请求早已响应并被释放，和场景 504 一样。四种情况下 `/t` 的引用计数变化完全相同。
#
# ## 单步执行
# 在步进器里看场景 1172。到 50 ms 时会出现第二个请求框：假请求，上下文是 `ngx.timer`，引用计数为 1，入口线程是 `timer1`。它同样在 50 ms 时就被释放了，而 `/t` 还在 sleep。图里画出了待触发的定时器和它们的到期时间。

# %%
ngxcoro.show(*scenario("1172-timer-50ms-entry-sleeps-100ms")[:2])

# %% [markdown]
# ## premature: only when the worker exits
# `premature` is 0 in every timer ctx, and only one function sets it:
# `ngx_http_lua_abort_pending_timers` (`ngx_http_lua_timer.c`). The first `ngx.timer.at` of a
# worker makes a **watcher**, a fake connection that is marked idle and has this function as
# its read handler. On `nginx -s quit` (or the old worker of a reload), nginx sets
# `ngx_exiting` and calls `ngx_close_idle_connections`, which calls the watcher's handler.
# The handler walks the timer tree, takes every lua timer out of it, sets `premature = 1`,
# and calls `ngx_http_lua_timer_handler` on each **at once**, in tree order (= deadline
# order). A timer never waits for its delay once the worker is exiting. Two recordings with
# `nginx -s quit` at 0.3 s and 0.25 s:

# %% [markdown] zh
# ## premature：只在 worker 退出时为真
# 每个定时器上下文里的 `premature` 初始都是 0，只有一个函数会设置它：`ngx_http_lua_abort_pending_timers`（`ngx_http_lua_timer.c`）。worker 里第一次调用 `ngx.timer.at` 时会创建一个 **watcher**：一个标记为空闲（idle）的假连接，它的读事件处理函数就是这个函数。`nginx -s quit` 时（或者 reload 时的旧 worker），nginx 设置 `ngx_exiting` 并调用 `ngx_close_idle_connections`，后者调用 watcher 的读事件处理函数。这个函数遍历定时器树，取出其中所有的 lua 定时器，设置 `premature = 1`，按树的顺序（即到期时间顺序）**立即**逐个调用 `ngx_http_lua_timer_handler`。worker 一旦开始退出，定时器就不再等延时。两个录制结果，分别在 0.3 s 和 0.25 s 时执行 `nginx -s quit`：

# %% check
report(lua_of("780-quit-timer-at-premature"), "", error_logs("780-quit-timer-at-premature"),
       "", error_logs("786-quit-timers-expiry-order"))

# %% [markdown]
# In 780 the timer was due at 2 s but ran at 0.3 s with `premature=true`. In 786 the 0.1 s
# timer had already run normally, and the four others ran at the quit in deadline order (the
# `every` timer is not re-armed). A callback that does real work should start with
# `if premature then return end`, or do only a short clean-up. The worker waits for it
# before it exits.
#
# ## What to remember
# * `ngx.timer.at` arms an nginx timer and returns 1; the caller does not yield, and the
#   request's `r->count` does not change.
# * The callback runs as the entry thread of a fake request on a fake connection, with
#   count 1, a new ctx and a fresh `ngx.ctx`, in the `ngx.timer` context.
# * Output APIs raise `API disabled in the context of ngx.timer`; there is no client.
# * Order: deadline, then creation order; 0 ms timers wait until the handler yields or returns.
# * `premature` is true only when the worker exits, and then every pending timer runs at once.
#
# **Next:** [11 · Cosockets](11-cosockets.ipynb): a socket's read event resumes the coroutine.

# %% [markdown] zh
# 780 里的定时器本该在 2 s 时到期，却在 0.3 s 时以 `premature=true` 运行了。786 里 0.1 s 的定时器已经正常跑过，其余四个在 quit 时按到期时间顺序运行（`every` 定时器不再重新挂上）。做实际工作的回调应当以 `if premature then return end` 开头，或者只做很短的收尾：worker 要等它跑完才退出。
#
# ## 要点
# * `ngx.timer.at` 挂上一个 nginx 定时器并返回 1；调用者不会阻塞，请求的 `r->count` 不变。
# * 回调作为假请求的入口线程在假连接上运行：引用计数为 1，新的请求上下文，新的 `ngx.ctx`，上下文是 `ngx.timer`。
# * 输出类 API 会抛出 `API disabled in the context of ngx.timer`：根本没有客户端。
# * 顺序：先看到期时间，再看创建顺序；0 ms 定时器要等处理函数阻塞或返回后才运行。
# * `premature` 只在 worker 退出时为真，那时所有待触发的定时器立即运行。
#
# **下一课：** [11 · cosocket](11-cosockets.ipynb)：套接字的读事件如何恢复协程。
