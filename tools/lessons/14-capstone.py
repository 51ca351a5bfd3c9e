# %% [markdown]
# # 14 · Capstone: debug a real ordering bug
#
# Everything so far in one handler. A location answers with a price quote. It asks a quote
# service over a cosocket, and it has a deadline: if the service has not answered within
# 100 ms, the handler answers with the cached quote. A background timer writes an audit
# line. A developer wrote it with a light thread and a semaphore, and it passed review.
# In production, two complaints came in:
#
# 1. when the service is slow, the answer says `(timeout)` but still takes as long as the
#    service does, and a second line, `fetcher: stored ...`, appears *after* it;
# 2. the audit log always says `served cached`, even when the client got a fresh quote.
#
# You will predict what the program prints, find **why** in the stepper (the posted
# threads, the timer's fake request, the read event, the semaphore's posted event,
# `r->count`), fix it, and check both versions against what real nginx answered. The last
# section turns three lines of the C around, to see what nginx would break if it did
# otherwise.
#
# **Previous:** [13 · Semaphores](13-semaphores.ipynb) · **Next:** none, this is the last
# lesson: go back to [0 · A tour](00-tour.ipynb) or try your own code in
# [8 · Lab](08-lab.ipynb).

# %% [markdown] zh
# # 14 · 综合练习：调试一个真实的顺序 bug
#
# 把前面学过的东西放进同一个处理函数。一个 location 返回商品报价：它通过 cosocket 去问报价服务，并且有一个截止时间：如果服务在 100 ms 内没有回答，就用缓存里的报价来响应。另外还有一个后台定时器写一行审计日志。开发者用一个轻线程加一个信号量写完了它，代码评审也通过了。上线之后收到两个投诉：
#
# 1. 报价服务慢的时候，响应里写着 `(timeout)`，却还是要等到服务回答才结束，而且在它*后面*多出一行 `fetcher: stored ...`；
# 2. 审计日志永远是 `served cached`，即使客户端拿到的是新的报价。
#
# 你会先预测这个程序输出什么，再用步进器找出**原因**（`posted_threads`、定时器的假请求、读事件、信号量投递的事件（posted event）、`r->count`），然后修好它，并把两个版本都和真实 nginx 的回答对照。最后一节把 C 代码里的三行反过来改，看看如果 nginx 不这样做会坏掉什么。
#
# **上一课：** [13 · 信号量](13-semaphores.ipynb) · **下一课：** 没有了，这是最后一课：可以回到 [0 · ngxcoro 导览](00-tour.ipynb)，或者在 [8 · 实验：你的 Lua、模型与真实 nginx](08-lab.ipynb) 里试试你自己的代码。

# %%
import re
import sys

import ngxcoro
from ngxcoro.nginx.core import rc_name
from ngxcoro.viz.lessons import BlogBox, Predict, Tweak, pre, scenario, scenario_info

# %% zh
import re
import sys

import ngxcoro
from ngxcoro.nginx.core import rc_name
from ngxcoro.viz import set_language
from ngxcoro.viz.lessons import BlogBox, Predict, Tweak, pre, scenario, scenario_info

set_language("zh")

# %% [markdown]
# The words the printouts below use (the code that prints them is shared by both languages):

# %% [markdown] zh
# 下面的输出用到的文字（打印它们的代码两种语言共用）：

# %%
W = {
    "spawn": "{parent} spawns {child}; {child} runs first",
    "timer": "{who} arms a {delay} ms timer for {co}",
    "wait": "{co} waits on {sem} (deadline {ms} ms)",
    "fired": "the timer fires: {co} runs in a fake request",
    "read": "read event on the socket: {co} resumes",
    "post": "{who} posts {sem}: {waiters} waiting",
    "post event": "its event is posted, nobody resumes yet",
    "post keep": "the resource is kept, nobody to wake",
    "wake": "the posted event of {sem} runs: {co} resumes",
    "timeout": "{co}'s wait on {sem} times out: false, \"timeout\"",
    "ends": "{co} ends",
    "ends alive": "{co} ends; {n} light thread(s) alive: the request stays open",
    "last": "the last buf goes out: the response is complete",
    "say": "{who} says {text!r}",
    "log": "{who} logs {text!r}",
    "nginx": "real nginx's debug log, the same moments:",
    "body": "body",
    "audit": "audit",
    "done at": "response complete at",
    "recorded": "recorded on real nginx",
    "not recorded": "model only",
    "buggy": "buggy (light thread)",
    "fixed": "fixed (timer)",
    "peer": "peer answers after",
    "agree": "agree",
    "real": "nginx",
    "model": "model",
    "what-if": "what-if",
    "count end": "r->count at the end",
    "hung": "(no complete response: the client waits)",
    "sep": "; ",
    "entry end nginx": "real nginx, from the entry thread's say at 100 ms (T1 is the entry thread):",
    "entry end model": "the model, the same moment: run_thread returned",
    "freed": "the request is freed",
    "leaked": "the request is never freed",
    "1170": "scenario 1170: two light threads that coroutine.yield in turns",
    "1171": "scenario 1171: a light thread sleeps, then ngx.exec(\"/other\")",
    "same as recording": "the model without the switch = the recording",
}

