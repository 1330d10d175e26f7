"""report.html: one self-contained page a marketer reads every morning (charts embedded as base64 PNG)."""
from __future__ import annotations

import base64
import datetime as dt
import html
import io
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
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1200px;
color:#1f2933;padding:0 16px}h1{margin-bottom:4px}h2{margin-top:36px;border-bottom:1px solid #e4e7eb;padding-bottom:4px}
.sub{color:#616e7c;margin-top:0}.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{flex:1 1 160px;border:1px solid #e4e7eb;border-radius:8px;padding:12px 14px;background:#f9fafb}
.card .label{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#616e7c}
.card .value{font-size:26px;font-weight:600;margin-top:4px}.card .note{font-size:12px;color:#616e7c}
.bad{color:#c62828}.warn{color:#ef6c00}.good{color:#2e7d32}
table{border-collapse:collapse;width:100%;font-size:13px;margin:8px 0}th,td{padding:5px 8px;border-bottom:1px solid #e4e7eb;
text-align:right}th{background:#f5f7fa}td:first-child,th:first-child{text-align:left}td.text{text-align:left}
img{max-width:100%}.pill{border-radius:10px;padding:1px 8px;font-size:12px;color:#fff}
.pill.critical{background:#c62828}.pill.warning{background:#ef6c00}
"""


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return f'<img alt="chart" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode("ascii")}">'


def _money(value: Any) -> str:
    return "–" if value is None else f"${value:,.2f}"


def _ratio(value: Any, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def roas_trend_chart(daily: pd.DataFrame, verdicts: pd.DataFrame, report_date: str) -> str:
    """Small multiples of daily ROAS, anomalies first then the biggest D-1 spenders, D-1 marked."""
    day = pd.Timestamp(dt.date.fromisoformat(report_date))
    window = daily[(daily["date"] > day - pd.Timedelta(days=TREND_DAYS)) & (daily["date"] <= day)]
    with_roas = set(window.loc[window["roas"].notna(), "campaign"])
    candidates = verdicts[verdicts["campaign"].isin(with_roas)]
    if candidates.empty:
        return "<p>No campaign had a ROAS in the last days.</p>"
    ranked = candidates.assign(
        _anomaly=(candidates["status"] != roas_stage.ANOMALY).astype(int),
        _cost=-candidates["cost_usd"].fillna(0),
    ).sort_values(["_anomaly", "_cost", "campaign"])
    campaigns = ranked["campaign"].head(MAX_TREND_PANELS).tolist()
    columns = 4
    rows = -(-len(campaigns) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(12, 2.2 * rows), squeeze=False)
    figure.subplots_adjust(left=0.04, right=0.99, top=1 - 0.35 / rows, bottom=0.3 / rows, hspace=0.55, wspace=0.18)
    # Days before D-1 on a plain numeric axis with a few date labels: date locators are slow.
    ticks = list(range(-(TREND_DAYS // 7) * 7, 1, 7))
    labels = [(day + pd.Timedelta(days=t)).strftime("%b %d") for t in ticks]
    verdict_by_campaign = verdicts.set_index("campaign")
    for axis, campaign in zip(axes.flat, campaigns):
        series = window[window["campaign"] == campaign]
        offsets = (series["date"] - day).dt.days.to_numpy()
        axis.plot(offsets, series["roas"].to_numpy(), color="#52606d", linewidth=1.2, marker=".", markersize=3)
        verdict = verdict_by_campaign.loc[campaign]
        if pd.notna(verdict["baseline_roas"]):
            axis.axhline(verdict["baseline_roas"], color="#9aa5b1", linestyle="--", linewidth=0.8)
        flagged = verdict["status"] == roas_stage.ANOMALY
        if flagged and pd.notna(verdict["roas"]):
            colour = "#c62828" if verdict["severity"] == "critical" else "#ef6c00"
            axis.scatter([0], [verdict["roas"]], color=colour, s=50, zorder=3)
        axis.set_title(campaign, fontsize=9, color="#c62828" if flagged else "#1f2933")
        axis.set_xticks(ticks, labels, fontsize=7)
        axis.tick_params(axis="y", labelsize=7)
        axis.set_xlim(-TREND_DAYS + 0.5, 0.5)
        axis.set_ylim(bottom=0)
    for axis in list(axes.flat)[len(campaigns):]:
        axis.set_visible(False)
    return _png(figure)


def reconciliation_chart(summary: dict) -> str:
    categories = ["matched", "af_only", "confirmed_only"]
    counts = [summary[c]["count"] for c in categories]
    revenue = [summary[c]["afRevenueUsd"] if c != "confirmed_only" else summary[c]["confirmedRevenueUsd"] for c in categories]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 2.6))
    colours = [CATEGORY_COLOURS[c] for c in categories]
    left.barh(categories, counts, color=colours)
    left.set_title("Purchases by category", fontsize=10)
    right.barh(categories, revenue, color=colours)
    right.set_title("Revenue by category (USD)", fontsize=10)
    for axis in (left, right):
        axis.invert_yaxis()
        axis.tick_params(labelsize=8)
    figure.subplots_adjust(left=0.1, right=0.98, wspace=0.3, bottom=0.12)
    return _png(figure)


def _card(label: str, value: str, note: str = "", tone: str = "") -> str:
    return (f'<div class="card"><div class="label">{html.escape(label)}</div>'
            f'<div class="value {tone}">{html.escape(value)}</div><div class="note">{html.escape(note)}</div></div>')


def _table(rows: list[dict], columns: list[tuple[str, str, Any]]) -> str:
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
    return f'<span class="pill {html.escape(str(severity))}">{html.escape(str(severity))}</span>' if severity else ""


def headline_cards(payloads: dict) -> str:
    roas_totals = payloads["roas_d1.json"]["totals"]
    anomalies = payloads["roas_anomaly.json"]["anomalies"]
    critical = sum(1 for a in anomalies if a["severity"] == "critical")
    everyone = next(r for r in payloads["arpdau_d1.json"]["campaigns"] if r["campaign"] == "ALL")
    summary = payloads["reconciliation.json"]["summary"]
    total_af = summary["totalAf"] or 1
    match_rate = summary["matched"]["count"] / total_af
    quality = payloads["reconciliation.json"]["dataQuality"]
    return '<div class="cards">' + "".join([
        _card("Revenue D-1", _money(roas_totals["revenueUsd"]), "curated, chargebacks at $0"),
        _card("Ad cost D-1", _money(roas_totals["costUsd"])),
        _card("ROAS D-1", _ratio(roas_totals["roas"]), "all campaigns"),
        _card("ARPDAU D-1", _money(everyone["arpdau"]), f"{everyone['dau']:,} daily active users"),
        _card("ROAS anomalies", str(len(anomalies)), f"{critical} critical", "bad" if critical else ("warn" if anomalies else "good")),
        _card("Confirmed by gateway", f"{match_rate:.1%}", f"{summary['af_only']['count']:,} AppsFlyer-only purchases",
              "good" if match_rate >= 0.95 else "warn"),
        _card("Rows dropped", f"{quality['droppedTotal']:,}", "see data quality below"),
    ]) + "</div>"


def render_report(payloads: dict[str, dict], daily: pd.DataFrame, verdicts: pd.DataFrame) -> str:
    roas_payload, anomaly_payload = payloads["roas_d1.json"], payloads["roas_anomaly.json"]
    reconciliation, arpdau_payload = payloads["reconciliation.json"], payloads["arpdau_d1.json"]
    date = roas_payload["date"]
    summary = reconciliation["summary"]
    window = anomaly_payload["baselineWindow"]
    anomaly_rows = anomaly_payload["anomalies"]
    sections = [
        f"<h1>Revenue report — {html.escape(date)}</h1>",
        f'<p class="sub">D-1 = {html.escape(date)} (UTC). ROAS baseline: mean daily ROAS {window["from"]} to {window["to"]}.</p>',
        headline_cards(payloads),
        "<h2>What needs attention</h2>",
        _table(anomaly_rows, [
            ("Campaign", "campaign", None), ("Severity", "severity", _pill), ("ROAS D-1", "roas", _ratio),
            ("Baseline", "baselineRoas", _ratio), ("Revenue", "revenueUsd", _money), ("Cost", "costUsd", _money),
            ("Insight", "insight", None),
        ]) if anomaly_rows else "<p>No campaign's ROAS fell below half of its baseline.</p>",
        "<h2>ROAS trend per campaign</h2>",
        f"<p class='sub'>Last {TREND_DAYS} days; dashed line = baseline; red/orange dot = D-1 anomaly "
        f"(anomalies first, then the largest spenders, at most {MAX_TREND_PANELS} panels).</p>",
        roas_trend_chart(daily, verdicts, date),
        "<h2>ROAS D-1 by campaign</h2>",
        _table(anomaly_payload["campaigns"], [
            ("Campaign", "campaign", None), ("Revenue", "revenueUsd", _money), ("Cost", "costUsd", _money),
            ("ROAS", "roas", _ratio), ("Baseline", "baselineRoas", _ratio), ("Status", "status", None),
        ]),
        "<h2>ARPDAU D-1</h2>",
        _table(arpdau_payload["campaigns"], [
            ("Campaign", "campaign", None), ("Revenue", "revenueUsd", _money), ("DAU", "dau", lambda v: f"{v:,}"),
            ("ARPDAU", "arpdau", lambda v: _ratio(v, 4) if v is not None else "–"),
        ]),
        "<h2>Reconciliation: AppsFlyer vs payment gateway</h2>",
        f"<p class='sub'>Window ±{reconciliation['toleranceMinutes']:g} min, one-to-one; "
        f"{summary['revenueMismatches']:,} matched pairs differ by more than $0.01.</p>",
        reconciliation_chart(summary),
        _table([{"category": c, **summary[c]} for c in ("matched", "af_only", "confirmed_only")], [
            ("Category", "category", None), ("Records", "count", lambda v: f"{v:,}"),
            ("AppsFlyer revenue", "afRevenueUsd", _money), ("Gateway revenue", "confirmedRevenueUsd", _money),
        ]),
        "<h2>Data quality</h2>",
        _table([
            {"source": source, "reason": reason, "rows": rows}
            for source, reasons in reconciliation["dataQuality"]["dropped"].items() for reason, rows in reasons.items()
        ], [("Source", "source", None), ("Reason", "reason", None), ("Rows dropped", "rows", lambda v: f"{v:,}")]),
    ]
    body = "\n".join(sections)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Revenue report {html.escape(date)}</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>\n")
