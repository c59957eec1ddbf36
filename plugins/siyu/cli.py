"""The `siyu` command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from datetime import date
from pathlib import Path

# --warehouse: a DuckDB file; with engine spark, the Spark folder is SIYU_SPARK_DIR, else spark/ beside it.
WAREHOUSE_HELP = (
    "the DuckDB warehouse file (default: SIYU_WAREHOUSE); engine spark: its Spark folder is spark/ beside it, "
    "or SIYU_SPARK_DIR (through a Thrift server the tables are the server's)"
)


def _world_generate(args: argparse.Namespace) -> int:
    from siyu_sim.world.generate import generate
    from siyu_sim.world.spec import WorldSpec

    manifest = generate(WorldSpec(scale=args.scale, seed=args.seed), Path(args.out))
    print(
        json.dumps(
            {"out": args.out, "timings": manifest["timings"], "tables": manifest["tables"]},
            ensure_ascii=False,
            indent=2,
        )
    )
    return 0


def _sim_serve(args: argparse.Namespace) -> int:
    from siyu_sim.server import serve

    serve(
        Path(args.world),
        host=args.host,
        port=args.port,
        now=args.now,
        fault_rate=args.faults,
        fault_seed=args.fault_seed,
    )
    return 0


def _sim_drops(args: argparse.Namespace) -> int:
    from siyu_sim.drops import write_archive, write_store_drops, write_visits

    world, out = Path(args.world), Path(args.out)
    summary = {
        "store": write_store_drops(world, out, args.first_day, args.last_day),
        "archive": write_archive(world, out, args.first_day, args.last_day),
        "tracking": write_visits(world, out, args.first_day, args.last_day),
    }
    print(json.dumps(summary, indent=2))
    return 0


def _identity_report(args: argparse.Namespace) -> int:
    from siyu.identity_report import print_report
    from siyu.transform import warehouse_path

    return print_report(Path(args.warehouse) if args.warehouse else warehouse_path())


def _import(args: argparse.Namespace) -> int:
    from siyu.ingest.history import ImportRefused, import_history, parse_mapping
    from siyu.quality.raw_suites import RawQualityError
    from siyu.settings import drop_dir, lake_root

    try:
        summary = import_history(
            args.kind,
            [Path(name) for name in args.files],
            lake=Path(args.lake) if args.lake else lake_root(),
            drops=Path(args.drop_dir) if args.drop_dir else drop_dir(),
            mapping=parse_mapping(args.map, Path(args.mapping) if args.mapping else None),
            replace=args.replace,
            snapshot_date=args.snapshot_date,
        )
    except ImportRefused as refused:
        print(f"siyu import: {refused}", file=sys.stderr)
        return 2
    except RawQualityError as failed:
        print(f"siyu import: landed, but the raw gate failed:\n{failed}", file=sys.stderr)
        return 1
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0 if summary["accounted"] else 1


def _build(args: argparse.Namespace) -> int:
    from siyu.ingest.history import build_history
    from siyu.settings import lake_root
    from siyu.transform import LakeNotReady, warehouse_path

    truth = os.environ.get("SIYU_TRUTH_DIR")  # identity quality measured against it (README, environment)
    try:
        result = build_history(
            Path(args.lake) if args.lake else lake_root(),
            Path(args.warehouse) if args.warehouse else warehouse_path(),
            args.as_of,
            args.history_from,
            truth=Path(truth) if truth else None,
            quiet=True,
        )
    except LakeNotReady as not_ready:
        print(f"siyu build: {not_ready}", file=sys.stderr)
        return 2
    print(
        json.dumps({"success": result.success, "results": result.results, "failures": result.failures[:20]}, indent=2)
    )
    return 0 if result.success else 1


def _identifier(args: argparse.Namespace) -> str:
    """The identifier argument, or a line of standard input for `-` (keeps it out of the shell's history)."""
    return sys.stdin.readline().strip() if args.identifier == "-" else args.identifier


def _erase(args: argparse.Namespace) -> int:
    import os

    from siyu.privacy import erase, request_erasure
    from siyu.settings import exports_dir, lake_root
    from siyu.transform import warehouse_path

    lake = Path(args.lake) if args.lake else lake_root()
    client = None
    if not args.skip_wecom and not args.queue:
        # Checked before the request is recorded: a request file holds her identifier until it is done.
        from siyu.connectors.wecom import WeComClient
        from siyu.settings import wecom_config

        try:
            client = WeComClient(wecom_config())
        except Exception as missing:
            print(
                f"siyu erase: no WeCom connection ({missing}); set connection wecom_default to remove her tags "
                "in WeCom, or pass --skip-wecom (e.g. on the demo's data, whose simulators have stopped), or "
                "--queue to leave the request to the erase DAG. Nothing was recorded.",
                file=sys.stderr,
            )
            return 2
    request = request_erasure(_identifier(args), args.type, lake)
    # dbt records the command line that started it (run_results.json, dbt.log): never her identifier.
    sys.argv = [sys.argv[0], "erase", "(identifier withheld)"]
    if args.queue:
        print(json.dumps({"request_id": request.request_id, "received_at": request.received_at, "queued": True}))
        return 0
    truth = os.environ.get("SIYU_TRUTH_DIR")
    try:
        [record] = erase(
            request,
            lake=lake,
            warehouse=Path(args.warehouse) if args.warehouse else warehouse_path(),
            exports=Path(args.exports) if args.exports else exports_dir(),
            wecom_client=client,
            truth=Path(truth) if truth else None,
        )
    except Exception as failed:
        print(f"siyu erase: request {request.request_id} stays queued for the erase DAG: {failed}", file=sys.stderr)
        return 1
    finally:
        if client is not None:
            client.close()
    print(json.dumps(record, ensure_ascii=False, indent=2))
    return 0


def _consent(args: argparse.Namespace) -> int:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from siyu.config import load_settings
    from siyu.privacy import record_consent
    from siyu.settings import lake_root

    at = datetime.fromisoformat(args.at) if args.at else datetime.now(ZoneInfo(load_settings().timezone))
    consent = "opt_out" if args.opt_out else "opt_in"
    lake = Path(args.lake) if args.lake else lake_root()
    event_id = record_consent(_identifier(args), consent, args.source, at, lake)
    print(json.dumps({"event_id": event_id, "consent": consent, "source": args.source, "at": at.isoformat()}))
    return 0


def _subject_access(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from siyu.privacy import subject_access
    from siyu.pseudonyms import privacy_dir
    from siyu.settings import lake_root
    from siyu.transform import warehouse_path

    lake = Path(args.lake) if args.lake else lake_root()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out) if args.out else privacy_dir(lake) / "access" / stamp
    try:
        report = subject_access(
            _identifier(args),
            args.type,
            lake=lake,
            warehouse=Path(args.warehouse) if args.warehouse else warehouse_path(),
            out=out,
        )
    except LookupError as missing:
        print(f"siyu subject-access: {missing}", file=sys.stderr)
        return 2
    print(json.dumps({"out": str(out), "sources": report["sources"]}, ensure_ascii=False, indent=2))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from siyu_sim.demo import run_demo

    return run_demo(scale=args.scale, seed=args.seed, data_dir=Path(args.data_dir))


def _airflow_standalone(args: argparse.Namespace) -> int:
    from siyu_sim.demo import run_airflow

    return run_airflow(
        args.scale, args.seed, Path(args.data_dir), args.port, args.host, args.parallelism, fresh=args.fresh
    )


def _report(args: argparse.Namespace) -> int:
    from siyu.report import render
    from siyu.transform import warehouse_path

    page = render(Path(args.warehouse) if args.warehouse else warehouse_path(), Path(args.out))
    print(page)
    return 0


def _docs(args: argparse.Namespace) -> int:
    from siyu.settings import lake_root
    from siyu.transform import dbt_docs, warehouse_path

    data_dir = Path(args.data_dir) if args.data_dir else None
    lake = Path(args.lake) if args.lake else (data_dir / "lake" if data_dir else lake_root())
    warehouse = Path(args.warehouse) if args.warehouse else None
    warehouse = warehouse or (data_dir / "warehouse" / "siyu.duckdb" if data_dir else warehouse_path())
    out = Path(args.out) if args.out else (data_dir / "dbt_docs" if data_dir else Path("data/dbt_docs"))
    if not warehouse.exists():
        print(f"siyu docs: no warehouse at {warehouse}: build it first (make demo, siyu build)", file=sys.stderr)
        return 2
    page = dbt_docs(lake, warehouse, out)
    print(f"dbt docs: {page.resolve()} (one file: open it in a browser)")
    if args.serve:
        import functools
        from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

        handler = functools.partial(SimpleHTTPRequestHandler, directory=str(out))
        with ThreadingHTTPServer((args.host, args.port), handler) as server:
            print(f"serving dbt docs at http://{args.host}:{server.server_address[1]}/ (Ctrl-C stops)", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                server.serve_forever()
    return 0


def _sql(args: argparse.Namespace) -> int:
    import duckdb

    from siyu.config import load_settings
    from siyu.transform import warehouse_path

    warehouse = Path(args.warehouse) if args.warehouse else warehouse_path()
    if load_settings().engine == "spark":
        return _spark_sql(args, warehouse)
    if not warehouse.exists():
        print(f"siyu sql: no warehouse at {warehouse}", file=sys.stderr)
        return 2
    with duckdb.connect(str(warehouse), read_only=True) as con:
        try:
            relation = con.sql(args.query)
        except duckdb.Error as error:
            print(f"siyu sql: {error}", file=sys.stderr)
            return 1
        if relation is not None:
            if args.csv:
                relation.df().to_csv(sys.stdout, index=False)
            else:
                relation.show(max_rows=args.max_rows, max_width=200)
    return 0


def _spark_sql(args: argparse.Namespace, warehouse: Path) -> int:
    """`siyu sql` on Spark's tables (engine spark; docs/spark.md): the query runs on the local Spark session, or
    on the Thrift server (SIYU_SPARK_METHOD thrift)."""
    from siyu.warehouse.spark import SparkSQLError, SparkUnavailable, connect, method, spark_dir

    folder = spark_dir(warehouse)
    try:
        if method() == "session" and not (folder / "metastore_db").exists():
            print(f"siyu sql: no Spark warehouse at {folder}: build it first (siyu build)", file=sys.stderr)
            return 2
        sql = connect(folder)
    except SparkUnavailable as error:
        print(f"siyu sql: {error}", file=sys.stderr)
        return 2
    try:
        frame = sql.frame(args.query)
    except SparkSQLError as error:
        print(f"siyu sql: {error}", file=sys.stderr)
        return 1
    finally:
        sql.close()
    if args.csv:
        frame.to_csv(sys.stdout, index=False)
    else:
        print(frame.head(args.max_rows).to_string(index=False, max_colwidth=60))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The `siyu` command line: every option says what it does (tests/test_readme.py checks)."""
    parser = argparse.ArgumentParser(
        prog="siyu", description="siyu: a customer data platform for WeCom private domains"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    world = commands.add_parser("world", help="the synthetic retail world").add_subparsers(dest="action", required=True)
    generate = world.add_parser("generate", help="generate a world with ground truth")
    generate.add_argument("--scale", type=int, default=20_000, help="number of true persons (default 20000)")
    generate.add_argument("--seed", type=int, default=42, help="same seed, same world, byte for byte")
    generate.add_argument("--out", required=True, help="output folder")
    generate.set_defaults(func=_world_generate)

    sim = commands.add_parser("sim", help="simulated WeCom, Youzan and store sources").add_subparsers(
        dest="action", required=True
    )
    serve = sim.add_parser("serve", help="serve the WeCom and Youzan simulators on loopback")
    serve.add_argument("--world", required=True, help="folder of a generated world (siyu world generate --out)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8765, help="port for both APIs (default 8765)")
    serve.add_argument("--now", type=int, default=None, help="simulated clock, unix seconds (default: world end)")
    serve.add_argument("--faults", type=float, default=0.0, help="share of requests that fail (0-1)")
    serve.add_argument("--fault-seed", type=int, default=0, help="seed of the fault sequence (default 0)")
    serve.set_defaults(func=_sim_serve)
    drops = sim.add_parser("drops", help="write store CSV drops and session-archive JSONL")
    drops.add_argument("--world", required=True, help="folder of a generated world")
    drops.add_argument("--out", required=True, help="drop folder to write pos/, members/, archive/, tracking/ into")
    drops.add_argument("--first-day", type=int, default=0, help="first day index of the period")
    drops.add_argument(
        "--last-day", type=int, default=None, help="last day index of the period, inclusive (default: the world's last)"
    )
    drops.set_defaults(func=_sim_drops)

    report = commands.add_parser("identity-report", help="print identity quality and merge protection")
    report.add_argument("--warehouse", default=None, help=WAREHOUSE_HELP)
    report.set_defaults(func=_identity_report)

    history = commands.add_parser(
        "import", help='import history exports (CSV or Parquet) into the lake: README "Importing history"'
    )
    history.add_argument("kind", help="pos, members, shop-orders, shop-items, groups or group-members")
    history.add_argument("files", nargs="+", help="export files (.csv in UTF-8, UTF-8 with BOM or GBK; .parquet)")
    history.add_argument("--map", action="append", metavar="VENDOR=SIYU", help="rename a vendor column (repeatable)")
    history.add_argument("--mapping", default=None, help="YAML file of vendor column: siyu column")
    history.add_argument("--lake", default=None, help="raw lake (default: SIYU_LAKE_DIR)")
    history.add_argument("--drop-dir", default=None, help="store drop folder for pos/members (default: SIYU_DROP_DIR)")
    history.add_argument("--replace", action="store_true", help="replace days the daily path or other files hold")
    history.add_argument(
        "--snapshot-date", type=date.fromisoformat, default=None, help="groups/group-members: the export's day"
    )
    history.set_defaults(func=_import)

    build = commands.add_parser("build", help="build segments, tags and KPIs for every day of a period (full refresh)")
    build.add_argument("--as-of", type=date.fromisoformat, required=True, help="snapshot date, YYYY-MM-DD")
    build.add_argument("--history-from", type=date.fromisoformat, default=None, help="first day of daily segments")
    build.add_argument("--lake", default=None, help="raw lake (default: SIYU_LAKE_DIR)")
    build.add_argument("--warehouse", default=None, help=WAREHOUSE_HELP)
    build.set_defaults(func=_build)

    types = "customer_id, phone, unionid, external_userid, member_card (card), yz_open_id (shop_account), openid"
    erase = commands.add_parser(
        "erase", help="erase a customer (PIPL art. 47): lake, warehouse, exports, WeCom tags; docs/privacy.md"
    )
    erase.add_argument("identifier", help="any identifier she is known by, or a customer id; - reads it from stdin")
    erase.add_argument("--type", default=None, help=f"what the identifier is (default: any of {types})")
    erase.add_argument("--queue", action="store_true", help="only record the request for the erase DAG's next run")
    erase.add_argument("--skip-wecom", action="store_true", help="leave her WeCom tags (no WeCom connection here)")
    erase.add_argument("--lake", default=None, help="raw lake (default: SIYU_LAKE_DIR)")
    erase.add_argument("--warehouse", default=None, help=WAREHOUSE_HELP)
    erase.add_argument("--exports", default=None, help="exports folder (default: SIYU_EXPORTS_DIR)")
    erase.set_defaults(func=_erase)

    consent = commands.add_parser(
        "consent", help="record a marketing consent event (opt-in or opt-out) with its time and source"
    )
    consent.add_argument("identifier", help="any identifier she is known by, or a customer id; - reads it from stdin")
    choice = consent.add_mutually_exclusive_group(required=True)
    choice.add_argument("--opt-out", action="store_true", help="she withdrew marketing consent")
    choice.add_argument("--opt-in", action="store_true", help="she gave marketing consent")
    consent.add_argument(
        "--source", required=True, help="where it came from: wecom_callback, store_form, shop_setting, customer_service"
    )
    consent.add_argument("--at", default=None, help="when, business-local ISO time (default: now)")
    consent.add_argument("--lake", default=None, help="raw lake, locates the privacy folder (default: SIYU_LAKE_DIR)")
    consent.set_defaults(func=_consent)

    access = commands.add_parser(
        "subject-access", help="write everything siyu holds on one person (PIPL art. 45) as JSON and HTML"
    )
    access.add_argument("identifier", help="any identifier she is known by, or a customer id; - reads it from stdin")
    access.add_argument("--type", default=None, help=f"what the identifier is (default: any of {types})")
    access.add_argument("--out", default=None, help="output folder (default: <privacy dir>/access/<time>)")
    access.add_argument("--lake", default=None, help="raw lake (default: SIYU_LAKE_DIR)")
    access.add_argument("--warehouse", default=None, help=WAREHOUSE_HELP)
    access.set_defaults(func=_subject_access)

    standalone = commands.add_parser("airflow", help="Airflow standalone with siyu's DAGs and the simulators")
    standalone.add_argument("--scale", type=int, default=20_000, help="true persons in the world (default 20000)")
    standalone.add_argument("--seed", type=int, default=42, help="world seed (default 42)")
    standalone.add_argument(
        "--data-dir",
        default="data/airflow",
        help="world, drops, lake, warehouse, exports, Airflow metadata, logs (default data/airflow; not the demo's)",
    )
    standalone.add_argument(
        "--fresh",
        action="store_true",
        help="replace an instance whose world ends on another day (deletes its lake, warehouse, exports, metadata)",
    )
    standalone.add_argument("--port", type=int, default=8080, help="API server and UI port (default 8080)")
    standalone.add_argument(
        "--host", default="127.0.0.1", help="address the API server binds (default 127.0.0.1: this machine only)"
    )
    standalone.add_argument("--parallelism", type=int, default=4, help="tasks run at once (default 4)")
    standalone.set_defaults(func=_airflow_standalone)

    html_report = commands.add_parser("report", help="render the analyst report (static HTML) from the marts")
    html_report.add_argument("--warehouse", default=None, help=WAREHOUSE_HELP)
    html_report.add_argument("--out", default="data/report", help="folder for index.html (default data/report)")
    html_report.set_defaults(func=_report)

    sql = commands.add_parser(
        "sql",
        help="query the warehouse read-only with the DuckDB siyu runs (the pipeline can keep writing); with engine "
        "spark, on Spark's tables (not while a build runs: docs/spark.md)",
    )
    sql.add_argument("query", help='SQL, e.g. "select * from marts.kpi_triangle limit 5"')
    sql.add_argument("--warehouse", default=None, help=WAREHOUSE_HELP)
    sql.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    sql.add_argument("--max-rows", type=int, default=40, help="rows shown in the table (default 40)")
    sql.set_defaults(func=_sql)

    docs = commands.add_parser(
        "docs", help="dbt docs of the warehouse as one HTML file that opens from disk (or served with --serve)"
    )
    docs.add_argument("--data-dir", default=None, help="a demo folder: its lake, warehouse and dbt_docs/ (make demo)")
    docs.add_argument("--lake", default=None, help="raw lake (default: SIYU_LAKE_DIR, or DATA_DIR/lake)")
    docs.add_argument("--warehouse", default=None, help="DuckDB file (default: SIYU_WAREHOUSE, or DATA_DIR's)")
    docs.add_argument("--out", default=None, help="output folder (default data/dbt_docs, or DATA_DIR/dbt_docs)")
    docs.add_argument("--serve", action="store_true", help="then serve the folder over HTTP until Ctrl-C")
    docs.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    docs.add_argument("--port", type=int, default=8081, help="port to serve on (default 8081; 0: any free port)")
    docs.set_defaults(func=_docs)

    demo = commands.add_parser("demo", help="run the main job end to end on the embedded default")
    demo.add_argument("--scale", type=int, default=20_000, help="true persons in the world (default 20000)")
    demo.add_argument("--seed", type=int, default=42, help="world seed: same seed, same world (default 42)")
    demo.add_argument(
        "--data-dir", default="data/demo", help="world, drops, lake, warehouse, exports, logs (default data/demo)"
    )
    demo.set_defaults(func=_demo)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every URL at INFO, access tokens included: keep secrets out of logs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from siyu.config import ConfigError
    from siyu.warehouse.spark import SparkUnavailable

    try:
        return args.func(args)
    except ConfigError as error:  # a brand's settings file or variables: what is wrong, not a traceback
        print(f"siyu: {error}", file=sys.stderr)
        return 2
    except SparkUnavailable as error:  # engine spark: no Java, a held metastore, an unreachable Thrift server
        print(f"siyu: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `siyu sql ... | head` closed the pipe: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
