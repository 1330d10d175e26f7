"""Which day a pipeline run reports on (D-1), and why (SPEC §5.4, §6)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

# Why a run reports on its day; stated in every output (API, run record, CLI, reports).
GIVEN = "given"
DATA_INTERVAL = "data_interval"
LATEST_COST_DATE = "latest_cost_date"
REASONS = {
    GIVEN: "the date given to the run",
    DATA_INTERVAL: "the scheduled run's data interval start",
    LATEST_COST_DATE: "no date given: the latest day costs_daily.csv covers",
}
# Airflow run types whose data interval is the day they report on (manual and API runs have none
# that means anything: SPEC §6).
_INTERVAL_RUN_TYPES = frozenset({"scheduled", "backfill"})


def parse_report_date(text: str) -> date:
    """A strict ``YYYY-MM-DD``; anything else (``20251112``, ``2025-11-12T00:00``) is a ValueError."""
    if not isinstance(text, str) or not _ISO_DATE.fullmatch(text):
        raise ValueError(f"date must be YYYY-MM-DD, got {text!r}")
    return date.fromisoformat(text)


def _utc_date(moment: datetime) -> date:
    # A naive datetime means UTC (SPEC §0), not the machine's local zone.
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(UTC).date()


@dataclass(frozen=True)
class ReportDateChoice:
    """D-1 as far as the run context decides it: ``day`` None means the latest cost date,
    which only the data can tell (``revenue.stages.report_date_or_latest_cost_day``)."""

    day: date | None
    reason: str

    @property
    def text(self) -> str | None:
        return self.day.isoformat() if self.day else None


def report_date_for_run(
    conf_date: str | None, run_type: str | None, data_interval_start: datetime | None
) -> ReportDateChoice:
    """D-1 of a run from its context: ``conf["date"]``, else a scheduled run's data interval
    start (with the daily data-interval timetable that interval *is* D-1), else the latest cost
    date. A manual run's data interval is ignored: manual runs, from the API, the Airflow UI or
    the CLI, all default to the same day."""
    if conf_date is not None:
        return ReportDateChoice(parse_report_date(conf_date), GIVEN)
    if run_type in _INTERVAL_RUN_TYPES and data_interval_start is not None:
        return ReportDateChoice(_utc_date(data_interval_start), DATA_INTERVAL)
    return ReportDateChoice(None, LATEST_COST_DATE)
