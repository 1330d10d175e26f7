"""report.html: one self-contained page a marketer reads every morning (charts embedded as base64 PNG).

Every section names the days it covers (D-1 or all dates in the inputs); money is $1,234.56.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import pandas as pd  # noqa: E402

from revenue import roas as roas_stage  # noqa: E402

MAX_TREND_PANELS = 24
TREND_DAYS = 30
CATEGORY_COLOURS = {"matched": "#2e7d32", "af_only": "#ef6c00", "confirmed_only": "#1565c0"}

STYLE = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1192px;
color:#1f2933;padding:0 16px}h1{margin-bottom:4px}
h2{margin-top:36px;border-bottom:1px solid #e4e7eb;padding-bottom:4px}
.sub{color:#616e7c;margin-top:0}.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{flex:1 1 160px;border:1px solid #e4e7eb;border-radius:8px;padding:12px 14px;background:#f9fafb}
.card .label{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#616e7c}
.card .value{font-size:26px;font-weight:600;margin-top:4px}.card .note{font-size:12px;color:#616e7c}
.bad{color:#c62828}.warn{color:#ef6c00}.good{color:#2e7d32}
table{border-collapse:collapse;width:100%;font-size:13px;margin:8px 0}
th,td{padding:5px 8px;border-bottom:1px solid #e4e7eb;
text-align:right}th{background:#f5f7fa}td:first-child,th:first-child{text-align:left}td.text{text-align:left}
img{max-width:100%;height:auto}figure{margin:8px 0}
h2 .period{font-size:14px;font-weight:500;color:#52606d;background:#f0f4f8;border-radius:10px;
padding:2px 10px;margin-left:8px;vertical-align:middle}
.pill{border-radius:10px;padding:1px 8px;font-size:12px;color:#fff}
.pill.critical{background:#c62828}.pill.warning{background:#ef6c00}
.banner{border:1px solid #ef6c00;background:#fff4e5;border-radius:8px;padding:10px 14px;margin:12px 0}
"""


# Charts are drawn at their display size (1 image px = 1 CSS px at 100 % zoom), so a point
# size here is 100/72 px on screen: 9 pt ticks are 12.5 px, never below the 11 px floor.
DPI = 100
CHART_WIDTH_IN = 11.6
PANEL_COLUMNS = 3
TICK_PT, LABEL_PT, TITLE_PT = 9, 9.5, 11
SEVERITY_COLOURS = {"critical": "#c62828", "warning": "#ef6c00"}


def _png(figure: Any, alt: str) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    plt.close(figure)
    width, height = (round(v * DPI) for v in figure.get_size_inches())
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'<img alt="{html.escape(alt)}" width="{width}" height="{height}" src="data:image/png;base64,{data}">'
    )


def _count(value: Any) -> str:
    return f"{value:,}"


def _money(value: Any) -> str:
    return "–" if value is None else f"${value:,.2f}"


