"""Per-client request budgets: a fixed window that opens at the client's first hit.

Two stores with one behaviour:
- `RedisRateLimiter` (when `REDIS_URL` is set): one key per client and scope, counted and given
  its expiry by a Lua script, so every Sanic worker and every host shares the budget; the hits
  of one event-loop turn share one script call.
- `InProcessRateLimiter`: a dict in this process. Correct only while one worker serves the port;
  the app refuses (production) or warns (development) when more workers run without Redis.

The window starts at the client's first request rather than on the clock's minute, so a burst is
never split across two windows: `limit` requests pass, the next is refused until the window ends.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

_PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
}
_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*", re.ASCII)


@dataclass(frozen=True)
class Rate:
    limit: int
    window_s: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """`120/minute`, `5/10s`, `10/15minutes`, `1000/hour` (s, sec, second(s), m, min,
        minute(s), h, hour(s))."""
        match = _RATE.fullmatch(text.lower())
        if not match or match.group(3) not in _PERIODS:
            raise ValueError(f"rate {text!r} is not like '120/minute' or '5/10s'")
        count, multiple, unit = match.groups()
        limit, window_s = int(count), int(multiple or 1) * _PERIODS[unit]
        if limit < 1 or window_s < 1:
            raise ValueError(f"rate {text!r} needs a positive count and window")
        return cls(limit=limit, window_s=window_s)

    def __str__(self) -> str:
        return f"{self.limit}/{self.window_s}s"


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    # Whole seconds until the client's window closes (what `Retry-After` says when refused).
    reset_after_s: int


def _decide(rate: Rate, count: int, ms_left: float) -> RateDecision:
    return RateDecision(
        allowed=count <= rate.limit,
        limit=rate.limit,
        remaining=max(rate.limit - count, 0),
        reset_after_s=max(math.ceil(ms_left / 1000), 1),
    )


class RateLimiter(Protocol):
    shared: bool

    async def hit(self, scope: str, client: str, rate: Rate) -> RateDecision: ...

    async def spent(self, scope: str, client: str, rate: Rate) -> RateDecision | None:
        """The refusal a further hit would get, without counting one (None while within budget)."""

    async def close(self) -> None: ...


class InProcessRateLimiter:
    shared = False

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_clients: int = 100_000):
        self._clock = clock
        self._max_clients = max_clients
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}

    async def hit(self, scope: str, client: str, rate: Rate) -> RateDecision:
        now = self._clock()
        key = (scope, client)
        closes_at, count = self._windows.get(key, (0.0, 0))
        if closes_at <= now:
            self._windows.pop(key, None)
            self._make_room(now)
            closes_at, count = now + rate.window_s, 0
        count += 1
        self._windows[key] = (closes_at, count)
        return _decide(rate, count, (closes_at - now) * 1000)

    async def spent(self, scope: str, client: str, rate: Rate) -> RateDecision | None:
        now = self._clock()
        closes_at, count = self._windows.get((scope, client), (0.0, 0))
        if closes_at <= now or count < rate.limit:
            return None
        return _decide(rate, count + 1, (closes_at - now) * 1000)

    def _make_room(self, now: float) -> None:
        # Bounded memory under many client addresses: drop closed windows, then the oldest.
        if len(self._windows) < self._max_clients:
            return
        for key in [k for k, (closes_at, _) in self._windows.items() if closes_at <= now]:
            del self._windows[key]
        while len(self._windows) >= self._max_clients:
            del self._windows[next(iter(self._windows))]

    async def close(self) -> None:
        self._windows.clear()


# Per key: INCR and PEXPIRE in one atomic step, so a crash between them cannot leave a key without
# expiry and concurrent first hits from several workers cannot both think they opened the window.
# One call counts a whole batch of keys (KEYS[i] with window ARGV[i]) and answers count, ttl pairs.
_HIT_SCRIPT = """
local answers = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[i])
    ttl = tonumber(ARGV[i])
  end
  answers[2 * i - 1] = count
  answers[2 * i] = ttl
end
return answers
"""
# Keys per script call: bounds how long one call holds Redis (a few microseconds per key).
MAX_BATCH = 256


class RedisRateLimiter:
    """Hits made in one turn of the event loop travel to Redis together, in one script call.

    Under load one worker holds dozens of requests at the same point, and a round trip per
    hit cost more CPU than the rest of the limit's work (bench/api_load.py --profile). Each
    hit still waits for its own count from Redis, so the budget stays exact and shared; a
    batch only adds the wait for the loop turn that was already running.
    """

    shared = True

    def __init__(self, url: str, key_prefix: str = "ratelimit") -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._script = self._redis.register_script(_HIT_SCRIPT)
        self._prefix = key_prefix
        self._waiting: list[tuple[str, int, asyncio.Future[tuple[int, float] | None]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    def key(self, scope: str, client: str, rate: Rate) -> str:
        return f"{self._prefix}:{scope}:{rate.window_s}:{client}"

    async def hit(self, scope: str, client: str, rate: Rate) -> RateDecision:
        loop = asyncio.get_running_loop()
        counted: asyncio.Future[tuple[int, float] | None] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._send_waiting)
        self._waiting.append((self.key(scope, client, rate), rate.window_s * 1000, counted))
        answer = await counted
        if answer is None:
            # Fail open: an outage of the limiter's store must not take the API down with it.
            return RateDecision(True, rate.limit, rate.limit, rate.window_s)
        return _decide(rate, *answer)

    def _send_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        for start in range(0, len(waiting), MAX_BATCH):
            task = asyncio.ensure_future(self._count(waiting[start : start + MAX_BATCH]))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _count(self, batch: list[tuple[str, int, asyncio.Future[tuple[int, float] | None]]]) -> None:
        from redis.exceptions import RedisError

        answers: list[tuple[int, float] | None] = [None] * len(batch)  # None: let it through
        try:
            flat = await self._script(keys=[key for key, _, _ in batch], args=[ms for _, ms, _ in batch])
            answers = [(int(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), 2)]
        except (RedisError, OSError):
            log.exception("rate limiter store unreachable; letting %d requests through", len(batch))
        finally:
            for (_, _, counted), answer in zip(batch, answers, strict=True):
                if not counted.done():  # its request may have been cancelled meanwhile
                    counted.set_result(answer)

    async def spent(self, scope: str, client: str, rate: Rate) -> RateDecision | None:
        from redis.exceptions import RedisError

        key = self.key(scope, client, rate)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(key)
                pipe.pttl(key)
                count, ms_left = await pipe.execute()
        except (RedisError, OSError):
            log.exception("rate limiter store unreachable; letting the request through")
            return None
        if count is None or int(count) < rate.limit or ms_left <= 0:
            return None
        return _decide(rate, int(count) + 1, float(ms_left))

    async def close(self) -> None:
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
        await self._redis.aclose()


def build_rate_limiter(redis_url: str | None, key_prefix: str = "ratelimit") -> RateLimiter:
    if redis_url:
        return RedisRateLimiter(redis_url, key_prefix)
    return InProcessRateLimiter()
