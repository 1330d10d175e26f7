"""Per-client request budgets: a fixed window that opens at the client's first hit.

Two stores with one behaviour:
- `RedisRateLimiter` (when `REDIS_URL` is set): one key per client and scope, counted and given
  its expiry by a single Lua script, so every Sanic worker and every host shares the budget.
- `InProcessRateLimiter`: a dict in this process. Correct only while one worker serves the port;
  the app refuses (production) or warns (development) when more workers run without Redis.

The window starts at the client's first request rather than on the clock's minute, so a burst is
never split across two windows: `limit` requests pass, the next is refused until the window ends.
"""

from __future__ import annotations

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


# INCR and PEXPIRE in one atomic step: a crash between them cannot leave a key without expiry,
# and concurrent first hits from several workers cannot both think they opened the window.
_HIT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


class RedisRateLimiter:
    shared = True

    def __init__(self, url: str, key_prefix: str = "ratelimit") -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._script = self._redis.register_script(_HIT_SCRIPT)
        self._prefix = key_prefix

    def key(self, scope: str, client: str, rate: Rate) -> str:
        return f"{self._prefix}:{scope}:{rate.window_s}:{client}"

    async def hit(self, scope: str, client: str, rate: Rate) -> RateDecision:
        from redis.exceptions import RedisError

        try:
            count, ms_left = await self._script(
                keys=[self.key(scope, client, rate)], args=[rate.window_s * 1000]
            )
        except (RedisError, OSError):
            # Fail open: an outage of the limiter's store must not take the API down with it.
            log.exception("rate limiter store unreachable; letting the request through")
            return RateDecision(True, rate.limit, rate.limit, rate.window_s)
        return _decide(rate, int(count), float(ms_left))

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
        await self._redis.aclose()


def build_rate_limiter(redis_url: str | None, key_prefix: str = "ratelimit") -> RateLimiter:
    if redis_url:
        return RedisRateLimiter(redis_url, key_prefix)
    return InProcessRateLimiter()
