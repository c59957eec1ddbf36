"""The activate_audiences DAG against the simulator: exports hold no suppressed customer (opted out, erased,
frequency-capped), WeCom ends up with exactly the computed tags on the world's live friendships, a second run
sends no mark_tag call, tags that no longer hold are removed, and the audience gate refuses a broken audience."""

from __future__ import annotations

import json
import shutil
from datetime import date

import duckdb
import httpx
import pandas as pd
import pytest
from conftest import run_dag

from siyu.activation import AUDIENCES
from siyu.settings import connection_env
from siyu.transform import dbt_build

pytestmark = pytest.mark.integration
RFM_GROUP, STAGE_GROUP = "siyu RFM 分层", "siyu 生命周期"  # var wecom_tag_groups


@pytest.fixture()
def activation_sim(small_world):
    """Simulators of their own: writeback changes the served world, which other tests compare with."""
    from siyu_sim.server import RunningSimulators

    with RunningSimulators(small_world) as sim:
        sim.sims.state.set_clock(sim.sims.state.meta["end_ts"] + 60)
        yield sim


@pytest.fixture()
def activation_env(activation_sim, warehouse_copy, tmp_path, monkeypatch):
    extra = {"max_wait_seconds": 0.05, "timeout_seconds": 2.0, "max_attempts": 30}
    for name, value in connection_env(activation_sim.base_url, activation_sim.credentials, extra).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SIYU_WAREHOUSE", str(warehouse_copy))
    monkeypatch.setenv("SIYU_EXPORTS_DIR", str(tmp_path / "exports"))
    return tmp_path


def mark_tag_calls(sim) -> int:
    return httpx.get(f"{sim.base_url}/_sim/stats").json()["wecom_calls"].get("mark_tag", 0)


def managed_tags(sim) -> dict[tuple[str, str], dict[str, str]]:
    """(guide, external_userid) → {siyu tag group: tag name} as WeCom holds them now, for every friendship
    carrying a tag of siyu's groups (each tag seen once per group: a second one in a group would be lost)."""
    state = sim.sims.state
    groups = state.tag_groups.set_index("group_id")["group_name"].to_dict()
    tag_of = {t.tag_id: (groups[t.group_id], t.name) for t in state.tags.itertuples()}
    held: dict[tuple[str, str], dict[str, str]] = {}
    for key, tags in state.relation_tags.items():
        for group, name in (tag_of[tag] for tag in tags if tag in tag_of):
            if group in (RFM_GROUP, STAGE_GROUP):
                assert group not in held.get(key, {}), f"{key} holds two tags of {group}"
                held.setdefault(key, {})[group] = name
    return held


def live_friendships_in_truth(world) -> dict[tuple[str, str], int]:
    """The world's truth: (guide, external_userid) → true person of every friendship not ended, with a guide
    still on the staff (a resigned guide's customers wait for a transfer: WeCom lists no follow user for
    them, so nothing can be tagged there)."""
    identifiers = pd.read_parquet(world / "truth/identifiers.parquet")
    wecom_id = (
        identifiers[(identifiers["source"] == "wecom") & (identifiers["id_type"] == "external_userid")]
        .drop_duplicates("person_id")
        .set_index("person_id")["id_value"]
    )
    assignments = pd.read_parquet(world / "truth/guide_assignments.parquet")
    staff = pd.read_parquet(world / "wecom/staff.parquet")
    on_staff = set(staff.loc[staff["resigned_at"].isna(), "userid"])
    live = assignments[assignments["until"].isna() & assignments["userid"].isin(on_staff)]
    return {(row.userid, wecom_id[row.person_id]): row.person_id for row in live.itertuples()}