# %% zh
W = {
    "spawn": "{parent} 创建 {child}；{child} 先运行",
    "timer": "{who} 添加一个 {delay} ms 的定时器，回调是 {co}",
    "wait": "{co} 在 {sem} 上等待（截止 {ms} ms）",
    "fired": "定时器到期：{co} 在一个假请求里运行",
    "read": "套接字上的读事件：{co} 恢复运行",
    "post": "{who} 对 {sem} 执行 post：{waiters} 个等待者",
    "post event": "它的事件被投递，此刻没有谁恢复运行",
    "post keep": "资源留着，没有可以唤醒的",
    "wake": "{sem} 投递的事件运行：{co} 恢复运行",
    "timeout": "{co} 在 {sem} 上的等待超时：false, \"timeout\"",
    "ends": "{co} 结束",
    "ends alive": "{co} 结束；还有 {n} 个轻线程活着：请求保持打开",
    "last": "最后一个 buf 发出：响应完成",
    "say": "{who} 输出 {text!r}",
    "log": "{who} 记录日志 {text!r}",
    "nginx": "真实 nginx 的调试日志，同样的几个时刻：",
    "body": "响应体",
    "audit": "审计",
    "done at": "响应完成于",
    "recorded": "真实 nginx 录制过",
    "not recorded": "只有模型",
    "buggy": "有 bug（轻线程）",
    "fixed": "修好（定时器）",
    "peer": "对端回答用时",
    "agree": "一致",
    "real": "nginx",
    "model": "模型",
    "what-if": "假设",
    "count end": "结束时的 r->count",
    "hung": "（没有完整的响应：客户端一直在等）",
    "sep": "；",
    "entry end nginx": "真实 nginx，从入口线程在 100 ms 时的 say 开始（T1 是入口线程）：",
    "entry end model": "模型，同一时刻：run_thread 返回",
    "freed": "请求被释放",
    "leaked": "请求永远不会被释放",
    "1170": "场景 1170：两个轻线程轮流 coroutine.yield",
    "1171": "场景 1171：轻线程先 sleep，再 ngx.exec(\"/other\")",
    "same as recording": "不打开开关的模型 = 录制结果",
}

# %%
def report(*lines):
    """Print the lines as one block (a single write keeps the saved output byte-stable)."""
    sys.stdout.write("\n".join(map(str, lines)) + "\n")


def story(res):
    """The moments that decide the order, one line each: time, then what happens."""
    rows, shown, logs, who = [], "", 0, "nginx"
    for s in res.snapshots:
        e, d = s["event"], s["data"]
        who = d["co"] if e == "run_thread" else s["executing"] or who
        ctx = (s["requests"][0]["ctx"] or {}) if s["requests"] else {}
        line = None
        if e == "user_thread_spawn":
            line = W["spawn"].format(**d)
        elif e == "timer_create":
            line = W["timer"].format(who=who, **d)
        elif e == "sema_wait":
            wait_ms = d["ms"]
        elif e == "sema_wait_yield":
            line = W["wait"].format(ms=wait_ms, **d)
        elif e == "timer_fired":
            line = W["fired"].format(**d)
        elif e == "sock_wake" and d["side"] == "read":
            line = W["read"].format(**d)
        elif e == "sema_post":
            line = (W["post"].format(who=who, **d) + W["sep"]
                    + W["post event" if d["waiters"] else "post keep"])
        elif e == "sema_wake":
            line = W["wake"].format(**d)
        elif e == "sema_timeout":
            line = W["timeout"].format(**d)
        elif e == "thread_ended" and not d["co"].startswith("timer"):
            alive = ctx.get("uthreads", 0)
            line = (W["ends alive"].format(co=d["co"], n=alive) if d["co"] == "entry" and alive
                    else W["ends"].format(**d))
        elif e == "send_last_buf":
            line = W["last"]
        if line:
            rows.append(f"{s['t_ms']:>4} ms  {line}")
        out = s["output"]["sent"] + s["output"]["held"]
        if len(out) > len(shown):
            for text in out[len(shown):].splitlines():
                rows.append(f"{s['t_ms']:>4} ms    {W['say'].format(who=who, text=text)}")
            shown = out
        for entry in res.error_log[logs:s["log_lines"]]:
            text = audit([entry])[0]
            rows.append(f"{s['t_ms']:>4} ms    {W['log'].format(who=who, text=text)}")
        logs = max(logs, s["log_lines"])
    return "\n".join(rows)


