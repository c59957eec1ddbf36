"""One expectation suite per raw entity: required keys, types and ranges, and the uniqueness the
source promises. Suites are built when a run validates, in an ephemeral context (no GX project folder)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from siyu.config import STORE_ID_PATTERN
from siyu.lake import partition_dir

log = logging.getLogger(__name__)
# GX logs one INFO line per function it does not register (about 200 per import): noise in every task log.
logging.getLogger("great_expectations._docs_decorators").setLevel(logging.WARNING)
WECOM_ADD_WAYS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 21, 22, 24, 201, 202]
ORDER_STATUSES = [
    "WAIT_BUYER_PAY",
    "TRADE_PAID",
    "WAIT_CONFIRM",
    "WAIT_SELLER_SEND_GOODS",
    "WAIT_BUYER_CONFIRM_GOODS",
    "TRADE_SUCCESS",
    "TRADE_CLOSED",
    "TRADE_REFUND",
]
# Whatever passes a gate can be cast by staging (issue 17, docs/decisions.md): every column a staging model
# casts has an expectation that accepts only text the cast takes, within a documented range. Patterns use
# [0-9], never \d (which matches any script's digits: full-width, Arabic-Indic), and end with \Z: GX matches
# with re.search, where $ also matches before a trailing newline, which the casts reject.
UNIX_SECONDS = {"min_value": 631_152_000, "max_value": 4_102_444_800}  # 1990-01-01 .. 2100-01-01 (issue 15)
UNIX_MILLISECONDS = {"min_value": 631_152_000_000, "max_value": 4_102_444_800_000}  # the same, msgtime
YEARS_SINCE_1990 = r"(?:199[0-9]|20[0-9]{2})"  # timestamps: history imports start in 1990 (issue 15)
YEARS_SINCE_1900 = r"(?:19[0-9]{2}|20[0-9]{2})"  # birthdays
MONTH_DAY = (
    r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"  # 31-day months
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"  # 30-day months
    r"|02-(?:0[1-9]|1[0-9]|2[0-8]))"  # February 29 only with LEAP_YEAR
)
LEAP_YEAR = r"(?:19(?:0[48]|[2468][048]|[13579][26])|20(?:[02468][048]|[13579][26]))"  # of 1900-2099 (1900 is not)
CLOCK = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"


def _calendar_date(years: str) -> str:
    """YYYY-MM-DD that exists (no 02-30; 02-29 in leap years only), its year matching `years`."""
    return rf"(?={years}-)(?:[0-9]{{4}}-{MONTH_DAY}|{LEAP_YEAR}-02-29)"


def _whole(pattern: str) -> str:
    return rf"^(?:{pattern})\Z"


def _optional(pattern: str) -> str:
    """The pattern, or the empty text staging turns into null (nullif(x, ''))."""
    return rf"^(?:|{pattern})\Z"


DATETIME = rf"{_calendar_date(YEARS_SINCE_1990)} {CLOCK}"  # cast(x as timestamp)
BIRTHDAY = _calendar_date(YEARS_SINCE_1900)  # cast(x as date)
AMOUNT = r"-?[0-9]{1,10}(?:\.[0-9]{1,2})?"  # decimal(18, 2): 10 integer digits, 2 decimals, signed (returns)
YUAN = r"[0-9]{1,10}\.[0-9]{2}"  # decimal(18, 2): Youzan sends yuan with two decimals, never negative
INTEGER = r"-?[0-9]{1,9}"  # integer: 9 digits always fit an int32
STORE_ID = STORE_ID_PATTERN


def _expectations(source: str, entity: str) -> list:
    import great_expectations as gx

    e = gx.expectations

    def required(*columns):
        return [e.ExpectColumnValuesToNotBeNull(column=c) for c in columns]

    def unique(*columns):
        if len(columns) == 1:
            return [e.ExpectColumnValuesToBeUnique(column=columns[0])]
        return [e.ExpectCompoundColumnsToBeUnique(column_list=list(columns))]

    def non_negative(*columns):
        return [e.ExpectColumnValuesToBeBetween(column=c, min_value=0) for c in columns]

    def text(pattern, *columns):
        return [e.ExpectColumnValuesToMatchRegex(column=c, regex=_whole(pattern)) for c in columns]

    def optional_text(pattern, *columns):
        return [e.ExpectColumnValuesToMatchRegex(column=c, regex=_optional(pattern)) for c in columns]

    def unix_seconds(*columns):
        return [e.ExpectColumnValuesToBeBetween(column=c, **UNIX_SECONDS) for c in columns]

    suites = {
        ("wecom", "follow_relations"): [
            *required("external_userid", "userid", "createtime", "add_way"),
            *unique("userid", "external_userid"),
            e.ExpectColumnValuesToBeInSet(column="add_way", value_set=WECOM_ADD_WAYS),
            *unix_seconds("createtime"),
            e.ExpectColumnValueLengthsToBeBetween(column="state", max_value=30),
        ],
        ("wecom", "external_contacts"): [
            *required("external_userid", "type"),
            *unique("external_userid"),
            e.ExpectColumnValuesToBeInSet(column="type", value_set=[1, 2]),
        ],
        ("wecom", "groups"): [
            *required("chat_id", "owner", "create_time"),
            *unique("chat_id"),
            e.ExpectColumnValuesToBeInSet(column="status", value_set=[0, 1, 2, 3]),
            *unix_seconds("create_time"),
        ],
        ("wecom", "group_members"): [
            *required("chat_id", "userid", "type", "join_time"),
            *unique("chat_id", "userid"),
            e.ExpectColumnValuesToBeInSet(column="join_scene", value_set=[0, 1, 2, 3]),
            e.ExpectColumnValuesToBeInSet(column="type", value_set=[1, 2]),
            *unix_seconds("join_time"),
        ],
        ("wecom", "corp_tags"): [
            *required("tag_id", "group_id", "tag_name"),
            *unique("tag_id"),
            *unix_seconds("create_time"),
        ],
        ("wecom", "contact_ways"): [
            *required("config_id"),
            *unique("config_id"),
            e.ExpectColumnValueLengthsToBeBetween(column="state", max_value=30),
        ],
        ("wecom", "unassigned_customers"): [
            *required("handover_userid", "external_userid", "dimission_time"),
            *unique("handover_userid", "external_userid"),
            *unix_seconds("dimission_time"),
        ],
        ("wecom", "user_behavior"): [
            *required("userid", "stat_time"),
            *unique("userid", "stat_time"),
            *unix_seconds("stat_time"),
            *non_negative("chat_cnt", "message_cnt", "new_contact_cnt", "new_apply_cnt", "negative_feedback_cnt"),
            e.ExpectColumnValuesToBeBetween(column="reply_percentage", min_value=0, max_value=100),
        ],
        ("wecom", "group_statistic"): [
            *required("owner", "stat_time"),
            *unique("owner", "stat_time"),
            *unix_seconds("stat_time"),
            *non_negative("chat_total", "member_total", "msg_total", "new_member_cnt"),
        ],
        ("shop", "orders"): [
            *required("tid", "status", "created", "update_time", "yz_open_id", "payment"),
            *unique("tid"),
            e.ExpectColumnValuesToBeInSet(column="status", value_set=ORDER_STATUSES),
            *text(DATETIME, "created", "update_time"),
            *optional_text(DATETIME, "pay_time", "consign_time", "success_time"),
            *text(YUAN, "total_fee", "post_fee", "payment"),
        ],
        ("shop", "order_items"): [
            *required("tid", "oid", "num", "payment"),
            *unique("oid"),
            e.ExpectColumnValuesToBeBetween(column="num", min_value=1),
            *text(YUAN, "price", "total_fee", "payment"),
        ],
        ("shop", "refunds"): [
            *required("tid", "refund_id", "refund_fee"),
            *unique("refund_id"),
            e.ExpectColumnValuesToBeInSet(column="refund_state", value_set=[1, 2, 11, 12]),
            *text(YUAN, "refund_fee"),
            *optional_text(DATETIME, "refund_time"),
        ],
        ("shop", "users"): [*required("yz_open_id"), *unique("yz_open_id")],
        ("store", "pos_lines"): [
            *required("receipt_no", "line_no", "store_id", "sold_at", "sku"),
            *unique("receipt_no", "line_no"),
            *text(STORE_ID, "store_id"),
            *text(r"[0-9]{1,9}", "line_no"),
            *text(INTEGER, "qty"),
            *text(DATETIME, "sold_at"),
            *text(AMOUNT, "unit_price", "amount"),
        ],
        ("store", "members"): [
            *required("card_no", "store_id", "registered_at"),
            *unique("card_no"),
            e.ExpectColumnValuesToBeInSet(column="marketing_opt_in", value_set=["Y", "N"]),
            *text(STORE_ID, "store_id"),
            *text("[012]", "gender"),
            *optional_text(BIRTHDAY, "birthday"),
            *text(DATETIME, "registered_at"),
        ],
        # Master data snapshots (issue 19): a store run validates every snapshot at once, so an id is
        # unique per snapshot file, not overall.
        ("store", "stores"): [
            *required("store_id", "store_name"),
            *unique("store_id", "file"),
            *text(STORE_ID, "store_id"),
            *optional_text(BIRTHDAY, "opened_on"),
        ],
        ("store", "staff"): [
            *required("userid", "status"),
            *unique("userid", "file"),
            *optional_text(STORE_ID, "store_id"),
            e.ExpectColumnValuesToBeInSet(column="status", value_set=["active", "resigned"]),
        ],
        ("store", "messages"): [
            *required("msgid", "from", "msgtime", "msgtype"),
            *unique("msgid"),
            e.ExpectColumnValuesToBeBetween(column="msgtime", **UNIX_MILLISECONDS),
        ],
        ("store", "shop_visits"): [
            *required("visit_id", "visitor_id", "visit_time", "source"),
            *unique("visit_id"),
            *unix_seconds("visit_time"),
        ],
    }
    return suites[(source, entity)]


@dataclass
class EntityReport:
    source: str
    entity: str
    dt: str
    rows: int
    failures: list[str]

    @property
    def success(self) -> bool:
        return not self.failures


class RawQualityError(RuntimeError):
    """A raw partition broke its contract: downstream publishing must not happen."""


def data_docs_dir() -> Path | None:
    """Where GX Data Docs (an HTML page per validation) are written: SIYU_GX_DOCS_DIR, else `gx_docs/` beside
    the lake named by SIYU_LAKE_DIR (data/demo/gx_docs in the demo); None (no pages) when neither is set."""
    if os.environ.get("SIYU_GX_DOCS_DIR"):
        return Path(os.environ["SIYU_GX_DOCS_DIR"])
    if os.environ.get("SIYU_LAKE_DIR"):
        return Path(os.environ["SIYU_LAKE_DIR"]).resolve().parent / "gx_docs"
    return None


def run_suite(name: str, frame: pd.DataFrame, expectations: list) -> list[str]:
    """Validate a frame against expectations in an ephemeral GX context; one line per failed expectation.
    With a Data Docs folder (data_docs_dir), the result is also rendered there as a page a user opens from
    the task log, which names the file."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (
        context.data_sources.add_pandas(name)
        .add_dataframe_asset(name=name)
        .add_batch_definition_whole_dataframe("frame")
    )
    suite = context.suites.add(gx.ExpectationSuite(name=name))
    for expectation in expectations:
        suite.add_expectation(expectation)
    docs = data_docs_dir()
    if docs is None:
        result = batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(suite)
    else:
        site = {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
        context.add_data_docs_site(site_name="siyu", site_config=site)
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
        )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=name,
                validation_definitions=[validation],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=["siyu"])],
            )
        )
        ((key, result),) = checkpoint.run(batch_parameters={"dataframe": frame}).run_results.items()
        (page,) = context.get_docs_sites_urls(resource_identifier=key, site_names=["siyu"])
        log.info(
            "Great Expectations %s: %s, Data Docs %s", name, "passed" if result.success else "FAILED", page["site_url"]
        )
    failures = []
    for outcome in result.results:
        if outcome.success:
            continue
        config = outcome.expectation_config
        where = config.kwargs.get("column") or config.kwargs.get("column_list")
        sample = (outcome.result or {}).get("partial_unexpected_list", [])[:3]
        count = (outcome.result or {}).get("unexpected_count")
        failures.append(f"{config.type} on {where}: {count} unexpected, e.g. {sample}")
    return failures


