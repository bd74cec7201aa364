"""Server-rendered flow diagrams (SVG) and the layered layout they and BPMN export share.

Why on the server: the designer and an instance's page show the same picture
without any JavaScript (CSP: ``script-src 'self'``), and the picture is
styled only through CSS classes (``core/themes/default/static/flows.css``) because
``style`` attributes are refused too. Shapes carry plain presentation
attributes (``fill``/``stroke``) as a fallback so a downloaded SVG is still
readable; the stylesheet overrides them.

Layout (a small Sugiyama pipeline):

1. back edges (returns, rework loops) are found by a depth-first walk from the
   start node and left out of the layering;
2. longest-path layering over the remaining acyclic graph, long edges split by
   dummy vertices so they route between nodes;
3. crossing reduction by barycentre sweeps (the order with the fewest
   crossings wins);
4. coordinates: each vertex pulled towards the mean of its neighbours while
   keeping its layer's order and spacing.

Forward edges are drawn orthogonally between layers; back edges as curved
arcs outside the nodes they pass. Layers run top to bottom for screens (tall
pictures read well on a phone) and left to right for BPMN export.

The definition may be half-edited (the designer renders while an
administrator works): unknown node types, transitions to missing nodes and
duplicate ids never raise; what cannot be drawn is left out.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from html import escape
from typing import Any, Iterable, Mapping

from ccms.i18n import CORE_LOCALES, Catalog

Point = tuple[float, float]

SIZES: dict[str, tuple[float, float]] = {
    "start": (36, 36), "end": (36, 36),
    "exclusive": (50, 50), "parallel": (50, 50), "join": (50, 50),
    "task": (150, 60), "auto": (150, 60), "subflow": (150, 60),
    "placeholder": (150, 60),  # a BPMN element awaiting replacement (ccms.flows.bpmn_draft)
}
DEFAULT_SIZE = (150, 60)
ROUND_TYPES = {"start", "end"}
GATEWAY_TYPES = {"exclusive", "parallel", "join"}
BOX_TYPES = {"task", "auto", "subflow", "placeholder"}
MARGIN = 20
GAP_ORDER = 36  # between neighbours within a layer
GAP_RANK = {"TB": 74, "LR": 90}  # between layers (room for edge labels)
DUMMY_FOOT = 14
FONT = 13  # px, node titles
SMALL = 11  # px, edge labels and meta lines
SWEEPS = 12
COUNTER_NAMES = ("rework_count", "extend_count", "return_count")  # definition.COUNTERS (no import cycle)
STATE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")

_catalog: Catalog | None = None


def _t(key: str, locale: str) -> str:
    global _catalog
    if _catalog is None:
        _catalog = Catalog([CORE_LOCALES])
    return _catalog.gettext(key, locale)


def _units(locale: str) -> dict[str, str]:
    return {"minutes": _t("flows_diagram.unit_minutes", locale),
            "work_hours": _t("flows_diagram.unit_work_hours", locale),
            "work_days": _t("flows_diagram.unit_work_days", locale)}


def localize(value: Any, locale: str) -> str:
    """A title or label: a plain string or ``{"zh-CN": ..., "en": ...}``."""
    if isinstance(value, Mapping):
        text = value.get(locale) or value.get("zh-CN") or next((v for v in value.values() if v), "")
        return str(text or "")
    return "" if value is None else str(value)


def text_width(text: str, size: float = FONT) -> float:
    """Rough rendered width: CJK and full-width glyphs are 1 em, the rest about 0.58 em."""
    w = 0.0
    for ch in text:
        w += size if ord(ch) > 0x2E7F else size * 0.58
    return w


def wrap(text: str, width: float, size: float = FONT, max_lines: int = 2) -> list[str]:
    """Break ``text`` into lines no wider than ``width``; the last line ends in … when cut."""
    text = " ".join(text.split())
    if not text:
        return []
    lines: list[str] = []
    line = ""
    for ch in text:
        if text_width(line + ch, size) > width and line:
            lines.append(line.rstrip())
            line = "" if ch == " " else ch
            if len(lines) == max_lines:
                break
        else:
            line += ch
    else:
        if line:
            lines.append(line)
        return lines
    last = lines[-1]
    while last and text_width(last + "…", size) > width:
        last = last[:-1]
    lines[-1] = last + "…"
    return lines


def clip(text: str, width: float, size: float = SMALL) -> str:
    return (wrap(text, width, size, 1) or [""])[0]


# ---------------------------------------------------------------------------
# graph


@dataclass
class Edge:
    index: int  # position in definition["transitions"]
    source: str
    target: str
    data: Mapping[str, Any]
    back: bool = False
    chain: list[Any] = field(default_factory=list)  # vertices from source to target (dummies between)
    dup: int = 0  # how many earlier edges share (source, target)


@dataclass
class Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (round(self.x, 1), round(self.y, 1), round(self.w, 1), round(self.h, 1))


@dataclass
class Route:
    edge: Edge
    points: list[Point]  # orthogonal polyline (for back edges: the BPMN-style detour)
    arc: tuple[Point, Point, Point, Point] | None = None  # cubic Bézier for back edges / self-loops
    label_at: Point = (0.0, 0.0)


@dataclass
class Layout:
    direction: str
    nodes: dict[str, Box]
    types: dict[str, str]
    routes: list[Route]
    reachable: set[str]
    width: float
    height: float


def _nodes(definition: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for n in definition.get("nodes") or []:
        if isinstance(n, Mapping) and isinstance(n.get("id"), str) and n["id"] and n["id"] not in out:
            out[n["id"]] = n
    return out


def _edges(definition: Mapping[str, Any], nodes: Mapping[str, Any]) -> list[Edge]:
    edges: list[Edge] = []
    seen: dict[tuple[str, str], int] = {}
    for i, t in enumerate(definition.get("transitions") or []):
        if not isinstance(t, Mapping):
            continue
        s, d = t.get("from"), t.get("to")
        if isinstance(s, str) and isinstance(d, str) and s in nodes and d in nodes:
            key = (s, d)
            edges.append(Edge(i, s, d, t, dup=seen.get(key, 0)))
            seen[key] = seen.get(key, 0) + 1
    return edges


def _mark_back_edges(order: list[str], types: Mapping[str, str], edges: list[Edge]) -> set[str]:
    """Depth-first from the start node(s), then from anything left: edges to a vertex on the stack are back edges.

    Returns the set of nodes reachable from a start node.
    """
    out: dict[str, list[Edge]] = {n: [] for n in order}
    for e in edges:
        out[e.source].append(e)
    state: dict[str, int] = {}  # 1 on stack, 2 done

    def dfs(root: str) -> None:
        stack: list[tuple[str, Iterable[Edge]]] = [(root, iter(out[root]))]
        state[root] = 1
        while stack:
            v, it = stack[-1]
            for e in it:
                if e.source == e.target or state.get(e.target) == 1:
                    e.back = True
                elif e.target not in state:
                    state[e.target] = 1
                    stack.append((e.target, iter(out[e.target])))
                    break
            else:
                state[v] = 2
                stack.pop()

    starts = [n for n in order if types[n] == "start"]
    for s in starts:
        if s not in state:
            dfs(s)
    reachable = set(state)
    # roots of what is left first (nodes nobody points to), then anything in a cycle of its own
    has_in = {e.target for e in edges if e.source != e.target}
    for n in [n for n in order if n not in has_in] + order:
        if n not in state:
            dfs(n)
    return reachable


def _layers(order: list[str], edges: list[Edge]) -> dict[str, int]:
    """Longest-path layering over the forward edges (Kahn order, so it is linear)."""
    fwd = [e for e in edges if not e.back]
    indeg = {n: 0 for n in order}
    succ: dict[str, list[str]] = {n: [] for n in order}
    for e in fwd:
        indeg[e.target] += 1
        succ[e.source].append(e.target)
    layer = {n: 0 for n in order}
    queue = [n for n in order if indeg[n] == 0]
    i = 0
    while i < len(queue):
        v = queue[i]
        i += 1
        for w in succ[v]:
            layer[w] = max(layer[w], layer[v] + 1)
            indeg[w] -= 1
            if indeg[w] == 0:
                queue.append(w)
    return layer


def _crossings(upper: list[Any], lower: list[Any], segs: list[tuple[Any, Any]]) -> int:
    pu = {v: i for i, v in enumerate(upper)}
    pl = {v: i for i, v in enumerate(lower)}
    pairs = sorted((pu[a], pl[b]) for a, b in segs)
    count = 0
    for i in range(len(pairs)):
        for j in range(i + 1, len(pairs)):
            if pairs[i][0] < pairs[j][0] and pairs[i][1] > pairs[j][1]:
                count += 1
    return count


def _order_layers(layers: list[list[Any]], segs: list[list[tuple[Any, Any]]]) -> list[list[Any]]:
    """Barycentre sweeps down and up; keep the ordering with the fewest crossings."""
    def total(ls: list[list[Any]]) -> int:
        return sum(_crossings(ls[i], ls[i + 1], segs[i]) for i in range(len(ls) - 1))

    best = [list(l) for l in layers]
    best_c = total(best)
    cur = [list(l) for l in layers]
    for sweep in range(SWEEPS):
        if best_c == 0:
            break
        down = sweep % 2 == 0
        rng = range(1, len(cur)) if down else range(len(cur) - 2, -1, -1)
        for i in rng:
            ref = cur[i - 1] if down else cur[i + 1]
            pos = {v: k for k, v in enumerate(ref)}
            nbrs: dict[Any, list[int]] = {v: [] for v in cur[i]}
            for a, b in (segs[i - 1] if down else segs[i]):
                if down:
                    nbrs[b].append(pos[a])
                else:
                    nbrs[a].append(pos[b])
            bary = {v: (sum(p) / len(p) if p else float(k)) for k, (v, p) in enumerate(nbrs.items())}
            cur[i] = sorted(cur[i], key=lambda v: bary[v])  # stable: ties keep their order
        c = total(cur)
        if c < best_c:
            best, best_c = [list(l) for l in cur], c
    return best


def _place(layer: list[Any], desired: dict[Any, float], foot: Mapping[Any, float]) -> dict[Any, float]:
    """Positions as close to ``desired`` as the order and spacing allow (mean of a left and a right push)."""
    n = len(layer)
    if not n:
        return {}
    sep = [(foot[layer[k]] + foot[layer[k + 1]]) / 2 + GAP_ORDER for k in range(n - 1)]
    a = [desired[layer[0]]]
    for k in range(1, n):
        a.append(max(desired[layer[k]], a[-1] + sep[k - 1]))
    b = [0.0] * n
    b[-1] = desired[layer[-1]]
    for k in range(n - 2, -1, -1):
        b[k] = min(desired[layer[k]], b[k + 1] - sep[k])
    return {layer[k]: (a[k] + b[k]) / 2 for k in range(n)}


def _footprint(node: Mapping[str, Any], ntype: str, direction: str, locale: str) -> tuple[float, float]:
    """(order-axis footprint, rank-axis extent) of a node: events and gateways keep room for their side label."""
    w, h = SIZES.get(ntype, DEFAULT_SIZE)
    if direction == "LR":
        return h, w
    if ntype in ROUND_TYPES or ntype in GATEWAY_TYPES:
        label = _outside_label(node, ntype, locale)
        if label:
            return w + 2 * (min(text_width(label, SMALL), 110) + 8), h
    return w, h


def _outside_label(node: Mapping[str, Any], ntype: str, locale: str) -> str:
    return localize(node.get("title"), locale)


def compute_layout(definition: Mapping[str, Any], direction: str = "TB", locale: str = "zh-CN") -> Layout:
    """Place every node and route every transition; ``direction`` is ``TB`` (screens) or ``LR`` (BPMN)."""
    nodes = _nodes(definition)
    order = list(nodes)
    types = {n: str(nodes[n].get("type") or "") for n in order}
    edges = _edges(definition, nodes)
    reachable = _mark_back_edges(order, types, edges)
    layer_of = _layers(order, edges)
    n_layers = max(layer_of.values(), default=-1) + 1
    layers: list[list[Any]] = [[] for _ in range(n_layers)]
    for n in order:  # definition order is the first guess
        layers[layer_of[n]].append(n)
    segs: list[list[tuple[Any, Any]]] = [[] for _ in range(max(n_layers - 1, 0))]
    for e in edges:
        if e.back:
            continue
        chain: list[Any] = [e.source]
        for k in range(layer_of[e.source] + 1, layer_of[e.target]):
            d = ("dummy", e.index, k)
            layers[k].append(d)
            chain.append(d)
        chain.append(e.target)
        e.chain = chain
        for a, b in zip(chain, chain[1:]):
            segs[layer_of[a] if isinstance(a, str) else a[2]].append((a, b))
    layers = _order_layers(layers, segs)

    foot: dict[Any, float] = {}
    extent: dict[Any, float] = {}
    for layer in layers:
        for v in layer:
            if isinstance(v, str):
                foot[v], extent[v] = _footprint(nodes[v], types[v], direction, locale)
            else:
                foot[v], extent[v] = DUMMY_FOOT, 0.0

    # order-axis coordinates: packed, then pulled towards neighbours a few times
    pos: dict[Any, float] = {}
    for layer in layers:
        width = sum(foot[v] for v in layer) + GAP_ORDER * max(len(layer) - 1, 0)
        x = -width / 2
        for v in layer:
            pos[v] = x + foot[v] / 2
            x += foot[v] + GAP_ORDER
    up: dict[Any, list[Any]] = {}
    down: dict[Any, list[Any]] = {}
    for ss in segs:
        for a, b in ss:
            down.setdefault(a, []).append(b)
            up.setdefault(b, []).append(a)
    for it in range(8):
        seq = range(1, len(layers)) if it % 2 == 0 else range(len(layers) - 2, -1, -1)
        nb = up if it % 2 == 0 else down
        for i in seq:
            desired = {v: (sum(pos[u] for u in nb[v]) / len(nb[v]) if nb.get(v) else pos[v]) for v in layers[i]}
            pos.update(_place(layers[i], desired, foot))

    # rank-axis bands
    band_start: list[float] = []
    band_size: list[float] = []
    r = 0.0
    for layer in layers:
        size = max((extent[v] for v in layer), default=0.0)
        band_start.append(r)
        band_size.append(size)
        r += size + GAP_RANK[direction]
    left = min((pos[v] - foot[v] / 2 for v in pos), default=0.0)
    shift = MARGIN - left
    for v in pos:
        pos[v] += shift

    def to_xy(o: float, rk: float) -> Point:
        return (o, rk + MARGIN) if direction == "TB" else (rk + MARGIN, o)

    boxes: dict[str, Box] = {}
    for i, layer in enumerate(layers):
        for v in layer:
            if not isinstance(v, str):
                continue
            w, h = SIZES.get(types[v], DEFAULT_SIZE)
            ext_o, ext_r = (w, h) if direction == "TB" else (h, w)
            o0 = pos[v] - ext_o / 2
            r0 = band_start[i] + (band_size[i] - ext_r) / 2
            x, y = to_xy(o0, r0)
            boxes[v] = Box(x, y, w, h)

    def layer_idx(v: Any) -> int:
        return layer_of[v] if isinstance(v, str) else v[2]

    def o_ext(v: str) -> float:
        b = boxes[v]
        return b.w if direction == "TB" else b.h

    def r_lo(v: Any) -> float:  # rank coordinate where v begins
        i = layer_idx(v)
        if isinstance(v, str):
            return band_start[i] + (band_size[i] - extent[v]) / 2
        return band_start[i]

    def r_hi(v: Any) -> float:
        i = layer_idx(v)
        if isinstance(v, str):
            return r_lo(v) + extent[v]
        return band_start[i] + band_size[i]

    # horizontal runs between two layers: one level per source vertex, so runs from different
    # sources never lie on top of each other (a fan-out from one source shares its level)
    level: dict[tuple[Any, Any], float] = {}
    for i, ss in enumerate(segs):
        gap_lo, gap_hi = band_start[i] + band_size[i], band_start[i + 1]
        mid = (gap_lo + gap_hi) / 2
        sources = sorted({a for a, b in ss if abs(pos[a] - pos[b]) > 0.5}, key=lambda a: pos[a])
        n = len(sources)
        step = min(10.0, (gap_hi - gap_lo - 40) / max(n - 1, 1)) if n > 1 else 0.0
        for k, a in enumerate(sources):
            for a2, b in ss:
                if a2 == a:
                    level[(a, b)] = mid + (k - (n - 1) / 2) * step

    routes: list[Route] = []
    back_k = 0
    far_o = max((pos[v] + foot[v] / 2 for v in pos), default=0.0)
    for e in edges:
        if e.back:
            s, t = e.source, e.target
            if s == t:
                o_side = pos[s] + o_ext(s) / 2
                rc = (r_lo(s) + r_hi(s)) / 2
                p0, p3 = to_xy(o_side, rc - 8), to_xy(o_side, rc + 8)
                c1, c2 = to_xy(o_side + 46, rc - 34), to_xy(o_side + 46, rc + 34)
                pts = [p0, to_xy(o_side + 24, rc - 8), to_xy(o_side + 24, rc + 8), p3]
                routes.append(Route(e, pts, (p0, c1, c2, p3), to_xy(o_side + 40, rc)))
                continue
            lo, hi = sorted((layer_of[s], layer_of[t]))
            span = [v for i in range(lo, hi + 1) for v in layers[i]]
            bulge = max(pos[v] + foot[v] / 2 for v in span) + 30 + 16 * back_k
            back_k += 1
            rs, rt = (r_lo(s) + r_hi(s)) / 2, (r_lo(t) + r_hi(t)) / 2
            os_, ot = pos[s] + o_ext(s) / 2, pos[t] + o_ext(t) / 2
            p0, p3 = to_xy(os_, rs), to_xy(ot, rt)
            arc = (p0, to_xy(bulge, rs), to_xy(bulge, rt), p3)
            pts = [p0, to_xy(bulge - 12, rs), to_xy(bulge - 12, rt), p3]
            mid_o = 0.125 * os_ + 0.75 * bulge + 0.125 * ot
            routes.append(Route(e, pts, arc, to_xy(mid_o + 4, (rs + rt) / 2)))
            far_o = max(far_o, bulge)
            continue
        off = 10.0 * e.dup
        chain = e.chain
        pts_or: list[Point] = [(pos[chain[0]] + off, r_hi(chain[0]))]
        label_or: Point = (0.0, 0.0)
        for k, (a, b) in enumerate(zip(chain, chain[1:])):
            gap_lo = band_start[layer_idx(a)] + band_size[layer_idx(a)]
            gap_hi = band_start[layer_idx(b)]
            mid = level.get((a, b), (gap_lo + gap_hi) / 2)
            pts_or += [(pos[a] + off, mid), (pos[b] + off, mid), (pos[b] + off, r_lo(b))]
            if k == 0:
                label_or = (pos[b] + off + 5, (mid + r_lo(b)) / 2)
            if not isinstance(b, str):
                pts_or.append((pos[b] + off, r_hi(b)))
        pts = _simplify([to_xy(o, rk) for o, rk in pts_or])
        routes.append(Route(e, pts, None, to_xy(*label_or)))

    total_r = (band_start[-1] + band_size[-1]) if layers else 0.0
    total_o = far_o + MARGIN
    w, h = (total_o, total_r + 2 * MARGIN) if direction == "TB" else (total_r + 2 * MARGIN, total_o)
    return Layout(direction, boxes, types, routes, reachable, w, h)


def _simplify(points: list[Point]) -> list[Point]:
    out: list[Point] = []
    for p in points:
        p = (round(p[0], 1), round(p[1], 1))
        if out and p == out[-1]:
            continue
        if len(out) >= 2:
            a, b = out[-2], out[-1]
            if (a[0] == b[0] == p[0]) or (a[1] == b[1] == p[1]):
                out[-1] = p
                continue
        out.append(p)
    return out


def layout(definition: Mapping[str, Any], direction: str = "TB") -> dict[str, tuple[float, float, float, float]]:
    """Node boxes ``{node_id: (x, y, w, h)}`` of the diagram (``direction`` ``TB`` or ``LR`` for BPMN)."""
    return {n: b.as_tuple() for n, b in compute_layout(definition, direction).nodes.items()}


# ---------------------------------------------------------------------------
# SVG


def _f(v: float) -> str:
    s = f"{v:.1f}"
    return s[:-2] if s.endswith(".0") else s


def _attr(value: Any) -> str:
    return escape(str(value), quote=True)


def _classes(*names: str) -> str:
    return " ".join(n for n in names if n)


def _var_title(name: str, variables: Mapping[str, Any] | None, locale: str) -> str:
    """A variable's title from the definition (``variables.<name>.title``), or "" when it has none."""
    v = (variables or {}).get(name)
    return localize(v.get("title"), locale) if isinstance(v, Mapping) else ""


