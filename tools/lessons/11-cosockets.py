# %% [markdown]
# # 11 · Cosockets
#
# `ngx.socket.tcp()` gives Lua a socket that looks blocking and is not: when an operation
# cannot finish now, the coroutine yields, and an nginx **event on the peer connection**
# resumes it later. This lesson follows one socket through its waits and answers three
# questions:
#
# 1. which calls yield (connect, a receive the buffer cannot satisfy) and which never do
#    (send on loopback, a receive from the buffer, setkeepalive, close);
# 2. who resumes the coroutine: the socket's read event, through
#    `ngx_http_lua_socket_tcp_handler` and `ngx_http_lua_socket_tcp_resume_helper`, and
#    what runs right after it in the same handler;
# 3. what a timeout does (the socket stays usable after a read timeout), and how the
#    keepalive pool hands a connection to the next `connect`.
#
# The far end of each socket is a **scripted peer** (`ngxcoro/peers.py`): a one-line
# program such as `recv-line; wait 100; send "hi\n"; close`. Real nginx ran the same
# scripts against real loopback servers; the model runs them on its virtual clock.
#
# **Previous:** [10 · Timers](10-timers.ipynb) ·
# **Next:** [12 · Client abort](12-client-abort.ipynb)

# %% [markdown] zh
# # 11 · cosocket
#
# `ngx.socket.tcp()` 给 Lua 的套接字看起来是阻塞的，其实不是：一个操作不能马上完成时，协程就让出（yield），之后由 nginx 在**对端连接上的事件**把它恢复。本课跟着一个套接字走过它的每一次等待，回答三个问题：
#
# 1. 哪些调用会让出（connect，以及缓冲区满足不了的 receive），哪些永远不会（回环上的 send、直接从缓冲区读的 receive、setkeepalive、close）；
# 2. 谁来恢复协程：套接字的读事件，经由 `ngx_http_lua_socket_tcp_handler` 和 `ngx_http_lua_socket_tcp_resume_helper`；以及在同一个事件处理函数里，紧接着还会运行什么；
# 3. 超时做了什么（读超时之后套接字仍然可用），以及连接池怎样把一条连接交给下一次 `connect`。
#
# 每个套接字的另一端都是一个**脚本化的对端**（`ngxcoro/peers.py`）：一行小程序，例如 `recv-line; wait 100; send "hi\n"; close`。真实的 nginx 对着真实的回环服务器跑过同样的脚本；模型则在它的虚拟时钟上运行这些脚本。
#
# **上一课：** [10 · 定时器：属于自己的请求](10-timers.ipynb) · **下一课：** [12 · 客户端中断与 ngx.on_abort](12-client-abort.ipynb)

# %%
import sys

import ngxcoro
from ngxcoro.compare import side_by_side
from ngxcoro.oracle import normalise_error_log
from ngxcoro.trace import DebugTrace, trace_words
from ngxcoro.viz.lessons import BlogBox, Predict, Tweak, pre, scenario_info

W = {"model:": "model: ", "nginx:": "nginx: "}     # the labels of versus()

# %% zh
import sys

import ngxcoro
from ngxcoro.compare import side_by_side
from ngxcoro.oracle import normalise_error_log
from ngxcoro.trace import DebugTrace, trace_words
from ngxcoro.viz import set_language
from ngxcoro.viz.lessons import BlogBox, Predict, Tweak, pre, scenario_info

set_language("zh")

W = {"model:": "模型：  ", "nginx:": "nginx： "}

# %%
def report(*lines):
    """Print the lines as one block (a single write keeps the saved output byte-stable)."""
    sys.stdout.write("\n".join(map(str, lines)) + "\n")


def peer_run(name, **kw):
    """A scenario with its `# peer:` lines, run by the model: (config, recording, result)."""
    text, info, rec = scenario_info(name)
    res = ngxcoro.run(text, info["request"], peers=info["peers"], snapshots=True, **kw)
    return text, rec, res


SHOWN = ("sock_connect", "sock_handler", "sock_send", "sock_read_yield", "sock_recv",
         "sock_receive_done_single", "sock_wake", "sock_read_error", "run_thread",
         "thread_ended", "back_to_parent", "user_thread_wait", "sock_keepalive",
         "sock_pool_get")


