"""A small client for the Airflow 3 REST API v2: trigger and observe revenue_pipeline runs."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx

DAG_ID = "revenue_pipeline"
PUBLISH_TASK = "publish"
# Airflow's tokens live a day by default; reusing one for minutes saves a round trip per call.
TOKEN_REUSE_SECONDS = 300
_tokens: dict[tuple[str, str | None, str | None], tuple[str, float]] = {}


class AirflowApiError(Exception):
    """Airflow could not be reached or answered something other than what the API promises."""


class AirflowClient:
    """Every method opens its own connection; tokens are shared by the process for a while.

    The token comes from the API server's auth manager: POST /auth/token with a username and
    password, or, with none configured, GET /auth/token, which the simple auth manager answers
    when AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS is on.
    """

    def __init__(
        self,
        base_url: str,
        username: str | None = None,
        password: str | None = None,
        timeout_seconds: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/").removesuffix("/api/v2")
        self.username = username
        self.password = password
        self.timeout_seconds = timeout_seconds

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout_seconds) as client:
                response = await self._authorised(client, method, path, fresh_token=False, **kwargs)
                if response.status_code == 401:  # expired or revoked: once more with a new token
                    response = await self._authorised(client, method, path, fresh_token=True, **kwargs)
                return response
        except httpx.HTTPError as exc:
            raise AirflowApiError(
                f"Airflow API at {self.base_url} unreachable: {type(exc).__name__} {exc}".rstrip()
            ) from exc

    async def _authorised(
        self, client: httpx.AsyncClient, method: str, path: str, fresh_token: bool, **kwargs: Any
    ) -> httpx.Response:
        key = (self.base_url, self.username, self.password)
        token, expires = _tokens.get(key, ("", 0.0))
        if fresh_token or time.monotonic() >= expires:
            token = await self._token(client)
            _tokens[key] = (token, time.monotonic() + TOKEN_REUSE_SECONDS)
        return await client.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)

    async def _token(self, client: httpx.AsyncClient) -> str:
        if self.username:
            credentials = {"username": self.username, "password": self.password or ""}
            response = await client.post("/auth/token", json=credentials)
        else:
            response = await client.get("/auth/token")
        if response.status_code not in (200, 201):
            raise AirflowApiError(f"Airflow refused a token ({response.status_code}): {response.text[:200]}")
        return str(response.json()["access_token"])

    @staticmethod
    def _expect(response: httpx.Response, *ok: int) -> dict[str, Any]:
        if response.status_code not in ok:
            raise AirflowApiError(
                f"Airflow answered {response.status_code} to {response.request.method} "
                f"{response.request.url.path}: {response.text[:300]}"
            )
        body: dict[str, Any] = response.json()
        return body

    async def trigger(self, run_id: str, conf: dict[str, Any]) -> dict[str, Any]:
        """Create a run (unpausing the DAG first: new DAGs start paused and a paused DAG's runs
        stay queued). No logical date, so the run takes D-1 from conf or run_after (SPEC §6)."""
        unpause = await self._request(
            "PATCH", f"/api/v2/dags/{DAG_ID}", params={"update_mask": "is_paused"}, json={"is_paused": False}
        )
        if unpause.status_code == 404:
            raise AirflowApiError(
                f"Airflow does not know the DAG {DAG_ID!r} (not parsed yet, or import error)"
            )
        self._expect(unpause, 200)
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf}
        return self._expect(await self._request("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", json=body), 200)

    @staticmethod
    def _run_path(run_id: str) -> str:
        # Scheduler run ids carry ':' and '+': one opaque path segment.
        return f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}"

    async def dag_run(self, run_id: str) -> dict[str, Any] | None:
        response = await self._request("GET", self._run_path(run_id))
        return None if response.status_code == 404 else self._expect(response, 200)

    async def task_states(self, run_id: str) -> dict[str, str | None]:
        response = await self._request("GET", f"{self._run_path(run_id)}/taskInstances")
        return {ti["task_id"]: ti["state"] for ti in self._expect(response, 200)["task_instances"]}

    async def task_xcom(self, run_id: str, task_id: str, key: str) -> Any:
        """One XCom value of one task of the run, None when there is none."""
        response = await self._request(
            "GET",
            f"{self._run_path(run_id)}/taskInstances/{quote(task_id, safe='')}/xcomEntries/{key}",
            params={"deserialize": "true"},
        )
        return None if response.status_code == 404 else self._expect(response, 200).get("value")

    async def publish_result(self, run_id: str) -> dict[str, Any] | None:
        """What the publish task returned (report paths and summary), if it ran."""
        value = await self.task_xcom(run_id, PUBLISH_TASK, "return_value")
        return value if isinstance(value, dict) else None
