"""The stepper's one-line explanation of a step, in Chinese.

The model writes each step's explanation in English (`trace/events.py`,
`explain`), and that stays its data: `result.snapshots[k]["explain"]`.  A
Chinese stepper (``set_language("zh")``) says the same sentence from the
same fields with the templates here; an event without a template keeps the
English line.  C names, nginx's words, Lua and event names are not
translated.
"""
from __future__ import annotations

from ..trace.events import explain_fields

OP_TEXT = {"NOP": "某个 API 阻塞了，run_thread 返回 NGX_AGAIN",
           "USER_THREAD_RESUME": "spawn，立即运行新的轻线程",
           "USER_CORO_RESUME": "resume，把参数传给目标协程并运行它",
           "USER_CORO_YIELD": "yield，回到恢复它的协程（或是让出一个时间片）"}
RV_TEXT = {0: "0（运行结束）", 1: "1（LUA_YIELD）", 2: "2（LUA_ERRRUN）"}

# why r->count changed (nginx/request.py count_change's `cause`): the model's
# words, said in Chinese; a C function's name stays as it is
CAUSES = {
    "discard request body": "丢弃请求包体",
    "read client request body": "读取客户端请求包体",
    "echo handler waits": "echo 处理函数等待",
    "echo: the body was in": "echo：包体已经读完",
    "internal redirect": "内部跳转",
    "content_run_posted_threads: park the request": "content_run_posted_threads：把请求挂起",
    "ngx.req.read_body gives the reader's reference back": "ngx.req.read_body 归还读者的引用",
}
_CAUSE_RE = (("internal redirect to ", "内部跳转到 {}"), ("named location ", "命名 location {}"),
             ("cancel subrequest ", "取消子请求 {}"), ("subrequest ", "子请求 {}"))


def cause_zh(cause):
    """count_change's cause in Chinese (a C name, or one not known here, stays)."""
    if not isinstance(cause, str):
        return cause
    if cause in CAUSES:
        return CAUSES[cause]
    if cause.startswith("subrequest ") and cause.endswith(" done"):
        return f"子请求 {cause[len('subrequest '):-len(' done')]} 完成"
    for head, zh in _CAUSE_RE:
        if cause.startswith(head):
            return zh.format(cause[len(head):])
    return cause

