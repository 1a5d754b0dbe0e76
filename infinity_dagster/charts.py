"""The 30-day trend picture: fail rate and client-id gap rate, rendered by matplotlib to PNG.

Rendered off-screen (the Agg backend: no display, no network, no fonts fetched) and embedded in
Markdown metadata as a `data:` URI. The Dagster UI renders Markdown metadata shorter than 1,000
characters in place and longer values behind a "[Show Markdown]" button: so the full picture is
one click away, and a 4-colour sparkline small enough to show in place sits beside it.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

from .insights import TrendDay

WIDTH_INCHES, HEIGHT_INCHES, DPI = 8.0, 4.2, 90  # 720 x 378 px, about 30 KB
FAIL_COLOUR, GAP_COLOUR, WARN_COLOUR = "#c0392b", "#2471a3", "#e67e22"


def _agg() -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)


def trend_png(
    days: Sequence[TrendDay],
    *,
    fail_rate_warn: float,
    fail_rate_error: float,
    cid_gap_rate_warn: float,
    title: str,
) -> bytes:
    """Two stacked panels over the same days: fail rate (top) and gap rate (bottom), with the
    check thresholds as dashed lines, so a day over the line is a day a check speaks up."""
    _agg()
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    x = [d.day for d in days]
    nan = float("nan")
    fail = [nan if d.fail_rate is None else d.fail_rate for d in days]
    gap = [nan if d.gap_rate is None else d.gap_rate for d in days]

    # A Figure without pyplot: no global state, safe in threads and repeated runs.
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True)
    top.plot(x, fail, marker="o", markersize=3, color=FAIL_COLOUR, label="fail rate")
    top.axhline(fail_rate_warn, color=WARN_COLOUR, linestyle="--", linewidth=1, label="warn")
    top.axhline(fail_rate_error, color="#7b241c", linestyle="--", linewidth=1, label="error")
    top.set_ylabel("failed calls")
    bottom.plot(x, gap, marker="o", markersize=3, color=GAP_COLOUR, label="client-id gap rate")
    bottom.axhline(cid_gap_rate_warn, color=WARN_COLOUR, linestyle="--", linewidth=1, label="warn")
    bottom.set_ylabel("no client id")
    for axes, values, floor in ((top, fail, fail_rate_error), (bottom, gap, cid_gap_rate_warn)):
        seen = [v for v in values if v == v]  # drop NaN (days without calls)
        axes.set_ylim(0, max([floor, *seen]) * 1.15)
        axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        axes.grid(True, alpha=0.3)
        axes.legend(loc="upper left", fontsize=7, ncols=3, frameon=False)
    top.set_xlim(x[0], x[-1])  # the whole window, days without calls included
    top.set_title(title, fontsize=10)
    figure.autofmt_xdate(rotation=30)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def sparkline_png(days: Sequence[TrendDay], *, fail_rate_warn: float) -> bytes:
    """A 240 x 50 px glance: fail rate (red) and gap rate (blue) over the days, the fail-rate
    warn level dashed. Four colours, no antialiasing: a few hundred bytes, shown in place."""
    _agg()
    from matplotlib.figure import Figure
    from PIL import Image

    nan = float("nan")
    fail = [nan if d.fail_rate is None else d.fail_rate for d in days]
    gap = [nan if d.gap_rate is None else d.gap_rate for d in days]
    figure = Figure(figsize=(2.4, 0.5), dpi=100)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.plot(range(len(days)), fail, color=FAIL_COLOUR, linewidth=1.2, antialiased=False)
    axes.plot(range(len(days)), gap, color=GAP_COLOUR, linewidth=1.2, antialiased=False)
    axes.axhline(fail_rate_warn, color=WARN_COLOUR, linewidth=0.8, linestyle=(0, (3, 3)))
    seen = [v for v in (*fail, *gap) if v == v]
    axes.set_xlim(0, max(len(days) - 1, 1))
    axes.set_ylim(0, max([fail_rate_warn, *seen]) * 1.15)
    axes.axis("off")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    small = io.BytesIO()
    image.quantize(colors=4, dither=Image.Dither.NONE).save(small, format="PNG", optimize=True)
    return small.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    """Markdown that shows the PNG inline (a data: URI: nothing to serve, nothing to fetch)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
