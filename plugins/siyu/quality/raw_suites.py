"""One expectation suite per raw entity: required keys, types and ranges, and the uniqueness the
source promises. Suites are built when a run validates, in an ephemeral context (no GX project folder)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from siyu.lake import partition_dir

log = logging.getLogger(__name__)
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
UNIX_SECONDS = {"min_value": 946_684_800, "max_value": 4_102_444_800}  # 2000-01-01 .. 2100-01-01


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

    suites = {
        ("wecom", "follow_relations"): [
            *required("external_userid", "userid", "createtime", "add_way"),
            *unique("userid", "external_userid"),
            e.ExpectColumnValuesToBeInSet(column="add_way", value_set=WECOM_ADD_WAYS),
            e.ExpectColumnValuesToBeBetween(column="createtime", **UNIX_SECONDS),
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
        ],
        ("wecom", "group_members"): [
            *required("chat_id", "userid", "type", "join_time"),
            *unique("chat_id", "userid"),
            e.ExpectColumnValuesToBeInSet(column="join_scene", value_set=[0, 1, 2, 3]),
            e.ExpectColumnValuesToBeInSet(column="type", value_set=[1, 2]),
        ],
        ("wecom", "corp_tags"): [*required("tag_id", "group_id", "tag_name"), *unique("tag_id")],
        ("wecom", "contact_ways"): [
            *required("config_id"),
            *unique("config_id"),
            e.ExpectColumnValueLengthsToBeBetween(column="state", max_value=30),
        ],
        ("wecom", "unassigned_customers"): [
            *required("handover_userid", "external_userid", "dimission_time"),
            *unique("handover_userid", "external_userid"),
        ],
        ("wecom", "user_behavior"): [
            *required("userid", "stat_time"),
            *unique("userid", "stat_time"),
            *non_negative("chat_cnt", "message_cnt", "new_contact_cnt", "new_apply_cnt", "negative_feedback_cnt"),
            e.ExpectColumnValuesToBeBetween(column="reply_percentage", min_value=0, max_value=100),
        ],
        ("wecom", "group_statistic"): [
            *required("owner", "stat_time"),
            *unique("owner", "stat_time"),
            *non_negative("chat_total", "member_total", "msg_total", "new_member_cnt"),
        ],
        ("shop", "orders"): [
            *required("tid", "status", "created", "update_time", "yz_open_id", "payment"),
            *unique("tid"),
            e.ExpectColumnValuesToBeInSet(column="status", value_set=ORDER_STATUSES),
            e.ExpectColumnValuesToMatchRegex(column="payment", regex=r"^\d+\.\d{2}$"),
        ],
        ("shop", "order_items"): [
            *required("tid", "oid", "num", "payment"),
            *unique("oid"),
            e.ExpectColumnValuesToBeBetween(column="num", min_value=1),
        ],
        ("shop", "refunds"): [
            *required("tid", "refund_id", "refund_fee"),
            *unique("refund_id"),
            e.ExpectColumnValuesToBeInSet(column="refund_state", value_set=[1, 2, 11, 12]),
        ],
        ("shop", "users"): [*required("yz_open_id"), *unique("yz_open_id")],
        ("store", "pos_lines"): [
            *required("receipt_no", "line_no", "store_id", "sold_at", "sku"),
            *unique("receipt_no", "line_no"),
            e.ExpectColumnValuesToMatchRegex(column="store_id", regex=r"^S\d{4}$"),
        ],
        ("store", "members"): [
            *required("card_no", "store_id", "registered_at"),
            *unique("card_no"),
            e.ExpectColumnValuesToBeInSet(column="marketing_opt_in", value_set=["Y", "N"]),
        ],
        ("store", "messages"): [*required("msgid", "from", "msgtime", "msgtype"), *unique("msgid")],
        ("store", "shop_visits"): [*required("visit_id", "visitor_id", "visit_time", "source"), *unique("visit_id")],
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


def run_suite(name: str, frame: pd.DataFrame, expectations: list) -> list[str]:
    """Validate a frame against expectations in an ephemeral GX context; one line per failed expectation."""
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
    result = batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(suite)
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