KEY_LINES = ("TIMER 0", "SEMA_WAIT", "TIMER_EXPIRED", "SOCK_WAKE read", "SEMA_POST",
             "SEMA_HANDLER", "SAY", "LAST_BUF")


def nginx_moments(rec):
    """The recording's debug lines for the same moments (nginx writes no times)."""
    keep = [l for l in rec["debug"] if l.startswith(KEY_LINES)]
    return W["nginx"] + "\n  " + " · ".join(keep)


def run_scenario(name, **kw):
    text, info, rec = scenario_info(name)
    res = ngxcoro.run(text, info["request"], peers=info["peers"], log_level="warn",
                      snapshots=True, **kw)
    return text, info, rec, res


def audit(error_log):
    """The messages of the Lua log lines (the model's lines, or a recording's)."""
    return [re.search(r"\[lua\] \S+: (.*?)(?:, (?:context|client)|$)", l).group(1)
            for l in error_log]


def outcome(res, rec):
    """Two lines: the model's status, body and audit, then the recording's."""
    return (f"{W['model']}: {res.status} {res.body!r}  {W['audit']}: {audit(res.error_log)}",
            f"{W['real']}:  {rec['status']} {rec['body']!r}  {W['audit']}: "
            f"{audit(rec['error_log'])}")

# %% [markdown]
# ## The program
# Scenario `1200-capstone-buggy-slow-peer`. The peer (a scripted server, `ngxcoro/peers.py`)
# reads one line, waits 150 ms, answers `42.0` and closes.

# %% [markdown] zh
# ## 程序
# 场景 `1200-capstone-buggy-slow-peer`。对端是一个脚本化的服务器（`ngxcoro/peers.py`）：读一行，等 150 ms，回答 `42.0`，然后关闭连接。

# %%
buggy, request, rec_slow = scenario("1200-capstone-buggy-slow-peer")
_, buggy_info, _ = scenario_info("1200-capstone-buggy-slow-peer")
print(buggy_info["peers"][0])
print(buggy.split("\n\n", 1)[1])

# %% [markdown]
# The plan: the light thread fetches, stores `quote`, and `sema:post(1)` hands it over; the
# entry thread waits at most 100 ms for the post, says the quote, and is done. The timer
# logs what was served.
#
# ## Predict

# %% [markdown] zh
# 作者的设想：轻线程去取报价，存进 `quote`，再用 `sema:post(1)` 把它交出去；入口线程最多等 100 ms，等到 post 就输出报价，然后结束。定时器把返回给客户端的报价记进日志。
#
# ## 预测

# %% predict
Predict("The service answers after 150 ms. What body does the client get, and when is the "
        "response complete?",
        ["<code>quote: 42.0</code>, complete at 150 ms",
         "<code>quote: cached (timeout)</code>, complete at 100 ms",
         "<code>quote: cached (timeout)</code> then <code>fetcher: stored 42.0</code>, "
         "complete at 150 ms",
         "<code>fetcher: stored 42.0</code> then <code>quote: 42.0</code>, complete at 150 ms"],
        "<code>quote: cached (timeout)</code> then <code>fetcher: stored 42.0</code>, "
        "complete at 150 ms",
        "The wait times out at 100 ms and the entry thread ends, but the request lives as "
        "long as a light thread does: the fetcher is still reading. At 150 ms it stores the "
        "quote, posts to nobody, says its line into the same response, and only its end "
        "completes the response.")

# %% predict zh
Predict("报价服务 150 ms 后才回答。客户端收到的响应体是什么？响应在什么时候完成？",
        ["<code>quote: 42.0</code>，150 ms 时完成",
         "<code>quote: cached (timeout)</code>，100 ms 时完成",
         "<code>quote: cached (timeout)</code>，然后是 <code>fetcher: stored 42.0</code>，"
         "150 ms 时完成",
         "<code>fetcher: stored 42.0</code>，然后是 <code>quote: 42.0</code>，150 ms 时完成"],
        "<code>quote: cached (timeout)</code>，然后是 <code>fetcher: stored 42.0</code>，"
        "150 ms 时完成",
        "等待在 100 ms 时超时，入口线程结束了；但只要还有轻线程活着，请求就不会结束，而 fetcher "
        "还在读。到 150 ms 它存下报价，post 时没有等待者，又把自己那一行输出到同一个响应里，"
        "直到它结束，响应才完成。")

# %% [markdown]
# The model's run, moment by moment (the indented lines are what reaches the client or the
# error log), and the recording of real nginx:

