"""The revenue pipeline's stages in DuckDB: the yardstick pipeline_bench.py times ours against.

Not part of the pipeline (DuckDB is a bench-only dependency: bench/requirements.txt). Same
stages and rules as SPEC §5 on the same inputs: read, normalise (amount notations, campaign
clean-up, times to UTC, status/event filters, implausible revenue), confirmed exact duplicates,
dedup, chargebacks, one-to-one nearest reconciliation (greedy order of §5.3, computed as rounds
of mutual best pairs, which gives the greedy result for a strict order), daily ROAS with the
D-8..D-2 anomaly baseline, ARPDAU on D-1, and CSV/JSON outputs. report.html is not drawn.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb

MAX_PURCHASE_USD = 10_000
TOLERANCE_SECONDS = 600

MACROS = r"""
CREATE MACRO squeeze(t) AS replace(replace(replace(replace(coalesce(t, ''), ' ', ''), chr(9), ''),
    chr(10), ''), chr(13), '');
CREATE MACRO amount_of(s) AS CASE
    WHEN contains(s, ',') OR length(s) - length(replace(s, '.', '')) > 1 THEN TRY_CAST(replace(
        regexp_replace(regexp_replace(s, '^(.*)[.,]([^.,]*)$', '\1#\2'), '[.,]', '', 'g'), '#',
            '.') AS DOUBLE)
    ELSE TRY_CAST(s AS DOUBLE) END;
CREATE MACRO finite(x) AS CASE WHEN isfinite(x) THEN x END;
CREATE MACRO strip(t) AS trim(coalesce(t, ''), ' ' || chr(9) || chr(10) || chr(13));
CREATE MACRO clean_campaign(t) AS upper(regexp_replace(strip(t), '\s+', ' ', 'g'));
CREATE MACRO utc_time(t) AS TRY_CAST(strip(t) AS TIMESTAMPTZ);
CREATE MACRO label(c) AS CASE WHEN c = '' THEN 'ORGANIC' ELSE c END;
"""


def _read(con: duckdb.DuckDBPyConnection, table: str, path: Path) -> None:
    # rowid of a table filled in file order is the input row number (source_row).
    con.execute(
        f"CREATE TABLE {table}_text AS SELECT * FROM read_csv(?, all_varchar = true, header = true)",
        [str(path)],
    )


def _normalise(con: duckdb.DuckDBPyConnection) -> None:
    # Typed once into a table, then filtered: a macro used in both SELECT and WHERE runs twice.
    con.execute("""
        CREATE TABLE chargebacks AS SELECT DISTINCT strip(receipt_id) AS receipt_id FROM purchases_text
        WHERE lower(strip(status)) = 'chargeback' AND strip(receipt_id) <> ''""")
    con.execute("""
        CREATE TABLE af_typed AS SELECT rowid AS source_row, strip(appsflyer_id) AS appsflyer_id,
               utc_time(event_time_utc) AS event_time_utc, lower(strip(event_name)) AS event_name,
               amount_of(squeeze(revenue_usd)) AS amount, clean_campaign(campaign) AS campaign,
               strip(receipt_id) AS receipt_id, lower(strip(status)) AS status
        FROM purchases_text""")
    con.execute(f"""
        CREATE TABLE af AS SELECT * EXCLUDE (amount, status), finite(amount) AS revenue_usd FROM af_typed
        WHERE status = 'success' AND event_name IN ('af_purchase', 'purchase')
          AND finite(amount) > 0 AND finite(amount) <= {MAX_PURCHASE_USD} AND event_time_utc IS NOT NULL""")
    con.execute("""
        CREATE TABLE confirmed_typed AS SELECT rowid AS source_row, strip(appsflyer_id) AS appsflyer_id,
               utc_time(event_time_utc) AS event_time_utc,
                   finite(amount_of(squeeze(revenue_usd))) AS revenue_usd,
               strip(receipt_id) AS receipt_id FROM confirmed_purchases_text""")
    con.execute(f"""
        CREATE TABLE confirmed AS SELECT * EXCLUDE (copy) FROM (
            SELECT *, row_number() OVER (PARTITION BY appsflyer_id, event_time_utc, revenue_usd, receipt_id
                                         ORDER BY source_row) AS copy
            FROM confirmed_typed
            WHERE revenue_usd > 0 AND revenue_usd <= {MAX_PURCHASE_USD} AND event_time_utc IS NOT NULL)
        WHERE copy = 1""")
    con.execute("""
        CREATE TABLE costs AS SELECT * FROM (
            SELECT CAST(utc_time(date) AS DATE) AS date, clean_campaign(campaign) AS campaign,
                   finite(amount_of(squeeze(ad_cost_usd))) AS ad_cost_usd FROM costs_text)
        WHERE date IS NOT NULL AND ad_cost_usd >= 0""")
    con.execute("""
        CREATE TABLE sessions AS SELECT * FROM (
            SELECT strip(user_id) AS user_id,
                   coalesce(CAST(utc_time(event_timestamp_utc) AS DATE), CAST(utc_time(date) AS DATE)) AS date
            FROM sessions_text) WHERE user_id <> '' AND date IS NOT NULL""")


def _dedup(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""
        CREATE TABLE curated AS SELECT af.source_row, af.appsflyer_id, af.event_time_utc, af.event_name,
               CASE WHEN cb.receipt_id IS NULL THEN af.revenue_usd ELSE 0.0 END AS revenue_usd,
               af.campaign, af.receipt_id, af.revenue_usd AS original_revenue_usd,
                   cb.receipt_id IS NOT NULL AS chargeback
        FROM (SELECT *, row_number() OVER (PARTITION BY appsflyer_id, event_time_utc, event_name, revenue_usd
                                           ORDER BY source_row) AS copy FROM af) af
        LEFT JOIN chargebacks cb ON cb.receipt_id = af.receipt_id AND af.receipt_id <> ''
        WHERE copy = 1 ORDER BY af.source_row""")


