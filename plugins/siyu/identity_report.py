"""`siyu identity-report`: identity quality, merge protection and recent merges, from the warehouse.

It reads the models in MODELS whole through siyu.warehouse; the dbt exposure `identity_report`
(dbt_project/models/reports/_exposures.yml) lists the same models."""

from __future__ import annotations

import sys
from pathlib import Path

# What the identity report reads (the exposure `identity_report` lists exactly these): identity_quality
# through siyu.warehouse.identity_quality, the report models whole.
REPORT_MODELS = ("rpt_identity_exclusions", "rpt_identity_merge_kinds", "rpt_identity_cluster_sizes")
MODELS = ("identity_quality", *REPORT_MODELS)


def print_report(warehouse: Path) -> int:
    from siyu.warehouse import exists, identity_quality, open_warehouse, read_models

    if not exists(warehouse):
        print(f"no warehouse at {warehouse}: run the transform (make demo) or set SIYU_WAREHOUSE", file=sys.stderr)
        return 1
    with open_warehouse(warehouse) as wh:
        frames = read_models(wh, REPORT_MODELS)
        quality = identity_quality(wh) if wh.has("identity_quality") else None
    missing = [model for model, frame in frames.items() if frame is None] + (
        ["identity_quality"] if quality is None else []
    )
    if missing:
        print(f"{warehouse} lacks {', '.join(missing)}: run the transform to build them", file=sys.stderr)
        return 1
    excluded = frames["rpt_identity_exclusions"].sort_values(
        ["values_excluded", "id_type", "exclusion_kind"], ascending=[False, True, True]
    )
    merges = frames["rpt_identity_merge_kinds"].sort_values("merge_kind")
    sizes = frames["rpt_identity_cluster_sizes"].sort_values("identifiers").head(12)
    print(f"identity quality, measured {quality['measured_at']}")
    print(f"  customers                  {quality['customers']:>12,}")
    print(f"  identifiers                {quality['identifiers']:>12,}")
    print(f"  largest cluster            {quality['largest_cluster']:>12,}")
    print(f"  clusters over a link limit {quality['clusters_over_limit']:>12,}")
    print(f"  values excluded            {quality['excluded_values']:>12,}")
    if quality["evaluated_identifiers"]:
        print(
            f"  against truth: {quality['evaluated_identifiers']:,} identifiers of {quality['true_persons']:,} persons"
        )
        print(f"    pairwise precision       {quality['pairwise_precision']:>12.4f}")
        print(f"    pairwise recall          {quality['pairwise_recall']:>12.4f}")
        print(f"    pairwise F1              {quality['pairwise_f1']:>12.4f}")
    else:
        print("  no truth to measure against (SIYU_TRUTH_DIR unset when built)")
    print("merge protection")
    for id_type, why, count, worst in excluded[["id_type", "exclusion_kind", "values_excluded", "worst"]].itertuples(
        index=False
    ):
        print(f"  {count:>6,} {id_type} values {why} (worst: {worst:,})")
    print(
        "customer id changes so far: "
        + (
            ", ".join(
                f"{kind} {count:,}" for kind, count in merges[["merge_kind", "id_changes"]].itertuples(index=False)
            )
            or "none"
        )
    )
    print(
        "customers by number of identifiers: "
        + ", ".join(f"{n}: {count:,}" for n, count in sizes[["identifiers", "customers"]].itertuples(index=False))
    )
    return 0