# %% [markdown] zh
# 模型的运行过程，一个时刻一行（缩进的行是发给客户端或写进错误日志的内容），下面是真实 nginx 的录制：

# %% check answer
_, _, rec_slow, slow = run_scenario("1200-capstone-buggy-slow-peer")
report(story(slow), "", *outcome(slow, rec_slow), nginx_moments(rec_slow))

# %% [markdown]
# ## Find why: step through it
# Press "next" through the run and keep an eye on five places of the picture: the
# request's `posted_threads` and `r->count`, the timers, the socket and the semaphore.
# `t1` is the fetcher, `timer1` the audit callback.

# %% [markdown] zh
# ## 找原因：单步执行
# 一步一步往下走，盯住画面里的五个地方：请求的 `posted_threads` 和 `r->count`、定时器、套接字和信号量。`t1` 是 fetcher，`timer1` 是审计回调。

# %%
ngxcoro.show(buggy, request, peers=buggy_info["peers"])

# %% [markdown]
# What the steps show, in the order they happen:
#
# 1. **Spawn.** `ngx_http_lua_uthread_spawn` (`ngx_http_lua_uthread.c`) appends the entry
#    thread to `posted_threads` and runs `t1` first. `t1`'s connect gets `EINPROGRESS`
#    (`ngx_http_lua_socket_tcp_connect`, `ngx_http_lua_socket_tcp.c`) and yields, so
#    `ngx_http_lua_content_run_posted_threads` pops the entry (lessons 2 and 3).
# 2. **The timer.** `ngx.timer.at(0, ...)` (`ngx_http_lua_ngx_timer_helper`,
#    `ngx_http_lua_timer.c`) only adds a 0 ms timer. The loop expires it on its next turn,
#    as soon as this handler has yielded. `ngx_http_lua_timer_handler` then builds a fake
#    connection and a fake request and runs the callback. `quote` is still `"cached"`.
#    **Complaint 2:** a 0 ms timer means "on the loop's next turn", not "after the request".
# 3. **The wait.** `ngx_http_lua_ffi_sema_wait` (`ngx_http_lua_semaphore.c`) finds no
#    resource. It queues the entry on the semaphore, arms its 100 ms timer and yields. The
#    content phase parks the request: `r->count` goes 1 → 2 → 1 (lesson 5).
# 4. **100 ms.** `ngx_http_lua_sema_timeout_handler` resumes the entry with
#    `false, "timeout"`. It says its line and ends. But `ngx_http_lua_run_thread` returns
#    `NGX_AGAIN` when the entry thread ends while `ctx->uthreads` is not 0, so the request
#    waits for its light threads (lesson 6). **Complaint 1:** the deadline never limited the
#    response, only the entry thread.
# 5. **150 ms.** The peer's bytes fire the socket's read event
#    (`ngx_http_lua_socket_tcp_handler` → `ngx_http_lua_socket_read_handler`), and
#    `ngx_http_lua_socket_tcp_read_resume` resumes `t1`. It posts to a semaphore nobody waits
#    on (the resource is just kept), says `fetcher: stored 42.0` into the same response, and
#    ends. It was the last thread, so now the response is complete.
#
# The recording above has the same moments in the same order: `TIMER_EXPIRED` before any
# socket wake, the first `SAY` on its own, then `SOCK_WAKE read`, `SEMA_POST`, the second
# `SAY`, and `LAST_BUF`. Step 4 is the one that matters most. Here it is in real nginx's
# debug log: the entry thread ends, and `run_thread` still returns `NGX_AGAIN` (-2).

