"""Activation: audiences leave the warehouse checked, as files an activation tool reads, and computed tags
go back to WeCom so guides see them in their client (issue 8, domain.md §5).

- `validate_audiences`: one Great Expectations suite per audience: no suppressed customer, no customer
  twice, the channel's fields present. A failing audience stops the export of every audience.
- `export_audiences`: data/exports/<audience>/<date>/ with <audience>.parquet, <audience>.csv and a
  manifest (rows, columns, sha256 of each file); a rerun of the same day replaces the folder atomically.
- `record_sends`: the exported customers into activation.sends (the frequency cap reads it); a rerun of
  the same day replaces that day's rows.
- `writeback_tags`: computed segment tags become WeCom corp tags on each live friendship through mark_tag.
  It reads the friendships' current tags from WeCom first and sends only the differences, so a second run
  sends nothing; tags in siyu's own tag groups that no longer hold are removed, others are never touched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from siyu.orchestration import AUDIENCES

log = logging.getLogger(__name__)
# GX logs one INFO line per function it does not register (about 200 per import): noise in every task log.
logging.getLogger("great_expectations._docs_decorators").setLevel(logging.WARNING)


class AudienceQualityError(RuntimeError):
    """An audience broke its contract: nothing is exported."""


def _connect(warehouse: Path, read_only: bool = True):
    import duckdb

    return duckdb.connect(str(warehouse), read_only=read_only)


def audiences_as_of(warehouse: Path) -> date | None:
    """The day the warehouse's audiences were computed as of (None before the first build)."""
    import duckdb

    if not Path(warehouse).exists():
        return None
    try:
        with _connect(warehouse) as con:
            (day,) = con.execute(
                "select coalesce((select max(computed_on) from audiences.audience_assignments),"
                " (select max(snapshot_date) from marts.customer_rfm))"
            ).fetchone()
    except duckdb.CatalogException:
        return None
    return day


def load_audience(con, audience: str) -> pd.DataFrame:
    """The audience with, per row, whether the customer is suppressed for any reason."""
    return con.sql(
        f"""select a.*, s.customer_id is not null as is_suppressed
            from audiences.aud_{audience} as a
            left join (select distinct customer_id from audiences.audience_suppressions) as s
                on a.customer_id = s.customer_id"""
    ).df()


def _expectations() -> list:
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectColumnValuesToNotBeNull(column="customer_id"),
        e.ExpectColumnValuesToBeUnique(column="customer_id"),
        e.ExpectColumnValuesToBeInSet(column="is_suppressed", value_set=[False]),
        e.ExpectColumnValuesToBeInSet(column="channel", value_set=["wecom_1v1", "wecom_group"]),
        e.ExpectColumnValuesToBeInSet(column="channel_fields_present", value_set=[True]),
    ]


