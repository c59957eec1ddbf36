"""The report's data: the marts shaped into small tables the page filters by month and store.

Every table is {"columns": [...], "rows": [[...], ...]} (dates as ISO text, missing values as null), so
the page can filter it, draw it and hand it over as CSV. Each builder takes the frames read by
siyu.report.marts and returns None when the models it needs are missing.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pandas as pd

ALL = "all"
UNKNOWN_STORE = "unknown"
GRADES = ["S", "A", "B", "C", "D", "ungraded"]


def table(frame: pd.DataFrame) -> dict:
    def cell(value):
        if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
            return None
        if isinstance(value, pd.Timestamp | datetime):
            return value.date().isoformat() if value == value.normalize() else value.isoformat()
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, Decimal):
            value = float(value)
        if hasattr(value, "item"):  # numpy scalars
            value = value.item()
        return round(value, 6) if isinstance(value, float) else value

    return {
        "columns": [str(column) for column in frame.columns],
        "rows": [[cell(value) for value in row] for row in frame.itertuples(index=False, name=None)],
    }


def month_of(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).dt.strftime("%Y-%m")


def _grain(frame: pd.DataFrame, grain: str = "month") -> pd.DataFrame:
    rows = frame[frame["period_grain"] == grain].copy()
    rows["month"] = month_of(rows["period_start"])
    return rows


def guide_stores(frames: dict) -> pd.Series:
    """guide_userid → the guide's store (rpt_guide_stores: where they sell most, else where their
    customers were added, as the KPIs count them)."""
    guides = frames["rpt_guide_stores"]
    if guides is None:
        return pd.Series(dtype=object)
    return guides.set_index("guide_userid")["store_id"].fillna(UNKNOWN_STORE)


def customer_stores(frames: dict) -> pd.Series:
    """customer_id → store, by kpi_triangle's rule: the membership's home store, else the guide's store."""
    customers = frames["dim_customers"]
    if customers is None:
        return pd.Series(dtype=object)
    by_guide = customers["guide_userid"].map(guide_stores(frames))
    return (
        customers.set_index("customer_id")["home_store_id"]
        .fillna(pd.Series(by_guide.values, customers["customer_id"]))
        .fillna(UNKNOWN_STORE)
    )


def with_all_stores(frame: pd.DataFrame, keys: list[str], sums: list[str]) -> pd.DataFrame:
    """The rows per store plus, per keys, one 'all' row with the sums across stores."""
    total = frame.groupby(keys, as_index=False)[sums].sum(min_count=1)
    total["store_id"] = ALL
    return pd.concat([frame, total], ignore_index=True)


def triangle(frames: dict) -> dict | None:
    kpis = frames["kpi_triangle"]
    if kpis is None:
        return None
    rows = _grain(kpis)
    columns = [
        "month", "store_id", "connected_users", "reach_capability", "ownership_power", "ownership_score",
        "repurchase_rate", "ltv_per_customer", "value_index", "value_score",
        "referrals_per_active", "inviter_share", "referral_index", "referral_score",
        "triangle_area", "unavailable_reason",
    ]  # fmt: skip
    return table(rows[[c for c in columns if c in rows.columns]].sort_values(["month", "store_id"]))


def _series(frame: pd.DataFrame, key: str, column: str, store: pd.Series | str) -> pd.DataFrame:
    part = pd.DataFrame(
        {
            "grain": frame["period_grain"],
            "period": pd.to_datetime(frame["period_start"]).dt.strftime("%Y-%m-%d"),
            "store_id": store,
            "series": key,
            "value": frame[column].astype(float),
        }
    )
    return part


def trends(frames: dict) -> dict | None:
    """KPI series over time, every grain (day, week, month): one row per grain, period, store and series."""
    parts = []
    triangle_kpis = frames["kpi_triangle"]
    if triangle_kpis is not None:
        for column in ["triangle_area", "ownership_score", "value_score", "referral_score"]:
            parts.append(_series(triangle_kpis, column, column, triangle_kpis["store_id"]))
    tree = frames["kpi_gmv_tree"]
    if tree is not None:
        for channel in ["all", "online", "store"]:
            rows = tree[tree["channel"] == channel]
            parts.append(_series(rows, f"gmv_{channel}", "gmv", ALL))
    new_returning = frames["kpi_gmv_new_returning"]
    if new_returning is not None:
        rows = new_returning[new_returning["channel"] == "all"]
        for column in ["new_gmv", "returning_gmv"]:
            parts.append(_series(rows, column, column, ALL))
    stores = frames["kpi_stores"]
    if stores is not None:
        keyed = with_all_stores(
            stores, ["period_grain", "period_start"], ["sales", "net_sales", "member_sales", "buyers", "member_buyers"]
        )
        keyed["member_sales_share"] = keyed["member_sales"] / keyed["sales"].where(keyed["sales"] != 0)
        parts.append(_series(keyed[keyed["store_id"] != ALL], "gmv_store", "sales", keyed["store_id"]))
        parts.append(_series(keyed, "member_sales_share", "member_sales_share", keyed["store_id"]))
    guides = frames["kpi_guides"]
    if guides is not None:
        for column in ["login_rate", "share_rate", "order_rate"]:
            parts.append(_series(guides, column, column, guides["store_id"]))
    community = frames["kpi_community_summary"]
    if community is not None:
        owners = community[community["owner_userid"] == ALL]
        keyed = with_all_stores(owners, ["period_grain", "period_start"], ["members", "speakers"])
        keyed["activity_rate"] = keyed["speakers"] / keyed["members"].where(keyed["members"] != 0)
        parts.append(_series(keyed, "activity_rate", "activity_rate", keyed["store_id"]))
    if not parts:
        return None
    long = pd.concat(parts, ignore_index=True).dropna(subset=["value"])
    return table(long.sort_values(["series", "grain", "store_id", "period"]))