# %% [markdown] zh
# 按发生的顺序，步进器里能看到：
#
# 1. **spawn。** `ngx_http_lua_uthread_spawn`（`ngx_http_lua_uthread.c`）把入口线程投递到 `posted_threads` 的尾部，先运行 `t1`。`t1` 的 connect 得到 `EINPROGRESS`（`ngx_http_lua_socket_tcp_connect`，`ngx_http_lua_socket_tcp.c`），于是阻塞；`ngx_http_lua_content_run_posted_threads` 从链表里取出入口线程继续运行（第 2、3 课）。
# 2. **定时器。** `ngx.timer.at(0, ...)`（`ngx_http_lua_ngx_timer_helper`，`ngx_http_lua_timer.c`）只是添加了一个 0 ms 的定时器。事件循环在下一轮才让它到期，那时这个处理函数已经停下等待了。`ngx_http_lua_timer_handler` 接着创建假连接和假请求，运行回调，而这时 `quote` 还是 `"cached"`。**投诉 2：** 0 ms 的定时器意思是“事件循环的下一轮”，而不是“请求结束之后”。
# 3. **等待。** `ngx_http_lua_ffi_sema_wait`（`ngx_http_lua_semaphore.c`）发现没有资源，把入口线程排进信号量的等待队列，设好 100 ms 的超时定时器，然后阻塞。content 阶段让请求停下等待：`r->count` 经历 1 → 2 → 1（第 5 课）。
# 4. **100 ms。** `ngx_http_lua_sema_timeout_handler` 以 `false, "timeout"` 恢复入口线程。它输出自己的那一行然后结束。但是入口线程结束时如果 `ctx->uthreads` 不为 0，`ngx_http_lua_run_thread` 返回 `NGX_AGAIN`，请求要等它的轻线程（第 6 课）。**投诉 1：** 这个截止时间限制的只是入口线程，从来没有限制住响应。
# 5. **150 ms。** 对端发来的数据触发套接字的读事件（`ngx_http_lua_socket_tcp_handler` → `ngx_http_lua_socket_read_handler`），`ngx_http_lua_socket_tcp_read_resume` 恢复 `t1`。它对一个没有等待者的信号量 post（资源只是留着），把 `fetcher: stored 42.0` 输出到同一个响应里，然后结束。它是最后一个线程，响应这时才完成。
#
# 上面的录制里是同样的几个时刻，顺序也一样：`TIMER_EXPIRED` 在任何套接字唤醒之前，第一个 `SAY` 单独出现，然后是 `SOCK_WAKE read`、`SEMA_POST`、第二个 `SAY` 和 `LAST_BUF`。最关键的是第 4 步，下面是它在真实 nginx 调试日志里的样子：入口线程结束了，`run_thread` 却仍然返回 `NGX_AGAIN`（-2）。

# %% check
def after_first_say(rec):
    """The recording's debug lines from the first SAY to the next RUN_RETURNED."""
    i = rec["debug"].index("SAY")
    j = next(k for k in range(i, len(rec["debug"])) if rec["debug"][k].startswith("RUN_RET"))
    return " · ".join(rec["debug"][i:j + 1])


returned = [s["data"]["rc"] for s in slow.snapshots
            if s["event"] == "run_thread_returned" and s["t_ms"] == 100]
report(W["entry end nginx"], "  " + after_first_say(rec_slow),
       f"{W['entry end model']} {', '.join(rc_name(rc) for rc in returned)}")

# %% [markdown]
# The seed says the same, in its list of the cases where `run_thread` answers `NGX_AGAIN`:

# %% [markdown] zh
# 种子博客在列举 `run_thread` 返回 `NGX_AGAIN` 的情况时，说的也是这一点：

# %%
BlogBox("run_thread returns NGX_AGAIN when a coroutine yields (ngx.sleep, ngx.socket ...), or "
        "when the parent coroutine and its light threads have not all exited.",
        "Right, and that is complaint 1: the entry thread ended at the 100 ms deadline, but "
        "the fetcher was alive, so `run_thread` answered `NGX_AGAIN` and the response waited "
        "for the peer, then got the fetcher's line too.",
        "1200-capstone-buggy-slow-peer")

# %% zh
BlogBox("协程 yield（ngx.sleep、ngx.socket 等）时，或者父协程和它的一个或多个 light thread "
        "没有全部退出时，ngx_http_lua_run_thread 返回 NGX_AGAIN。",
        "没错，这正是投诉 1：入口线程在 100 ms 的截止时间结束了，但 fetcher 还活着，所以 "
        "`run_thread` 返回 `NGX_AGAIN`，响应一直等到对端回答，还多了 fetcher 的那一行。",
        "1200-capstone-buggy-slow-peer")

# %% [markdown]
# ## A fast service: the order flips
# Scenario `1201-capstone-buggy-fast-peer` is the same program with a peer that answers after
# 50 ms, inside the deadline. Now the fetcher's line comes **first**, although its
# `sema:post` ran before its `ngx.say`. `ngx_http_lua_ffi_sema_post` resumes nobody: with a
# waiter in the queue it adds the resource and calls `ngx_post_event` on the semaphore's
# event. The poster goes on until it yields or ends. Only then, later in the same loop turn,
# `ngx_http_lua_sema_handler` runs and wakes the head of the queue through
# `ngx_http_lua_sema_resume`, in the waiter's own request.

# %% [markdown] zh
# ## 服务很快时：顺序反过来了
# 场景 `1201-capstone-buggy-fast-peer` 是同一个程序，对端 50 ms 就回答，在截止时间之内。这时 fetcher 的那一行反而在**前面**，虽然它的 `sema:post` 是在 `ngx.say` 之前调用的。`ngx_http_lua_ffi_sema_post` 不会恢复任何协程：队列里有等待者时，它加上资源，然后对信号量的事件调用 `ngx_post_event`。发布者继续运行，直到它阻塞或者结束。之后，在同一轮事件循环的稍后位置，`ngx_http_lua_sema_handler` 才运行，通过 `ngx_http_lua_sema_resume` 在等待者自己的请求里唤醒队首的协程。