def test_activation_exports_suppressed_free_audiences_and_writes_tags_once(
    dagbag, small_world, activation_sim, activation_env, warehouse_copy
):
    sim = activation_sim
    before = mark_tag_calls(sim)
    run_dag(dagbag, "activate_audiences")
    first_calls = mark_tag_calls(sim) - before
    assert first_calls > 100

    # Expected from the world's truth, not from the warehouse: every friendship the world has not ended
    # carries one RFM tag and one lifecycle tag in siyu's groups, no ended friendship carries any, and all
    # friendships of one true person carry the same tags (one customer, one segment).
    held = managed_tags(sim)
    live = live_friendships_in_truth(small_world)
    assert set(held) == set(live)
    assert all(set(tags) == {RFM_GROUP, STAGE_GROUP} for tags in held.values())
    by_person: dict[int, set[tuple]] = {}
    for key, person in live.items():
        by_person.setdefault(person, set()).add(tuple(sorted(held[key].items())))
    split = {person: tags for person, tags in by_person.items() if len(tags) > 1}
    assert not split, f"one person's friendships carry different tags: {list(split.items())[:3]}"
    # The tags are the customers' segments and stages, as the warehouse's tag table says (what writeback
    # was given); the guides' own tags are still there.
    with duckdb.connect(str(warehouse_copy), read_only=True) as con:
        desired = con.sql(
            "select guide_userid, external_userid, tag_group_name, tag_name from audiences.wecom_tags_desired"
        )
        wanted: dict[tuple[str, str], dict[str, str]] = {}
        for guide, external, group, tag in desired.fetchall():
            wanted.setdefault((guide, external), {})[group] = tag
    assert held == wanted
    groups = sim.sims.state.tag_groups.set_index("group_id")["group_name"].to_dict()
    own = {t.tag_id for t in sim.sims.state.tags.itertuples() if groups[t.group_id] not in (RFM_GROUP, STAGE_GROUP)}
    assert any(set(tags) & own for tags in sim.sims.state.relation_tags.values()), "guides' own tags are kept"

    # A second run finds nothing to change.
    before = mark_tag_calls(sim)
    run_dag(dagbag, "activate_audiences")
    assert mark_tag_calls(sim) == before

    # Exports: every audience, Parquet and CSV, and no suppressed customer in any of them.
    exports = activation_env / "exports"
    with duckdb.connect(str(warehouse_copy), read_only=True) as con:
        suppressed = {r[0] for r in con.sql("select customer_id from audiences.audience_suppressions").fetchall()}
        sends = con.sql("select count(*), count(distinct customer_id) from activation.sends").fetchall()[0]
    assert suppressed, "the small world has opted-out customers"
    total = 0
    for audience in AUDIENCES:
        folder = next((exports / audience).iterdir())
        manifest = json.loads((folder / "_manifest.json").read_text())
        frame = pd.read_parquet(folder / f"{audience}.parquet")
        csv = pd.read_csv(folder / f"{audience}.csv")
        assert manifest["rows"] == len(frame) == len(csv)
        assert not set(frame["customer_id"]) & suppressed
        assert frame["customer_id"].is_unique
        total += len(frame)
    assert total > 0 and sends == (total, total), "one audience per customer, each recorded once"


def test_suppressed_customers_never_reach_the_exports(
    dagbag, activation_sim, activation_env, world_warehouse, warehouse_copy, tmp_path
):
    """GIVEN customers the audiences picked WHEN one opts out (a WeCom callback), one is erased (her
    customer id on the suppression list) and five were sent to on four of the last 30 days (frequency cap)
    THEN a rebuild suppresses each for its reason, drops them from every audience (they leave it), and no
    suppressed customer, for any reason, is in any export file."""
    from datetime import datetime

    from siyu.privacy import add_suppressions, record_consent
    from siyu.pseudonyms import pseudonym, pseudonym_key

    with duckdb.connect(str(warehouse_copy), read_only=True) as con:
        picked = con.sql(
            """select customer_id, external_userid from audiences.audience_assignments
               where channel = 'wecom_1v1' order by customer_id limit 7"""
        ).fetchall()
    capped_targets = [customer for customer, _external in picked[:5]]
    opted_out, opted_out_wecom_id = picked[5]
    erased = picked[6][0]
    with duckdb.connect(str(warehouse_copy)) as con:
        for days_ago in (1, 3, 5, 7):
            for customer in capped_targets:
                con.execute(
                    "insert into activation.sends values (?, 'vip_care', 'wecom_1v1', date '2025-12-31' - ?::int, 't')",
                    [customer, days_ago],
                )
    # The session's lake stays as it is: the consent event and the erasure go to a copy, with the privacy
    # folder beside it (its pseudonym key, so the copy's pseudonyms match the warehouse's).
    lake = tmp_path / "lake"
    shutil.copytree(world_warehouse.parents[1] / "lake", lake)
    shutil.copytree(world_warehouse.parents[1] / "privacy", tmp_path / "privacy")
    record_consent(opted_out_wecom_id, "opt_out", "wecom_callback", datetime(2025, 12, 30, 12), lake)
    add_suppressions(lake, [(pseudonym(erased, pseudonym_key(lake)), "customer_id")], "test-erasure")
    result = dbt_build(
        lake,
        warehouse_copy,
        select="stg_privacy__consent_events+ stg_privacy__suppressions+ prep_audience_suppressions+",
    )
    assert result.success, result.failures
    targets = {*capped_targets, opted_out, erased}
    with duckdb.connect(str(warehouse_copy), read_only=True) as con:
        reasons = con.sql("select customer_id, reason from audiences.audience_suppressions").fetchall()
        suppressed = {customer for customer, _reason in reasons}
        still = con.sql(
            f"select count(*) from audiences.audience_assignments where customer_id in {tuple(targets)}"
        ).fetchall()[0][0]
        changes = con.sql("select customer_id, change from audiences.audience_membership_changes").fetchall()
    left = {customer for customer, change in changes if change == "left"}
    assert {c for c, reason in reasons if reason == "frequency_cap"} == set(capped_targets)
    assert (opted_out, "opted_out") in reasons and (erased, "erased") in reasons
    assert still == 0
    assert targets <= left, "the suppressed customers left their audiences"
    run_dag(dagbag, "activate_audiences")
    exported = pd.concat(
        pd.read_parquet(p) for p in (activation_env / "exports").glob(f"*/{date(2025, 12, 31)}/*.parquet")
    )
    assert len(exported) > 0
    assert not set(exported["customer_id"]) & suppressed