ZH = {
    # --- the phase handlers and run_thread
    "phase_handler": "{phase} 阶段处理函数启动一个新的入口线程（r->count {c}）",
    "reset_ctx": "reset_ctx：为新的处理函数清空 ctx（posted_threads 保留）",
    "load_error": "{chunk} 的 Lua 代码编译失败：nginx 返回 500",
    "run_thread": "run_thread 恢复 {co}（r->count {c}）",
    "resume": "lua_resume({co}, {nrets})",
    "resume_returned": "lua_resume 为 {co} 返回 {rv_text}",
    "co_op": "{co} 以 co_op {op} 让出：{op_text}",
    "run_thread_returned": "run_thread 返回 {rc_text}",
    "thread_ended": "{co} 正常结束",
    "back_to_parent": "{co} 把返回值交给 {parent}，{parent} 在同一次 run_thread 中继续运行",
    "zombie": "{co} 在父协程 {parent} 等待它之前就结束了：成为僵尸",
    "user_coroutine_create": "{parent} 创建了 {child}",
    "user_thread_spawn": "ngx.thread.spawn：{parent} 创建了 {child}；{parent} 被追加到 posted_threads "
                         "末尾，{child} 先运行",
    "user_coroutine_resume": "coroutine.resume：{parent} 请 run_thread 恢复 {child}",
    "user_coroutine_yield": "{child} 中调用 coroutine.yield",
    "thread_yield": "轻线程 {co} 中调用 coroutine.yield：让出一个时间片",
    "coroutine_done": "{co} {done_text}",
    "thread_delete": "del_thread：{co} 失去它在注册表中的引用",
    "run_posted_thread": "run_posted_threads 取出 {co}（{status}）",
    "user_thread_wait": "ngx.thread.wait：{parent} 等待 {child}",
    "post_thread": "post_thread 把 {co} 追加到 posted_threads 末尾（需要遍历链表）",
    # --- sleep, exit, exec, redirect
    "sleep": "ngx.sleep 为 {co} 设置一个 {ms} ms 的定时器，然后让出",
    "timer_expired": "{label} 的定时器在 {t_ms} ms 时到期",
    "sleep_cleanup": "{co} 尚未结束的 ngx.sleep 被取消",
    "useless_wev": "一个无事可做的写事件（useless lua write event handler）",
    "exit": "ngx.exit({code}) 记下退出请求，然后让出",
    "handle_exit": "run_thread 处理 ngx.exit({code})：这个处理函数的所有线程都被终止",
    "exec": "ngx.exec(\"{uri}\") 记下跳转，然后让出",
    "handle_exec": "run_thread 处理 ngx.exec：所有线程都被终止，然后做内部跳转",
    "redirect": "ngx.redirect 跳转到 {uri}，状态码 {code}",
    "set_uri_jump": "ngx.req.set_uri(\"{uri}\", true) 为 rewrite 跳转而让出",
    "handle_rewrite_jump": "run_thread 处理 rewrite 跳转：线程都被终止，ctx 重新开始",
    "internal_redirect": "内部跳转到 {uri}（r->count +1）",
    "request_cleanup": "request_cleanup 清理请求的 Lua 上下文（forcible={forcible}）",
    "finalize_threads": "finalize_threads 删除这个处理函数的所有线程",
    # --- subrequests
    "capture": "从 {uri} 发起 ngx.location.capture（r->count {c}）",
    "subrequest": "创建子请求 {uri} 并投递它",
    "posted_request": "ngx_http_run_posted_requests 运行 {uri}",
    "post_subrequest": "子请求 {uri} 完成（rc {rc}）：它的父请求被投递到队首",
    "wake_parent": "唤醒父请求 {uri}",
    "subrequests_done": "{co} 的所有子请求都已完成：它带着子请求的结果恢复运行",
    # --- the request body
    "read_body": "ngx.req.read_body 开始读取请求包体",
    "body_arrived": "请求包体的其余部分已经到达",
    "discard_body": "请求在包体读完之前就结束了：nginx 丢弃随后到达的包体",
    "body_post_read": "包体读取的 post handler 运行（唤醒：有读者在等待更多包体，于是恢复它）",
    # --- finalize, count, close
    "send_last_buf": "发送响应的最后一个 buf",
    "finalize_request": "对 {uri} 调用 finalize_request(r, {rc_text})，r->count 为 {c}",
    "count": "r->count {delta:+d} -> {c}（原因：{cause}）",
    "close_request": "close_request：r->count 从 {c} 减为 {c_after}",
    "terminate_request": "terminate_request：连接将被关闭",
    "free_request": "释放请求：运行它的 cleanup 回调",
    "close_connection": "关闭连接：c->destroyed = 1",
    "hang": "再也没有任何东西能唤醒这个请求",
    "log": "[{level}] {msg}",
    # --- second ring: shared dicts, semaphores
    "shdict": "ngx.shared.{zone}:{op}({key}) -> {result}",
    "sema_new": "semaphore.new：{sem}，{n} 个资源",
    "sema_wait": "{sem}:wait，超时 {ms} ms（资源 {resources} 个，事件已投递：{posted}）",
    "sema_wait_yield": "{co} 在 {sem} 上排队（设置了超时定时器），然后让出",
    "sema_post": "{sem}:post({n})：资源 {resources} + {n}，{waiters} 个等待者，事件已投递：{posted}；"
                 "post 内部不会唤醒任何协程",
    "post_event": lambda d: ("ngx_post_event：{sem} 的事件已经投递过了，位置不变" if d["update"] else
                             "ngx_post_event：{sem} 的事件加入已投递事件队列；它的处理函数在本轮的"
                             "定时器之后运行"),
    "sema_handler": "{sem} 已投递的事件运行：只要还有资源（{resources} 个），就从队首开始唤醒等待者",
    "sema_wake": "{sem} 把一个资源交给 {co}（队首），{co} 在它自己的请求中以 true, nil 恢复运行",
    "sema_timeout": "{co} 在 {sem} 上的等待超时：它以 false, \"timeout\" 恢复运行",
    "sema_cleanup": "{co} 离开 {sem} 的等待队列（被杀死、退出或所在请求结束）；资源数不变",
    # --- timers and fake requests
    "timer_watcher": "worker 的第一个定时器建立 watcher 连接",
    "timer_create": "ngx.timer 设置一个 {delay} ms 的定时器，到期后运行 {co}",
    "timer_next": "every 定时器在运行前重新设置：{co} 将在 {delay} ms 后到期",
    "timer_fired": "{co} 的 ngx.timer 在 {t_ms} ms 时到期",
    "free_timer_thread": "{co} 的定时器无法运行：它的线程被归还（ngx_http_lua_free_thread）",
    "finalize_fake_request": "以 {rc_text} 结束定时器的假请求（r->count {c}）",
    "close_fake_request": "关闭假请求：r->count 从 {c} 减为 {c_after}",
    "free_fake_request": "释放假请求：运行它的 cleanup 回调",
    "close_fake_connection": "关闭假连接",
    # --- client abort, log phase, filters
    "client_close": "客户端在 {t_ms} ms 时关闭了连接：{uri} 的连接上来了一个读事件",
    "block_reading": "读事件被忽略（ngx_http_block_reading）：没有 lua_check_client_abort，"
                     "没人理会这次关闭",
    "on_abort": "ngx.on_abort：{child} 是 {parent} 的一个轻线程，它处于挂起状态、不计入 uthreads，"
                "等待客户端关闭连接",
    "check_broken_connection": "lua_check_client_abort：检查 {uri} 的连接上的读事件",
    "client_recv": "在客户端连接上 recv(MSG_PEEK) 得到 {n}：EOF，客户端已经走了（499）",
    "on_abort_wake": "客户端已经走了：{co} 成为一个运行中的轻线程（uthreads +1），并通过 "
                     "r->write_event_handler 立即运行",
    "on_abort_resume": "ngx_http_lua_on_abort_resume 运行 {co}（run_thread，然后运行 posted threads）",
    "log_handler": "log 阶段：lua 的 log 处理函数为 {uri} 运行（r->count {c}）",
    "header_filter": "{uri} 的 lua header filter",
    "body_filter": "{uri} 的 lua body filter",
    # --- the worker's end
    "worker_quit_signal": "nginx -s quit：master 把 SIGQUIT 转给 worker（ngx_quit），worker 在"
                          "这一轮事件循环结束后处理它",
    "worker_exiting": "worker 开始优雅退出（ngx_exiting）：关闭监听套接字，运行空闲连接的读处理函数；"
                      "活跃的请求继续进行",
    "worker_exit": "没有剩下不可取消的定时器了：worker 进程退出",
    "timer_abort": "定时器 watcher 的读处理函数：所有挂起的 lua 定时器现在提前（premature）触发",
    "timer_abort_found": "{n} 个挂起的 lua 定时器按到期顺序一次性运行，premature = true",
    # --- cosockets
    "sock_connect_timeout": "connect：连接超时为 {ms} ms",
    "sock_reconnect": "在 {u} 上 connect，但它仍然连着：先关闭",
    "sock_pool_create": "为 \"{key}\" 创建一个有 {size} 个槽位的 keepalive 连接池",
    "sock_pool_empty": "连接池 \"{key}\" 中没有空闲连接",
    "sock_pool_get": "connect 从连接池 \"{key}\" 取出一个空闲连接：无需让出",
    "sock_connect": "{u} 连接 {host}:{port}（第 {n} 个连接）：EINPROGRESS，协程等待写事件",
    "sock_handler": lambda d: ("写" if d["wev"] else "读") + "事件到达 {u}",
    "sock_connected": "{u} 已连接",
    "sock_conn_error": "{u} 的 connect 失败：套接字被关闭",
    "sock_read_error": "{u} 上的读取失败（超时或连接已关闭）",
    "sock_wake": lambda d: (d["side"] or "错误") + " 事件在 {u} 上恢复了协程 {co}",
    "sock_resume": "{co} 结束在 {u} 上的等待，恢复运行",
    "sock_error_retval": "connect 的错误返回值",
    "sock_send_timeout": "send：发送超时为 {ms} ms",
    "sock_send": "{u} 发送 {n} 字节：回环接口一次全部收下，无需让出",
    "sock_receive": "调用 receive()",
    "sock_read_timeout": "读超时为 {ms} ms",
    "sock_read_data": "{u} 读取已缓冲和可读的数据",
    "sock_recv": "{u} 上的 recv() 返回 {n} 字节",
    "sock_receive_done": "{u} 上的这次读取已满足",
    "sock_receive_done_single": "无需等待即已满足",
    "sock_read_yield": "{co} 等待 {u} 的读事件（已设置读定时器）",
    "sock_receive_retval": "receive 的返回值",
    "sock_keepalive": "{u} 空闲下来，放回连接池 \"{key}\"；Lua 对象与连接脱离",
    "sock_cleanup": "请求 {uri} 结束时 {u} 仍然打开：由请求的 cleanup 关闭它",
    "sock_finalize": "{u} 被 finalize",
    "sock_close": "{u} 的连接被关闭",
    # --- start-up, subrequests in nginx's core, what-if
    "init_by_lua": "启动：init_by_lua 在主 Lua 状态机上运行 {chunk}，没有请求",
    "init_worker_by_lua": "worker 启动：init_worker_by_lua 在一个假请求中运行 {chunk}",
    "http_handler": "ngx_http_handler 从第一个阶段开始运行 {uri}",
    "body_temp_file": "{uri} 的请求包体超出了缓冲区（或设置了 client_body_in_file_only）：nginx 把它存在"
                      "临时文件 {path} 中；从现在起 get_body_data 为 nil",
    "http_subrequest": "ngx_http_subrequest 创建 {uri} 并投递它（r->main->count +1）",
    "finalize_non_active": "{uri} 在轮到它发送之前就完成了：它等待（ngx_http_request_finalizer）",
    "postpone_wake": "postpone 过滤器把连接交给 {uri} 并投递它",
    "writer": "{uri} 的 ngx_http_writer：之前推迟的数据发出（rc {rc}）",
    "what_if": "这不是 NGINX：what-if {name}：{text}",
    "what_if_taken": "这不是 NGINX：what-if {name}：{text}",
}


def explain_zh(name, d, t_ms):
    """The Chinese line for step `name` with fields `d` (as
    trace.events.explain makes the English one), or None when the event has
    no Chinese template."""
    tpl = ZH.get(name)
    if tpl is None:
        return None
    d = explain_fields(name, d, t_ms, OP_TEXT, RV_TEXT, ("执行完毕", "出错结束"))
    if name == "count":
        d["cause"] = cause_zh(d.get("cause"))
    try:
        text = tpl(d) if callable(tpl) else tpl
        return text.format(**d)
    except (KeyError, IndexError, ValueError, TypeError):
        return None
