"""Small inline SVG charts for the run report: no scripts, no fonts or files to fetch."""
from __future__ import annotations

from html import escape
from typing import Dict, List, Sequence, Tuple

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