def detail(e, d):
    u = str(d.get("u", ""))
    return {
        "sock_connect": lambda: f"{u} rc={d.get('rc')}",
        "sock_handler": lambda: f"{u} wev {d.get('wev')}",
        "sock_send": lambda: f"{u} {d.get('n')} bytes",
        "sock_read_yield": lambda: f"{u} {d.get('co')}",
        "sock_recv": lambda: f"{u} {d.get('n')} bytes",
        "sock_wake": lambda: f"{u} -> {d.get('co')} ({d.get('side') or '-'})",
        "sock_read_error": lambda: u,
        "run_thread": lambda: d.get("co"),
        "thread_ended": lambda: d.get("co"),
        "back_to_parent": lambda: f"{d.get('co')} -> {d.get('parent')}",
        "user_thread_wait": lambda: f"{d.get('parent')} waits {d.get('child')}",
        "sock_keepalive": lambda: f"{u} {d.get('key')}",
        "sock_pool_get": lambda: d.get("key"),
        "phase_handler": lambda: f"{d.get('phase')} {d.get('uri')}",
        "run_thread_returned": lambda: f"rc={d.get('rc')}",
    }.get(e, lambda: "")()


def story(res, shown=SHOWN):
    """The socket's steps: virtual time, model event, what, and the C function."""
    rows = []
    for s in res.snapshots:
        if s["event"] in shown:
            rows.append(f"{s['t_ms']:>4} ms  {s['event']:<24} {detail(s['event'], s['data']):<26}"
                        f" {s['where'].get('c_function') or ''}".rstrip())
    return "\n".join(rows)


def versus(res, rec):
    """The model's answer and real nginx's, one line each."""
    return (f"{W['model:']}{res.status} {res.body!r}",
            f"{W['nginx:']}{rec['status']} {rec['body']!r}")


# %% [markdown]
# ## One socket, one request, three waits
# Scenario `1055-peer-line-in-three-pieces`: the peer waits for 4 bytes, then sends one line
# in three pieces 60 ms apart (`GET `, `/index`, `.html\r\nrest`) and closes 60 ms later.
# The handler connects, sends `ping`, reads a line, then 2 bytes, then everything (`*a`).

# %% [markdown] zh
# ## 一个套接字，一个请求，三次等待
# 场景 `1055-peer-line-in-three-pieces`：对端先等 4 个字节，然后把一行分成三块、每隔 60 ms 发一块（`GET `、`/index`、`.html\r\nrest`），再过 60 ms 关闭连接。处理函数先 connect，发送 `ping`，读一行，再读 2 个字节，最后读完全部数据（`*a`）。

# %%
text, rec, pieces = peer_run("1055-peer-line-in-three-pieces")
print(text.split("\n\n", 1)[1])

# %% check
report(f"{pieces.status} {pieces.body!r}", "", story(pieces))

# %% [markdown]
# Read it top to bottom:
#
# * **connect** yields: `ngx_event_connect_peer` answers `NGX_AGAIN` (-2, EINPROGRESS), the
#   coroutine waits in `u->write_co_ctx`, and the *write* event (`wev 1`) of the new
#   connection resumes it (`ngx_http_lua_socket_connected_handler`, side `conn`).
# * **send** does not yield: loopback takes the 4 bytes at once
#   (`ngx_http_lua_socket_tcp_send`: "sent all the data").
# * **receive** first tries the buffer and one non-blocking `recv`
#   (`ngx_http_lua_socket_tcp_read`, `wait:0`). Nothing is there yet, so it arms the read
#   timer, stores the coroutine in `u->read_co_ctx`, and yields.
# * Three **read events** come (at 0, 60 and 120 ms). Each one runs
#   `ngx_http_lua_socket_tcp_handler` → `ngx_http_lua_socket_read_handler` →
#   `ngx_http_lua_socket_tcp_read` and `recv`s what arrived; only the third completes the line,
#   so only then does `ngx_http_lua_socket_handle_read_success` wake the coroutine. The first
#   two events leave it asleep: the bytes wait in `u->buffer`.
# * `receive(2)` is served from what is left in the buffer (`rest` → `re`):
#   `sock_receive_done_single`, "receive done in a single run", no yield.
# * `receive("*a")` needs the EOF, so it yields again; the close at 180 ms is the read event
#   that wakes it.
#
# The model's debug trace against the one real nginx wrote for this scenario (`SOCK_WAKE`
# is nginx's "lua tcp socket waking up the current request (conn|read)"):