def validate_audiences(warehouse: Path, audiences=AUDIENCES) -> dict[str, int]:
    """Validate every audience; raise AudienceQualityError naming each failure after checking them all."""
    from siyu.quality.raw_suites import run_suite

    sizes, failures = {}, []
    with _connect(warehouse) as con:
        frames = {audience: load_audience(con, audience) for audience in audiences}
    for audience, frame in frames.items():
        frame["channel_fields_present"] = (
            (frame["channel"] == "wecom_1v1") & frame["guide_userid"].notna() & frame["external_userid"].notna()
        ) | ((frame["channel"] == "wecom_group") & frame["chat_id"].notna())
        problems = run_suite(f"audience_{audience}", frame, _expectations())
        log.info("audience %s: %d rows, %s", audience, len(frame), "passed" if not problems else "FAILED")
        failures += [f"  {audience}: {p}" for p in problems]
        sizes[audience] = len(frame)
    if failures:
        raise AudienceQualityError("audience quality gate failed:\n" + "\n".join(failures))
    return sizes


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_audiences(warehouse: Path, exports: Path, day: date, run_id: str, audiences=AUDIENCES) -> dict:
    """Write each audience's Parquet, CSV and manifest for `day`; return audience → manifest."""
    manifests = {}
    with _connect(warehouse) as con:
        frames = {audience: load_audience(con, audience) for audience in audiences}
    for audience, frame in frames.items():
        frame = frame.drop(columns=["is_suppressed"])
        target = exports / audience / day.isoformat()
        staging = target.parent / f".{target.name}.{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        frame.to_parquet(staging / f"{audience}.parquet", index=False)
        frame.to_csv(staging / f"{audience}.csv", index=False, encoding="utf-8")
        manifest = {
            "audience": audience,
            "date": day.isoformat(),
            "run_id": run_id,
            "rows": len(frame),
            "columns": list(frame.columns),
            "by_channel": {k: int(v) for k, v in frame["channel"].value_counts().items()},
            "files": {
                name: {"sha256": _sha256(staging / name), "bytes": (staging / name).stat().st_size}
                for name in (f"{audience}.parquet", f"{audience}.csv")
            },
            "checked": ["no suppressed customer", "no duplicate customer", "channel fields present"],
        }
        (staging / "_manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
        manifests[audience] = manifest
        log.info("export: %s %s rows=%d → %s", audience, day, len(frame), target)
    return manifests


def record_sends(warehouse: Path, day: date, run_id: str, audiences=AUDIENCES) -> int:
    """Replace `day`'s rows of activation.sends with the customers exported today."""
    union = " union all ".join(
        f"select customer_id, audience, channel from audiences.aud_{audience}" for audience in audiences
    )
    with _connect(warehouse, read_only=False) as con:
        con.execute(
            "create table if not exists activation.sends "
            "(customer_id varchar, audience varchar, channel varchar, sent_on date, run_id varchar)"
        )
        con.execute("delete from activation.sends where sent_on = ?", [day])
        con.execute(
            f"insert into activation.sends select customer_id, audience, channel, ?, ? from ({union})", [day, run_id]
        )
        count = con.sql("select count(*) from activation.sends where sent_on = ?", params=[day]).fetchall()[0][0]
    log.info("activation.sends: %d customers recorded for %s", count, day)
    return count


@dataclass
class WritebackResult:
    friendships: int
    changed: int
    tags_added: int
    tags_removed: int
    mark_tag_calls: int


def desired_tags(warehouse: Path) -> pd.DataFrame:
    """(guide_userid, external_userid, tag_group_name, tag_name) for every live friendship: the dbt model
    audiences.wecom_tags_desired."""
    with _connect(warehouse) as con:
        return (
            con.table("audiences.wecom_tags_desired")
            .project("guide_userid, external_userid, tag_group_name, tag_name")
            .df()
        )


def tag_catalogue(warehouse: Path) -> dict[str, list[str]]:
    """Tag group → every tag siyu may write in it (audiences.wecom_tag_catalogue)."""
    with _connect(warehouse) as con:
        frame = con.table("audiences.wecom_tag_catalogue").df().sort_values(["tag_group_name", "tag_order"])
    return {group: list(rows["tag_name"]) for group, rows in frame.groupby("tag_group_name", sort=True)}


def writeback_tags(warehouse: Path, client, pace_seconds: float = 0.0) -> WritebackResult:
    """Make WeCom's tags in siyu's groups equal the computed ones, sending only differences."""
    ids: dict[tuple[str, str], str] = {}
    for group, names in tag_catalogue(warehouse).items():
        for name, tag_id in client.add_corp_tags(group, names).items():
            ids[(group, name)] = tag_id
    managed = set(ids.values())
    wanted: dict[tuple[str, str], set[str]] = {}
    for guide, external, group, tag in desired_tags(warehouse).itertuples(index=False):
        wanted.setdefault((guide, external), set()).add(ids[(group, tag)])
    current: dict[tuple[str, str], set[str]] = {}
    for item in client.contacts_by_user(client.follow_users()):
        follow = item["follow_info"]
        key = (follow["userid"], item["external_contact"]["external_userid"])
        current[key] = set(follow.get("tag_id") or []) & managed
    result = WritebackResult(len(current), 0, 0, 0, 0)
    started = time.perf_counter()
    for number, key in enumerate(sorted(current), start=1):
        add = sorted(wanted.get(key, set()) - current[key])
        remove = sorted(current[key] - wanted.get(key, set()))
        if add or remove:
            client.mark_tag(key[0], key[1], add, remove)
            result.changed += 1
            result.mark_tag_calls += 1
            result.tags_added += len(add)
            result.tags_removed += len(remove)
            if pace_seconds:
                time.sleep(pace_seconds)
        if number % 5000 == 0:
            log.info("writeback: %d/%d friendships checked, %d changed", number, len(current), result.changed)
    log.info(
        "writeback: %d friendships, %d changed (%d tags added, %d removed) in %.1fs",
        result.friendships,
        result.changed,
        result.tags_added,
        result.tags_removed,
        time.perf_counter() - started,
    )
    return result
