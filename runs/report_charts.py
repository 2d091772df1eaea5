"""Small inline SVG charts for the run report: no scripts, no fonts or files to fetch."""
from __future__ import annotations

from html import escape
from typing import Dict, List, Optional, Sequence, Tuple

WIDTH = 240
BAR_COLOR = "#4c78a8"


def histogram_svg(buckets: Sequence[Tuple[float, float, float]], height: int = 70) -> str:
    """Vertical bars, one per (low, high, fraction) bucket, scaled to the fullest bucket."""
    if not buckets:
        return '<span class="muted">no histogram</span>'
    top = max(f for _, _, f in buckets) or 1.0
    step = WIDTH / len(buckets)
    bars = []
    for i, (low, high, fraction) in enumerate(buckets):
        h = (height - 14) * fraction / top
        bars.append(f'<rect x="{i * step + 1:.1f}" y="{height - 14 - h:.1f}" width="{max(step - 2, 1):.1f}" '
                    f'height="{h:.1f}" fill="{BAR_COLOR}"><title>{low:.4g} to {high:.4g}: '
                    f'{fraction:.1%}</title></rect>')
    labels = (f'<text x="0" y="{height - 2}" font-size="10">{buckets[0][0]:.4g}</text>'
              f'<text x="{WIDTH}" y="{height - 2}" font-size="10" text-anchor="end">{buckets[-1][1]:.4g}</text>')
    return (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'role="img">{"".join(bars)}{labels}</svg>')


def top_values_svg(values: Dict[str, float], order: List[str]) -> str:
    """Horizontal bars of each value's share, in a shared order so splits line up side by side."""
    if not order:
        return '<span class="muted">no values</span>'
    row, label_width = 16, 90
    height = row * len(order)
    parts = []
    for i, value in enumerate(order):
        fraction = values.get(value, 0.0)
        y = i * row
        w = (WIDTH - label_width - 40) * fraction
        parts.append(f'<text x="{label_width - 4}" y="{y + 12}" font-size="11" text-anchor="end">'
                     f'{escape(value[:14])}</text>'
                     f'<rect x="{label_width}" y="{y + 3}" width="{w:.1f}" height="{row - 5}" fill="{BAR_COLOR}">'
                     f'<title>{escape(value)}: {fraction:.1%}</title></rect>'
                     f'<text x="{label_width + w + 3:.1f}" y="{y + 12}" font-size="10">{fraction:.0%}</text>')
    return (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'role="img">{"".join(parts)}</svg>')


OUTCOME_COLORS = {"pushed": "#11772d", "not blessed": "#d97706", "anomalies": "#b00020", "failed": "#555555",
                  "smoke test failed": "#b00020",
                  "nothing new": "#4c78a8", "ingested": "#9ca3af", "unfinished": "#9ca3af"}


def history_svg(points: Sequence[Tuple[float, Optional[float], str, str]],
                periods: Sequence[Tuple[float, float, str]],
                alerts: Sequence[Tuple[float, float, str]],
                metric: str, width: int = 900) -> str:
    """The metric per run over time, the version serving beneath it, and alert windows shaded.

    points: (time, metric value or None, outcome, label); periods: (start, end, version);
    alerts: (start, end, label). Times are epoch seconds.
    """
    times = [p[0] for p in points] + [t for s, e, _ in periods for t in (s, e)] + \
        [t for s, e, _ in alerts for t in (s, e)]
    if not times:
        return '<span class="muted">no runs yet</span>'
    t0, t1 = min(times), max(times)
    span = (t1 - t0) or 1.0
    left, right, top, plot_h, band_h = 50, 20, 10, 160, 22
    height = top + plot_h + 12 + band_h + 24

    def x(t: float) -> float:
        return left + (width - left - right) * (t - t0) / span

    values = [v for _, v, _, _ in points if v is not None]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = max((high - low) * 0.1, 0.01)
    low, high = low - pad, high + pad

    def y(v: float) -> float:
        return top + plot_h * (high - v) / (high - low)

    parts = [f'<rect x="{x(s):.1f}" y="{top}" width="{max(x(e) - x(s), 2):.1f}" height="{plot_h}" '
             f'fill="#b00020" opacity="0.12"><title>{escape(label)}</title></rect>' for s, e, label in alerts]
    for v in (low + pad, high - pad):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 4}" y="{y(v) + 4:.1f}" font-size="10" text-anchor="end">{v:.3f}</text>')
    measured = [(x(t), y(v)) for t, v, _, _ in points if v is not None]
    if len(measured) > 1:
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in sorted(measured))
        parts.append(f'<polyline points="{path}" fill="none" stroke="#bbb"/>')
    for t, v, outcome, label in points:
        color = OUTCOME_COLORS.get(outcome, BAR_COLOR)
        cy = y(v) if v is not None else top + plot_h - 4
        shape = (f'<circle cx="{x(t):.1f}" cy="{cy:.1f}" r="5" fill="{color}">' if v is not None else
                 f'<rect x="{x(t) - 4:.1f}" y="{cy - 4:.1f}" width="8" height="8" fill="{color}">')
        parts.append(f'{shape}<title>{escape(label)}</title></{"circle" if v is not None else "rect"}>')
    band_y = top + plot_h + 12
    for i, (s, e, version) in enumerate(periods):
        fill = ("#dbe7f3", "#c3d6ea")[i % 2]
        parts.append(f'<rect x="{x(s):.1f}" y="{band_y}" width="{max(x(e) - x(s), 2):.1f}" height="{band_h}" '
                     f'fill="{fill}" stroke="#fff"><title>version {escape(version)}</title></rect>'
                     f'<text x="{x(s) + 3:.1f}" y="{band_y + 15}" font-size="10">{escape(version)}</text>')
    parts.append(f'<text x="{left}" y="{height - 4}" font-size="10">{escape(metric)} per run (dots), '
                 f'version serving (band), alert windows (shaded)</text>')
    return (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'role="img">{"".join(parts)}</svg>')