# %% [markdown] zh
# 从上往下读：
#
# * **connect** 会让出：`ngx_event_connect_peer` 返回 `NGX_AGAIN`（-2，即 EINPROGRESS），协程记在 `u->write_co_ctx` 里等待，新连接上的**写**事件（`wev 1`）恢复它（`ngx_http_lua_socket_connected_handler`，标记为 `conn`）。
# * **send** 不让出：回环一次收下了这 4 个字节（`ngx_http_lua_socket_tcp_send`："sent all the data"）。
# * **receive** 先看缓冲区，再做一次非阻塞的 `recv`（`ngx_http_lua_socket_tcp_read`，`wait:0`）。此时还没有数据，于是设置读定时器，把协程记在 `u->read_co_ctx`，然后让出。
# * 随后来了三个**读事件**（0、60、120 ms）。每一个都走 `ngx_http_lua_socket_tcp_handler` → `ngx_http_lua_socket_read_handler` → `ngx_http_lua_socket_tcp_read`，把到达的数据 `recv` 进来；只有第三块让这一行完整，所以只有这时 `ngx_http_lua_socket_handle_read_success` 才唤醒协程。前两个事件不唤醒任何协程，数据留在 `u->buffer` 里。
# * `receive(2)` 直接用缓冲区里剩下的数据（`rest` → `re`）：`sock_receive_done_single`，即 "receive done in a single run"，不让出。
# * `receive("*a")` 要等到 EOF，所以再次让出；180 ms 时对端关闭，正是这个读事件唤醒了它。
#
# 下面把模型的跟踪记录和真实 nginx 为这个场景写下的跟踪记录并排比较（`SOCK_WAKE` 就是 nginx 的 "lua tcp socket waking up the current request (conn|read)"）：

# %%
def traces(name):
    """(nginx's normalised trace, the model's) for a scenario with peers."""
    text, info, rec = scenario_info(name)
    hooks = ngxcoro.Hooks()
    mine = hooks.add(DebugTrace())
    ngxcoro.run(text, info["request"], peers=info["peers"], log_level="debug", hooks=hooks)
    return trace_words(rec["debug"]), mine.lines

# %% check
theirs, mine = traces("1055-peer-line-in-three-pieces")
report(*side_by_side(theirs, mine), "", f"same lines: {theirs == mine}")

# %% check zh
theirs, mine = traces("1055-peer-line-in-three-pieces")
report(*side_by_side(theirs, mine, "nginx", "模型"), "", f"逐行相同：{theirs == mine}")

# %% [markdown]
# Five events reached the socket (one write, four reads) and `SOCK_WAKE` appears three
# times: two read events only filled the buffer. Note also what is *not* there: no second
# `FINALIZE rc=-4`. The request was parked once, at the first yield (lesson 5), and a
# waiting socket takes no reference: `r->count` stays at 1 through every socket wait.

# %% [markdown] zh
# 套接字上一共来了五个事件（一个写事件、四个读事件），`SOCK_WAKE` 只出现了三次：有两个读事件只是把数据收进了缓冲区。再看看*没有*出现的东西：没有第二个 `FINALIZE rc=-4`。请求只在第一次让出时停下等待了一次（第 5 课），等待中的套接字不持有引用：在每一次套接字等待期间，`r->count` 都保持为 1。

# %%
BlogBox("ngx.sleep or ngx.socket make the coroutine yield, and run_thread returns NGX_AGAIN.",
        "Only connect and a receive the buffer cannot satisfy yield here; send on loopback and "
        "receive(2) from the buffer return at once. The read event that completes the data "
        "resumes the coroutine directly from the socket's handler, not through a posted "
        "event.",
        "1055-peer-line-in-three-pieces")

