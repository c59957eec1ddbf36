"""Which business day a run ingests, however the run was started.

Airflow 3 starts runs in ways that carry different dates: a scheduled run of a daily data-interval
timetable covers [day 00:00, next day 00:00) in the brand's time zone; a run triggered from the UI, the
REST API or the CLI may have no logical date and no data interval at all (only `run_after`, the moment
it was asked for); a backfill gives each run its interval. The rule, first match wins:

1. an explicit day: the `day` param or `{"day": "YYYY-MM-DD"}` in the run's conf;
2. a data interval with a length: the local day it starts on;
3. a zero-length interval (a trigger timetable, or a manual run with a logical date): the local day
   before its end, i.e. the day that just ended when the run was due;
4. no interval: the local day before `run_after`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


def _brand_zone() -> ZoneInfo:
    from siyu.config import load_settings

    return load_settings().tz


@dataclass(frozen=True)
class RunDay:
    day: date
    run_id: str
    tz: ZoneInfo = field(default_factory=_brand_zone)

    @property
    def dt(self) -> str:
        return self.day.isoformat()

    @property
    def start_ts(self) -> int:
        return int(datetime(self.day.year, self.day.month, self.day.day, tzinfo=self.tz).timestamp())

    @property
    def end_ts(self) -> int:
        following = self.day + timedelta(days=1)
        return int(datetime(following.year, following.month, following.day, tzinfo=self.tz).timestamp())

    def window(self) -> tuple[str, str]:
        return (
            datetime.fromtimestamp(self.start_ts, self.tz).isoformat(),
            datetime.fromtimestamp(self.end_ts, self.tz).isoformat(),
        )


class RunDayError(ValueError):
    """A run's explicit day cannot be read."""


def parse_day(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError as error:
        raise RunDayError(f"day {value!r} is not a date (YYYY-MM-DD)") from error


def business_day(
    *,
    tz: ZoneInfo,
    explicit=None,
    interval_start: datetime | None = None,
    interval_end: datetime | None = None,
    run_after: datetime | None = None,
) -> date:
    """The rule in the module docstring, on plain values (tested without Airflow)."""
    if explicit not in (None, ""):
        return parse_day(explicit)
    if interval_start is not None and interval_end is not None:
        if interval_end > interval_start:
            return interval_start.astimezone(tz).date()
        return interval_end.astimezone(tz).date() - timedelta(days=1)
    if run_after is None:
        raise RunDayError("the run has neither a data interval nor run_after: pass {'day': 'YYYY-MM-DD'}")
    return run_after.astimezone(tz).date() - timedelta(days=1)


def explicit_day(context) -> object:
    """The `day` param, else `day` in the run's conf (a REST/CLI trigger may send only conf)."""
    params = context.get("params") or {}
    if params.get("day") not in (None, ""):
        return params["day"]
    dag_run = context.get("dag_run")
    conf = getattr(dag_run, "conf", None) or {}
    return conf.get("day")


def run_day_from_context(context) -> RunDay:
    """The RunDay of an Airflow task's run, however the run was started."""
    tz = _brand_zone()
    dag_run = context.get("dag_run")
    day = business_day(
        tz=tz,
        explicit=explicit_day(context),
        interval_start=context.get("data_interval_start"),
        interval_end=context.get("data_interval_end"),
        run_after=getattr(dag_run, "run_after", None),
    )
    return RunDay(day=day, run_id=context["run_id"], tz=tz)
