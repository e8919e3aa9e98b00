"""Server-rendered SVG charts: horizontal bars, lines over an ordered axis, heat maps.

Pure functions from plain values to SVG text: no JavaScript, no external fonts or
scripts, dark ink on a light ground so they print. Each chart has a <title> (its name,
for screen readers and as tooltip) and a <desc> listing every value, axis labels, a
legend for its reference lines, and a <title> on every mark so hovering shows the exact
value. The page puts a table with the same numbers under each chart. Every text is
escaped here; callers pass plain strings.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

DASH = "\u2013"  # en dash, for ranges
INK = "#1b1f24"
MUTED = "#57606a"
GRID = "#d0d7de"
BAR = "#0b57d0"
BAND = "#dafbe1"
BAND_EDGE = "#1a7f37"
FLAG = "#cf222e"
# distinguishable in colour and, printed in grey, by dash pattern
SERIES_STYLES = ((BAR, ""), ("#cf222e", "6 4"), ("#1a7f37", "2 3"), ("#8250df", "10 3 2 3"))
REFERENCE_STYLES = (("#9a6700", "6 3"), ("#8250df", "2 3"), (MUTED, "10 3 2 3"))
WIDTH = 720
CHAR = 7  # average width of a 12px character, for layout
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"


def percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def number(value: float) -> str:
    return f"{value:,.1f}" if value != int(value) else f"{int(value):,}"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    hover: str = ""  # defaults to "label: value"
    interval: tuple[float, float] | None = None  # drawn as a whisker
    flagged: bool = False


@dataclass(frozen=True)
class Reference:
    value: float
    label: str


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]


@dataclass(frozen=True)
class Cell:
    shade: float | None  # 0..1, how dark; None: no data
    text: str
    hover: str


def _open(title: str, desc: str, width: int, height: int) -> str:
    # stable ids (same chart, same markup) that differ between the charts of a page
    uid = "chart-" + hashlib.sha1(f"{title}|{desc}".encode()).hexdigest()[:10]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" '
        f'aria-labelledby="{uid}-t {uid}-d" style="{FONT};max-width:100%">'
        f'<title id="{uid}-t">{escape(title)}</title><desc id="{uid}-d">{escape(desc)}</desc>'
        f'<rect width="{width}" height="{height}" fill="#fff"/>'
        f'<text x="0" y="16" font-size="14" font-weight="600" fill="{INK}">{escape(title)}</text>'
    )


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value:
            return candidate
    return 10 ** (exponent + 1)


def _scale_top(highest: float, fmt: Callable[[float], str]) -> float:
    """The axis' end: a round number above the highest value; 100 % at most for shares."""
    top = _nice_max(highest * 1.05)
    return min(top, 1.0) if fmt is percent and highest <= 1 else top


def _ticks(top: float, n: int = 5, *, integers: bool = False) -> list[float]:
    """Gridlines from 0 to `top` at a round step (1, 2, 2.5 or 5 times a power of ten),
    the finest that makes at most `n` intervals; whole steps only for `integers` (counts:
    no "1.2 breaches")."""
    if top <= 0:
        return [0.0]
    magnitude = math.floor(math.log10(top))
    for exponent in range(magnitude - 2, magnitude + 2):
        for multiple in (1, 2, 2.5, 5):
            step = multiple * 10.0**exponent
            if integers and step != int(step):
                continue
            intervals = top / step
            if abs(intervals - round(intervals)) < 1e-9 and round(intervals) <= n:
                return [round(step * i, 9) for i in range(round(intervals) + 1)]
    return [top * i / n for i in range(n + 1)]


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: max(1, chars - 1)] + "…"


def _legend_items(
    band: tuple[float, float, str] | None,
    references: Sequence[Reference],
    fmt: Callable[[float], str],
) -> list[tuple[str, str]]:
    """(swatch markup at 0,0, text) for the band and each reference line."""
    items = []
    if band:
        low, high, label = band
        items.append(
            (
                f'<rect x="0" y="-9" width="22" height="10" fill="{BAND}" stroke="{BAND_EDGE}" '
                f'stroke-dasharray="3 3"/>',
                f"{label} {fmt(low)}{DASH}{fmt(high)}",
            )
        )
    for k, ref in enumerate(references):
        colour, dash = REFERENCE_STYLES[k % len(REFERENCE_STYLES)]
        items.append(
            (
                f'<line x1="0" x2="22" y1="-4" y2="-4" stroke="{colour}" stroke-width="2" '
                f'stroke-dasharray="{dash}"/>',
                f"{ref.label} {fmt(ref.value)}",
            )
        )
    return items