def community_grades(frames: dict) -> dict | None:
    summary = frames["kpi_community_summary"]
    if summary is None:
        return None
    rows = _grain(summary)
    rows = rows[rows["owner_userid"] == ALL]
    counts = [f"groups_{grade.lower()}" for grade in GRADES]
    rows = with_all_stores(rows[["month", "store_id", "groups", *counts]], ["month"], ["groups", *counts])
    return table(rows.sort_values(["month", "store_id"]))


def community_groups(frames: dict) -> dict | None:
    """Each group per month with its name, owner and the owner's store (as kpi_community_summary)."""
    community = frames["kpi_community"]
    if community is None:
        return None
    rows = _grain(community)
    names = frames["rpt_group_names"]
    if names is not None:
        rows["group_name"] = rows["chat_id"].map(names.set_index("chat_id")["group_name"])
    else:
        rows["group_name"] = None
    rows["store_id"] = rows["owner_userid"].map(guide_stores(frames)).fillna(UNKNOWN_STORE)
    columns = [
        "month", "store_id", "chat_id", "group_name", "owner_userid", "grade", "members", "speakers",
        "activity_rate", "visitors", "visitor_pay_conversion", "buyers", "gmv", "repurchase_rate",
        "fission_rate", "purchase_depth",
    ]  # fmt: skip
    return table(rows[[c for c in columns if c in rows.columns]].sort_values(["month", "gmv"], ascending=[True, False]))


def _month_end_snapshots(segments: pd.DataFrame) -> pd.DataFrame:
    """The rows of each month's last snapshot day kept."""
    days = pd.to_datetime(segments["snapshot_date"])
    months = days.dt.strftime("%Y-%m")
    last = days.groupby(months).transform("max")
    rows = segments[days == last].copy()
    rows["month"] = months[days == last]
    rows["as_of"] = days[days == last].dt.strftime("%Y-%m-%d")
    return rows


def rfm_segments(frames: dict) -> dict | None:
    segments, reference = frames["customer_segments_daily"], frames["rfm_segments"]
    if segments is None or reference is None:
        return None
    rows = _month_end_snapshots(segments)
    rows["store_id"] = rows["customer_id"].map(customer_stores(frames)).fillna(UNKNOWN_STORE)
    keys = ["month", "as_of", "rfm_segment"]
    per_store = rows.groupby([*keys, "store_id"], as_index=False).agg(
        customers=("customer_id", "count"), monetary=("monetary", "sum")
    )
    both = with_all_stores(per_store, keys, ["customers", "monetary"])
    both["monetary_per_customer"] = both["monetary"] / both["customers"]
    both = both.merge(reference[["rfm_segment", "segment_zh", "segment_en", "segment_order"]], on="rfm_segment")
    columns = ["month", "as_of", "store_id", "segment_order", "rfm_segment", "segment_zh", "segment_en"]
    return table(
        both[[*columns, "customers", "monetary_per_customer"]].sort_values(["month", "store_id", "segment_order"])
    )


def lifecycle(frames: dict) -> dict | None:
    segments, reference = frames["customer_segments_daily"], frames["lifecycle_stages"]
    if segments is None or reference is None:
        return None
    rows = segments[["snapshot_date", "customer_id", "lifecycle_stage"]].copy()
    rows["store_id"] = rows["customer_id"].map(customer_stores(frames)).fillna(UNKNOWN_STORE)
    rows["day"] = pd.to_datetime(rows["snapshot_date"]).dt.strftime("%Y-%m-%d")
    per_store = rows.groupby(["day", "lifecycle_stage", "store_id"], as_index=False).agg(
        customers=("customer_id", "count")
    )
    both = with_all_stores(per_store, ["day", "lifecycle_stage"], ["customers"])
    both["month"] = both["day"].str[:7]
    both = both.merge(reference, on="lifecycle_stage")
    columns = ["month", "day", "store_id", "stage_order", "lifecycle_stage", "stage_zh", "stage_en", "customers"]
    return table(both[columns].sort_values(["day", "store_id", "stage_order"]))


