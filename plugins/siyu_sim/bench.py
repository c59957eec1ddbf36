"""`make bench`: measure what the issues ask at the scale they name and write it to BENCHMARKS.md."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import platform
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

import yaml

from siyu_sim.daily import bench_daily
from siyu_sim.world.generate import generate
from siyu_sim.world.spec import WorldSpec

REPO = Path(__file__).resolve().parents[2]
log = logging.getLogger(__name__)
BENCHMARKS = REPO / "BENCHMARKS.md"


def write_section(name: str, body: str, path: Path = BENCHMARKS) -> None:
    """Replace the section between `<!-- bench:name -->` markers, keeping the rest of the file."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    block = f"{begin}\n{body.strip()}\n{end}"
    if begin in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def bench_world(scale: int, seed: int) -> str:
    out = Path(tempfile.mkdtemp(prefix="siyu-bench-world-"))
    try:
        began = time.perf_counter()
        manifest = generate(WorldSpec(scale=scale, seed=seed), out)
        elapsed = time.perf_counter() - began
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    finally:
        shutil.rmtree(out, ignore_errors=True)
    steps = " | ".join(f"{k} {v:.1f}s" for k, v in manifest["timings"].items() if k != "total")
    tables = manifest["tables"]
    return (
        f"## World generation (`siyu world generate --scale {scale:,}`)\n\n"
        f"Measured {date.today()} on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        f" by `make bench SCALE={scale}`.\n\n"
        f"| scale | seed | wall time | written | orders | messages | friendships |\n"
        f"| --- | --- | --- | --- | --- | --- | --- |\n"
        f"| {scale:,} | {seed} | **{elapsed:.1f} s** | {size / 1e6:,.0f} MB | {tables['shop/orders']:,} "
        f"| {tables['wecom/messages']:,} | {tables['wecom/follow_relations']:,} |\n\n"
        f"Steps: {steps}.\n\nTarget (issue 3): under 120 s at 1,000,000 persons."
    )


def pipeline_root(scale: int) -> Path:
    return REPO / "data" / "bench" / f"quality-{scale}"


def pipeline_identity_graph(scale: int, warehouse: Path | None = None):
    """The identity graph dbt built in the pipeline bench at this scale (or in `warehouse`): (node count,
    from ids, to ids)."""
    import duckdb
    import numpy as np

    warehouse = warehouse or pipeline_root(scale) / "warehouse" / "siyu.duckdb"
    if not warehouse.exists():
        raise SystemExit(f"no pipeline warehouse at {warehouse}: run `make bench-pipeline SCALE={scale}` first")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        n_nodes = con.sql("select count(*) from intermediate.int_identity_nodes").fetchall()[0][0]
        edges = con.sql("select from_node_id, to_node_id from intermediate.int_identity_edges").fetchnumpy()
    return n_nodes, edges["from_node_id"].astype(np.int64), edges["to_node_id"].astype(np.int64)


def bench_identity(scale: int, seed: int, repeats: int = 3) -> str:
    """The clustering step (siyu.identity.connected_clusters, as int_identity_clusters runs it) beside
    scipy's connected_components alone, on the same integer edge list: the identity graph dbt built in
    the pipeline bench at this scale (int_identity_nodes, int_identity_edges)."""
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from siyu.identity import connected_clusters

    n_nodes, from_ids, to_ids = pipeline_identity_graph(scale)
    keys = np.arange(n_nodes)

    def ours() -> None:
        cluster_id, _ = connected_clusters(n_nodes, from_ids, to_ids)
        keys[cluster_id]  # the key lookup the dbt model does after clustering

    def scipy_alone() -> None:
        matrix = coo_matrix((np.ones(len(from_ids), dtype=np.int8), (from_ids, to_ids)), shape=(n_nodes, n_nodes))
        connected_components(matrix, directed=False)

    timings = {}
    for name, step in (("siyu clustering step", ours), ("scipy connected_components", scipy_alone)):
        runs = []
        for _ in range(repeats):
            started = time.perf_counter()
            step()
            runs.append(time.perf_counter() - started)
        timings[name] = min(runs)
    ratio = timings["siyu clustering step"] / timings["scipy connected_components"]
    return (
        f"## Identity clustering at {scale:,} persons\n\n"
        f"Measured {date.today()} on {platform.machine()}, {os.cpu_count()} cores by `make bench SCALE={scale}`: "
        f"the identity graph dbt built in the pipeline bench below ({n_nodes:,} identifiers, {len(from_ids):,} "
        f"edges, seed {seed}), best of {repeats}.\n\n"
        f"| step | seconds |\n| --- | --- |\n"
        + "".join(f"| {name} | {seconds:.3f} |\n" for name, seconds in timings.items())
        + f"\nRatio: **{ratio:.2f}×** scipy alone (target, issue 5: at most 3×)."
    )


