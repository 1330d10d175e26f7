"""Run parameters whose defaults the CLI, the DAG's typed params and the library share.

Kept free of heavy imports: the DAG file imports it at parse time.
"""

from __future__ import annotations

# SPEC §5.3: AppsFlyer and gateway purchases at most this many minutes apart can match.
DEFAULT_TOLERANCE_MINUTES = 10.0
MAX_TOLERANCE_MINUTES = 1440.0
# The XCom under which a task that met a data error leaves its message, for the service to show.
DATA_ERROR_XCOM_KEY = "data_error"
