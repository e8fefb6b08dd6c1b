"""Server-side SVG: the operations-per-minute chart, the queue bars, capacity bars. Plain
strings with every value escaped; no script, no external font or stylesheet."""
from __future__ import annotations

import datetime as dt
from html import escape

from markupsafe import Markup

COLORS = {"SUCCEEDED": "#2e7d32", "FAILED": "#c62828", "used": "#1565c0", "reserved": "#f9a825",
          "free": "#cfd8dc"}


def operations_chart(start: dt.datetime, minutes: list[dict[str, int]], width: int = 720,
                     height: int = 140) -> Markup:
    """Stacked bars, one per minute: SUCCEEDED below, FAILED above."""
    n = max(len(minutes), 1)
    top = max([m["SUCCEEDED"] + m["FAILED"] for m in minutes] + [1])
    plot_h = height - 30
    bar_w = width / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="ops-chart" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="operations per minute by outcome">',
             f'<title>Operations ended per minute, last {n // 60} h (max {top}/min)</title>',
             f'<line x1="0" y1="{plot_h}" x2="{width}" y2="{plot_h}" stroke="#999"/>']
    for i, m in enumerate(minutes):
        y = plot_h
        for outcome in ("SUCCEEDED", "FAILED"):
            count = m[outcome]
            if not count:
                continue
            h = max(1.0, count / top * (plot_h - 10))
            y -= h
            when = (start + dt.timedelta(minutes=i)).strftime("%H:%M")
            parts.append(f'<rect class="bar {outcome.lower()}" x="{i * bar_w:.2f}" y="{y:.2f}" '
                         f'width="{max(bar_w - 0.5, 0.5):.2f}" height="{h:.2f}" fill="{COLORS[outcome]}">'
                         f'<title>{when} {outcome}: {count}</title></rect>')
    for i in range(0, n + 1, 60):
        label = (start + dt.timedelta(minutes=i)).strftime("%H:%M")
        parts.append(f'<text x="{min(i * bar_w, width - 30):.0f}" y="{height - 12}" font-size="10">{label}</text>')
    total_s = sum(m["SUCCEEDED"] for m in minutes)
    total_f = sum(m["FAILED"] for m in minutes)
    parts.append(f'<text x="4" y="12" font-size="11" fill="{COLORS["SUCCEEDED"]}">succeeded {total_s}</text>'
                 f'<text x="110" y="12" font-size="11" fill="{COLORS["FAILED"]}">failed {total_f}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def queue_chart(lengths: dict[str, int], width: int = 360, row_h: int = 18) -> Markup:
    top = max(list(lengths.values()) + [1])
    height = row_h * len(lengths) + 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="queue-chart" width="{width}" '
             f'height="{height}" role="img" aria-label="queue lengths">']
    for i, (queue, length) in enumerate(lengths.items()):
        w = length / top * (width - 140)
        y = i * row_h + 2
        parts.append(f'<text x="0" y="{y + 12}" font-size="11">{escape(queue)}</text>'
                     f'<rect x="90" y="{y}" width="{w:.1f}" height="{row_h - 4}" fill="{COLORS["used"]}"/>'
                     f'<text x="{95 + w:.0f}" y="{y + 12}" font-size="11">{length}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


QUEUE_COLORS = ("#1565c0", "#6a1b9a", "#00838f", "#ef6c00", "#5d4037", "#455a64")


def queue_history_chart(samples: list[tuple[dt.datetime, dict[str, int]]], start: dt.datetime,
                        end: dt.datetime, width: int = 720, height: int = 140) -> Markup:
    """One line per queue over [start, end], from the sampled lengths; each point's time and
    length in its title, each queue's latest length in the legend."""
    queues = sorted({q for _, lengths in samples for q in lengths})
    top = max([n for _, lengths in samples for n in lengths.values()] + [1])
    plot_h = height - 30
    span = max((end - start).total_seconds(), 1.0)

    def x(when: dt.datetime) -> float:
        return min(max((when - start).total_seconds() / span, 0.0), 1.0) * (width - 2) + 1

    def y(n: int) -> float:
        return plot_h - n / top * (plot_h - 18)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="queue-history" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="queue lengths over time">',
             f'<title>Queue lengths, sampled (max {top})</title>',
             f'<line x1="0" y1="{plot_h}" x2="{width}" y2="{plot_h}" stroke="#999"/>']
    for i, queue in enumerate(queues):
        color = QUEUE_COLORS[i % len(QUEUE_COLORS)]
        points = [(when, lengths[queue]) for when, lengths in samples if queue in lengths]
        path = " ".join(f"{x(w):.1f},{y(n):.1f}" for w, n in points)
        parts.append(f'<g class="queue" data-queue="{escape(queue)}"><polyline fill="none" stroke="{color}" '
                     f'stroke-width="1.5" points="{path}"/>')
        for when, n in points:
            parts.append(f'<circle cx="{x(when):.1f}" cy="{y(n):.1f}" r="2" fill="{color}">'
                         f'<title>{when.strftime("%H:%M")} {escape(queue)}: {n}</title></circle>')
        parts.append("</g>")
        latest = points[-1][1] if points else 0
        parts.append(f'<text class="legend" x="{4 + i * 120}" y="12" font-size="11" fill="{color}">'
                     f'{escape(queue)} {latest}</text>')
    steps = max(int(span // 3600), 1)
    for i in range(steps + 1):
        when = start + dt.timedelta(seconds=span * i / steps)
        parts.append(f'<text x="{min(x(when), width - 30):.0f}" y="{height - 12}" font-size="10">'
                     f'{when.strftime("%H:%M")}</text>')
    if not samples:
        parts.append(f'<text x="{width / 2 - 80:.0f}" y="{plot_h / 2:.0f}" font-size="11">no samples yet</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def capacity_bars(label: str, total: int, used: int, reserved: int, unit: str, width: int = 200) -> Markup:
    """One bar: used (what Ganeti reports taken), reserved (what the orchestrator placed
    beyond it), free; each part's size in its title."""
    total = max(int(total or 0), 0)
    used = min(max(int(used or 0), 0), total) if total else 0
    reserved = min(max(int(reserved or 0), 0), max(total - used, 0))
    free = max(total - used - reserved, 0)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="bar" width="{width}" height="16" role="img" '
             f'aria-label="{escape(label)}: {used} used, {reserved} reserved, {free} free of {total} {unit}">']
    x = 0.0
    for name, value in (("used", used), ("reserved", reserved), ("free", free)):
        w = (value / total * width) if total else (width if name == "free" else 0)
        if w:
            parts.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="16" fill="{COLORS[name]}">'
                         f'<title>{name}: {value} {unit}</title></rect>')
        x += w
    parts.append("</svg>")
    return Markup("".join(parts))


def pool_use(pool) -> Markup:
    return capacity_bars(f"pool {pool.id}", pool.size, pool.used, pool.reserved, "values", width=200)
