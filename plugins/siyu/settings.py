"""Where things live and how sources are reached: environment variables and Airflow connections,
never constants in code."""

from __future__ import annotations

import json
import os
from pathlib import Path

from siyu.connectors.wecom import WeComConfig
from siyu.connectors.youzan import YouzanConfig

WECOM_CONN_ID = "wecom_default"
YOUZAN_CONN_ID = "youzan_default"


def lake_root() -> Path:
    """SIYU_LAKE_DIR, default ./data/lake."""
    return Path(os.environ.get("SIYU_LAKE_DIR", "data/lake"))


def drop_dir() -> Path:
    """SIYU_DROP_DIR: where stores and the archive service leave files, default ./data/drops."""
    return Path(os.environ.get("SIYU_DROP_DIR", "data/drops"))


def exports_dir() -> Path:
    """SIYU_EXPORTS_DIR: where audiences are exported for activation tools, default ./data/exports."""
    return Path(os.environ.get("SIYU_EXPORTS_DIR", "data/exports"))


def _connection(conn_id: str):
    from airflow.sdk import BaseHook  # Airflow is needed only when running inside it

    return BaseHook.get_connection(conn_id)


def _base_url(conn) -> str:
    scheme = conn.schema or "https"
    host = conn.host or ""
    if host.startswith(("http://", "https://")):
        return host.rstrip("/")
    return f"{scheme}://{host}{':' + str(conn.port) if conn.port else ''}"


CLIENT_OPTIONS = ("timeout_seconds", "max_attempts", "max_wait_seconds", "request_budget")


def _client_options(extra: dict) -> dict:
    """The connector tuning a connection's extra may set (same names for every source)."""
    return {name: extra[name] for name in CLIENT_OPTIONS if name in extra}


def wecom_config(conn_id: str = WECOM_CONN_ID) -> WeComConfig:
    """Connection: host (and port, schema) = API base, login = corpid, password = the app's secret;
    extra may set timeout_seconds, max_attempts, request_budget."""
    conn = _connection(conn_id)
    extra = conn.extra_dejson or {}
    options = _client_options(extra)
    return WeComConfig(base_url=_base_url(conn), corp_id=conn.login, corp_secret=conn.password, **options)


def youzan_config(conn_id: str = YOUZAN_CONN_ID) -> YouzanConfig:
    """Connection: host = API base, login = client_id, password = client_secret, extra.kdt_id = shop id."""
    conn = _connection(conn_id)
    extra = conn.extra_dejson or {}
    options = _client_options(extra)
    return YouzanConfig(
        base_url=_base_url(conn),
        client_id=conn.login,
        client_secret=conn.password,
        kdt_id=str(extra["kdt_id"]),
        **options,
    )


def connection_env(base_url: str, creds: dict, extra: dict | None = None) -> dict[str, str]:
    """AIRFLOW_CONN_* variables pointing siyu at a WeCom and a Youzan endpoint (the demo uses the
    simulators' credentials)."""
    host = base_url.split("://", 1)[1]
    hostname, _, port = host.partition(":")
    common = {
        "conn_type": "http",
        "host": hostname,
        "schema": base_url.split("://", 1)[0],
        **({"port": int(port)} if port else {}),
    }
    return {
        "AIRFLOW_CONN_WECOM_DEFAULT": json.dumps(
            {**common, "login": creds["corp_id"], "password": creds["corp_secret"], "extra": extra or {}}
        ),
        "AIRFLOW_CONN_YOUZAN_DEFAULT": json.dumps(
            {
                **common,
                "login": creds["youzan_client_id"],
                "password": creds["youzan_client_secret"],
                "extra": {"kdt_id": creds["youzan_kdt_id"], **(extra or {})},
            }
        ),
    }