# %% check
_, _, rec_fast, fast = run_scenario("1201-capstone-buggy-fast-peer")
report(story(fast), "", *outcome(fast, rec_fast), nginx_moments(rec_fast))

# %% [markdown]
# ## The fix
# Three changes, each from a mechanism of the earlier lessons:
#
# * **The fetch goes into a timer.** Its callback runs in a fake request that has a count of
#   its own (the timers lesson, 10). The client's request has no light thread, so when the entry thread
#   ends, `run_thread` returns `NGX_OK` and the response is complete, after 100 ms at most.
# * **The fetcher logs instead of saying.** In a timer `ngx.say` raises "API disabled in the
#   context of ngx.timer" (scenario 508), and its line does not belong in this response
#   any more anyway.
# * **The audit runs after the wait**, when `quote` holds what was really served.
#
# The semaphore still hands the quote over, now from the fake request to the real one:
# `sema:post` in the timer posts the event, and `ngx_http_lua_sema_handler` resumes the
# entry thread in `/t`. Scenarios 1202 (slow peer) and 1203 (fast peer):

# %% [markdown] zh
# ## 修复
# 改三处，每一处都用到前面某一课讲过的机制：
#
# * **把取报价放进定时器。** 回调运行在一个假请求里，这个假请求有自己的引用计数（讲定时器的第 10 课）。客户端的请求里没有轻线程，所以入口线程一结束，`run_thread` 就返回 `NGX_OK`，响应最多 100 ms 就完成。
# * **fetcher 改成写日志，不再 say。** 在定时器里调用 `ngx.say` 会报错 `API disabled in the context of ngx.timer`（场景 508），何况它那一行本来也不属于这个响应了。
# * **审计放到等待之后**，这时 `quote` 里就是真正返回给客户端的报价。
#
# 信号量仍然负责交接报价，只不过现在是从假请求交给真实请求：定时器里的 `sema:post` 投递事件，`ngx_http_lua_sema_handler` 在 `/t` 里恢复入口线程。场景 1202（对端慢）和 1203（对端快）：

# %%
fixed, _, _ = scenario("1202-capstone-fixed-slow-peer")
print(fixed.split("\n\n", 1)[1])

# %% check
for name in ("1202-capstone-fixed-slow-peer", "1203-capstone-fixed-fast-peer"):
    _, _, rec, res = run_scenario(name)
    report(f"--- {name}", story(res), *outcome(res, rec))

# %% [markdown]
# The fixed program with the fast peer, in the stepper. Watch the second request box (the
# timer's fake request) and the semaphore's posted event between the timer's end and the
# entry thread's resumption.

# %% [markdown] zh
# 修好的程序配上快的对端，放进步进器。注意第二个请求框（定时器的假请求），以及在定时器结束和入口线程恢复之间，信号量投递的事件。

# %%
fixed_fast, _, _ = scenario("1203-capstone-fixed-fast-peer")
ngxcoro.show(fixed_fast, request, peers=scenario_info("1203-capstone-fixed-fast-peer")[1]["peers"])

# %% [markdown]
# ## Tweak: the service's delay
# The slider sets how long the peer waits before it answers; the deadline stays 100 ms. Both
# programs run with that peer. The buggy one changes its *order* at the deadline, and its
# response always ends with the peer. The fixed one ends at the deadline at the latest, and
# its body is always a single line. Only 50 ms and 150 ms were recorded on real nginx
# (scenarios 1200 to 1203); the other positions are the model's.

# %% [markdown] zh
# ## 调一调：服务的延迟
# 滑块设置对端等多久才回答；截止时间始终是 100 ms。两个程序都连这个对端。有 bug 的版本在截止时间两侧输出*顺序*不同，而且它的响应总是和对端同时结束。修好的版本最晚在截止时间结束，响应体永远只有一行。只有 50 ms 和 150 ms 在真实 nginx 上录制过（场景 1200 到 1203），其余位置是模型算出来的。

# %%
def with_delay(ms):
    return f'127.0.0.1:1200 recv-line; wait {ms}; send "42.0\\n"; close'


def done_at(res):
    return next((s["t_ms"] for s in res.snapshots if s["event"] == "send_last_buf"), None)


