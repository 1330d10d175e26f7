"""Which day a pipeline run reports on (D-1), from what the run knows about itself (SPEC §5, §6)."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_report_date(text: str) -> date:
    """A strict ``YYYY-MM-DD``; anything else (``20251112``, ``2025-11-12T00:00``) is a ValueError."""
    if not isinstance(text, str) or not _ISO_DATE.fullmatch(text):
        raise ValueError(f"date must be YYYY-MM-DD, got {text!r}")
    return date.fromisoformat(text)


def _utc_date(moment: datetime) -> date:
    # A naive datetime means UTC (SPEC §0), not the machine's local zone.
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(timezone.utc).date()


def resolve_report_date(
    conf_date: str | None,
    data_interval_start: datetime | None,
    run_after: datetime | None,
) -> date | None:
    """D-1 of a run.

    ``conf["date"]`` wins (manual runs naming a day); else a scheduled run's data interval start,
    because with the daily data-interval timetable that interval *is* D-1; else the day before
    ``run_after`` (manual/API runs without a logical date have no data interval). None only when
    nothing is known, and the library then reports on the latest cost date.
    """
    if conf_date is not None:
        return parse_report_date(conf_date)
    if data_interval_start is not None:
        return _utc_date(data_interval_start)
    if run_after is not None:
        return _utc_date(run_after) - timedelta(days=1)
    return None
