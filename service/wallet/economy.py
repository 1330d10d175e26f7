"""The economy catalogue (SPEC §3b): which earn reasons exist and how much a client may earn.

Read once at start from the TOML file `ECONOMY_FILE`, validated with pydantic; a bad file stops
the service naming the key. The static rules (known reason, client allowed, amount) are checked
here before any database work; the per-day and cooldown limits are counted by service.wallet.rules
under the user row lock, from the ledger itself, so concurrent earns can never pass them.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from service.errors import Forbidden, RateLimited, ValidationFailed

MAX_EARN_AMOUNT = 100_000


class UnknownReason(ValidationFailed):
    code = "unknown_reason"


class ServerOnlyReason(Forbidden):
    code = "server_only_reason"


class AmountOverLimit(ValidationFailed):
    code = "amount_over_limit"


class EarnLimitReached(RateLimited):
    code = "earn_limit_reached"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message, retry_after_s, [{"field": "reason", "problem": message}])


class EarnRule(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    max_amount: int = Field(ge=1, le=MAX_EARN_AMOUNT)
    daily_cap: int | None = Field(default=None, ge=1)
    daily_count: int | None = Field(default=None, ge=1)
    cooldown_seconds: int | None = Field(default=None, ge=1)
    server_only: bool = False

    @property
    def counted(self) -> bool:
        """Whether an earn must look at this user's earlier grants of the reason."""
        return any(v is not None for v in (self.daily_cap, self.daily_count, self.cooldown_seconds))


ReasonName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]


class CatalogueFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    earn: dict[ReasonName, EarnRule] = Field(min_length=1)


class CatalogueRefused(SystemExit):
    def __init__(self, path: str, problems: list[str]) -> None:
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Refusing to start: ECONOMY_FILE {path} is not a valid catalogue:\n{lines}")


@dataclass(frozen=True, slots=True)
class Usage:
    """A user's earlier grants of one reason: today's sum and count, and the latest grant."""

    total_today: int
    count_today: int
    last_at: datetime | None


def day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(int((moment - now).total_seconds() + 0.999), 1)


def check_usage(rule: EarnRule, amount: int, usage: Usage, now: datetime) -> None:
    """Raises EarnLimitReached when this grant would pass a daily cap, count or the cooldown."""
    tomorrow = day_start(now) + timedelta(days=1)
    if rule.cooldown_seconds is not None and usage.last_at is not None:
        ready_at = usage.last_at + timedelta(seconds=rule.cooldown_seconds)
        if ready_at > now:
            raise EarnLimitReached("This reason is cooling down", _seconds_until(ready_at, now))
    if rule.daily_count is not None and usage.count_today + 1 > rule.daily_count:
        raise EarnLimitReached(
            f"At most {rule.daily_count} grants of this reason per UTC day",
            _seconds_until(tomorrow, now),
        )
    if rule.daily_cap is not None and usage.total_today + amount > rule.daily_cap:
        raise EarnLimitReached(
            f"At most {rule.daily_cap} of this reason per UTC day", _seconds_until(tomorrow, now)
        )


@dataclass(frozen=True, slots=True)
class Catalogue:
    """`rules` None means no catalogue (development only): every reason up to the API maximum."""

    rules: dict[str, EarnRule] | None

    @classmethod
    def load(cls, path: str | None) -> Catalogue:
        if not path:
            return cls(None)
        try:
            data = tomllib.loads(Path(path).read_text("utf-8"))
        except OSError as exc:
            raise CatalogueRefused(path, [f"cannot be read: {exc.strerror or exc}"]) from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise CatalogueRefused(path, [f"is not TOML: {exc}"]) from None
        try:
            parsed = CatalogueFile.model_validate(data)
        except ValidationError as exc:
            problems = [
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)
            ]
            raise CatalogueRefused(path, problems) from None
        return cls(dict(parsed.earn))

    def client_rule(self, reason: str, amount: int) -> EarnRule | None:
        """The rule a client earn must follow (None: no limits); raises when it may not earn."""
        if self.rules is None:
            return None
        rule = self.rules.get(reason)
        if rule is None:
            raise UnknownReason(
                "This reason is not in the economy catalogue",
                [{"field": "reason", "problem": "is not a catalogue reason"}],
            )
        if rule.server_only:
            raise ServerOnlyReason(
                "Only a game server may grant this reason",
                [{"field": "reason", "problem": "is server-only"}],
            )
        if amount > rule.max_amount:
            raise AmountOverLimit(
                f"At most {rule.max_amount} per grant of this reason",
                [{"field": "amount", "problem": f"must be at most {rule.max_amount}"}],
            )
        return rule if rule.counted else None

    def check_server_reason(self, reason: str) -> None:
        """Server grants may use any catalogue reason, server-only ones included."""
        if self.rules is not None and reason not in self.rules:
            raise UnknownReason(
                "This reason is not in the economy catalogue",
                [{"field": "reason", "problem": "is not a catalogue reason"}],
            )