def _legend(items: list[tuple[str, str]], x0: float, y0: float, width: float) -> tuple[str, int]:
    """Legend entries laid out in rows from (x0, y0); returns markup and rows used."""
    parts, x, y, rows = [], x0, y0, 1 if items else 0
    for swatch, text in items:
        needed = 30 + CHAR * len(text) + 18
        if x > x0 and x + needed > x0 + width:
            x, y, rows = x0, y + 18, rows + 1
        parts.append(
            f'<g transform="translate({x:.1f} {y:.1f})">{swatch}<text x="28" y="0" '
            f'font-size="11" fill="{INK}">{escape(text)}</text></g>'
        )
        x += needed
    return "".join(parts), rows


def _reference_style(k: int) -> tuple[str, str]:
    return REFERENCE_STYLES[k % len(REFERENCE_STYLES)]


def no_data(title: str) -> str:
    return (
        _open(title, "No data in this period.", WIDTH, 60)
        + f'<text x="{WIDTH / 2}" y="44" text-anchor="middle" font-size="13" '
        f'fill="{MUTED}">no data</text></svg>'
    )


def bar_chart(
    title: str,
    bars: Sequence[Bar],
    *,
    x_label: str,
    y_label: str,
    fmt: Callable[[float], str] = number,
    band: tuple[float, float, str] | None = None,
    references: Sequence[Reference] = (),
    top: float | None = None,
) -> str:
    """Horizontal bars, one per category. `band` shades a range (low, high, label);
    `references` draw dashed vertical lines (a target, an average); both are named in the
    legend under the chart."""
    if not bars or all(b.value is None for b in bars):
        return no_data(title)
    label_w = min(280, CHAR * max([len(b.label) for b in bars] + [len(y_label)]) + 16)
    left, right, top_margin, row = label_w, 70, 50, 26
    plot_w = WIDTH - left - right
    plot_bottom = top_margin + row * len(bars)
    legend, legend_rows = _legend(_legend_items(band, references, fmt), left, 0, plot_w)
    height = plot_bottom + 46 + 18 * legend_rows
    highest = max(
        [b.value or 0 for b in bars]
        + [b.interval[1] for b in bars if b.interval]
        + ([band[1]] if band else [])
        + [r.value for r in references]
    )
    scale_top = top if top is not None else _scale_top(highest, fmt)

    def x(v: float) -> float:
        return left + plot_w * min(max(v, 0), scale_top) / scale_top

    def shown(b: Bar) -> str:
        return fmt(b.value) if b.value is not None else "no data"

    desc = "; ".join(f"{b.label}: {shown(b)}" for b in bars)
    parts = [
        _open(title, desc, WIDTH, height),
        f'<text x="{left - 8}" y="{top_margin - 10}" text-anchor="end" font-size="12" '
        f'font-weight="600" fill="{MUTED}">{escape(y_label)}</text>',
    ]
    if band:
        low, high, band_label = band
        parts.append(
            f'<rect x="{x(low):.1f}" y="{top_margin - 4}" width="{x(high) - x(low):.1f}" '
            f'height="{plot_bottom - top_margin + 4}" fill="{BAND}" stroke="{BAND_EDGE}" '
            f'stroke-dasharray="3 3"><title>{escape(band_label)}: '
            f"{escape(fmt(low))}{DASH}{escape(fmt(high))}</title></rect>"
        )
    for tick in _ticks(scale_top):
        parts.append(
            f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top_margin - 4}" '
            f'y2="{plot_bottom}" stroke="{GRID}"/>'
            f'<text x="{x(tick):.1f}" y="{plot_bottom + 15}" text-anchor="middle" '
            f'font-size="11" fill="{MUTED}">{escape(fmt(tick))}</text>'
        )
    for i, b in enumerate(bars):
        y = top_margin + i * row
        hover = escape(b.hover or f"{b.label}: {shown(b)}")
        parts.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" font-size="12" '
            f'fill="{FLAG if b.flagged else INK}">{escape(_clip(b.label, label_w // CHAR))}'
            f"<title>{hover}</title></text>"
        )
        if b.value is None:
            parts.append(
                f'<text x="{left + 4}" y="{y + 15}" font-size="11" fill="{MUTED}">no data'
                f"<title>{hover}</title></text>"
            )
            continue
        width = max(x(b.value) - left, 1 if b.value > 0 else 0)
        parts.append(
            f'<rect x="{left}" y="{y + 4}" width="{width:.1f}" height="{row - 9}" '
            f'fill="{FLAG if b.flagged else BAR}"><title>{hover}</title></rect>'
        )
        end = x(b.value)
        if b.interval:
            lo, hi = x(b.interval[0]), x(b.interval[1])
            mid = y + row / 2
            parts.append(
                f'<path d="M{lo:.1f} {mid - 5:.1f}v10M{lo:.1f} {mid:.1f}H{hi:.1f}'
                f'M{hi:.1f} {mid - 5:.1f}v10" stroke="{INK}" stroke-width="1.5" fill="none">'
                f"<title>{hover}</title></path>"
            )
            end = max(end, hi)
        parts.append(
            f'<text x="{end + 5:.1f}" y="{y + 15}" font-size="11" fill="{INK}">'
            f"{escape(fmt(b.value))}</text>"
        )
    for k, ref in enumerate(references):
        colour, dash = _reference_style(k)
        parts.append(
            f'<line x1="{x(ref.value):.1f}" x2="{x(ref.value):.1f}" y1="{top_margin - 4}" '
            f'y2="{plot_bottom}" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}">'
            f"<title>{escape(ref.label)}: {escape(fmt(ref.value))}</title></line>"
        )
    parts.append(
        f'<line x1="{left}" x2="{left}" y1="{top_margin - 4}" y2="{plot_bottom}" stroke="{INK}"/>'
        f'<text x="{left + plot_w / 2:.1f}" y="{plot_bottom + 34}" text-anchor="middle" '
        f'font-size="12" font-weight="600" fill="{MUTED}">{escape(x_label)}</text>'
        f'<g transform="translate(0 {plot_bottom + 56})">{legend}</g>'
    )
    return "".join(parts) + "</svg>"


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    *,
    x_label: str,
    y_label: str,
    fmt: Callable[[float], str] = number,
    references: Sequence[Reference] = (),
    top: float | None = None,
) -> str:
    """Lines over an ordered axis (weeks, score bins); a missing value breaks the line."""
    values = [v for s in series for v in s.values if v is not None]
    if not x_labels or not values:
        return no_data(title)
    left, right, top_margin = 64, 20, 32
    plot_w, plot_h = WIDTH - left - right, 210
    items = [
        (
            f'<line x1="0" x2="22" y1="-4" y2="-4" stroke="{colour}" stroke-width="2"'
            + (f' stroke-dasharray="{dash}"' if dash else "")
            + "/>",
            s.name,
        )
        for s, (colour, dash) in zip(series, SERIES_STYLES, strict=False)
    ] + _legend_items(None, references, fmt)
    legend, legend_rows = _legend(items, left, 0, plot_w)
    plot_bottom = top_margin + plot_h
    height = plot_bottom + 52 + 18 * legend_rows
    # counts (breaches a week) keep whole gridlines: the top is then a whole number too
    counts = fmt is number and all(float(v).is_integer() for v in values)
    scale_top = top
    if scale_top is None:
        scale_top = _scale_top(max(values + [r.value for r in references]), fmt)
        if counts:
            scale_top = math.ceil(scale_top)
    n = len(x_labels)

    def x(i: int) -> float:
        return left + (plot_w * (i + 0.5) / n)

    def y(v: float) -> float:
        return top_margin + plot_h * (1 - min(max(v, 0), scale_top) / scale_top)

    def shown(v: float | None) -> str:
        return fmt(v) if v is not None else "no data"

    desc = "; ".join(
        f"{s.name}: "
        + ", ".join(f"{lbl} {shown(v)}" for lbl, v in zip(x_labels, s.values, strict=False))
        for s in series
    )
    parts = [_open(title, desc, WIDTH, height)]
    for tick in _ticks(scale_top, 5, integers=counts):
        parts.append(
            f'<line x1="{left}" x2="{WIDTH - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'stroke="{GRID}"/><text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" '
            f'font-size="11" fill="{MUTED}">{escape(fmt(tick))}</text>'
        )
    every = max(1, math.ceil(n / 12))
    for i, lbl in enumerate(x_labels):
        if i % every == 0:
            parts.append(
                f'<text x="{x(i):.1f}" y="{plot_bottom + 15}" text-anchor="middle" '
                f'font-size="11" fill="{MUTED}">{escape(lbl)}</text>'
            )
    for k, ref in enumerate(references):
        colour, dash = _reference_style(k)
        parts.append(
            f'<line x1="{left}" x2="{WIDTH - right}" y1="{y(ref.value):.1f}" '
            f'y2="{y(ref.value):.1f}" stroke="{colour}" stroke-width="2" '
            f'stroke-dasharray="{dash}"><title>{escape(ref.label)}: {escape(fmt(ref.value))}'
            f"</title></line>"
        )
    for s, (colour, dash) in zip(series, SERIES_STYLES, strict=False):
        path, pen_down = [], False
        for i, v in enumerate(s.values):
            if v is None:
                pen_down = False
                continue
            path.append(f"{'L' if pen_down else 'M'}{x(i):.1f} {y(v):.1f}")
            pen_down = True
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="2"'
            f"{dash_attr}/>"
        )
        for i, v in enumerate(s.values):
            if v is not None:
                parts.append(
                    f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}">'
                    f"<title>{escape(x_labels[i])} · {escape(s.name)}: {escape(fmt(v))}</title>"
                    f"</circle>"
                )
    parts.append(
        f'<line x1="{left}" x2="{left}" y1="{top_margin}" y2="{plot_bottom}" stroke="{INK}"/>'
        f'<line x1="{left}" x2="{WIDTH - right}" y1="{plot_bottom}" y2="{plot_bottom}" '
        f'stroke="{INK}"/>'
        f'<text x="{left + plot_w / 2:.1f}" y="{plot_bottom + 34}" text-anchor="middle" '
        f'font-size="12" font-weight="600" fill="{MUTED}">{escape(x_label)}</text>'
        f'<text transform="translate(14 {top_margin + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle" font-size="12" font-weight="600" fill="{MUTED}">'
        f"{escape(y_label)}</text>"
        f'<g transform="translate(0 {plot_bottom + 56})">{legend}</g>'
    )
    return "".join(parts) + "</svg>"