def identity_sources_root(scale: int) -> Path:
    return REPO / "data" / "bench" / f"identity-{scale}"


def build_identity_sources_graph(scale: int, seed: int) -> dict[str, float]:
    """The identity graph without the whole pipeline: the world (kept from an earlier run with the same scale
    and seed), only the sources int_identifiers_observed reads landed (siyu_sim.replay.land_identity_sources),
    then `dbt build --select +int_identity_edges +int_identity_nodes` on DuckDB. The same models, sources and
    merge protection as the pipeline bench, so the same graph as a pipeline bench with `--snapshot-every-days
    0` (one friendship snapshot). Returns the seconds of each stage."""
    import pandas as pd

    from siyu.transform import dbt_build
    from siyu_sim.replay import land_identity_sources
    from siyu_sim.server import RunningSimulators

    root = identity_sources_root(scale)
    world = root / "world"
    timings: dict[str, float] = {}
    meta = world / "world.json"
    kept = json.loads(meta.read_text(encoding="utf-8")) if meta.exists() else {}
    began = time.perf_counter()
    if (kept.get("scale"), kept.get("seed")) != (scale, seed):
        shutil.rmtree(world, ignore_errors=True)
        generate(WorldSpec(scale=scale, seed=seed), world)
        timings["generate the world"] = time.perf_counter() - began
    for folder in ("lake", "drops", "warehouse"):
        shutil.rmtree(root / folder, ignore_errors=True)
    began = time.perf_counter()
    with RunningSimulators(world) as sim:
        land_identity_sources(sim, world, root / "lake", root / "drops")
    timings["land the identity sources (WeCom friendships, contacts, groups; shop orders, buyers; store)"] = (
        time.perf_counter() - began
    )
    # The brand lists its stores' counter phones (var identity_shared_phones), as the pipeline bench does.
    stores = pd.read_parquet(world / "store" / "stores.parquet", columns=["counter_phone"])
    shared_phones = {"identity_shared_phones": sorted(stores["counter_phone"].dropna().unique().tolist())}
    began = time.perf_counter()
    result = dbt_build(
        root / "lake",
        root / "warehouse" / "siyu.duckdb",
        truth=world / "truth",
        select="+int_identity_edges +int_identity_nodes",
        dbt_vars=shared_phones,
        unit_tests=False,
    )
    if not result.success:
        raise RuntimeError(f"dbt build of the identity graph failed: {result.failures}")
    timings["dbt build --select +int_identity_edges +int_identity_nodes (DuckDB, with their data tests)"] = (
        time.perf_counter() - began
    )
    return timings