# %% zh
BlogBox("ngx.sleep或ngx.socket等导致协程的yield，ngx_http_lua_run_thread返回NGX_AGAIN。",
        "这里只有 connect 和缓冲区满足不了的 receive 会让出；回环上的 send、从缓冲区读的 "
        "receive(2) 都立即返回。让数据凑齐的那个读事件在套接字的事件处理函数里直接恢复协程，"
        "不经过投递的事件队列（`ngx_posted_events`）。",
        "1055-peer-line-in-three-pieces")

# %% [markdown]
# ## Who runs inside the read event
# The chain from the event to Lua, in `ngx_http_lua_socket_tcp.c`:
#
# 1. `ngx_http_lua_socket_tcp_handler` (the peer connection's event handler) calls
#    `u->read_event_handler`, here `ngx_http_lua_socket_read_handler`;
# 2. `ngx_http_lua_socket_tcp_read` reads; when the pattern is satisfied,
#    `ngx_http_lua_socket_handle_read_success` clears `read_waiting`, sets
#    `ctx->cur_co_ctx = u->read_co_ctx` and `ctx->resume_handler =
#    ngx_http_lua_socket_tcp_read_resume`, logs "waking up the current request (read)" and
#    calls `r->write_event_handler(r)` (in the content phase `ngx_http_lua_content_wev_handler`);
# 3. `ngx_http_lua_socket_tcp_resume_helper` pushes receive's return values, calls
#    `ngx_http_lua_run_thread`, and on `NGX_AGAIN` runs `ngx_http_lua_run_posted_threads`.
#
# Everything that follows from the wake-up happens inside that one event handler. Scenario
# `1056-peer-two-peers-two-threads` spawns two light threads, `slow` (t1, its peer answers
# at 200 ms) and `fast` (t2, 80 ms); the entry waits for both with
# `ngx.thread.wait(slow, fast)` and then for `slow` again.

# %% [markdown] zh
# ## 读事件里运行了谁
# 从事件到 Lua 的调用链，都在 `ngx_http_lua_socket_tcp.c` 里：
#
# 1. `ngx_http_lua_socket_tcp_handler`（对端连接的事件处理函数）调用 `u->read_event_handler`，这里是 `ngx_http_lua_socket_read_handler`；
# 2. `ngx_http_lua_socket_tcp_read` 读数据；读够了，`ngx_http_lua_socket_handle_read_success` 清掉 `read_waiting`，设置 `ctx->cur_co_ctx = u->read_co_ctx` 和 `ctx->resume_handler = ngx_http_lua_socket_tcp_read_resume`，打印 "waking up the current request (read)"，再调用 `r->write_event_handler(r)`（content 阶段是 `ngx_http_lua_content_wev_handler`）；
# 3. `ngx_http_lua_socket_tcp_resume_helper` 压入 receive 的返回值，调用 `ngx_http_lua_run_thread`，返回 `NGX_AGAIN` 时再运行 `ngx_http_lua_run_posted_threads`。
#
# 唤醒之后发生的一切都在这一个事件处理函数里完成。场景 `1056-peer-two-peers-two-threads` 创建两个轻线程：`slow`（t1，它的对端 200 ms 时回答）和 `fast`（t2，80 ms）；入口线程用 `ngx.thread.wait(slow, fast)` 等它们中的一个，然后再等 `slow`。

# %%
text, rec, two = peer_run("1056-peer-two-peers-two-threads")
print(text.split("\n\n", 1)[1])

# %% predict
Predict("At 80 ms the fast peer's line arrives and its read event resumes t2, which prints "
        "and ends. Which coroutines run inside that same read event handler?",
        ["only t2: the entry runs at the next loop turn",
         "t2, then the entry, which prints <code>first: fast answer</code>",
         "t2, then t1, which was spawned first"],
        "t2, then the entry, which prints <code>first: fast answer</code>",
        "The entry waits in ngx.thread.wait for t2. When t2 ends, run_thread hands its return "
        "values straight to the waiting parent and resumes it in the same loop (back to "
        "parent); the entry prints and yields in wait(slow). t1 is still asleep on its own "
        "socket: nothing resumes it before its peer's read event at 200 ms.")

