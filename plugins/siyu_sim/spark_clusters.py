"""Run the Spark twin of int_identity_clusters through dbt on given identity graphs, for its test and the
clustering bench.

`cluster_on_spark` writes each graph as Parquet and runs `python -m siyu_sim.spark_clusters` in a
subprocess with its own Spark folder (Derby lets one process hold a metastore, and the caller keeps no
JVM). There, `dbt debug` opens the profile's local Spark session (target spark), the graph becomes the
tables intermediate.int_identity_nodes and int_identity_edges in that same session, and
`dbt run --select int_identity_clusters` builds the real model; its rows, the rounds it logged and the
tables left in the intermediate schema come back to the caller."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
DBT_PROJECT = REPO / "dbt_project"
ROUNDS_LOGGED = re.compile(r"identity clustering: converged in (\d+) rounds")


@dataclass
class Graph:
    """Nodes 0..n_nodes-1 (their keys sort as their ids, as int_identity_nodes numbers them) and edges."""

    n_nodes: int
    from_ids: np.ndarray
    to_ids: np.ndarray


def node_keys(n_nodes: int) -> list[str]:
    """The keys of nodes 0..n_nodes-1, sorting as their ids."""
    return [f"phone:{node_id:012d}" for node_id in range(n_nodes)]


@dataclass
class SparkClusters:
    """What one dbt run of the Spark twin gave: the model's rows (None when the run failed), the rounds it
    logged, its column types in Spark, the tables left in the intermediate schema, and its times."""

    success: bool
    clusters: pd.DataFrame | None
    rounds: int | None
    column_types: dict[str, str]
    intermediate_tables: list[str]
    model_seconds: float | None
    dbt_run_seconds: float
    messages: list[str] = field(default_factory=list)


def cluster_on_spark(
    graphs: dict[str, Graph], work_dir: Path, dbt_vars: dict[str, dict] | None = None, timeout: float = 3600
) -> dict[str, SparkClusters]:
    """Each graph clustered by the Spark twin of int_identity_clusters through `dbt run`, one dbt run per
    graph in one subprocess (one Spark start). `dbt_vars` gives a graph's run extra dbt vars."""
    work_dir.mkdir(parents=True, exist_ok=True)
    for name, graph in graphs.items():
        folder = work_dir / "graphs" / name
        folder.mkdir(parents=True, exist_ok=True)
        keys = node_keys(graph.n_nodes)
        pd.DataFrame(
            {
                "node_id": np.arange(graph.n_nodes, dtype=np.int64),
                "node_key": pd.Series(keys, dtype="string"),
                "id_type": pd.Series(["phone"] * graph.n_nodes, dtype="string"),
                "id_value": pd.Series([key.split(":", 1)[1] for key in keys], dtype="string"),
            }
        ).to_parquet(folder / "nodes.parquet", index=False)
        pd.DataFrame(
            {
                "from_node_id": np.asarray(graph.from_ids, dtype=np.int64),
                "to_node_id": np.asarray(graph.to_ids, dtype=np.int64),
            }
        ).to_parquet(folder / "edges.parquet", index=False)
    plan = [{"name": name, "vars": (dbt_vars or {}).get(name, {})} for name in graphs]
    (work_dir / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    (work_dir / "lake").mkdir(exist_ok=True)
    env = {
        **os.environ,
        "SIYU_SPARK_DIR": str(work_dir / "spark"),
        "SIYU_LAKE_DIR": str(work_dir / "lake"),
        "SIYU_PSEUDONYM_KEY": os.environ.get("SIYU_PSEUDONYM_KEY", "siyu-spark-clusters"),
    }
    completed = subprocess.run(
        [sys.executable, "-m", "siyu_sim.spark_clusters", str(work_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    (work_dir / "subprocess.log").write_text(completed.stdout + completed.stderr, encoding="utf-8")
    if completed.returncode != 0:
        raise RuntimeError(
            f"the Spark clustering run failed (log: {work_dir / 'subprocess.log'}):\n" + completed.stderr[-4000:]
        )
    outcomes = json.loads((work_dir / "results.json").read_text(encoding="utf-8"))
    results = {}
    for name, outcome in outcomes.items():
        rows = work_dir / "results" / name
        results[name] = SparkClusters(
            success=outcome["success"],
            clusters=pd.read_parquet(rows).sort_values("node_id", ignore_index=True) if outcome["success"] else None,
            rounds=outcome["rounds"],
            column_types=outcome["column_types"],
            intermediate_tables=outcome["intermediate_tables"],
            model_seconds=outcome["model_seconds"],
            dbt_run_seconds=outcome["dbt_run_seconds"],
            messages=outcome["messages"],
        )
    return results


def _run_plan(work_dir: Path) -> None:
    """In the subprocess: seed each graph's tables and build the model through dbt, in one Spark session."""
    from dbt.cli.main import dbtRunner
    from pyspark.sql import SparkSession

    from siyu.warehouse.spark import ensure_schema

    common = ["--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT), "--target", "spark"]
    paths = ["--target-path", str(work_dir / "target"), "--log-path", str(work_dir / "logs")]
    # dbt opens the profile's Spark session; the builder below then returns that same session.
    if not dbtRunner().invoke(["debug", *common, "--log-path", str(work_dir / "logs")]).success:
        raise SystemExit("dbt debug failed on the spark target")
    # Parsed once: a second parse in the same process fails on dbt's state from the first (dbt 1.11).
    parsed = dbtRunner().invoke(["parse", *common, *paths])
    if not parsed.success:
        raise SystemExit("dbt parse failed on the spark target")
    spark = SparkSession.builder.getOrCreate()
    ensure_schema(spark, "intermediate")
    outcomes = {}
    for step in json.loads((work_dir / "plan.json").read_text(encoding="utf-8")):
        name, graph = step["name"], work_dir / "graphs" / step["name"]
        for table in ("nodes", "edges"):
            frame = spark.read.parquet(str(graph / f"{table}.parquet"))
            frame.write.mode("overwrite").format("parquet").saveAsTable(f"intermediate.int_identity_{table}")
        messages: list[str] = []

        def collect(event, messages=messages) -> None:
            if event.info.name in ("JinjaLogInfo", "RunResultError", "RunResultErrorNoMessage"):
                messages.append(event.info.msg)

        began = time.perf_counter()
        result = dbtRunner(manifest=parsed.result, callbacks=[collect]).invoke(
            ["run", *common, *paths, "--select", "int_identity_clusters", "--vars", json.dumps(step["vars"])]
        )
        elapsed = time.perf_counter() - began
        rounds = [int(match.group(1)) for message in messages if (match := ROUNDS_LOGGED.search(message))]
        node_results = [node for node in (result.result or []) if node.node.unique_id.startswith("model.")]
        success = bool(result.success) and len(node_results) == 1
        column_types = {}
        if success:
            clusters = spark.table("intermediate.int_identity_clusters")
            column_types = dict(clusters.dtypes)
            clusters.write.mode("overwrite").parquet(str(work_dir / "results" / name))
        outcomes[name] = {
            "success": success,
            "rounds": rounds[-1] if rounds else None,
            "column_types": column_types,
            "intermediate_tables": sorted(table.name for table in spark.catalog.listTables("intermediate")),
            "model_seconds": node_results[0].execution_time if node_results else None,
            "dbt_run_seconds": elapsed,
            "messages": messages,
        }
        (work_dir / "results.json").write_text(json.dumps(outcomes, indent=1), encoding="utf-8")


if __name__ == "__main__":
    _run_plan(Path(sys.argv[1]))
