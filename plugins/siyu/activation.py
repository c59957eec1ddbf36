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

from siyu.orchestration import AUDIENCES, read_audience_registry

log = logging.getLogger(__name__)
# GX logs one INFO line per function it does not register (about 200 per import): noise in every task log.
logging.getLogger("great_expectations._docs_decorators").setLevel(logging.WARNING)


class AudienceQualityError(RuntimeError):
    """An audience broke its contract: nothing is exported."""


# What activation reads from the warehouse, each model whole through siyu.warehouse: the audiences, the
# suppressions, the names the guide-facing export shows, the day audiences were computed as of, and the
# tags to write back. The activation exposures (dbt_project/models/audiences/_audiences.yml) list these.
AUDIENCE_MODELS = tuple(f"aud_{audience}" for audience in AUDIENCES)
NAME_MODELS = ("dim_guides", "rpt_friendship_remarks", "rpt_contact_names", "rpt_group_names")
AS_OF_MODELS = (("audience_assignments", "computed_on"), ("customer_rfm", "snapshot_date"))
TAG_MODELS = ("wecom_tags_desired", "wecom_tag_catalogue")
MODELS = (
    *AUDIENCE_MODELS,
    "audience_suppressions",
    *NAME_MODELS,
    *(model for model, _column in AS_OF_MODELS),
    *TAG_MODELS,
)


def audiences_as_of(warehouse: Path) -> date | None:
    """The day the warehouse's audiences were computed as of: the latest audience_assignments.computed_on,
    else (no one qualified) the segments' day, customer_rfm.snapshot_date; None before the first build."""
    from siyu.warehouse import exists, open_warehouse

    if not exists(warehouse):
        return None
    with open_warehouse(warehouse) as wh:
        if not all(wh.has(model) for model, _column in AS_OF_MODELS):
            return None
        for model, column in AS_OF_MODELS:
            days = wh.read(model)[column].dropna()
            if len(days):
                return pd.Timestamp(days.max()).date()
    return None


def load_audience(wh, audience: str, suppressed: pd.Series | None = None) -> pd.DataFrame:
    """The audience with, per row, whether the customer is suppressed for any reason
    (audience_suppressions; pass its customer_id column when loading several audiences)."""
    if suppressed is None:
        suppressed = wh.read("audience_suppressions")["customer_id"]
    frame = wh.read(f"aud_{audience}")
    frame["is_suppressed"] = frame["customer_id"].isin(set(suppressed.dropna()))
    return frame


def load_audiences(wh, audiences) -> dict[str, pd.DataFrame]:
    suppressed = wh.read("audience_suppressions")["customer_id"]
    return {audience: load_audience(wh, audience, suppressed) for audience in audiences}


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
    from siyu.warehouse import open_warehouse

    sizes, failures = {}, []
    with open_warehouse(warehouse) as wh:
        frames = load_audiences(wh, audiences)
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


# What a guide reads in the guide-facing export: the audience and why the customer is in it, in Chinese,
# from the audience registry. `{orders}` and `{share}` take the numbers the audience's English reason
# carries (prep_audience_candidates).
AUDIENCE_ZH = {row["audience"]: (row["label_zh"], row["reason_zh"]) for row in read_audience_registry()}
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


def _numbers(reason: str | None) -> dict[str, str]:
    """The numbers an English reason carries (prep_audience_candidates): orders so far, the milestone pushed
    to, the VIP share; '?' where the reason has none (a template never shows a number it does not know)."""
    found = {
        "orders": re.match(r"(\d+) orders", reason or ""),
        "target": re.search(r"push to (\d+)", reason or ""),
        "share": re.search(r"top (\d+)%", reason or ""),
    }
    return {name: match.group(1) if match else "?" for name, match in found.items()}


def label_zh(audience: str, reason: str | None) -> str:
    """The audience's name a guide reads (registry label_zh), with the milestone of the English reason."""
    label, _template = AUDIENCE_ZH.get(audience, (audience, ""))
    return label.format(**_numbers(reason))


