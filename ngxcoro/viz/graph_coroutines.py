"""The coroutine tree of a graph frame: one node per coroutine (shape by kind,
fill and border by status), its edge from the parent, the folded summary
nodes of a big run, and the semaphores the coroutines wait on (graph.py's
builder draws with these methods; see graph.py for what is drawn and why)."""
from __future__ import annotations

from .palette import (CHANGED, CO_HEIGHT, CO_WIDTH, CURRENT, DIM, INK, KIND_SHAPE, KIND_TEXT,
                      OKABE_ITO, POSTED_FILL, STATUS_BORDER, STATUS_FILL)
from .labels import _h, _html, _line


class _CoroutineTree:
    """Builder methods for the coroutines.  They read the builder's snapshot,
    node names (`nodes`, `names`, `co_by_node`), the step before
    (`prev_co`), `current` and `posted`, and write DOT into `g`."""

    # ------------------------------------------------------------ coroutines
    def _coroutines(self):
        s, g = self.s, self.g
        ucos = self.u["coroutines"]
        present = dict(zip(self.nodes, s["coroutines"]))
        big = len(ucos) > self.max_co
        by_node = {u["node"]: u for u in ucos}
        shown, shown_nodes, folded = [], set(), {}
        loud_in = {}
        for idx, u in enumerate(ucos):
            node = u["node"]
            if not big or idx < self.max_co:
                shown.append(u)
                shown_nodes.add(node)
                continue
            anc = u["parent"]                 # fold under the nearest ancestor drawn
            while anc is not None and anc not in shown_nodes and anc in by_node:
                anc = by_node[anc]["parent"]
            key = anc if anc in shown_nodes else f"ctx_{u['request']}"
            if self._loud(node, present.get(node)):
                shown.append(u)
                shown_nodes.add(node)
                loud_in[key] = loud_in.get(key, 0) + 1
            else:
                folded.setdefault(key, []).append(u)
        self.shown_co = shown_nodes
        for u in shown:
            self._co_node(u, present.get(u["node"]))
        for u in shown:
            self._co_edge(u, present.get(u["node"]), shown_nodes)
        for parent, us in folded.items():          # dict order: first folded child first
            if not loud_in.get(parent):
                # the place a current folded coroutine takes, kept when there is none
                g.node(f"spot_{parent}", label="spot", shape="box", style="invis", width=CO_WIDTH,
                       height=CO_HEIGHT)
                g.edge(parent, f"spot_{parent}", style="invis")
            self._fold(parent, us, present)

    def _loud(self, node, c):
        """A coroutine worth its own node even in a folded picture: the current
        one and the posted ones.  (Not every one that changed: in a big run
        that is a different one at nearly every step, and the picture would
        never hold still; the fold's counts say what changed.)"""
        return c is not None and (node in self.current or node in self.posted)

    def _co_changes(self, node, c):
        """(is_new, [what changed]) against the step before."""
        if self.prev_co is None:
            return False, []
        pc = self.prev_co.get(node)
        if pc is None:
            return True, []
        out = []
        if pc["status"] != c["status"]:
            out.append(f"was {pc['status'].upper()}")
        if pc["parent"] != c["parent"]:
            out.append(f"parent was {pc['parent'] or 'NULL'}")
        if pc["zombies"] != c["zombies"]:
            out.append("zombie list changed")
        if pc["waiting"] != c["waiting"]:
            out.append(f"was in {pc['waiting']}" if pc["waiting"] else "now blocked")
        if pc["waited_by_parent"] != c["waited_by_parent"]:
            out.append("waited_by_parent changed")
        if pc["pending_subreqs"] != c["pending_subreqs"]:
            out.append(f"was {pc['pending_subreqs']} subreqs")
        return False, out

    def _co_node(self, u, c):
        g = self.g
        node = u["node"]
        kind_now = c["kind"] if c is not None else u["kind"]
        shape, periph = KIND_SHAPE.get(kind_now, ("box", 1))
        base = {"shape": shape, "peripheries": str(periph), "width": CO_WIDTH, "height": CO_HEIGHT,
                "margin": "0.06,0.04"}
        if c is None:
            g.node(node, label=f"{u['name']}\nnot yet\n\n", style="invis", **base)
            return
        status = c["status"]
        kind = KIND_TEXT.get(c["kind"], c["kind"]) + (" (wrap)" if c.get("is_wrap") else "")
        rows = [f'<B>{_h(c["name"])}</B> <FONT POINT-SIZE="8">{_h(kind)}</FONT>',
                f'<B>{_h(status.upper())}</B>']
        detail = []
        if c["waiting"]:
            detail.append(f"in {c['waiting']}")
        if c["pending_subreqs"]:
            detail.append(f"{c['pending_subreqs']} subreq pending")
        if c["zombies"]:
            z = c["zombies"]
            detail.append("zombies: " + (", ".join(z) if len(z) <= 3 else f"{len(z)} ({z[0]} ... {z[-1]})"))
        if c["waited_by_parent"]:
            detail.append("waited by parent")
        if node in self.posted:
            detail.append(f"posted #{self.posted[node] + 1}")
        if c.get("config_line") and status not in ("dead",):
            detail.append(f"line {c['config_line']}")
        new, changes = self._co_changes(node, c)
        cur = node in self.current
        marks = []
        if cur:
            marks.append(f'<FONT COLOR="{CURRENT}"><B>&lt;&lt; cur_co_ctx</B></FONT>')
        if new:
            marks.append(_line("* new", size=9, colour=CHANGED, bold=True))
        elif changes:
            marks.append(_line("* " + changes[0], size=9, colour=CHANGED, bold=True))
        rows += [_line(d, size=9) for d in detail[:3 - len(marks)]] + marks
        style = ["filled"] + ([STATUS_BORDER[status]] if status in STATUS_BORDER else [])
        if kind_now == "uthread":
            style.insert(0, "rounded")
        changed = new or bool(changes)
        colour = CHANGED if changed else (CURRENT if cur else INK)
        classes = " ".join(x for x in ("changed" if changed else "", "current" if cur else "",
                                       status) if x)
        g.node(node, label=_html(rows), style=",".join(style),
               fillcolor=STATUS_FILL.get(status, "white"), color=colour,
               penwidth="3" if (changed or cur) else "1",
               fontcolor="#555555" if status == "dead" else INK, id=node,
               **{"class": classes}, **base)

    def _co_edge(self, u, c, shown_nodes):
        g = self.g
        node = u["node"]
        lp = u["parent"]
        src = lp if lp in shown_nodes else f"ctx_{u['request']}"
        if lp is None and u["entry"]:
            src = f"ctx_{u['request']}" if self.u["requests"][u["request"]]["has_ctx"] else \
                f"req_{u['request']}"
        # Tree edges say what they are in an xlabel, placed after the layout,
        # so a label that comes and goes ("zombie list") does not move things.
        if c is None:
            if u["entry"] and lp is None:
                g.edge(src, node, label="entry_co_ctx", style="invis")
            else:
                g.edge(src, node, style="invis")
            return
        if (u["creator"] in shown_nodes and lp is None
                and u["request"] >= len(self.s["requests"])):
            # a pending timer's thread: its fake request (and ctx) come when it fires
            g.edge(u["creator"], node, style="dotted", xlabel="ngx.timer")
            return
        actual = self._resolve_parent(node, c)
        prev_c = self.prev_co.get(node) if self.prev_co is not None else None
        new_edge = self.prev_co is not None and (prev_c is None or prev_c["parent"] != c["parent"])
        hl = {"color": CHANGED, "penwidth": "2.5", "class": "changed"} if new_edge else {}
        zombie_of = None
        if actual and actual in self.co_by_node and c["name"] in self.co_by_node[actual]["zombies"]:
            zombie_of = actual
        if u["entry"] and lp is None:
            g.edge(src, node, label="entry_co_ctx")
            return
        if actual is None:
            # created, never resumed: parent_co_ctx is still NULL
            g.edge(src, node, style="dotted", xlabel="created", **hl)
        elif actual == lp or actual == src:
            if zombie_of:
                g.edge(src, node, style="dotted", xlabel="zombie list",
                       **{"color": OKABE_ITO["reddish_purple"], "penwidth": "2", **hl})
            else:
                g.edge(src, node, **hl)
        else:
            g.edge(src, node, style="invis")
            g.edge(actual, node, constraint="false", xlabel="parent",
                   style="dotted" if zombie_of else "solid", **hl)

    def _fold(self, parent, us, present):
        g = self.g
        def count(cos):
            out = {}
            for u in us:
                c = cos.get(u["node"])
                key = c["status"] if c is not None else "not yet created"
                out[key] = out.get(key, 0) + 1
            return out

        counts = count(present)
        changed = self.prev_co is not None and count(self.prev_co) != counts
        order = ["running", "suspended", "normal", "zombie", "dead", "not yet created"]
        rows = [f'<B>{len(us)} more</B> <FONT POINT-SIZE="8">({_h(us[0]["name"])} ... '
                f'{_h(us[-1]["name"])})</FONT>']
        rows += [_line(f"{counts[k]} {k.upper() if k in STATUS_FILL else k}", size=9)
                 for k in order if k in counts]
        if changed:
            rows.append(_line("* counts changed", size=9, colour=CHANGED, bold=True))
        node = f"fold_{parent}"
        g.node(node, label=_html(rows), shape="box", style="rounded,dashed",
               color=CHANGED if changed else DIM, penwidth="3" if changed else "1",
               width=CO_WIDTH, height=CO_HEIGHT, id=node, **({"class": "changed"} if changed else {}))
        g.edge(parent, node, style="dashed", xlabel="folded")

    # ------------------------------------------------------------ semaphores
    def _semaphores(self):
        """One small box per ngx.semaphore (``sem_<name>``): resources,
        count(), whether its wake-up event is posted, and its wait queue,
        head first; each waiting coroutine drawn has a dashed edge to it
        ("waits #k").  One the run has not made yet is an invisible
        placeholder, so the layout holds still."""
        g = self.g
        now = {x["name"]: x for x in self.s.get("semaphores", [])}
        before = None
        if self.p is not None:
            before = {x["name"]: x for x in self.p.get("semaphores", [])}
        ucos = self.u["coroutines"]
        for name in self.u.get("semaphores", []):
            node = f"sem_{name}"
            if ucos:                        # a column right of the first entry thread
                g.edge(ucos[0]["node"], node, style="invis")
            x = now.get(name)
            if x is None:
                g.node(node, label=f"{name}\nresources\nevent\nwaiting", shape="box", style="invis")
                continue
            changed = before is not None and before.get(name) != x
            q = x["wait_queue"]
            waiting = ", ".join(q[:4]) + (f" ... ({len(q)})" if len(q) > 4 else "") if q else "nobody"
            rows = [f'<B>{_h(name)}</B> <FONT POINT-SIZE="8">ngx.semaphore</FONT>',
                    _line(f"resources {x['resources']}, count() {x['count']}", size=9),
                    _line("event posted" if x["event_posted"] else "event not posted", size=9,
                          bold=x["event_posted"]),
                    _line(f"waiting: {waiting}", size=9)]
            if changed:
                was = before.get(name)
                rows.append(_line("* new" if was is None else "* changed", size=9, colour=CHANGED,
                                  bold=True))
            g.node(node, label=_html(rows), shape="box", style="rounded,filled",
                   fillcolor=POSTED_FILL if x["event_posted"] else "white",
                   color=CHANGED if changed else INK, penwidth="3" if changed else "1", id=node,
                   **({"class": "changed"} if changed else {}))
            for k, co in enumerate(q[:4]):
                j = next((i for i in range(len(self.names) - 1, -1, -1) if self.names[i] == co), None)
                if j is not None and self.nodes[j] in getattr(self, "shown_co", ()):
                    g.edge(self.nodes[j], node, style="dashed", constraint="false",
                           xlabel=f"waits #{k + 1}", color=OKABE_ITO["orange"])