def _limit_text(limit: Any, locale: str, variables: Mapping[str, Any] | None = None) -> str:
    if not isinstance(limit, Mapping):
        return ""
    amount = limit.get("amount")
    if isinstance(amount, bool) or amount is None:
        return ""
    unit = _units(locale).get(str(limit.get("unit")), str(limit.get("unit") or ""))
    if isinstance(amount, str):  # set per instance from a variable: its title says from where
        return _var_title(amount, variables, locale) or _t("flows_diagram.limit_variable", locale)
    if isinstance(amount, float) and amount.is_integer():
        amount = int(amount)
    return f"{amount} {unit}".strip()


_COND_TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>'[^']*'|\"[^\"]*\")|(?P<name>[A-Za-z_][\w.]*)"
                         r"|(?P<op>==|!=|>=|<=|>|<|\(|\)|\+|-|\*|/|%|,))")
_COND_WORDS = {"and": "and", "or": "or", "not": "not", "true": "true", "false": "false", "True": "true",
               "False": "false", "in": "in", "none": "none", "None": "none", "null": "none"}
_COND_OPS = {"==": "=", "!=": "≠", ">=": "≥", "<=": "≤"}


def condition_text(cond: str, variables: Mapping[str, Any] | None, locale: str = "zh-CN") -> str | None:
    """A condition in words (variable titles, 且/或/非), or None when a name in it has no title:
    the diagram then says "满足条件时" and keeps the expression in the tooltip for flow authors."""
    out: list[str] = []
    pos, text = 0, cond.strip()
    while pos < len(text):
        m = _COND_TOKEN.match(text, pos)
        if not m or m.end() == pos:
            return None
        pos = m.end()
        if m.group("name"):
            word = _COND_WORDS.get(m.group("name"))
            if word:
                out.append(_t(f"flows_diagram.cond_{word}", locale))
                continue
            title = _var_title(m.group("name"), variables, locale) or (
                _t(f"flows_diagram.counter_{m.group('name')}", locale) if m.group("name") in COUNTER_NAMES else "")
            if not title:
                return None
            out.append(title)
        elif m.group("op"):
            out.append(_COND_OPS.get(m.group("op"), m.group("op")))
        else:
            out.append(m.group("num") or m.group("str"))
    return " ".join(out).replace("( ", "(").replace(" )", ")")