# %% predict zh
Predict("80 ms 时快的对端的那一行到了，它的读事件恢复 t2，t2 打印后结束。在这同一个读事件处理函数里，"
        "运行了哪些协程？",
        ["只有 t2：入口线程要到下一轮事件循环才运行",
         "t2，然后是入口线程，它打印 <code>first: fast answer</code>",
         "t2，然后是 t1，因为 t1 先创建"],
        "t2，然后是入口线程，它打印 <code>first: fast answer</code>",
        "入口线程正在 ngx.thread.wait 里等 t2。t2 结束时，run_thread 把它的返回值直接交给"
        "正在等待的父协程，并在同一个循环里恢复父协程（back to parent）；入口线程打印后在 "
        "wait(slow) 里再次让出。t1 还睡在自己的套接字上：在它的对端 200 ms 的读事件之前，"
        "没有任何东西会恢复它。")

# %% check answer
report(f"{two.status} {two.body!r}", "", story(two))

# %% [markdown]
# At 80 ms one read event ran t2 to its end and the entry up to its next `wait`; at 200 ms
# another ran t1 and the entry to the end. No queue of posted events was involved. The
# stepper draws a box for each socket (state, what is buffered, who waits on it, the peer's
# own state) and, at each `sock_wake`, the event that resumed the coroutine. Pick
# `sock_wake` in the "jump to" list and use its arrows to go from one wake-up to the next.

# %% [markdown] zh
# 80 ms 时，一个读事件把 t2 运行到结束，又把入口线程运行到它的下一个 `wait`；200 ms 时，另一个读事件把 t1 和入口线程都运行到结束。整个过程没有用到投递的事件队列（`ngx_posted_events`）。步进器为每个套接字画一个方框（状态、缓冲了什么、谁在等它、对端自己的状态），并在每个 `sock_wake` 处画出恢复协程的那个事件。在“跳转到”（jump to）列表里选 `sock_wake`，用它旁边的箭头从一次唤醒跳到下一次。

# %%
_, info1056, _ = scenario_info("1056-peer-two-peers-two-threads")
ngxcoro.show(text, info1056["request"], peers=info1056["peers"])

# %%
BlogBox("When the light threads have not all exited, run_thread returns NGX_AGAIN and "
        "ngx_http_lua_run_posted_threads has to run the others.",
        "A parent that waits in ngx.thread.wait is not in posted_threads: when the child "
        "ends, run_thread resumes the parent itself, inside the read event that woke the "
        "child. Real nginx logs the same order (`SOCK_WAKE read`, the child's `SAY`, "
        "`TO_PARENT`, the parent's `SAY`).",
        "1056-peer-two-peers-two-threads")

# %% zh
BlogBox("调用ngx.thread导致当前请求对应的一个父协程和一个或多个\"light thread\"没有全部退出，"
        "run_thread返回NGX_AGAIN，需要调用ngx_http_lua_run_posted_thread进行处理。",
        "在 ngx.thread.wait 里等待的父协程并不在 posted_threads 里：子线程结束时，"
        "run_thread 在唤醒子线程的那个读事件里直接恢复父协程。真实 nginx 的日志顺序相同"
        "（`SOCK_WAKE read`、子线程的 `SAY`、`TO_PARENT`、父协程的 `SAY`）。",
        "1056-peer-two-peers-two-threads")

# %% [markdown]
# ### In rewrite and access
# Outside the content phase the wake-up takes another road: `r->write_event_handler` is
# `ngx_http_core_run_phases` there, which calls the rewrite (or access) handler again, which
# calls `ctx->resume_handler`. When the Lua code then finishes, the phase engine does not
# stop: it goes on to the next phases, still inside the socket's read event. Scenario
# `1066-peer-rewrite-phase` asks a peer for a verdict in `rewrite_by_lua` (in two
# subrequests; the second peer is too slow, a 503):

