"""Run in a child process (Airflow configured by its environment): parse dags/ with a DagBag and
print what the structure tests check, as JSON."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.encoders import coerce_to_core_timetable

from revenue.dates import report_date_for_run


def _param_errors(dag) -> dict[str, str | None]:
    """What the trigger form's validation says to typical bad input (None: accepted)."""
    import copy

    trials = {
        "good": {"date": "2025-11-12", "tolerance_minutes": 5, "shards": 4},
        "date_not_a_date": {"date": "12/11/2025"},
        "tolerance_text": {"tolerance_minutes": "ten"},
        "tolerance_negative": {"tolerance_minutes": -1},
        "shards_zero": {"shards": 0},
        "shards_fraction": {"shards": 1.5},
    }
    errors = {}
    for name, conf in trials.items():
        params = copy.deepcopy(dag.params)
        try:
            for key, value in conf.items():
                params[key] = value
            params.validate()
            errors[name] = None
        except Exception as exc:
            errors[name] = type(exc).__name__
    return errors


def main(dags_folder: str) -> None:
    bag = DagBag(dag_folder=dags_folder)
    dag = bag.get_dag("revenue_pipeline")
    timetable = coerce_to_core_timetable(dag.timetable)
    # The run the scheduler starts at 2025-11-13 01:00 UTC covers the day before.
    scheduled_at = datetime(2025, 11, 13, 1, 0, tzinfo=UTC)
    interval = timetable.infer_manual_data_interval(run_after=scheduled_at)
    print(
        json.dumps(
            {
                "import_errors": bag.import_errors,
                "dag_ids": sorted(bag.dag_ids),
                "downstream": {task.task_id: sorted(task.downstream_task_ids) for task in dag.tasks},
                "timetable": type(timetable).__name__,
                "timetable_summary": timetable.summary,
                "catchup": dag.catchup,
                "max_active_runs": dag.max_active_runs,
                "retries": {
                    task.task_id: [task.retries, task.retry_delay.total_seconds()] for task in dag.tasks
                },
                "scheduled_interval": [interval.start.isoformat(), interval.end.isoformat()],
                "scheduled_report_date": report_date_for_run(None, "scheduled", interval.start).text,
                "params": {name: dag.params.get_param(name).dump() for name in dag.params},
                "param_errors": _param_errors(dag),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