def _shade(value: float) -> str:
    # from white to the bar blue (11, 87, 208)
    v = min(max(value, 0.0), 1.0)
    r, g, b = (round(255 + (c - 255) * v) for c in (11, 87, 208))
    return f"#{r:02x}{g:02x}{b:02x}"


def heat_map(
    title: str,
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    cells: Sequence[Sequence[Cell]],
    *,
    x_label: str,
    y_label: str,
) -> str:
    """A grid of cells, darker for a higher shade (0..1), each with its text and hover."""
    if not row_labels or not column_labels:
        return no_data(title)
    label_w = min(300, CHAR * max([len(r) for r in row_labels] + [len(y_label)]) + 16)
    left, top_margin, row_h = label_w, 74, 26
    # a column label "Group: detail" is drawn on two lines
    heads = [lbl.split(": ", 1) for lbl in column_labels]
    longest = max(len(line) for head in heads for line in head)
    cell_w = max(48.0, min(130.0, 6.5 * longest + 10), (WIDTH - left - 10) / len(column_labels))
    width = max(WIDTH, int(left + cell_w * len(column_labels) + 10))
    height = top_margin + row_h * len(row_labels) + 12
    desc = "; ".join(c.hover for r in cells for c in r)
    parts = [
        _open(title, desc, width, height),
        f'<text x="{left + cell_w * len(column_labels) / 2:.1f}" y="34" text-anchor="middle" '
        f'font-size="12" font-weight="600" fill="{MUTED}">{escape(x_label)}</text>'
        f'<text x="{left - 8}" y="{top_margin - 10}" text-anchor="end" font-size="12" '
        f'font-weight="600" fill="{MUTED}">{escape(y_label)}</text>',
    ]
    chars = max(4, int(cell_w / 6.5))
    for j, (lbl, head) in enumerate(zip(column_labels, heads, strict=True)):
        cx = left + cell_w * (j + 0.5)
        lines = "".join(
            f'<tspan x="{cx:.1f}" y="{top_margin - 10 - 13 * (len(head) - 1 - k)}">'
            f"{escape(_clip(line, chars))}</tspan>"
            for k, line in enumerate(head)
        )
        parts.append(
            f'<text text-anchor="middle" font-size="11" fill="{INK}">{lines}'
            f"<title>{escape(lbl)}</title></text>"
        )
    for i, lbl in enumerate(row_labels):
        y = top_margin + i * row_h
        parts.append(
            f'<text x="{left - 8}" y="{y + 17}" text-anchor="end" font-size="12" fill="{INK}">'
            f"{escape(_clip(lbl, label_w // CHAR))}<title>{escape(lbl)}</title></text>"
        )
        for j, cell in enumerate(cells[i]):
            fill = "#f6f8fa" if cell.shade is None else _shade(cell.shade)
            text_fill = "#fff" if cell.shade is not None and cell.shade > 0.55 else INK
            parts.append(
                f'<g><title>{escape(cell.hover)}</title><rect x="{left + cell_w * j:.1f}" '
                f'y="{y}" width="{cell_w - 2:.1f}" height="{row_h - 2}" fill="{fill}" '
                f'stroke="{GRID}"/><text x="{left + cell_w * (j + 0.5) - 1:.1f}" y="{y + 17}" '
                f'text-anchor="middle" font-size="11" fill="{text_fill}">{escape(cell.text)}'
                f"</text></g>"
            )
    return "".join(parts) + "</svg>"