def delay_view(ms):
    lines = [f"{W['peer']} {ms} ms  ({W['recorded'] if ms in (50, 150) else W['not recorded']})"]
    for label, config in ((W["buggy"], buggy), (W["fixed"], fixed)):
        res = ngxcoro.run(config, request, peers=[with_delay(ms)], log_level="warn",
                          snapshots=True)
        lines += ["", f"{label}:", f"  {W['body']}: {res.body!r}",
                  f"  {W['done at']} {done_at(res)} ms",
                  f"  {W['audit']}: {[a for a in audit(res.error_log) if 'audit' in a]}"]
    return pre("\n".join(lines))

# %%
Tweak("peer delay (ms)", [20, 50, 80, 120, 150, 300], delay_view, index=4)

# %% zh
Tweak("对端延迟（ms）", [20, 50, 80, 120, 150, 300], delay_view, index=4)

# %% [markdown]
# ## What if nginx did otherwise?
# Three lines of the scheduler look like details. `ngxcoro.run(..., what_if=NAME)` turns one
# of them around (`ngxcoro/whatif.py`); such a run is marked "not nginx" in `Result.notes`.
# Each switch below runs on a small program where it matters, next to the real behaviour
# (the model without the switch, which agrees with the recording of real nginx):
#
# * `post-thread-prepends`: `ngx_http_lua_post_thread` (`ngx_http_lua_util.c`) inserts at
#   the head of `posted_threads` instead of appending at the tail (scenario 1170);
# * `no-destroyed-check`: `ngx_http_lua_run_posted_threads` does not test `c->destroyed`
#   (scenario 1171);
# * `no-finalize-done`: `ngx_http_lua_finalize_request(r, NGX_DONE)` is skipped
#   (scenario 1171).

# %% [markdown] zh
# ## 假如 nginx 不这样做？
# 调度器里有三行代码看起来只是细节。`ngxcoro.run(..., what_if=NAME)` 可以把其中一行反过来（`ngxcoro/whatif.py`），这样的运行会在 `Result.notes` 里标明 `not nginx`。下面每个开关都在一个受它影响的小程序上运行，旁边是真实的行为（不打开开关的模型，它和真实 nginx 的录制一致）：
#
# * `post-thread-prepends`：`ngx_http_lua_post_thread`（`ngx_http_lua_util.c`）把协程插到 `posted_threads` 的头部，而不是追加到尾部（场景 1170）；
# * `no-destroyed-check`：`ngx_http_lua_run_posted_threads` 不检查 `c->destroyed`（场景 1171）；
# * `no-finalize-done`：跳过 `ngx_http_lua_finalize_request(r, NGX_DONE)`（场景 1171）。

# %% check
def outcome(res):
    last = res.snapshots[-1]["requests"][0]
    body = " | ".join(res.body.splitlines())
    status = res.status if not res.hung else W["hung"]
    end = W["freed"] if last["freed"] else W["leaked"]
    return f"{status} {body!r}, {W['count end']} {last['count']} ({end})"


rows = []
for switch, name in (("post-thread-prepends", "1170-whatif-posted-order"),
                     ("no-destroyed-check", "1171-whatif-exec-after-sleep"),
                     ("no-finalize-done", "1171-whatif-exec-after-sleep")):
    text, req, rec = scenario(name)
    real = ngxcoro.run(text, req, snapshots=True)
    what = ngxcoro.run(text, req, what_if=switch, snapshots=True)
    agree = (real.status, real.body) == (rec["status"], rec["body"])
    rows += [f"{switch}  ({W[name[:4]]})",
             f"  {W['real']:<8} {outcome(real)}  [{W['same as recording']}: {agree}]",
             f"  {W['what-if']:<8} {outcome(what)}"]
    rows += [f"           {note}" for note in what.notes[1:]]
    rows.append("")
report(*rows)

# %%
BlogBox("If finalize_request(r, NGX_DONE) takes r's count to 0 and ends the request, "
        "c->destroyed is true, and run_posted_threads returns at once.",
        "Right (scenario 1171 on real nginx): after `ngx.exec` from the light thread the "
        "request is freed inside the resume handler, and the loop stops. The what-if "
        "`no-destroyed-check` shows the read of freed memory that this test prevents.",
        "1171-whatif-exec-after-sleep")

# %% zh
BlogBox("如果调用 ngx_http_finalize_request(r, NGX_DONE) 导致 r 的引用计数为 0，请求结束，"
        "此时 c->destroyed 为 true，再调用 ngx_http_lua_run_posted_threads 会直接返回。",
        "没错（场景 1171，真实 nginx）：轻线程里 `ngx.exec` 之后，请求在恢复回调里就被释放了，"
        "循环随即停止。假设开关 `no-destroyed-check` 展示了这个检查挡住的那次对已释放内存的读取。",
        "1171-whatif-exec-after-sleep")