def validate_frame(source: str, entity: str, dt: str, frame: pd.DataFrame) -> EntityReport:
    failures = run_suite(f"raw_{source}_{entity}", frame, _expectations(source, entity))
    return EntityReport(source, entity, dt, len(frame), failures)


def validate_partitions(lake: Path, source: str, partitions: list[tuple[str, str]]) -> list[EntityReport]:
    """Validate (entity, dt) partitions of a source, one validation per entity over all its partitions;
    raise RawQualityError naming every failed entity and expectation, after checking them all."""
    by_entity: dict[str, list[str]] = {}
    for entity, dt in partitions:
        by_entity.setdefault(entity, []).append(dt)
    reports = []
    for entity, dts in by_entity.items():
        frames = [pd.read_parquet(partition_dir(lake, "raw", source, entity, dt) / "part-0.parquet") for dt in dts]
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        label = dts[0] if len(dts) == 1 else f"{min(dts)}..{max(dts)} ({len(dts)} partitions)"
        report = validate_frame(source, entity, label, frame)
        log.info(
            "quality: %s/%s dt=%s rows=%d %s",
            source,
            entity,
            label,
            report.rows,
            "passed" if report.success else f"FAILED {len(report.failures)} expectation(s)",
        )
        reports.append(report)
    failed = [r for r in reports if not r.success]
    if failed:
        lines = [f"raw quality gate failed for {len(failed)} of {len(reports)} {source} entit(ies):"]
        for report in failed:
            lines += [f"  {report.source}/{report.entity} dt={report.dt}:"] + [f"    - {f}" for f in report.failures]
        raise RawQualityError("\n".join(lines))
    return reports


def validate_lake(lake: Path) -> list[EntityReport]:
    """Every raw partition of a lake through the gates, grouped as the ingestion DAGs validate them: a
    WeCom or shop run validates the day it pulled (one partition per entity), a store run everything it
    loaded (all partitions of an entity at once). For lakes landed without the DAGs (replay, the bench).
    Raises RawQualityError after checking every source."""
    from siyu.orchestration import RAW_ENTITIES

    reports, errors = [], []
    for source, entities in RAW_ENTITIES.items():
        partitions = sorted(
            (entity, written.parent.name.removeprefix("dt="))
            for entity in entities
            for written in (Path(lake) / "raw" / source / entity).glob("dt=*/part-0.parquet")
        )
        runs: dict[str, list[tuple[str, str]]] = {}
        for entity, dt in partitions:
            runs.setdefault("all" if source == "store" else dt, []).append((entity, dt))
        for run in runs.values():
            try:
                reports += validate_partitions(lake, source, run)
            except RawQualityError as failed:
                errors.append(str(failed))
    if errors:
        raise RawQualityError("\n".join(errors))
    return reports