# %% [markdown] zh
# ### rewrite 和 access 阶段
# 在 content 阶段之外，唤醒走的是另一条路：这时 `r->write_event_handler` 是 `ngx_http_core_run_phases`，它再次调用 rewrite（或 access）阶段的处理函数，由后者调用 `ctx->resume_handler`。Lua 代码随后结束时，阶段引擎并不停下，而是接着运行后面的阶段，这一切仍然在套接字的读事件里。场景 `1066-peer-rewrite-phase` 在 `rewrite_by_lua` 里向对端要一个判定（在两个子请求里；第二个对端太慢，得到 503）：

# %% check
text1066, rec1066, res1066 = peer_run("1066-peer-rewrite-phase")
report(*versus(res1066, rec1066), "",
       story(res1066, ("sock_wake", "run_thread", "run_thread_returned", "phase_handler",
                       "thread_ended")))

# %% [markdown]
# At 50 ms the read event resumes the rewrite handler's thread, `run_thread` returns
# `NGX_OK` (0), and `content_by_lua` of the same subrequest starts in the same handler, at
# the same virtual time. It does not stop there: the subrequest is done, and
# `ngx_http_run_posted_requests`, which `ngx_http_lua_socket_tcp_handler` calls on its way
# out, resumes the parent `/both`, which starts the second subrequest and its connect. One
# read event, four coroutine runs. At 200 ms the second subrequest's read timer fires
# instead, and the rewrite code ends it with 503.

# %% [markdown] zh
# 50 ms 时，读事件恢复了 rewrite 处理函数的协程，`run_thread` 返回 `NGX_OK`（0），同一个子请求的 `content_by_lua` 就在同一个事件处理函数里、同一虚拟时刻开始运行。事情还没完：子请求结束了，`ngx_http_lua_socket_tcp_handler` 返回前调用的 `ngx_http_run_posted_requests` 恢复了父请求 `/both`，父请求接着发起第二个子请求和它的 connect。一个读事件，四次协程运行。200 ms 时，第二个子请求的读定时器先到期，rewrite 代码用 503 结束了它。

# %% [markdown]
# ## Timeouts on the virtual clock
# When `receive` yields, it also arms a timer on the peer connection's read event:
# `u->read_timeout`, from `sock:settimeout(ms)` (which sets all three timeouts) or
# `lua_socket_read_timeout` (60 s by default). If the timer fires first,
# `ngx_http_lua_socket_read_handler` sees `rev->timedout`, logs
# `[error] lua tcp socket read timed out`, and `ngx_http_lua_socket_handle_read_error` wakes
# the coroutine (the wake-up without a tag, `SOCK_WAKE -`) with `nil, "timeout", partial`.
#
# Unlike a connect timeout, a read timeout does **not** close the socket: receive's
# return-value handler (`ngx_http_lua_socket_tcp_receive_retval_handler`) sees the timeout
# bit in `u->ft_type` and sets `u->no_close`.
#
# Scenario `1041-peer-partial-then-timeout`: the peer sends half a line and goes quiet for
# 300 ms; the handler reads with a 100 ms timeout, sleeps 300 ms, and reads again.

# %% [markdown] zh
# ## 虚拟时钟上的超时
# `receive` 让出时，还会在对端连接的读事件上设置一个定时器：时长是 `u->read_timeout`，来自 `sock:settimeout(ms)`（它同时设置三种超时）或 `lua_socket_read_timeout`（默认 60 秒）。如果定时器先到期，`ngx_http_lua_socket_read_handler` 看到 `rev->timedout`，打印 `[error] lua tcp socket read timed out`，由 `ngx_http_lua_socket_handle_read_error` 唤醒协程（不带标记的唤醒，`SOCK_WAKE -`），返回 `nil, "timeout", partial`。
#
# 与 connect 超时不同，读超时**不会**关闭套接字：receive 的返回值处理函数（`ngx_http_lua_socket_tcp_receive_retval_handler`）看到 `u->ft_type` 里的超时位，就设置 `u->no_close`。
#
# 场景 `1041-peer-partial-then-timeout`：对端发了半行后沉默 300 ms；处理函数用 100 ms 的超时读，睡 300 ms，再读一次。