def bench_identity_spark(scale: int, seed: int, graph: str = "pipeline") -> str:
    """The clustering step on Spark: the same identity graph as bench_identity, clustered by the Spark twin
    of int_identity_clusters (large-star/small-star, macros/spark_clusters.sql) through `dbt run --target
    spark` in local mode (siyu_sim.spark_clusters), with its rounds; its clusters must equal scipy's.
    `graph`: "pipeline" reads the graph the pipeline bench built; "identity-sources" builds it first
    (build_identity_sources_graph)."""
    import numpy as np

    from siyu.identity import connected_clusters
    from siyu_sim.spark_clusters import Graph, cluster_on_spark, node_keys

    if graph == "identity-sources":
        graph_timings = build_identity_sources_graph(scale, seed)
        warehouse = identity_sources_root(scale) / "warehouse" / "siyu.duckdb"
        origin = (
            "the identity graph built by `dbt build --select +int_identity_edges +int_identity_nodes` on DuckDB "
            "over a lake holding only the sources those models read, landed from the world through the "
            "simulators (siyu_sim.replay.land_identity_sources: the buyers' users.info.query answered in process, "
            "the rest over HTTP; one friendship snapshot, as the 1M pipeline bench's `--snapshot-every-days 0`)"
        )
    else:
        graph_timings, warehouse = {}, None
        origin = "the identity graph of the pipeline bench"
    n_nodes, from_ids, to_ids = pipeline_identity_graph(scale, warehouse)
    started = time.perf_counter()
    cluster_id, cluster_size = connected_clusters(n_nodes, from_ids, to_ids)
    scipy_seconds = time.perf_counter() - started
    work_dir = Path(tempfile.mkdtemp(prefix="siyu-bench-spark-"))
    try:
        started = time.perf_counter()
        run = cluster_on_spark({"identity": Graph(n_nodes, from_ids, to_ids)}, work_dir)["identity"]
        total_seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    if not run.success:
        raise RuntimeError(f"the Spark clustering run failed: {run.messages}")
    keys = np.array(node_keys(n_nodes), dtype=object)
    wrong = int((run.clusters["cluster_key"].to_numpy(dtype=object) != keys[cluster_id]).sum())
    wrong += int((run.clusters["cluster_size"].to_numpy() != cluster_size).sum())
    if len(run.clusters) != n_nodes or wrong:
        raise RuntimeError(f"Spark's clusters differ from scipy's: {len(run.clusters):,} rows, {wrong:,} wrong")
    spark_master = os.environ.get("SIYU_SPARK_MASTER", "local[2]")
    driver_memory = os.environ.get("SIYU_SPARK_DRIVER_MEMORY", "4g")
    command = f"python -m siyu_sim.bench --only identity-spark --scale {scale} --graph {graph}"
    graph_steps = (
        "Building the graph: "
        + "; ".join(f"{name} {seconds:.1f} s" for name, seconds in graph_timings.items())
        + ".\n\n"
        if graph_timings
        else ""
    )
    return (
        f"## Identity clustering on Spark at {scale:,} persons\n\n"
        f"Measured {date.today()} on {platform.machine()}, {os.cpu_count()} cores by `{command}` "
        f"(SIYU_SPARK_DRIVER_MEMORY={driver_memory}): {origin} ({n_nodes:,} identifiers, {len(from_ids):,} edges, "
        f"seed {seed}) clustered by the Spark twin of int_identity_clusters through `dbt run --target spark` "
        f"(Spark local mode, {spark_master}); its clusters equal scipy's for every identifier.\n\n"
        + graph_steps
        + f"| step | seconds |\n| --- | --- |\n"
        f"| scipy (siyu.identity.connected_clusters, the DuckDB target's step) | {scipy_seconds:.3f} |\n"
        f"| Spark: the model (large-star/small-star, **{run.rounds} rounds**) | {run.model_seconds:.1f} |\n"
        f"| Spark: the `dbt run` around it | {run.dbt_run_seconds:.1f} |\n"
        f"| Spark: all, with Spark's start and loading the graph | {total_seconds:.1f} |\n"
    )


def dbt_run_results(target: Path) -> list[dict]:
    """The node results of the last dbt invocation in `target` (run_results.json)."""
    return json.loads((target / "run_results.json").read_text(encoding="utf-8"))["results"]


def slowest_models(results: list[dict], count: int = 8) -> list[tuple[str, float]]:
    """The `count` models of a dbt invocation's results that took longest."""
    models = [
        (result["unique_id"].split(".", 2)[2], float(result.get("execution_time") or 0.0))
        for result in results
        if result["unique_id"].startswith("model.")
    ]
    return sorted(models, key=lambda item: -item[1])[:count]


def dbt_layer_timings(results: list[dict]) -> dict[str, float]:
    """Seconds per layer of the project (staging, identity, segments, KPIs, audiences, tests) in a dbt
    invocation's results."""
    layers: dict[str, float] = {}
    for result in results:
        unique_id = result["unique_id"]
        kind, _, name = unique_id.split(".", 2)
        if kind in ("test", "unit_test"):
            layer = "data and unit tests"
        elif name.startswith("stg_"):
            layer = "staging"
        elif kind == "seed":
            layer = "seeds"
        elif name.startswith(("int_identi", "customer_identifiers", "customer_merges", "dim_customers", "identity_")):
            layer = "identity and profile"
        elif name.startswith(("kpi_", "int_kpi", "int_guides", "int_group_member")):
            layer = "KPI marts"
        elif name.startswith(("aud", "int_audience", "prep_audience")):
            layer = "audiences"
        elif name in ("customer_clv", "prep_clv_inputs", "clv_calibration", "prep_clv_calibration_inputs"):
            layer = "CLV (pymc-marketing)"
        elif name.startswith(("customer_", "int_customer")):
            layer = "segments and tags"
        else:
            layer = "orders and other marts"
        layers[layer] = layers.get(layer, 0.0) + float(result.get("execution_time") or 0.0)
    return dict(sorted(layers.items(), key=lambda item: -item[1]))


