"""resolve_report_date: every source of D-1 and their precedence (SPEC §6)."""
from datetime import date, datetime, timedelta, timezone

import pytest

from revenue.dates import parse_report_date, resolve_report_date

SCHEDULED_START = datetime(2025, 11, 12, 1, 0, tzinfo=timezone.utc)
RUN_AFTER = datetime(2025, 11, 20, 9, 30, tzinfo=timezone.utc)


def test_conf_date_wins_over_everything():
    assert resolve_report_date("2025-10-01", SCHEDULED_START, RUN_AFTER) == date(2025, 10, 1)


def test_scheduled_run_reports_on_its_data_interval_start():
    # CronDataIntervalTimetable("0 1 * * *"): the run at 11-13 01:00 covers 11-12 01:00..11-13 01:00.
    assert resolve_report_date(None, SCHEDULED_START, RUN_AFTER) == date(2025, 11, 12)


def test_interval_start_is_taken_in_utc():
    late_evening_west = datetime(2025, 11, 11, 22, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert resolve_report_date(None, late_evening_west, None) == date(2025, 11, 12)


def test_naive_datetimes_mean_utc():
    assert resolve_report_date(None, datetime(2025, 11, 12, 23, 59), None) == date(2025, 11, 12)
    assert resolve_report_date(None, None, datetime(2025, 11, 12, 0, 0)) == date(2025, 11, 11)


def test_run_without_interval_reports_on_the_day_before_run_after():
    assert resolve_report_date(None, None, RUN_AFTER) == date(2025, 11, 19)


def test_run_after_just_past_midnight_in_another_zone_uses_the_utc_day():
    run_after = datetime(2025, 11, 20, 0, 30, tzinfo=timezone(timedelta(hours=2)))  # 11-19 22:30 UTC
    assert resolve_report_date(None, None, run_after) == date(2025, 11, 18)


def test_nothing_known_means_none():
    assert resolve_report_date(None, None, None) is None


@pytest.mark.parametrize("bad", ["", "20251112", "2025-11-12T00:00:00", "12/11/2025", " 2025-11-12"])
def test_malformed_conf_date_is_rejected(bad):
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        resolve_report_date(bad, SCHEDULED_START, RUN_AFTER)


@pytest.mark.parametrize("impossible", ["2025-13-01", "2025-02-30"])
def test_impossible_calendar_date_is_rejected(impossible):
    with pytest.raises(ValueError):
        parse_report_date(impossible)


def test_non_string_conf_date_is_rejected():
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        resolve_report_date(20251112, None, None)  # type: ignore[arg-type]
