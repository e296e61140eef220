"""The backtest report: one self-contained HTML file.

No network and no JavaScript: the charts are inline SVG drawn here (equity,
inventory, our quotes against the mid with our fills, the markout curve), the
numbers a table, styles inline. A partial run (a strategy that raised, bad
data) still gets a report, marked as such at the top.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from host.backtest.metrics import BacktestRecorder

WIDTH_PX = 920
HEIGHT_PX = 220
MARGIN_LEFT_PX = 70
MARGIN_RIGHT_PX = 12
MARGIN_Y_PX = 18
MAX_POINTS = 2_000  # per line; more only costs bytes
MAX_FILL_MARKERS = 2_000
MAX_FILL_ROWS = 200

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:980px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse}td,th{padding:2px 10px;border-bottom:1px solid #eee;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.failed{background:#fee;border:1px solid #c00;padding:8px;white-space:pre-wrap;
font-family:monospace}
svg{background:#fafafa;border:1px solid #ddd}
.axis{font-size:11px;fill:#555}
"""


def write_report(path: Path, document: dict[str, Any], recorder: BacktestRecorder) -> None:
    """Write the report of a (possibly partial) backtest to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(document, recorder), encoding="utf-8")


def render_report(document: dict[str, Any], recorder: BacktestRecorder) -> str:
    info = document.get("backtest", {})
    series = recorder.series
    times = [t / 1e9 for t in series.ts_ns]
    start_s = times[0] if times else 0.0
    elapsed = [t - start_s for t in times]
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>mmhost backtest {html.escape(str(info.get('strategy', '')))}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Backtest: {html.escape(str(info.get('strategy', '')))} on "
        f"{html.escape(str(info.get('market', '')))}:"
        f"{html.escape(str(info.get('symbol', '')))}</h1>",
    ]
    if document.get("status") != "ok":
        parts.append(
            f"<div class='failed'>PARTIAL REPORT: status {html.escape(str(document.get('status')))}"
            f"\n{html.escape(str(document.get('error', '')))}</div>"
        )
    if times:
        first = datetime.fromtimestamp(times[0], UTC).isoformat()
        parts.append(f"<p>Market time from {first}; x axes in seconds from there.</p>")
    parts.append(_summary_table(document))
    parts.append("<h2>Equity (net PnL, quote currency)</h2>")
    parts.append(_line_chart(elapsed, [(list(series.equity), "#1f77b4", "equity")]))
    parts.append("<h2>Inventory (base units)</h2>")
    parts.append(_line_chart(elapsed, [(list(series.inventory), "#9467bd", "inventory")]))
    parts.append("<h2>Our quotes against the mid, with our fills</h2>")
    tick = float(recorder.instrument.tick_size)
    fills = recorder.fills[:MAX_FILL_MARKERS]
    markers = [((f.ts_ns / 1e9) - start_s, f.price_ticks * tick, f.side) for f in fills]
    parts.append(
        _line_chart(
            elapsed,
            [
                (list(series.mid), "#333", "mid"),
                (list(series.bid_quote), "#2ca02c", "our bid"),
                (list(series.ask_quote), "#d62728", "our ask"),
            ],
            markers=markers,
        )
    )
    curve = document.get("markout_curve", [])
    parts.append("<h2>Markout curve (mean bps; positive = the market moved our way)</h2>")
    xs = [math.log10(point["horizon_s"]) for point in curve]
    ys = [point["mean_bps"] if point["mean_bps"] is not None else math.nan for point in curve]
    parts.append(
        _line_chart(
            xs,
            [(ys, "#ff7f0e", "markout")],
            x_labels=[(math.log10(p["horizon_s"]), f"{p['horizon_s']:g}s") for p in curve],
            dots=True,
        )
    )
    parts.append(_fills_table(recorder, start_s))
    parts.append("<h2>Run details</h2><pre>")
    details = {k: document[k] for k in ("backtest", "feed_timing", "reader") if k in document}
    parts.append(html.escape(json.dumps(details, indent=2, default=str)))
    parts.append("</pre></body></html>\n")
    return "".join(parts)


def _summary_table(document: dict[str, Any]) -> str:
    keys = (
        "status",
        "events",
        "orders",
        "cancels",
        "fills",
        "maker_share",
        "volume",
        "realized_pnl",
        "unrealized_pnl",
        "fees",
        "net_pnl",
        "max_drawdown",
        "sharpe_1min_annualized",
        "sortino_1min_annualized",
        "spread_captured_bps",
        "markout_1s_bps",
        "markout_10s_bps",
        "markout_60s_bps",
        "fill_ratio",
        "order_to_trade_ratio",
        "quote_uptime",
        "inventory_final",
    )
    rows = "".join(
        f"<tr><th>{html.escape(key)}</th>"
        f"<td class='num'>{html.escape(str(document.get(key)))}</td></tr>"
        for key in keys
        if key in document
    )
    return f"<h2>Summary</h2><table>{rows}</table>"


def _fills_table(recorder: BacktestRecorder, start_s: float) -> str:
    tick = float(recorder.instrument.tick_size)
    lot = float(recorder.instrument.lot_size)
    rows = []
    for fill in recorder.fills[:MAX_FILL_ROWS]:
        markouts = " / ".join(
            f"{fill.markouts_bps[h]:.2f}" if h in fill.markouts_bps else "-"
            for h in (1.0, 10.0, 60.0)
        )
        rows.append(
            f"<tr><td class='num'>{fill.ts_ns / 1e9 - start_s:.3f}</td>"
            f"<td>{'buy' if fill.side > 0 else 'sell'}</td>"
            f"<td class='num'>{fill.price_ticks * tick:.10g}</td>"
            f"<td class='num'>{fill.size_lots * lot:.10g}</td>"
            f"<td>{'maker' if fill.is_maker else 'taker'}</td><td class='num'>{markouts}</td></tr>"
        )
    more = len(recorder.fills) - MAX_FILL_ROWS
    note = f"<p>... and {more} more</p>" if more > 0 else ""
    return (
        "<h2>Fills (exchange time)</h2><table><tr><th>t (s)</th><th>side</th><th>price</th>"
        "<th>size</th><th>liquidity</th><th>markout 1s / 10s / 60s (bps)</th></tr>"
        + "".join(rows)
        + "</table>"
        + note
    )


def _line_chart(
    xs: Sequence[float],
    lines: list[tuple[list[float], str, str]],
    *,
    markers: Sequence[tuple[float, float, int]] = (),
    x_labels: Sequence[tuple[float, str]] | None = None,
    dots: bool = False,
) -> str:
    """An inline SVG of ``lines`` over ``xs`` (NaN breaks a line), with fill markers."""
    finite_y = [y for values, _, _ in lines for y in values if not math.isnan(y)]
    finite_y += [price for _, price, _ in markers]
    if not xs or not finite_y:
        return "<p>(no data)</p>"
    x_min, x_max = min(xs), max(xs)
    y_min, y_max = min(finite_y), max(finite_y)
    if x_max == x_min:
        x_max = x_min + 1
    if y_max == y_min:
        y_min, y_max = y_min - 1, y_max + 1
    plot_width = WIDTH_PX - MARGIN_LEFT_PX - MARGIN_RIGHT_PX
    plot_height = HEIGHT_PX - 2 * MARGIN_Y_PX

    def px(x: float) -> float:
        return MARGIN_LEFT_PX + (x - x_min) / (x_max - x_min) * plot_width

    def py(y: float) -> float:
        return MARGIN_Y_PX + (y_max - y) / (y_max - y_min) * plot_height

    stride = max(1, len(xs) // MAX_POINTS)
    # Inline SVG in HTML5 needs no xmlns: the file holds no URL at all.
    out = [f"<svg width='{WIDTH_PX}' height='{HEIGHT_PX}'>"]
    for fraction in (0.0, 0.5, 1.0):
        value = y_min + (y_max - y_min) * fraction
        y = py(value)
        out.append(
            f"<line x1='{MARGIN_LEFT_PX}' x2='{WIDTH_PX - MARGIN_RIGHT_PX}' y1='{y:.1f}' "
            f"y2='{y:.1f}' stroke='#ddd'/>"
            f"<text class='axis' x='4' y='{y + 4:.1f}'>{value:.6g}</text>"
        )
    labels = (
        x_labels
        if x_labels is not None
        else [
            (x_min + (x_max - x_min) * f, f"{x_min + (x_max - x_min) * f:.0f}") for f in (0, 0.5, 1)
        ]
    )
    for x, text in labels:
        out.append(
            f"<text class='axis' x='{px(x) - 10:.1f}' y='{HEIGHT_PX - 3}'>"
            f"{html.escape(text)}</text>"
        )
    for values, colour, name in lines:
        segments: list[list[str]] = [[]]
        for index in range(0, len(xs), stride):
            y = values[index]
            if math.isnan(y):
                if segments[-1]:
                    segments.append([])
                continue
            segments[-1].append(f"{px(xs[index]):.1f},{py(y):.1f}")
            if dots:
                out.append(
                    f"<circle cx='{px(xs[index]):.1f}' cy='{py(y):.1f}' r='3' fill='{colour}'/>"
                )
        for points in segments:
            if len(points) > 1:
                out.append(
                    f"<polyline fill='none' stroke='{colour}' stroke-width='1.2' "
                    f"points='{' '.join(points)}'><title>{html.escape(name)}</title></polyline>"
                )
    for x, price, side in markers:
        colour = "#2ca02c" if side > 0 else "#d62728"
        cx, cy = px(x), py(price)
        tip = cy - 6 if side > 0 else cy + 6
        out.append(
            f"<polygon points='{cx - 4:.1f},{cy:.1f} {cx + 4:.1f},{cy:.1f} {cx:.1f},{tip:.1f}' "
            f"fill='{colour}'/>"
        )
    legend_x = MARGIN_LEFT_PX + 6
    for index, (_, colour, name) in enumerate(lines):
        out.append(
            f"<text class='axis' x='{legend_x + index * 90}' y='12' fill='{colour}' "
            f"style='fill:{colour}'>{html.escape(name)}</text>"
        )
    out.append("</svg>")
    return "".join(out)