def gmv_tree(frames: dict) -> dict | None:
    """The online tree (GMV = UV × conversion × AOV × frequency) per channel for all stores, and per store
    the till's part of it (no visitors are counted in stores: GMV = buyers × frequency × AOV)."""
    tree, stores = frames["kpi_gmv_tree"], frames["kpi_stores"]
    if tree is None:
        return None
    rows = _grain(tree)
    rows["store_id"] = ALL
    columns = [
        "month",
        "store_id",
        "channel",
        "gmv",
        "uv",
        "conversion",
        "aov",
        "purchase_frequency",
        "buyers",
        "orders",
        "unavailable_reason",
    ]
    parts = [rows[columns]]
    if stores is not None:
        till = _grain(stores)
        parts.append(
            pd.DataFrame(
                {
                    "month": till["month"],
                    "store_id": till["store_id"],
                    "channel": "store",
                    "gmv": till["sales"],
                    "uv": None,
                    "conversion": None,
                    "aov": till["sales"] / till["receipts"].where(till["receipts"] != 0),
                    "purchase_frequency": till["receipts"] / till["buyers"].where(till["buyers"] != 0),
                    "buyers": till["buyers"],
                    "orders": till["receipts"],
                    "unavailable_reason": till["unavailable_reason"],
                }
            )
        )
    return table(pd.concat(parts, ignore_index=True).sort_values(["month", "store_id", "channel"]))


def guide_league(frames: dict) -> dict | None:
    """Per guide and month: attributed paid orders, GMV and buyers, friends added and inherited, with the
    guide's store (rpt_guide_league); the highest GMV first in each month."""
    league = frames["rpt_guide_league"]
    if league is None:
        return None
    rows = league.assign(month=month_of(league["month_start"]))
    columns = ["month", "store_id", "guide_userid", "friends_added", "inherited", "buyers", "orders", "gmv"]
    return table(rows[columns].sort_values(["month", "gmv", "guide_userid"], ascending=[True, False, True]))


def audiences(frames: dict) -> dict | None:
    assignments = frames["audience_assignments"]
    if assignments is None:
        return None
    rows = assignments.copy()
    rows["store_id"] = rows["customer_id"].map(customer_stores(frames)).fillna(UNKNOWN_STORE)
    rows["day"] = pd.to_datetime(rows["computed_on"]).dt.strftime("%Y-%m-%d")
    per_store = rows.groupby(["day", "audience", "channel", "store_id"], as_index=False).agg(
        customers=("customer_id", "count")
    )
    both = with_all_stores(per_store, ["day", "audience", "channel"], ["customers"])
    both["month"] = both["day"].str[:7]
    return table(
        both[["month", "day", "store_id", "audience", "channel", "customers"]].sort_values(["store_id", "audience"])
    )


def clv_calibration(frames: dict) -> dict | None:
    calibration = frames["clv_calibration"]
    if calibration is None:
        return None
    return table(calibration.sort_values("bucket_order"))


def availability(frames: dict) -> dict | None:
    kpis = frames["kpi_availability"]
    if kpis is None:
        return None
    missing = kpis[~kpis["is_available"].astype(bool)]
    return table(missing[["kpi_model", "measures", "needed_sources", "unavailable_reason"]])


def period(frames: dict) -> dict:
    """The warehouse's period: the first and last day the KPIs cover, the months and the stores."""
    kpis = frames["kpi_triangle"]
    days = pd.to_datetime(kpis.loc[kpis["period_grain"] == "day", "period_start"]) if kpis is not None else pd.Series()
    months = sorted(month_of(days).unique()) if len(days) else []
    stores: set[str] = set()
    for name in ["kpi_triangle", "kpi_stores", "kpi_guides", "kpi_community_summary"]:
        if frames[name] is not None:
            stores |= set(frames[name]["store_id"].dropna())
    stores -= {ALL}
    return {
        "first_day": days.min().strftime("%Y-%m-%d") if len(days) else None,
        "last_day": days.max().strftime("%Y-%m-%d") if len(days) else None,
        "months": months,
        "stores": sorted(stores, key=lambda store: (store == UNKNOWN_STORE, store)),
    }


def names(frames: dict) -> dict:
    """Display names by id: stores and guides from dim_stores / dim_guides when the warehouse has them."""
    found = {"stores": {}, "guides": {}}
    for kind, model, key, name in [
        ("stores", "dim_stores", "store_id", "store_name"),
        ("guides", "dim_guides", "guide_userid", "guide_name"),
    ]:
        frame = frames.get(model)
        if frame is not None and name in frame.columns:
            found[kind] = frame.dropna(subset=[name]).set_index(key)[name].to_dict()
    return found


BUILDERS = {
    "triangle": triangle,
    "trends": trends,
    "community_grades": community_grades,
    "community_groups": community_groups,
    "rfm_segments": rfm_segments,
    "lifecycle": lifecycle,
    "gmv_tree": gmv_tree,
    "guide_league": guide_league,
    "audiences": audiences,
    "clv_calibration": clv_calibration,
    "availability": availability,
}


def build(frames: dict) -> dict:
    return {"period": period(frames), "tables": {name: builder(frames) for name, builder in BUILDERS.items()}}
