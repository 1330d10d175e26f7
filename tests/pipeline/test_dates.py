"""report_date_for_run: every source of D-1, their precedence and the reason stated (SPEC §6)."""

from datetime import UTC, date, datetime, timedelta, timezone

import pandas as pd
import pytest

from revenue.dates import (
    DATA_INTERVAL,
    GIVEN,
    LATEST_COST_DATE,
    ReportDateChoice,
    parse_report_date,
    report_date_for_run,
)
from revenue.io import InputDataError
from revenue.stages import report_date_or_latest_cost_day

SCHEDULED_START = datetime(2025, 11, 12, 1, 0, tzinfo=UTC)


def test_conf_date_wins_over_everything():
    assert report_date_for_run("2025-10-01", "scheduled", SCHEDULED_START) == ReportDateChoice(
        date(2025, 10, 1), GIVEN
    )


def test_scheduled_run_reports_on_its_data_interval_start():
    # CronDataIntervalTimetable("0 1 * * *"): the run at 11-13 01:00 covers 11-12 01:00..11-13 01:00.
    choice = report_date_for_run(None, "scheduled", SCHEDULED_START)
    assert choice == ReportDateChoice(date(2025, 11, 12), DATA_INTERVAL)
    assert report_date_for_run(None, "backfill", SCHEDULED_START).day == date(2025, 11, 12)


@pytest.mark.parametrize("run_type", ["manual", "asset_triggered", None])
def test_manual_runs_default_to_the_latest_cost_date_even_with_an_interval(run_type):
    # A manual run triggered with a logical date has a data interval too; SPEC §6 still says the
    # latest cost date, so the API, the Airflow UI and the CLI agree.
    choice = report_date_for_run(None, run_type, SCHEDULED_START)
    assert choice == ReportDateChoice(None, LATEST_COST_DATE)
    assert choice.text is None


def test_interval_start_is_taken_in_utc():
    late_evening_west = datetime(2025, 11, 11, 22, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert report_date_for_run(None, "scheduled", late_evening_west).day == date(2025, 11, 12)


def test_naive_datetimes_mean_utc():
    assert report_date_for_run(None, "scheduled", datetime(2025, 11, 12, 23, 59)).day == date(2025, 11, 12)


def test_latest_cost_day_fills_the_default_and_says_so():
    costs = pd.DataFrame({"date": pd.to_datetime(["2025-11-10", "2025-11-12", "2025-11-11"])})
    assert report_date_or_latest_cost_day(None, costs) == (date(2025, 11, 12), LATEST_COST_DATE)
    assert report_date_or_latest_cost_day("2025-11-01", costs) == (date(2025, 11, 1), GIVEN)


def test_no_cost_rows_and_no_date_is_a_data_error_naming_the_file():
    with pytest.raises(InputDataError, match="costs_daily.csv"):
        report_date_or_latest_cost_day(None, pd.DataFrame({"date": pd.to_datetime([])}))


@pytest.mark.parametrize("bad", ["", "20251112", "2025-11-12T00:00:00", "12/11/2025", " 2025-11-12"])
def test_malformed_conf_date_is_rejected(bad):
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        report_date_for_run(bad, "scheduled", SCHEDULED_START)


@pytest.mark.parametrize("impossible", ["2025-13-01", "2025-02-30"])
def test_impossible_calendar_date_is_rejected(impossible):
    with pytest.raises(ValueError):
        parse_report_date(impossible)


def test_non_string_conf_date_is_rejected():
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        report_date_for_run(20251112, None, None)  # type: ignore[arg-type]