def edge_label(t: Mapping[str, Any], locale: str = "zh-CN", variables: Mapping[str, Any] | None = None) -> str:
    """What a transition's line says: its label or action, condition, default, timer, rework."""
    parts: list[str] = []
    text = localize(t.get("label"), locale) or str(t.get("action") or "")
    if text:
        parts.append(text)
    if t.get("timer"):
        parts.append(_t("flows_diagram.timer", locale).format(limit=_limit_text(t.get("timer"), locale, variables)))
    rework = _t("flows_diagram.rework", locale)
    if t.get("rework") and rework not in text:
        parts.append(rework)
    cond = t.get("condition")
    if isinstance(cond, str) and cond.strip():
        words = condition_text(cond, variables, locale)
        parts.append(_t("flows_diagram.when", locale).format(condition=words) if words
                     else _t("flows_diagram.when_any", locale))
    if t.get("default"):
        parts.append(_t("flows_diagram.default", locale))
    return " ".join(parts)


def _node_svg(nid: str, node: Mapping[str, Any], ntype: str, box: Box, classes: str, locale: str,
              variables: Mapping[str, Any] | None = None) -> list[str]:
    title = localize(node.get("title"), locale)
    type_name = _t(f"flows_diagram.type_{ntype}", locale) if ntype in SIZES else ntype
    tip = " · ".join(x for x in (title or nid, type_name) if x)
    out = [f'<g class="{_attr(classes)}" data-node="{_attr(nid)}" data-testid="flow-node-{_attr(nid)}">',
           f"<title>{escape(tip)}</title>"]
    x, y, w, h, cx, cy = box.x, box.y, box.w, box.h, box.cx, box.cy
    shape = 'class="fd-shape" fill="#fff" stroke="#1f2328"'
    if ntype in ROUND_TYPES:
        out.append(f'<circle {shape} cx="{_f(cx)}" cy="{_f(cy)}" r="{_f(w / 2)}"/>')
    elif ntype in GATEWAY_TYPES:
        pts = f"{_f(cx)},{_f(y)} {_f(x + w)},{_f(cy)} {_f(cx)},{_f(y + h)} {_f(x)},{_f(cy)}"
        out.append(f'<polygon {shape} points="{pts}"/>')
        d = 9.0
        if ntype == "exclusive":
            mark = f"M{_f(cx - d)},{_f(cy - d)}L{_f(cx + d)},{_f(cy + d)}M{_f(cx + d)},{_f(cy - d)}L{_f(cx - d)},{_f(cy + d)}"
        else:
            d = 11.0
            mark = f"M{_f(cx)},{_f(cy - d)}V{_f(cy + d)}M{_f(cx - d)},{_f(cy)}H{_f(cx + d)}"
        out.append(f'<path class="fd-mark" fill="none" stroke="#1f2328" d="{mark}"/>')
    else:
        out.append(f'<rect {shape} x="{_f(x)}" y="{_f(y)}" width="{_f(w)}" height="{_f(h)}" rx="10" ry="10"/>')
        if ntype == "auto":
            out.append(f'<text class="fd-icon" fill="#59636e" x="{_f(x + 6)}" y="{_f(y + 15)}">⚙</text>')
        elif ntype == "placeholder":
            out.append(f'<text class="fd-icon fd-todo" fill="#bc4c00" x="{_f(x + 6)}" y="{_f(y + 15)}">⚠</text>')
        elif ntype == "subflow":
            out.append(f'<rect class="fd-mark" fill="none" stroke="#1f2328" x="{_f(cx - 7)}" '
                       f'y="{_f(y + h - 15)}" width="14" height="14"/>')
            out.append(f'<path class="fd-mark" fill="none" stroke="#1f2328" '
                       f'd="M{_f(cx - 4)},{_f(y + h - 8)}H{_f(cx + 4)}M{_f(cx)},{_f(y + h - 12)}V{_f(y + h - 4)}"/>')
        if node.get("multi"):
            mx, my = cx - 6, y + h - 14
            out.append(f'<path class="fd-mark" fill="none" stroke="#1f2328" '
                       f'd="M{_f(mx)},{_f(my)}v10M{_f(mx + 6)},{_f(my)}v10M{_f(mx + 12)},{_f(my)}v10"/>')
    if ntype in BOX_TYPES or ntype not in SIZES:
        meta = _limit_text(node.get("time_limit"), locale, variables) if ntype == "task" else ""
        if ntype == "auto" and node.get("action"):
            meta = str(node.get("action"))
        if ntype == "subflow" and node.get("flow"):
            meta = "→ " + str(node.get("flow"))
        lines = wrap(title or nid, w - 18, FONT, 1 if meta else 2)
        if meta:
            if ntype == "task":
                meta = _t("flows_diagram.limit", locale).format(limit=meta)
            lines_meta = [clip(meta, w - 18, SMALL)]
        else:
            lines_meta = []
        n = len(lines) + len(lines_meta)
        top = cy - (n * 16) / 2 + 12 - (4 if ntype in ("subflow",) or node.get("multi") else 0)
        for i, line in enumerate(lines):
            out.append(f'<text class="fd-text" fill="#1f2328" text-anchor="middle" font-size="{FONT}" '
                       f'x="{_f(cx)}" y="{_f(top + 16 * i)}">{escape(line)}</text>')
        for line in lines_meta:
            out.append(f'<text class="fd-meta" fill="#59636e" text-anchor="middle" font-size="{SMALL}" '
                       f'x="{_f(cx)}" y="{_f(top + 16 * len(lines))}">{escape(line)}</text>')
    elif title:
        line = clip(title, 110, SMALL)  # on the left: incoming edge labels sit on the right
        out.append(f'<text class="fd-label" fill="#1f2328" text-anchor="end" font-size="{SMALL}" '
                   f'x="{_f(x - 6)}" y="{_f(y + 4)}">{escape(line)}</text>')
    out.append("</g>")
    return out