def _reconcile(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(f"""
        CREATE TABLE candidates AS SELECT p.source_row AS af_row, c.source_row AS c_row,
               row_number() OVER (ORDER BY abs(epoch(p.event_time_utc) - epoch(c.event_time_utc)),
                   abs(round(p.original_revenue_usd * 100) - round(c.revenue_usd * 100)),
                   p.event_time_utc, c.event_time_utc, p.source_row, c.source_row) AS rank
        FROM curated p JOIN confirmed c USING (appsflyer_id)
        WHERE abs(epoch(p.event_time_utc) - epoch(c.event_time_utc)) <= {TOLERANCE_SECONDS}""")
    con.execute("CREATE TABLE pairs (af_row BIGINT, c_row BIGINT)")
    rounds = 0
    while con.execute("SELECT count(*) FROM candidates").fetchone()[0]:
        rounds += 1
        # A pair that is the best remaining for both its sides is what the greedy pass takes.
        con.execute("""
            INSERT INTO pairs SELECT af_row, c_row FROM candidates
            QUALIFY rank = min(rank) OVER (PARTITION BY af_row)
                AND rank = min(rank) OVER (PARTITION BY c_row)""")
        con.execute("""
            DELETE FROM candidates WHERE af_row IN (SELECT af_row
                FROM pairs) OR c_row IN (SELECT c_row FROM pairs)""")
    con.execute("""
        CREATE TABLE detail AS
        SELECT CASE WHEN p.af_row IS NOT NULL THEN 'matched' WHEN a.source_row IS NOT NULL THEN 'af_only'
                    ELSE 'confirmed_only' END AS category,
               a.source_row AS af_source_row, c.source_row AS confirmed_source_row,
                   coalesce(a.appsflyer_id, c.appsflyer_id)
               AS appsflyer_id, a.event_time_utc AS af_event_time_utc,
                   c.event_time_utc AS confirmed_event_time_utc,
               a.original_revenue_usd AS af_revenue_usd, c.revenue_usd AS confirmed_revenue_usd, a.chargeback
        FROM pairs p
        FULL JOIN curated a ON a.source_row = p.af_row
        FULL JOIN confirmed c ON c.source_row = p.c_row
        ORDER BY category, af_source_row, confirmed_source_row""")
    return rounds


def _roas(con: duckdb.DuckDBPyConnection, report_date: str) -> None:
    con.execute("""
        CREATE TABLE daily AS SELECT coalesce(r.date, k.date) AS date, coalesce(r.campaign,
            k.campaign) AS campaign,
               coalesce(r.revenue_usd, 0) AS revenue_usd, coalesce(r.purchases, 0) AS purchases, k.cost_usd,
               CASE WHEN k.cost_usd > 0 THEN coalesce(r.revenue_usd, 0) / k.cost_usd END AS roas
        FROM (SELECT CAST(timezone('UTC', event_time_utc) AS DATE) AS date, label(campaign) AS campaign,
                     sum(revenue_usd) AS revenue_usd, count(*) AS purchases FROM curated GROUP BY ALL) r
        FULL JOIN (SELECT date, campaign, sum(ad_cost_usd) AS cost_usd FROM costs GROUP BY ALL) k
          ON r.date = k.date AND r.campaign = k.campaign""")
    con.execute(
        """
        CREATE TABLE anomalies AS SELECT d.campaign, d.revenue_usd, d.cost_usd, d.roas, b.baseline_roas,
               coalesce(b.days, 0) AS baseline_days,
               CASE WHEN d.roas IS NULL THEN 'no_roas' WHEN coalesce(b.days,
                   0) < 3 THEN 'insufficient_history'
                    WHEN NOT d.roas < 0.5 * b.baseline_roas THEN 'ok' ELSE 'anomaly' END AS status,
               CASE WHEN d.roas IS NOT NULL AND b.days >= 3 AND d.roas < 0.5 * b.baseline_roas THEN
                    CASE WHEN d.roas < 0.25 * b.baseline_roas OR (d.revenue_usd = 0 AND d.cost_usd > 0)
                         THEN 'critical' ELSE 'warning' END END AS severity
        FROM daily d LEFT JOIN (
            SELECT campaign, avg(roas) AS baseline_roas, count(*) AS days FROM daily
            WHERE roas IS NOT NULL AND date BETWEEN CAST(? AS DATE) - 7
                AND CAST(? AS DATE) - 1 GROUP BY campaign
        ) b USING (campaign)
        WHERE d.date = CAST(? AS DATE)
            AND (d.cost_usd IS NOT NULL OR d.revenue_usd > 0) ORDER BY d.campaign""",
        [report_date] * 3,
    )


def _arpdau(con: duckdb.DuckDBPyConnection, report_date: str) -> None:
    con.execute(
        """
        CREATE TABLE arpdau AS WITH active AS (SELECT DISTINCT user_id FROM sessions
            WHERE date = CAST(? AS DATE)),
        first_campaign AS (SELECT appsflyer_id AS user_id, label(arg_min(campaign, (event_time_utc,
            source_row))) AS campaign
                           FROM curated WHERE appsflyer_id IN (SELECT user_id
                               FROM active) GROUP BY appsflyer_id),
        dau AS (SELECT coalesce(f.campaign, 'ORGANIC') AS campaign, count(*) AS dau
                FROM active a LEFT JOIN first_campaign f USING (user_id) GROUP BY ALL),
        revenue AS (SELECT label(campaign) AS campaign, sum(revenue_usd) AS revenue_usd FROM curated
                    WHERE CAST(timezone('UTC', event_time_utc) AS DATE) = CAST(? AS DATE) GROUP BY ALL),
        per_campaign AS (SELECT campaign, coalesce(r.revenue_usd, 0) AS revenue_usd, coalesce(d.dau, 0) AS dau
                         FROM revenue r FULL JOIN dau d USING (campaign) WHERE coalesce(d.dau,
                             0) > 0 OR r.revenue_usd > 0)
        SELECT *, CASE WHEN dau > 0 THEN revenue_usd / dau END AS arpdau FROM (
            SELECT * FROM per_campaign
            UNION ALL SELECT 'ALL', (SELECT coalesce(sum(revenue_usd), 0) FROM revenue),
                (SELECT count(*) FROM active))
        ORDER BY campaign = 'ALL', campaign""",
        [report_date] * 2,
    )


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    cursor = con.execute(sql)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _publish(con: duckdb.DuckDBPyConnection, reports: Path) -> dict:
    reports.mkdir(parents=True, exist_ok=True)
    con.execute(f"COPY curated TO '{reports / 'purchases_curated.csv'}' (HEADER)")
    con.execute(f"COPY detail TO '{reports / 'reconciliation_detail.csv'}' (HEADER)")
    summary = _rows(
        con,
        "SELECT category, count(*) AS records, sum(af_revenue_usd) AS af_revenue_usd, "
        "sum(confirmed_revenue_usd) AS confirmed_revenue_usd FROM detail GROUP BY ALL ORDER BY ALL",
    )
    mismatches = con.execute(
        "SELECT count(*) FROM detail WHERE category = 'matched' "
        "AND abs(af_revenue_usd - confirmed_revenue_usd) > 0.01 + 1e-9"
    ).fetchone()[0]
    examples = {
        c["category"]: _rows(con, f"SELECT * FROM detail WHERE category = '{c['category']}' LIMIT 1000")
        for c in summary
    }
    outputs = {
        "reconciliation.json": {"summary": summary, "revenueMismatches": mismatches, "examples": examples},
        "roas_d1.json": _rows(con, "SELECT * FROM anomalies"),
        "roas_anomaly.json": _rows(con, "SELECT * FROM anomalies WHERE status = 'anomaly'"),
        "arpdau_d1.json": _rows(con, "SELECT * FROM arpdau"),
    }
    for name, payload in outputs.items():
        (reports / name).write_text(json.dumps(payload, default=str, indent=2))
    return {"categories": {c["category"]: c["records"] for c in summary}, "revenueMismatches": mismatches}


def run(data_dir: str | Path, reports_dir: str | Path) -> dict:
    """Every stage on the four inputs in ``data_dir``; seconds per stage and the summary counts."""
    data_dir, reports = Path(data_dir), Path(reports_dir)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(MACROS)
    seconds: dict[str, float] = {}
    started = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal started
        seconds[stage] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()

    for table, filename in (
        ("purchases", "purchases_raw.csv"),
        ("confirmed_purchases", "confirmed_purchases.csv"),
        ("costs", "costs_daily.csv"),
        ("sessions", "sessions.csv"),
    ):
        _read(con, table, data_dir / filename)
    lap("read")
    _normalise(con)
    lap("normalise")
    _dedup(con)
    lap("dedup")
    rounds = _reconcile(con)
    lap("reconcile")
    report_date = str(con.execute("SELECT max(date) FROM costs").fetchone()[0])
    _roas(con, report_date)
    lap("roas_anomaly")
    _arpdau(con, report_date)
    lap("arpdau")
    summary = _publish(con, reports)
    lap("publish")
    con.close()
    return {"seconds": seconds, "report_date": report_date, "greedy_rounds": rounds, "summary": summary}