def pipeline_section(
    scale: int, seed: int, snapshot_every_days: int | None, timings: dict[str, float], running: str | None = None
) -> str:
    """The pipeline bench's BENCHMARKS.md section from the stage timings so far and, once dbt has built
    the warehouse, identity quality and the dbt build by layer. `running` names the stage still under way
    (the section is written after every stage, so a run stopped midway keeps what it measured)."""
    root = pipeline_root(scale)
    command = (
        f"python -m siyu_sim.bench --only quality --scale {scale} --snapshot-every-days {snapshot_every_days or 0}"
    )
    body = (
        f"## The pipeline and identity quality at {scale:,} persons\n\n"
        f"Measured {date.today()} on {platform.machine()}, {os.cpu_count()} cores by `{command}` (seed {seed}).\n\n"
        f"| step | seconds |\n| --- | --- |\n"
        + "".join(f"| {name} | {seconds:.1f} |\n" for name, seconds in timings.items())
        + (f"| {running} | (still running when this was written) |\n" if running else "")
    )
    target = root / "warehouse" / "dbt_target"
    if not any(name.startswith("dbt build") for name in timings) or not (target / "run_results.json").exists():
        return body
    from siyu.warehouse import identity_quality, open_warehouse

    with open_warehouse(root / "warehouse" / "siyu.duckdb") as warehouse:
        quality = identity_quality(warehouse)
    project = yaml.safe_load((REPO / "dbt_project" / "dbt_project.yml").read_text(encoding="utf-8"))
    link_limit = max(project["vars"]["identity_link_limits"].values())
    results = dbt_run_results(target)
    layers = dbt_layer_timings(results)
    return (
        body + f"\n| measure | value |\n| --- | --- |\n"
        f"| customers | {int(quality['customers']):,} |\n"
        f"| true persons behind the evaluated identifiers | {int(quality['true_persons']):,} |\n"
        f"| pairwise precision | {quality['pairwise_precision']:.4f} |\n"
        f"| pairwise recall | {quality['pairwise_recall']:.4f} |\n"
        f"| pairwise F1 | {quality['pairwise_f1']:.4f} |\n"
        f"| largest cluster (identifiers) | {int(quality['largest_cluster'])} |\n"
        f"| clusters with more strong identifiers of a type than its link limit | "
        f"{int(quality['clusters_over_limit'])} |\n"
        f"| values excluded by merge protection | {int(quality['excluded_values'])} |\n"
        f"\nTarget (issue 5): F1 ≥ 0.99, precision ≥ 0.995, no cluster above the merge limit "
        f"(var identity_link_limits, at most {link_limit} strong identifiers of a type).\n\n"
        f"dbt build by layer (sum of node execution times, 2 threads; run_results.json):\n\n"
        f"| layer | seconds |\n| --- | --- |\n"
        + "".join(f"| {k} | {v:.1f} |\n" for k, v in layers.items())
        + "\nThe slowest models:\n\n| model | seconds |\n| --- | --- |\n"
        + "".join(f"| {name} | {seconds:.1f} |\n" for name, seconds in slowest_models(results))
    )