def test_writeback_removes_the_tags_that_no_longer_hold(activation_sim, activation_env, warehouse_copy):
    """GIVEN WeCom tagged as the warehouse says WHEN one customer's RFM segment changes and another
    friendship's customer is erased (her rows leave wecom_tags_desired) THEN the next writeback swaps the
    first's RFM tag (one added, one removed), strips siyu's tags from the second, keeps the guides' own
    tags, and touches no other friendship."""
    from siyu.activation import writeback_tags
    from siyu.connectors.wecom import WeComClient
    from siyu.settings import wecom_config

    sim = activation_sim
    with WeComClient(wecom_config()) as client:
        writeback_tags(warehouse_copy, client)
    before = managed_tags(sim)
    groups = sim.sims.state.tag_groups.set_index("group_id")["group_name"].to_dict()
    own = {t.tag_id for t in sim.sims.state.tags.itertuples() if groups[t.group_id] not in (RFM_GROUP, STAGE_GROUP)}
    own_tags = {key: set(tags) & own for key, tags in sim.sims.state.relation_tags.items()}
    moved, gone = sorted(key for key in before if own_tags.get(key))[:2]
    old_segment = before[moved][RFM_GROUP]
    with duckdb.connect(str(warehouse_copy)) as con:
        new_segment = con.execute(
            "select tag_name from audiences.wecom_tag_catalogue where tag_group_name = ? and tag_name != ? limit 1",
            [RFM_GROUP, old_segment],
        ).fetchone()[0]
        con.execute(
            """update audiences.wecom_tags_desired set tag_name = ?
               where guide_userid = ? and external_userid = ? and tag_group_name = ?""",
            [new_segment, *moved, RFM_GROUP],
        )
        con.execute("delete from audiences.wecom_tags_desired where guide_userid = ? and external_userid = ?", [*gone])

    calls = mark_tag_calls(sim)
    with WeComClient(wecom_config()) as client:
        result = writeback_tags(warehouse_copy, client)
    after = managed_tags(sim)
    assert mark_tag_calls(sim) - calls == 2 and (result.tags_added, result.tags_removed) == (1, 3)
    assert after[moved] == {**before[moved], RFM_GROUP: new_segment}
    assert gone not in after, "siyu's tags are removed from a friendship that should carry none"
    assert {key: tags for key, tags in after.items()} == {
        key: tags for key, tags in before.items() if key not in (moved, gone)
    } | {moved: after[moved]}
    for key in (moved, gone):
        assert own_tags[key] <= set(sim.sims.state.relation_tags[key]), "the guide's own tags are kept"


def _duplicate_a_customer(con):
    con.execute("insert into audiences.aud_vip_care select * from audiences.aud_vip_care limit 1")
    return "vip_care"


def _null_a_channel(con):
    con.execute(
        "update audiences.aud_order_push_3 set channel = null"
        " where customer_id = (select min(customer_id) from audiences.aud_order_push_3)"
    )
    return "order_push_3"


def _drop_a_wecom_id(con):
    con.execute(
        "update audiences.aud_first_order_nudge set external_userid = null where customer_id = "
        "(select min(customer_id) from audiences.aud_first_order_nudge where channel = 'wecom_1v1')"
    )
    return "first_order_nudge"


def _target_a_suppressed_customer(con):
    con.execute(
        "insert into audiences.audience_suppressions select customer_id, 'opted_out', computed_on"
        " from audiences.aud_win_back_important limit 1"
    )
    return "win_back_important"