# %%
text, rec, partial = peer_run("1041-peer-partial-then-timeout")
print(text.split("\n\n", 1)[1])

# %% predict
Predict("The first <code>receive(\"*l\")</code> times out and prints <code>*l: nil | timeout | "
        "half a li</code>. Meanwhile the peer sends <code>ne\\nxy</code>. What does the "
        "second <code>receive()</code> return?",
        ["half a line", "ne", "nil | timeout", "nil | closed"], "ne",
        "The socket survives a read timeout, so the second receive works. But the partial "
        "data was handed to Lua as the third value of the failed call and removed from the "
        "buffer: only what arrived later is left, ne and a newline.")

# %% predict zh
Predict("第一次 <code>receive(\"*l\")</code> 超时，打印 <code>*l: nil | timeout | half a li"
        "</code>。这期间对端又发来了 <code>ne\\nxy</code>。第二次 <code>receive()</code> "
        "返回什么？",
        ["half a line", "ne", "nil | timeout", "nil | closed"], "ne",
        "读超时之后套接字还活着，所以第二次 receive 能正常工作。但那半行数据已经作为失败调用"
        "的第三个返回值交给了 Lua，并从缓冲区里移除了：剩下的只有后来到达的 ne 和换行符。")

# %% check answer
report(*versus(partial, rec), *normalise_error_log(list(partial.error_log)), "", story(partial))

# %% [markdown]
# Two `read timed out` lines and two wake-ups without a tag, at 100 ms and 500 ms. In
# between, `ne\nxy` arrived at 300 ms while the handler slept: that read event found no
# reader and woke nobody. At 400 ms the second `receive()` got the rest of the line with one
# non-blocking `recv` and did not yield ("receive done in a single run"). The last
# `receive(5)` found only `xy`, waited, and timed out with `xy` as its partial.
#
# The timeout in effect is the one set before the call: scenario `1069-peer-timeout-values`
# shows a later `settimeout` taking over at the next read, and `settimeout(0)` falling back
# to `lua_socket_read_timeout`.

# %% [markdown] zh
# 两行 `read timed out`，两次不带标记的唤醒，分别在 100 ms 和 500 ms。中间，`ne\nxy` 在 300 ms 时到达，这时处理函数正在睡眠：这个读事件找不到读者，没有唤醒任何协程。400 ms 时，第二次 `receive()` 用一次非阻塞的 `recv` 拿到了这一行剩下的部分，没有让出（"receive done in a single run"）。最后的 `receive(5)` 只找到 `xy`，于是等待，超时后把 `xy` 作为 partial 返回。
#
# 生效的超时是调用之前设置的那个：场景 `1069-peer-timeout-values` 展示了后来的 `settimeout` 在下一次读时生效，以及 `settimeout(0)` 退回到 `lua_socket_read_timeout`。

# %% check
text1069, rec1069, res1069 = peer_run("1069-peer-timeout-values")
report(text1069.split("\n\n", 1)[1].rstrip(), "", *versus(res1069, rec1069))

# %% [markdown]
# ## Tweak: the peer's delay against the timeout
# One socket with `settimeout(150)`; the peer answers after the delay the slider sets, then
# closes. After the first `receive`, the handler raises the timeout to 1000 ms and reads
# again. Below the 150 ms line the answer comes first and the second read meets the close;
# above it the first read times out and the second gets the late answer from the same
# socket. The slider's positions are the model's; real nginx ran one on each side of the
# line (scenarios `1180-peer-answer-before-timeout`, 100 ms, and
# `1181-peer-answer-after-timeout`, 250 ms), printed under the slider.

# %% [markdown] zh
# ## 调一调：对端的延迟与超时
# 一个套接字，`settimeout(150)`；对端按滑块设定的延迟回答，然后关闭。第一次 `receive` 之后，处理函数把超时调到 1000 ms，再读一次。延迟小于 150 ms 时回答先到，第二次读遇到的是关闭；大于 150 ms 时第一次读超时，第二次读从同一个套接字拿到迟到的回答。滑块的各个位置由模型计算；分界线两侧各有一个真实 nginx 跑过的场景（`1180-peer-answer-before-timeout`，100 ms；`1181-peer-answer-after-timeout`，250 ms），结果打印在滑块下面。