# %% [markdown]
# Why nginx's choice is the right one, each time:
#
# * **Append at the tail.** `posted_threads` is a FIFO, so a thread that yields waits behind
#    every thread that was already waiting. With a head insert, `coroutine.yield()` in a
#    light thread gives nothing away: the thread that yielded is first in the queue again,
#    it runs again, and `a` finishes before `b` or the entry thread gets a turn. A thread
#    that yields in a loop would starve the others forever. Spawn depends on the tail too:
#    the parent waits behind the threads that were queued before it (lesson 2).
# * **Test `c->destroyed` first.** `finalize_request(r, NGX_DONE)` can drop the last
#    reference, and then the request's pool is destroyed, and the Lua ctx and
#    `posted_threads` with it. `ngx_http_close_connection` sets `c->destroyed` on the
#    connection, and connections live in the cycle's preallocated array, so that flag is
#    still safe to read when the request is gone. Without the test the loop reads freed
#    memory: at best nothing happens, at worst it resumes a coroutine of a dead request.
#    The model stops at that read and says so.
# * **Give `NGX_DONE`'s reference back.** `ngx_http_internal_redirect` (inside `ngx.exec`)
#    took one reference, and `NGX_DONE` means "someone else finishes". If nobody calls
#    `finalize_request(r, NGX_DONE)`, `r->count` stops at 1. The response has gone out, but
#    the request, its pool and the connection are never freed, and the client waits for an
#    end that never comes. One leaked connection per request soon uses up
#    `worker_connections`.

# %% [markdown] zh
# 每一处 nginx 的做法为什么是对的：
#
# * **追加到尾部。** `posted_threads` 是先进先出的链表，让出的线程排在所有已经在等的线程后面。如果插到头部，轻线程里的 `coroutine.yield()` 就什么也没让出去：刚让出的线程又排在最前面，马上再次运行，`a` 跑完之前 `b` 和入口线程都轮不到。一个在循环里让出的线程会让其他线程永远饿死。spawn 也依赖尾部追加：父协程排在比它先进链表的线程后面（第 2 课）。
# * **先检查 `c->destroyed`。** `finalize_request(r, NGX_DONE)` 可能释放最后一个引用，这时请求的内存池被销毁，Lua 上下文和 `posted_threads` 也跟着没了。`ngx_http_close_connection` 在连接上设置 `c->destroyed`，而连接在 cycle 预先分配的数组里，所以请求没了以后读这个标志仍然安全。不做这个检查，循环就会读已经释放的内存：运气好什么都不发生，运气不好就恢复一个已经死掉的请求里的协程。模型在这次读取处停下来，并把它说出来。
# * **把 `NGX_DONE` 的引用还回去。** `ngx_http_internal_redirect`（`ngx.exec` 里调用）拿了一个引用，`NGX_DONE` 的意思是“由别人来结束”。如果没有人调用 `finalize_request(r, NGX_DONE)`，`r->count` 就停在 1：响应已经发出去了，但请求、它的内存池和连接永远不会被释放，客户端一直等一个永远不会到来的结束。每个请求泄漏一个连接，很快就会耗尽 `worker_connections`。

# %% [markdown]
# ## Where to go from here
# That was the last lesson. The bug here needed every ring: the posted threads and the
# light thread that holds the request (lessons 2 to 6), a timer's fake request, the read
# event of a cosocket, and the posted event of a semaphore. To try your own variant (a
# `sema:wait` in the timer, a second fetcher, `ngx.exit` instead of the end of the block),
# open [8 · Lab](08-lab.ipynb); to see the whole picture again, go back to
# [0 · A tour](00-tour.ipynb). The [glossary](glossary.md) maps every term to its C name.
#
# **Previous:** [13 · Semaphores](13-semaphores.ipynb) · **Next:** none:
# [0 · A tour](00-tour.ipynb), [8 · Lab](08-lab.ipynb).

# %% [markdown] zh
# ## 接下来
# 这是最后一课。这个 bug 用到了每一层：`posted_threads` 链表和让请求一直打开的轻线程（第 2 到 6 课）、定时器的假请求、cosocket 的读事件，以及信号量投递的事件。想试试你自己的变体（在定时器里 `sema:wait`、再加一个 fetcher、用 `ngx.exit` 代替代码块的结束），打开 [8 · 实验：你的 Lua、模型与真实 nginx](08-lab.ipynb)；想再看一遍全貌，回到 [0 · ngxcoro 导览](00-tour.ipynb)。[术语表](../glossary.md) 把每个术语对应到它的 C 名字。
#
# **上一课：** [13 · 信号量](13-semaphores.ipynb) · **下一课：** 没有了：[0 · ngxcoro 导览](00-tour.ipynb)、[8 · 实验：你的 Lua、模型与真实 nginx](08-lab.ipynb)。