@pytest.mark.parametrize(
    "break_audience",
    [_duplicate_a_customer, _null_a_channel, _drop_a_wecom_id, _target_a_suppressed_customer],
    ids=["duplicate_customer", "null_channel", "one_to_one_without_wecom_id", "suppressed_customer"],
)
def test_the_audience_gate_refuses_a_broken_audience(warehouse_copy, break_audience):
    """GIVEN audiences that pass the gate WHEN one audience table breaks its contract THEN validate_audiences
    raises, naming that audience and no other (the DAG's exports, sends and writeback wait on it)."""
    from siyu.activation import AudienceQualityError, validate_audiences

    sizes = validate_audiences(warehouse_copy)
    assert set(sizes) == set(AUDIENCES) and all(sizes.values())
    with duckdb.connect(str(warehouse_copy)) as con:
        broken = break_audience(con)
    with pytest.raises(AudienceQualityError) as failure:
        validate_audiences(warehouse_copy)
    named = {audience for audience in AUDIENCES if f"  {audience}: " in str(failure.value)}
    assert named == {broken}, str(failure.value)


def test_nothing_leaves_the_warehouse_before_the_gate_passes(dagbag):
    """The activation DAG exports, records sends and writes tags only downstream of validate: a failing
    gate stops them all."""
    dag = dagbag.get_dag("activate_audiences")
    downstream = dag.get_task("validate").get_flat_relative_ids(upstream=False)
    assert {"export", "record_sends", "writeback_tags", "publish"} <= downstream


def test_exports_open_in_chinese_excel_and_name_customers_for_guides(
    small_world, warehouse_copy, tmp_path, monkeypatch
):
    """GIVEN the audiences of the small world WHEN they are exported THEN every CSV starts with a UTF-8
    byte-order mark (a zh-CN Excel otherwise decodes UTF-8 as GBK: 首单 becomes 棣栧崟) while tools still read
    `customer_id` as the first column, and the guide-facing CSV carries, for each 1:1 row, the remark the
    guide gave the customer in WeCom and a Chinese reason; SIYU_EXPORT_CSV_ENCODING=gbk writes GBK instead."""
    from siyu.activation import export_audiences

    manifests = export_audiences(warehouse_copy, tmp_path / "exports", date(2025, 12, 31), "t")
    remarks = pd.read_parquet(
        small_world / "wecom/follow_relations.parquet", columns=["userid", "external_userid", "remark"]
    )
    remark_of = {(r.userid, r.external_userid): r.remark for r in remarks.itertuples()}
    checked_remarks = 0
    for audience, manifest in manifests.items():
        folder = tmp_path / "exports" / audience / "2025-12-31"
        for name in (f"{audience}.csv", f"{audience}_导购.csv"):
            assert (folder / name).read_bytes().startswith(b"\xef\xbb\xbf"), f"{name} has no byte-order mark"
        tools = pd.read_csv(folder / f"{audience}.csv")
        assert tools.columns[0] == "customer_id" and len(tools) == manifest["rows"]
        guides = pd.read_csv(folder / f"{audience}_导购.csv", encoding="utf-8-sig", dtype=str)
        assert len(guides) == manifest["rows"]
        assert {"导购", "客户备注名", "原因", "客户ID"} <= set(guides.columns)
        assert set(guides["客户ID"]) == set(tools["customer_id"])
        for row in guides.itertuples(index=False):
            reason = row[list(guides.columns).index("原因")]
            assert any("\u4e00" <= char <= "\u9fff" for char in reason) and "orders" not in reason, reason
        one_to_one = tools.dropna(subset=["external_userid"]).merge(
            guides, left_on="customer_id", right_on="客户ID", validate="one_to_one"
        )
        for row in one_to_one.itertuples(index=False):
            expected = remark_of.get((row.guide_userid, row.external_userid))
            if expected:  # a friendship added after the last snapshot the lake holds has no remark there
                assert row.客户备注名 == expected
                checked_remarks += 1
        if audience == "order_push_3":
            assert set(guides["原因"].str.extract(r"已下(\d)单")[0]) <= {"1", "2"}
    assert checked_remarks > 50

    monkeypatch.setenv("SIYU_EXPORT_CSV_ENCODING", "gbk")
    export_audiences(warehouse_copy, tmp_path / "gbk", date(2025, 12, 31), "t", audiences=("first_order_nudge",))
    raw = (tmp_path / "gbk/first_order_nudge/2025-12-31/first_order_nudge_导购.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and "原因" in raw.decode("gbk")