def bench_identity_quality(scale: int, seed: int, snapshot_every_days: int | None = 7) -> str:
    """The whole pipeline, stage by stage, and identity quality against truth, on a world of `scale`
    persons: its sources pulled through the real connectors from the simulators (WeCom friendships
    snapshotted every `snapshot_every_days` days, as a daily ingest_wecom would have kept them), the raw
    quality gates over the lake, a full dbt build, activation and the report. The stages run as the DAG
    tasks do, without Airflow's scheduling around them. BENCHMARKS.md is updated after every stage."""
    import pandas as pd

    from siyu.activation import export_audiences, record_sends, validate_audiences, writeback_tags
    from siyu.connectors.wecom import WeComClient, WeComConfig
    from siyu.quality.raw_suites import validate_lake
    from siyu.report import render
    from siyu.transform import dbt_build
    from siyu_sim.replay import land_world, replay_request_budget
    from siyu_sim.server import RunningSimulators

    root = pipeline_root(scale)
    shutil.rmtree(root, ignore_errors=True)
    world, warehouse = root / "world", root / "warehouse" / "siyu.duckdb"
    timings: dict[str, float] = {}

    def stage(name: str, step):
        label = name.split(" (")[0] if "{" in name else name
        write_section(f"quality-{scale}", pipeline_section(scale, seed, snapshot_every_days, timings, running=label))
        log.info("bench: %s", name)
        began = time.perf_counter()
        result = step()
        timings[name.format(result=result)] = time.perf_counter() - began
        return result

    stage("generate the world", lambda: generate(WorldSpec(scale=scale, seed=seed), world))

    def land():
        with RunningSimulators(world) as sim:
            return land_world(sim, world, root / "lake", root / "drops", snapshot_every_days)

    counts = stage("land the lake through the simulators", land)
    timings[f"land the lake ({counts['contact_snapshots']} friendship snapshots + the full pull)"] = timings.pop(
        "land the lake through the simulators"
    )
    stage("raw quality gates (Great Expectations, {result:,} validations)", lambda: len(validate_lake(root / "lake")))
    # The brand lists its stores' counter phones (var identity_shared_phones), as dbt_project.yml asks.
    stores = pd.read_parquet(world / "store" / "stores.parquet", columns=["counter_phone"])
    shared_phones = {"identity_shared_phones": sorted(stores["counter_phone"].dropna().unique().tolist())}
    result = stage(
        "dbt build (all models and tests)",
        lambda: dbt_build(root / "lake", warehouse, truth=world / "truth", dbt_vars=shared_phones),
    )
    if not result.success:
        raise RuntimeError(f"dbt build failed: {result.failures}")
    day = date.fromisoformat(json.loads((world / "world.json").read_text())["start"]).replace(month=12, day=31)

    def activate():
        validate_audiences(warehouse)
        export_audiences(warehouse, root / "exports", day, "bench")
        record_sends(warehouse, day, "bench")

    stage("activation: audience quality gate, exports, sends", activate)

    def writeback():
        with RunningSimulators(world) as sim:
            creds = sim.credentials
            config = WeComConfig(
                sim.base_url, creds["corp_id"], creds["corp_secret"], request_budget=replay_request_budget(scale)
            )
            with WeComClient(config) as client:
                return writeback_tags(warehouse, client).mark_tag_calls

    stage("activation: WeCom tag writeback ({result:,} mark_tag calls)", writeback)
    stage("analyst report", lambda: render(warehouse, root / "report"))
    return pipeline_section(scale, seed, snapshot_every_days, timings)


def main() -> None:
    parser = argparse.ArgumentParser(description="siyu benchmarks")
    parser.add_argument("--scale", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--only", choices=["world", "identity", "identity-spark", "quality", "daily"], default=None)
    parser.add_argument(
        "--graph",
        choices=["pipeline", "identity-sources"],
        default="pipeline",
        help="identity-spark's graph: the pipeline bench's warehouse, or only the identity sources landed and built",
    )
    parser.add_argument(
        "--snapshot-every-days",
        type=int,
        default=7,
        help="the pipeline bench snapshots WeCom friendships this often over the world's year (0: only the last day)",
    )
    parser.add_argument(
        "--daily-runs", type=int, default=30, help="the daily bench lands and builds this many days after the history"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the progress lines
    benches = {  # in this order: the clustering bench reads the graph the pipeline bench built
        "world": bench_world,
        "quality": functools.partial(bench_identity_quality, snapshot_every_days=args.snapshot_every_days or None),
        "identity": bench_identity,
        "identity-spark": functools.partial(bench_identity_spark, graph=args.graph),
        "daily": functools.partial(bench_daily, runs=args.daily_runs),
    }
    for name, bench in benches.items():
        # The daily bench runs only when named: `make bench` runs it apart, at its own scale (DAILY_SCALE).
        if (args.only and name != args.only) or (not args.only and name == "daily"):
            continue
        body = bench(args.scale, args.seed)
        write_section(f"{name}-{args.scale}", body)
        print(body)
    print(json.dumps({"written": str(BENCHMARKS)}))


if __name__ == "__main__":
    main()