def render_svg(definition: Mapping[str, Any], highlight: Iterable[str] = frozenset(),
               states: Mapping[str, str] | None = None, locale: str = "zh-CN") -> str:
    """The flow as an SVG fragment to embed in a page (inline, so flows.css applies).

    ``highlight``: node ids drawn as current (class ``current``); ``states``:
    node id -> a state word (``done``, ``active``, ``waiting``, ...) added as
    class ``state-<word>``. Administrators' names are escaped, never markup.
    """
    lay = compute_layout(definition, "TB", locale)
    nodes = _nodes(definition)
    highlight = set(highlight or ())
    states = dict(states or {})
    digest = hashlib.sha1(json.dumps(definition, sort_keys=True, default=str,
                                     ensure_ascii=False).encode()).hexdigest()[:8]
    arrow = f"fd-arrow-{digest}"
    flow_title = localize(definition.get("title"), locale) or str(definition.get("id") or "")
    variables = definition.get("variables") if isinstance(definition.get("variables"), Mapping) else None

    edge_parts: list[str] = []
    label_parts: list[str] = []
    max_x, max_y = lay.width, lay.height
    for r in lay.routes:
        t = r.edge.data
        kind = _classes("fd-edge", "fd-back" if r.edge.back else "", "fd-timer" if t.get("timer") else "",
                        "fd-default" if t.get("default") else "", "fd-rework" if t.get("rework") else "",
                        "fd-conditional" if t.get("condition") else "")
        if r.arc:
            p0, c1, c2, p3 = r.arc
            d = f"M{_f(p0[0])},{_f(p0[1])}C{_f(c1[0])},{_f(c1[1])} {_f(c2[0])},{_f(c2[1])} {_f(p3[0])},{_f(p3[1])}"
        else:
            d = "M" + "L".join(f"{_f(x)},{_f(y)}" for x, y in r.points)
        tip = f"{r.edge.source} → {r.edge.target}"
        full = edge_label(t, locale, variables)
        cond = t.get("condition")
        if isinstance(cond, str) and cond.strip():  # the expression itself, for flow authors (tooltip)
            tip += f" [{cond.strip()}]"
        edge_parts.append(f'<path class="{kind}" fill="none" stroke="#57606a" marker-end="url(#{arrow})" '
                          f'data-from="{_attr(r.edge.source)}" data-to="{_attr(r.edge.target)}" d="{d}">'
                          f"<title>{escape(tip + (': ' + full if full else ''))}</title></path>")
        if t.get("default") and not r.arc and len(r.points) >= 2:
            (x0, y0), (x1, y1) = r.points[0], r.points[1]
            length = math.hypot(x1 - x0, y1 - y0) or 1
            ux, uy = (x1 - x0) / length, (y1 - y0) / length
            mx, my = x0 + ux * 8, y0 + uy * 8
            edge_parts.append(f'<path class="fd-default-mark" fill="none" stroke="#57606a" '
                              f'd="M{_f(mx - 5 * ux + 5 * uy)},{_f(my - 5 * uy - 5 * ux)}'
                              f'L{_f(mx + 5 * ux - 5 * uy)},{_f(my + 5 * uy + 5 * ux)}"/>')
        if full:
            text = clip(full, 170, SMALL)
            lx, ly = r.label_at
            label_parts.append(f'<text class="fd-edge-label" fill="#1f2328" font-size="{SMALL}" '
                               f'x="{_f(lx)}" y="{_f(ly + 4)}">{escape(text)}<title>{escape(full)}</title></text>')
            max_x = max(max_x, lx + text_width(text, SMALL) + MARGIN)

    node_parts: list[str] = []
    for nid, box in lay.nodes.items():
        ntype = lay.types[nid]
        state = states.get(nid)
        cls = _classes("fd-node", f"fd-{ntype}" if ntype in SIZES else "fd-unknown",
                       "current" if nid in highlight else "",
                       f"state-{state}" if isinstance(state, str) and STATE_RE.match(state) else "",
                       "" if nid in lay.reachable else "fd-unreachable")
        node_parts += _node_svg(nid, nodes[nid], ntype, box, cls, locale, variables)
        if ntype not in BOX_TYPES and ntype in SIZES and localize(nodes[nid].get("title"), locale):
            max_x = max(max_x, box.x + box.w + 6 + min(text_width(localize(nodes[nid].get("title"), locale),
                                                                    SMALL), 110) + MARGIN)

    w, h = math.ceil(max(max_x, 120)), math.ceil(max(max_y, 60))
    aria = escape(_t("flows_diagram.aria", locale).format(title=flow_title) if flow_title
                  else _t("flows_diagram.aria_untitled", locale))
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="flow-diagram" data-testid="flow-diagram" '
            f'viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
            f'font-family="system-ui, sans-serif">'
            f"<title>{aria}</title>"
            f'<defs><marker id="{arrow}" class="fd-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
            f'markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
            f'<path class="fd-arrowhead" fill="#57606a" d="M0,0L10,5L0,10z"/></marker></defs>')
    body = ['<g class="fd-edges">', *edge_parts, "</g>", '<g class="fd-nodes">', *node_parts, "</g>",
            '<g class="fd-edge-labels">', *label_parts, "</g>"]
    return head + "".join(body) + "</svg>"