def _ratio(value: Any, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _trend_campaigns(window: pd.DataFrame, verdicts: pd.DataFrame) -> list[str]:
    """Anomalies first, then the largest D-1 spenders, among campaigns with a ROAS in the window."""
    with_roas = set(window.loc[window["roas"].notna(), "campaign"])
    candidates = verdicts[verdicts["campaign"].isin(with_roas)]
    ranked = candidates.assign(
        _anomaly=(candidates["status"] != roas_stage.ANOMALY).astype(int),
        _cost=-candidates["cost_usd"].fillna(0),
    ).sort_values(["_anomaly", "_cost", "campaign"])
    return ranked["campaign"].head(MAX_TREND_PANELS).tolist()


def _anomaly_label(verdict: Any) -> str:
    return f"{verdict['severity']}: {verdict['roas']:.2f}× vs {verdict['baseline_roas']:.2f}× baseline"


def _trend_alt(campaigns: list[str], verdicts: pd.DataFrame, first: pd.Timestamp, day: pd.Timestamp) -> str:
    flagged = verdicts[(verdicts["status"] == roas_stage.ANOMALY) & verdicts["campaign"].isin(campaigns)]
    anomalies = "; ".join(f"{row['campaign']} ({_anomaly_label(row)})" for row in flagged.to_dict("records"))
    return (
        f"Daily ROAS (revenue divided by ad cost) per campaign from {first:%Y-%m-%d} to D-1 {day:%Y-%m-%d}, "
        f"one panel each for {', '.join(campaigns)}. "
        + (f"Anomalies on D-1: {anomalies}." if anomalies else "No anomaly on D-1.")
    )


def roas_trend_chart(daily: pd.DataFrame, verdicts: pd.DataFrame, report_date: str) -> str:
    """Small multiples of daily ROAS: baseline dashed, D-1 shaded, anomalies marked and named."""
    day = pd.Timestamp(dt.date.fromisoformat(report_date))
    first = day - pd.Timedelta(days=TREND_DAYS - 1)
    window = daily[(daily["date"] >= first) & (daily["date"] <= day)]
    campaigns = _trend_campaigns(window, verdicts)
    if not campaigns:
        return "<p>No campaign had a ROAS in the last days.</p>"
    rows = -(-len(campaigns) // PANEL_COLUMNS)
    panel_height = 2.9
    figure, axes = plt.subplots(
        rows, PANEL_COLUMNS, figsize=(CHART_WIDTH_IN, panel_height * rows + 0.5), squeeze=False
    )
    figure.subplots_adjust(
        left=0.07,
        right=0.975,
        top=1 - 0.45 / (panel_height * rows + 0.5),
        bottom=0.55 / (panel_height * rows + 0.5),
        hspace=0.62,
        wspace=0.28,
    )
    # Days before D-1 on a plain numeric axis with a few date labels: date locators are slow.
    ticks = list(range(-((TREND_DAYS - 1) // 7) * 7, 1, 7))
    labels = [(day + pd.Timedelta(days=t)).strftime("%b %d") for t in ticks]
    verdict_by_campaign = verdicts.set_index("campaign")
    for axis, campaign in zip(axes.flat, campaigns, strict=False):
        series = window[window["campaign"] == campaign]
        offsets = (series["date"] - day).dt.days.to_numpy()
        axis.axvspan(-0.5, 0.5, color="#fff3c4", zorder=0)
        axis.plot(
            offsets, series["roas"].to_numpy(), color="#3e4c59", linewidth=1.5, marker="o", markersize=3
        )
        verdict: Any = verdict_by_campaign.loc[campaign]
        if pd.notna(verdict["baseline_roas"]):
            axis.axhline(verdict["baseline_roas"], color="#7b8794", linestyle="--", linewidth=1)
        flagged = verdict["status"] == roas_stage.ANOMALY
        title_colour = "#1f2933"
        if flagged and pd.notna(verdict["roas"]):
            title_colour = SEVERITY_COLOURS.get(verdict["severity"], "#c62828")
            axis.scatter([0], [verdict["roas"]], color=title_colour, s=70, zorder=3, edgecolors="white")
            axis.annotate(
                _anomaly_label(verdict),
                (0, verdict["roas"]),
                xytext=(-6, 10),
                textcoords="offset points",
                ha="right",
                fontsize=TICK_PT,
                color=title_colour,
                fontweight="bold",
            )
        axis.set_title(
            campaign + ("  ▲ anomaly" if flagged else ""), fontsize=TITLE_PT, color=title_colour, loc="left"
        )
        axis.set_xticks(ticks, labels)
        axis.tick_params(labelsize=TICK_PT)
        axis.set_xlim(-TREND_DAYS + 0.5, 1)
        axis.set_ylim(bottom=0, top=max(1.0, float(series["roas"].max(skipna=True) or 0) * 1.3))
        axis.yaxis.set_major_formatter(lambda value, _: f"{value:g}×")
        axis.set_ylabel("ROAS (revenue ÷ cost)", fontsize=LABEL_PT)
        axis.set_xlabel("day (UTC); shaded: D-1", fontsize=LABEL_PT)
        axis.grid(axis="y", color="#e4e7eb", linewidth=0.8)
    for axis in list(axes.flat)[len(campaigns) :]:
        axis.set_visible(False)
    return _png(figure, _trend_alt(campaigns, verdicts, first, day))


CATEGORY_LABELS = {"matched": "matched", "af_only": "AppsFlyer only", "confirmed_only": "gateway only"}


def reconciliation_chart(summary: dict[str, Any]) -> str:
    categories = ["matched", "af_only", "confirmed_only"]
    names = [CATEGORY_LABELS[c] for c in categories]
    counts = [summary[c]["count"] for c in categories]
    revenue = [
        summary[c]["afRevenueUsd"] if c != "confirmed_only" else summary[c]["confirmedRevenueUsd"]
        for c in categories
    ]
    figure, (left, right) = plt.subplots(1, 2, figsize=(CHART_WIDTH_IN, 2.8))
    colours = [CATEGORY_COLOURS[c] for c in categories]
    left.barh(names, counts, color=colours)
    left.set_title("Purchases by category, all dates", fontsize=TITLE_PT, loc="left")
    left.set_xlabel("purchases (count)", fontsize=LABEL_PT)
    left.xaxis.set_major_formatter(lambda value, _: f"{value:,.0f}")
    right.barh(names, revenue, color=colours)
    right.set_title("Revenue by category, all dates", fontsize=TITLE_PT, loc="left")
    right.set_xlabel("revenue (USD)", fontsize=LABEL_PT)
    right.xaxis.set_major_formatter(lambda value, _: f"${value:,.0f}")
    labellers: tuple[tuple[Any, list[Any], Callable[[Any], str]], ...] = (
        (left, counts, _count),
        (right, revenue, _money),
    )
    for axis, values, text in labellers:
        axis.invert_yaxis()
        axis.tick_params(labelsize=TICK_PT)
        axis.bar_label(axis.containers[0], labels=[text(v) for v in values], fontsize=TICK_PT, padding=3)
        axis.set_xlim(0, max(max(values), 1) * 1.25)
    figure.subplots_adjust(left=0.11, right=0.98, wspace=0.35, bottom=0.22, top=0.86)
    alt = (
        "Reconciliation of AppsFlyer purchases with the payment gateway, all dates in the inputs: "
        + "; ".join(
            f"{name} {count:,} purchases, {_money(value)}"
            for name, count, value in zip(names, counts, revenue, strict=False)
        )
        + "."
    )
    return _png(figure, alt)


def _card(label: str, value: str, note: str = "", tone: str = "") -> str:
    return (
        f'<div class="card"><div class="label">{html.escape(label)}</div>'
        f'<div class="value {tone}">{html.escape(value)}</div>'
        f'<div class="note">{html.escape(note)}</div></div>'
    )


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(title)}</th>" for title, _, _ in columns)
    body = []
    for row in rows:
        cells = []
        for _, key, render in columns:
            value = render(row.get(key)) if render else ("" if row.get(key) is None else str(row.get(key)))
            css = ' class="text"' if render is None else ""
            cells.append(f"<td{css}>{value if render is _pill else html.escape(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _pill(severity: Any) -> str:
    return (
        f'<span class="pill {html.escape(str(severity))}">{html.escape(str(severity))}</span>'
        if severity
        else ""
    )


def headline_cards(payloads: dict[str, Any]) -> str:
    roas_totals = payloads["roas_d1.json"]["totals"]
    anomalies = payloads["roas_anomaly.json"]["anomalies"]
    critical = sum(1 for a in anomalies if a["severity"] == "critical")
    everyone = next(r for r in payloads["arpdau_d1.json"]["campaigns"] if r["campaign"] == "ALL")
    summary = payloads["reconciliation.json"]["summary"]
    total_af = summary["totalAf"] or 1
    match_rate = summary["matched"]["count"] / total_af
    quality = payloads["reconciliation.json"]["dataQuality"]
    return (
        '<div class="cards">'
        + "".join(
            [
                _card("Revenue D-1", _money(roas_totals["revenueUsd"]), "curated, chargebacks at $0"),
                _card("Ad cost D-1", _money(roas_totals["costUsd"])),
                _card("ROAS D-1", _ratio(roas_totals["roas"]), "all campaigns"),
                _card("ARPDAU D-1", _money(everyone["arpdau"]), f"{everyone['dau']:,} daily active users"),
                _card(
                    "ROAS anomalies",
                    str(len(anomalies)),
                    f"{critical} critical",
                    "bad" if critical else ("warn" if anomalies else "good"),
                ),
                _card(
                    "Confirmed by gateway, all dates",
                    f"{match_rate:.1%}",
                    f"{summary['af_only']['count']:,} AppsFlyer-only purchases",
                    "good" if match_rate >= 0.95 else "warn",
                ),
                _card("Rows dropped, all dates", f"{quality['droppedTotal']:,}", "see data quality below"),
            ]
        )
        + "</div>"
    )


def coverage_banner(coverage: dict[str, Any]) -> str:
    if not coverage["warnings"]:
        return ""
    lines = "".join(f"<li>{html.escape(w)}</li>" for w in coverage["warnings"])
    return (
        f'<div class="banner"><strong class="warn">Incomplete input for this day.</strong> '
        f"The figures below cover only what the exports hold:<ul>{lines}</ul></div>"
    )


def render_report(payloads: dict[str, dict[str, Any]], daily: pd.DataFrame, verdicts: pd.DataFrame) -> str:
    roas_payload, anomaly_payload = payloads["roas_d1.json"], payloads["roas_anomaly.json"]
    reconciliation, arpdau_payload = payloads["reconciliation.json"], payloads["arpdau_d1.json"]
    date = roas_payload["date"]
    summary = reconciliation["summary"]
    window = anomaly_payload["baselineWindow"]
    anomaly_rows = anomaly_payload["anomalies"]
    d1 = f"D-1, {html.escape(date)}"
    sections = [
        f"<h1>Revenue report — {html.escape(date)}</h1>",
        f'<p class="sub">D-1 = {html.escape(date)} (UTC): {html.escape(roas_payload.get("dateWhy", ""))}. '
        f"ROAS baseline: mean daily ROAS {window['from']} to {window['to']}. Each section says which days it "
        f"covers: D-1 only, or all dates in the inputs.</p>",
        coverage_banner(roas_payload["dataCoverage"]),
        headline_cards(payloads),
        f"<h2>What needs attention <span class='period'>{d1}</span></h2>",
        _table(
            anomaly_rows,
            [
                ("Campaign", "campaign", None),
                ("Severity", "severity", _pill),
                ("ROAS D-1", "roas", _ratio),
                ("Baseline", "baselineRoas", _ratio),
                ("Revenue", "revenueUsd", _money),
                ("Cost", "costUsd", _money),
                ("Insight", "insight", None),
            ],
        )
        if anomaly_rows
        else "<p>No campaign's ROAS fell below half of its baseline.</p>",
        f"<h2>ROAS trend per campaign <span class='period'>last {TREND_DAYS} days to D-1</span></h2>",
        f"<p class='sub'>One panel per campaign (anomalies first, then the largest D-1 spenders, at most "
        f"{MAX_TREND_PANELS}). Shaded: D-1. Dashed line: baseline. Large dot and label: D-1 anomaly "
        f"(red critical, orange warning).</p>",
        f"<figure>{roas_trend_chart(daily, verdicts, date)}</figure>",
        f"<h2>ROAS by campaign <span class='period'>{d1}</span></h2>",
        _table(
            anomaly_payload["campaigns"],
            [
                ("Campaign", "campaign", None),
                ("Revenue", "revenueUsd", _money),
                ("Cost", "costUsd", _money),
                ("ROAS", "roas", _ratio),
                ("Baseline", "baselineRoas", _ratio),
                ("Status", "status", None),
            ],
        ),
        f"<h2>ARPDAU <span class='period'>{d1}</span></h2>",
        _table(
            arpdau_payload["campaigns"],
            [
                ("Campaign", "campaign", None),
                ("Revenue", "revenueUsd", _money),
                ("DAU", "dau", lambda v: f"{v:,}"),
                ("ARPDAU", "arpdau", _money),
            ],
        ),
        "<h2>Reconciliation: AppsFlyer vs payment gateway "
        "<span class='period'>all dates in the inputs</span></h2>",
        f"<p class='sub'>Window ±{reconciliation['toleranceMinutes']:g} min, one-to-one; "
        f"{summary['revenueMismatches']:,} matched pairs differ by more than $0.01.</p>",
        f"<figure>{reconciliation_chart(summary)}</figure>",
        _table(
            [{"category": c, **summary[c]} for c in ("matched", "af_only", "confirmed_only")],
            [
                ("Category", "category", None),
                ("Records", "count", lambda v: f"{v:,}"),
                ("AppsFlyer revenue", "afRevenueUsd", _money),
                ("Gateway revenue", "confirmedRevenueUsd", _money),
            ],
        ),
        "<h2>Data quality <span class='period'>all dates in the inputs</span></h2>",
        _table(
            [
                {"source": source, "reason": reason, "rows": rows}
                for source, reasons in reconciliation["dataQuality"]["dropped"].items()
                for reason, rows in reasons.items()
            ],
            [
                ("Source", "source", None),
                ("Reason", "reason", None),
                ("Rows dropped", "rows", lambda v: f"{v:,}"),
            ],
        ),
    ]
    body = "\n".join(sections)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Revenue report {html.escape(date)}</title>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>\n"
    )
