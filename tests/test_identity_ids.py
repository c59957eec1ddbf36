"""The stable customer id (int_identity_map.py): a new cluster's id is derived from its cluster key, and
when that id already names another customer, a salted derivation (#1, #2, ...) is used instead, so two
customers never share an id. The dbt Python model runs here on frames, without dbt."""

from __future__ import annotations

import runpy
from pathlib import Path

import pandas as pd

MODEL = Path(__file__).resolve().parents[1] / "dbt_project" / "models" / "intermediate" / "int_identity_map.py"
identity_map = runpy.run_path(str(MODEL))


class Relation:
    def __init__(self, frame: pd.DataFrame):
        self.frame = frame

    def project(self, columns: str) -> Relation:
        return Relation(self.frame[[name.strip() for name in columns.split(",")]])

    def df(self) -> pd.DataFrame:
        return self.frame


class Config:
    def __call__(self, **kwargs) -> None:
        pass

    def get(self, name, default=None):
        return {"business_timezone": "Asia/Shanghai"}.get(name, default)


class FakeDbt:
    """The part of dbt's Python-model interface the model uses: ref, config, is_incremental, this."""

    def __init__(self, clusters: pd.DataFrame, previous: pd.DataFrame | None):
        self.clusters, self.is_incremental, self.this, self.config = clusters, previous is not None, "map", Config()

    def ref(self, name: str) -> Relation:
        assert name == "int_identity_clusters"
        return Relation(self.clusters)


class Session:
    def __init__(self, previous: pd.DataFrame | None):
        self.previous = previous

    def sql(self, query: str) -> Relation:
        return Relation(self.previous)


def run(clusters: list[tuple[str, str]], previous: list[tuple[str, str]] | None = None) -> dict[str, str]:
    """node_key -> customer_id after one run; clusters as (node_key, cluster_key), previous as
    (node_key, customer_id)."""
    frame = pd.DataFrame(clusters, columns=["node_key", "cluster_key"])
    frame["id_type"] = frame["node_key"].str.split(":").str[0]
    frame["cluster_size"] = frame.groupby("cluster_key")["node_key"].transform("size")
    before = None
    if previous is not None:
        before = pd.DataFrame(previous, columns=["node_key", "customer_id"])
        before["customer_since"] = pd.Timestamp("2025-01-01")
    result = identity_map["model"](FakeDbt(frame, before), Session(before))
    return dict(zip(result["node_key"], result["customer_id"], strict=True))


def derived(cluster_key: str, attempt: int = 0) -> str:
    return identity_map["_derived_id"](cluster_key, attempt)


def test_a_new_cluster_gets_the_id_its_key_derives():
    ids = run([("phone:+8613911112222", "phone:+8613911112222"), ("member_card:M1", "phone:+8613911112222")])
    assert set(ids.values()) == {derived("phone:+8613911112222")}
    assert derived("phone:+8613911112222").startswith("C") and len(derived("phone:+8613911112222")) == 17


def test_a_derived_id_already_naming_another_customer_is_salted():
    """GIVEN customer X, whose id happens to be the one cluster key K derives (a split part that kept an
    id K would derive, or a hash collision), WHEN a new cluster keyed K appears THEN it gets K's salted
    id, X keeps hers, and a second collision salts again (#2)."""
    taken = derived("yz_open_id:B")
    ids = run(
        clusters=[("member_card:X", "member_card:X"), ("yz_open_id:B", "yz_open_id:B")],
        previous=[("member_card:X", taken)],
    )
    assert ids["member_card:X"] == taken
    assert ids["yz_open_id:B"] == derived("yz_open_id:B", 1) != taken

    twice = run(
        clusters=[
            ("member_card:X", "member_card:X"),
            ("member_card:Y", "member_card:Y"),
            ("yz_open_id:B", "yz_open_id:B"),
        ],
        previous=[("member_card:X", taken), ("member_card:Y", derived("yz_open_id:B", 1))],
    )
    assert twice["yz_open_id:B"] == derived("yz_open_id:B", 2)
    assert len(set(twice.values())) == 3


def test_an_id_a_retired_customer_held_is_not_given_again():
    """An id in the previous map whose identifiers are gone (deleted data) still counts as used."""
    gone = derived("openid:Z")
    ids = run(clusters=[("openid:Z", "openid:Z")], previous=[("unionid:old", gone)])
    assert ids["openid:Z"] == derived("openid:Z", 1)