# %%
TWEAK_CONF, tweak_info, _ = scenario_info("1180-peer-answer-before-timeout")
PEER = tweak_info["peers"][0]            # recv-line; wait 100; send "answer\n"; wait 100; close
print(TWEAK_CONF.split("\n\n", 1)[1])


def delayed(ms):
    res = ngxcoro.run(TWEAK_CONF, "GET /t", snapshots=True,
                      peers=[PEER.replace("wait 100;", f"wait {ms};", 1)])
    return pre(res.body + "\n".join(normalise_error_log(list(res.error_log)))
               + "\n\n" + story(res, ("sock_read_yield", "sock_wake", "sock_read_error")))

# %%
Tweak("peer delay (ms)", [50, 100, 140, 160, 250, 400], delayed, index=3)

# %% zh
Tweak("对端延迟（ms）", [50, 100, 140, 160, 250, 400], delayed, index=3)

# %% check
lines = []
for name in ("1180-peer-answer-before-timeout", "1181-peer-answer-after-timeout"):
    _, rec_t, res_t = peer_run(name)
    lines += [name, *versus(res_t, rec_t), *rec_t["error_log"], ""]
report(*lines)

# %% [markdown]
# ## The keepalive pool
# `sock:setkeepalive(timeout, size)` (`ngx_http_lua_socket_tcp_setkeepalive`) does not
# close: it refuses when data is still unread (`nil, "unread data in buffer"`), otherwise it
# puts the connection at the head of the pool for the key `host:port`, gives it a keepalive
# timer, and detaches it from the Lua object (which now answers `closed`). The next `connect`
# to the same key looks in the pool first (`ngx_http_lua_get_keepalive_peer`): a hit returns 1
# **without yielding** and `getreusedtimes()` counts the reuses. Neither call yields.
# Scenario `1046-peer-keepalive` asks three times over one connection:

# %% [markdown] zh
# ## 连接池
# `sock:setkeepalive(timeout, size)`（`ngx_http_lua_socket_tcp_setkeepalive`）并不关闭连接：如果还有没读完的数据，它拒绝（`nil, "unread data in buffer"`）；否则把连接放到键为 `host:port` 的连接池的头部，给它设置空闲超时定时器，并让它脱离 Lua 对象（这个对象之后只会回答 `closed`）。下一次对同一个键 `connect` 时先查连接池（`ngx_http_lua_get_keepalive_peer`）：命中时直接返回 1，**不让出**，`getreusedtimes()` 记录复用次数。这两个调用都不让出。场景 `1046-peer-keepalive` 在一条连接上问了三次：

# %% check
text, rec, pool = peer_run("1046-peer-keepalive")
report(*versus(pool, rec), "",
       story(pool, ("sock_connect", "sock_pool_get", "sock_read_yield", "sock_wake",
                    "sock_keepalive")))

# %% [markdown]
# One `connect` yielded (the first); the next two were pool hits and went on at once. Each
# request to the peer still cost one read wait. Scenario `1057-peer-keepalive-unread-data`
# shows the refusal, and that the refused socket stays open and can be read and pooled
# afterwards:

# %% [markdown] zh
# 只有第一次 `connect` 让出了；后两次命中连接池，立即继续。每次向对端请求，仍然要等一次读事件。场景 `1057-peer-keepalive-unread-data` 展示了拒绝的情况：被拒绝的套接字仍然打开，之后可以继续读，读完后也能放进连接池：

# %% check
_, rec1057, res1057 = peer_run("1057-peer-keepalive-unread-data")
report(*versus(res1057, rec1057), *normalise_error_log(list(res1057.error_log)))

# %% [markdown]
# **Next:** [12 · Client abort](12-client-abort.ipynb) — what happens to these waits when the
# client goes away.

# %% [markdown] zh
# **下一课：** [12 · 客户端中断与 ngx.on_abort](12-client-abort.ipynb)：客户端走掉时，这些等待会怎样。