def reason_zh(audience: str, reason: str | None) -> str:
    """The reason a guide reads, in Chinese, with the numbers of the English reason."""
    _label, template = AUDIENCE_ZH.get(audience, (audience, reason or ""))
    return template.format(**_numbers(reason))


def _lookup(frame: pd.DataFrame | None, keys: list[str], column: str) -> pd.DataFrame:
    """`keys` + `column` of a names model, rows with a missing key left out (they name nothing); empty when
    the warehouse lacks the model."""
    if frame is None:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in [*keys, column]})
    return frame[[*keys, column]].dropna(subset=keys).drop_duplicates(subset=keys)


def guide_frame(names: dict, frame: pd.DataFrame) -> pd.DataFrame:
    """The guide-facing rows of an audience: names where the warehouse has them, ids where it does not.
    `names` holds the NAME_MODELS (None for one the warehouse lacks: a warehouse built before the staff
    list mart dim_guides shows guide accounts)."""
    rows = frame[["customer_id", "audience", "reason", "channel", "guide_userid", "external_userid", "chat_id"]]
    named = (
        rows.merge(_lookup(names["dim_guides"], ["guide_userid"], "guide_name"), on="guide_userid", how="left")
        .merge(
            _lookup(names["rpt_friendship_remarks"], ["guide_userid", "external_userid"], "customer_remark"),
            on=["guide_userid", "external_userid"],
            how="left",
        )
        .merge(
            _lookup(names["rpt_contact_names"], ["external_userid"], "contact_name"), on="external_userid", how="left"
        )
        .merge(_lookup(names["rpt_group_names"], ["chat_id"], "group_name"), on="chat_id", how="left")
        .rename(columns={"contact_name": "customer_wechat_name"})
        .sort_values(["guide_userid", "chat_id", "customer_id"], na_position="last")
        .reset_index(drop=True)
    )
    named["guide_name"] = named["guide_name"].fillna(named["guide_userid"])
    named["audience_zh"] = [label_zh(a, r) for a, r in zip(named["audience"], named["reason"], strict=True)]
    named["reason_zh"] = [reason_zh(a, r) for a, r in zip(named["audience"], named["reason"], strict=True)]
    named["channel_zh"] = named["channel"].map(CHANNEL_ZH).fillna(named["channel"])
    return named[list(GUIDE_COLUMNS)].rename(columns=GUIDE_COLUMNS)


def export_audiences(warehouse: Path, exports: Path, day: date, run_id: str, audiences=AUDIENCES) -> dict:
    """Write each audience's Parquet, CSV, guide-facing CSV and manifest for `day`; return audience → manifest.
    The one place export files are written."""
    from siyu.warehouse import open_warehouse, read_models

    manifests = {}
    encoding = export_csv_encoding()
    with open_warehouse(warehouse) as wh:
        frames = load_audiences(wh, audiences)
        names = read_models(wh, NAME_MODELS)
    guide_frames = {audience: guide_frame(names, frame) for audience, frame in frames.items()}
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
    from siyu.warehouse import open_warehouse

    with open_warehouse(warehouse, read_only=False) as wh:
        sends = pd.concat(
            [wh.read(f"aud_{audience}")[["customer_id", "audience", "channel"]] for audience in audiences],
            ignore_index=True,
        )
        sends["sent_on"] = day
        sends["run_id"] = run_id
        count = wh.replace_partition("activation.sends", sends, "sent_on", day)
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
    from siyu.warehouse import open_warehouse

    with open_warehouse(warehouse) as wh:
        return wh.read("wecom_tags_desired")[["guide_userid", "external_userid", "tag_group_name", "tag_name"]]


def tag_catalogue(warehouse: Path) -> dict[str, list[str]]:
    """Tag group → every tag siyu may write in it (audiences.wecom_tag_catalogue)."""
    from siyu.warehouse import open_warehouse

    with open_warehouse(warehouse) as wh:
        frame = wh.read("wecom_tag_catalogue").sort_values(["tag_group_name", "tag_order"])
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
