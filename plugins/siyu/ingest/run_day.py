"""Which day a run ingests. A daily run at 00:00 China time ingests the day that just ended; the
snapshot it takes stands for the end of that day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from siyu.world.spec import CHINA_TZ


@dataclass(frozen=True)
class RunDay:
    day: date
    run_id: str

    @property
    def dt(self) -> str:
        return self.day.isoformat()

    @property
    def start_ts(self) -> int:
        return int(datetime(self.day.year, self.day.month, self.day.day, tzinfo=CHINA_TZ).timestamp())

    @property
    def end_ts(self) -> int:
        return self.start_ts + 86_400

    def window(self) -> tuple[str, str]:
        return (
            datetime.fromtimestamp(self.start_ts, CHINA_TZ).isoformat(),
            datetime.fromtimestamp(self.end_ts, CHINA_TZ).isoformat(),
        )


def run_day_for(logical_date: datetime, run_id: str) -> RunDay:
    """Airflow 3 manual and cron-triggered runs have a zero-length data interval at the logical date;
    the day ingested is the China-time day before it."""
    local = logical_date.astimezone(CHINA_TZ)
    return RunDay(day=local.date() - timedelta(days=1), run_id=run_id)
