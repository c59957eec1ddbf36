"""Activation: audiences leave the warehouse checked, as files an activation tool reads, and computed tags
go back to WeCom so guides see them in their client (issue 8, domain.md §5).

- `validate_audiences`: one Great Expectations suite per audience: no suppressed customer, no customer
  twice, the channel's fields present. A failing audience stops the export of every audience.
- `export_audiences`: data/exports/<audience>/<date>/ with <audience>.parquet and <audience>.csv (ids, for
  tools), <audience>_导购.csv (for guides: the guide, the customer's remark name, the group, the reason in
  Chinese) and a manifest (rows, columns, encoding, sha256 of each file); a rerun of the same day replaces
  the folder atomically. CSVs are UTF-8 with a byte-order mark, so Excel on a Chinese Windows opens them
  right; SIYU_EXPORT_CSV_ENCODING=gbk (or utf-8) writes another encoding.
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
import re
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


# What a guide reads in the guide-facing export: the audience and why the customer is in it, in Chinese.
# `{orders}` and `{share}` take the numbers the audience's English reason carries (int_audience_candidates).
AUDIENCE_ZH = {
    "first_order_nudge": ("首单转化", "已是好友，还没有下过单"),
    "order_push_3": ("推第3单", "已下{orders}单，仍然活跃：推动第3单"),
    "order_push_5": ("推第5单", "已下{orders}单，仍然活跃：推动第5单"),
    "win_back_important": ("重要挽留", "高价值客户，最近没有购买，购买次数少"),
    "group_invitation": ("邀请进群", "企业微信好友，还没有加入任何客户群"),
    "koc_recruitment": ("KOC 招募", "成熟期的近期高价值客户，还没有推荐过新客"),
    "vip_care": ("VIP 关怀", "净消费排名前 {share}% 的客户"),
}
CHANNEL_ZH = {"wecom_1v1": "导购一对一", "wecom_group": "客户群"}
GUIDE_COLUMNS = {
    "guide_userid": "导购账号",
    "guide_name": "导购",
    "customer_remark": "客户备注名",
    "customer_wechat_name": "客户微信名",
    "audience_zh": "人群",
    "reason_zh": "原因",
    "channel_zh": "触达方式",
    "group_name": "客户群",
    "customer_id": "客户ID",
}


def export_csv_encoding() -> str:
    """SIYU_EXPORT_CSV_ENCODING, default utf-8-sig: UTF-8 with a byte-order mark, which Excel needs to read
    Chinese as UTF-8 (without it a zh-CN Excel reads GBK and shows 首单 as 棣栧崟). Tools read it too."""
    return os.environ.get("SIYU_EXPORT_CSV_ENCODING", "utf-8-sig")


def reason_zh(audience: str, reason: str | None) -> str:
    """The reason a guide reads, in Chinese, with the numbers of the English reason."""
    _label, template = AUDIENCE_ZH.get(audience, (audience, reason or ""))
    orders = re.match(r"(\d+) orders", reason or "")
    share = re.search(r"top (\d+)%", reason or "")
    return template.format(orders=orders.group(1) if orders else "1-4", share=share.group(1) if share else "")


def guide_frame(con, frame: pd.DataFrame) -> pd.DataFrame:
    """The guide-facing rows of an audience: names where the warehouse has them, ids where it does not."""
    con.register(
        "audience_rows",
        frame[["customer_id", "audience", "reason", "channel", "guide_userid", "external_userid", "chat_id"]],
    )
    # Names from the staff list (marts.dim_guides); a warehouse built before that mart shows accounts.
    has_names = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'marts' and table_name = 'dim_guides'"
    ).fetchall()[0][0]
    guides, guide_name = ("marts.dim_guides", "guides.guide_name") if has_names else ("intermediate.int_guides", "null")
    named = con.sql(
        f"""select rows.*, coalesce({guide_name}, rows.guide_userid) as guide_name,
                   relations.remark as customer_remark, contacts.contact_name as customer_wechat_name,
                   groups.group_name
            from audience_rows as rows
            left join {guides} as guides on guides.guide_userid = rows.guide_userid
            left join staging.stg_wecom__follow_relations as relations
                on relations.guide_userid = rows.guide_userid and relations.external_userid = rows.external_userid
            left join (select distinct on (external_userid) external_userid, contact_name
                       from staging.stg_wecom__external_contacts) as contacts
                on contacts.external_userid = rows.external_userid
            left join (select distinct on (chat_id) chat_id, group_name from staging.stg_wecom__groups) as groups
                on groups.chat_id = rows.chat_id
            order by rows.guide_userid nulls last, rows.chat_id, rows.customer_id"""
    ).df()
    con.unregister("audience_rows")
    named["audience_zh"] = named["audience"].map(lambda audience: AUDIENCE_ZH.get(audience, (audience,))[0])
    named["reason_zh"] = [reason_zh(a, r) for a, r in zip(named["audience"], named["reason"], strict=True)]
    named["channel_zh"] = named["channel"].map(CHANNEL_ZH).fillna(named["channel"])
    return named[list(GUIDE_COLUMNS)].rename(columns=GUIDE_COLUMNS)


def export_audiences(warehouse: Path, exports: Path, day: date, run_id: str, audiences=AUDIENCES) -> dict:
    """Write each audience's Parquet, CSV, guide-facing CSV and manifest for `day`; return audience → manifest.
    The one place export files are written."""
    manifests = {}
    encoding = export_csv_encoding()
    with _connect(warehouse) as con:
        frames = {audience: load_audience(con, audience) for audience in audiences}
        guide_frames = {audience: guide_frame(con, frame) for audience, frame in frames.items()}
    for audience, frame in frames.items():
        frame = frame.drop(columns=["is_suppressed"])
        target = exports / audience / day.isoformat()
        staging = target.parent / f".{target.name}.{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        files = (f"{audience}.parquet", f"{audience}.csv", f"{audience}_导购.csv")
        frame.to_parquet(staging / files[0], index=False)
        frame.to_csv(staging / files[1], index=False, encoding=encoding)
        guide_frames[audience].to_csv(staging / files[2], index=False, encoding=encoding)
        manifest = {
            "audience": audience,
            "date": day.isoformat(),
            "run_id": run_id,
            "rows": len(frame),
            "columns": list(frame.columns),
            "guide_columns": list(guide_frames[audience].columns),
            "csv_encoding": encoding,
            "by_channel": {k: int(v) for k, v in frame["channel"].value_counts().items()},
            "files": {
                name: {"sha256": _sha256(staging / name), "bytes": (staging / name).stat().st_size} for name in files
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
