"""`siyu identity-report`: identity quality, merge protection and recent merges, from the warehouse."""

from __future__ import annotations

import sys
from pathlib import Path


def print_report(warehouse: Path) -> int:
    import duckdb

    if not warehouse.exists():
        print(f"no warehouse at {warehouse}: run the transform (make demo) or set SIYU_WAREHOUSE", file=sys.stderr)
        return 1
    with duckdb.connect(str(warehouse), read_only=True) as con:
        quality = con.sql("select * from marts.identity_quality").df().iloc[0]
        excluded = con.sql("""
            select id_type,
                   case when reason like 'links%' then 'link too many strong identifiers'
                        else 'typed on too many receipts' end as why,
                   count(*) as values_excluded,
                   max(greatest(strong_identifiers_linked, receipts)) as worst
            from marts.identity_excluded_values group by all order by values_excluded desc""").fetchall()
        merges = con.sql("""select split_part(reason, ':', 1) as kind, count(*) from marts.customer_merges
                            group by 1 order by 1""").fetchall()
        sizes = con.sql("""select identifiers, count(*) from (select customer_id, count(*) as identifiers
                           from marts.customer_identifiers group by 1) group by 1 order by 1 limit 12""").fetchall()
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
    for id_type, why, count, worst in excluded:
        print(f"  {count:>6,} {id_type} values {why} (worst: {worst:,})")
    print("customer id changes so far: " + (", ".join(f"{kind} {count:,}" for kind, count in merges) or "none"))
    print("customers by number of identifiers: " + ", ".join(f"{n}: {count:,}" for n, count in sizes))
    return 0
