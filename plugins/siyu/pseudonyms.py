"""Keyed pseudonyms: HMAC-SHA256 of an identifier under a secret key, so a pseudonym cannot be computed (nor
reversed by enumerating phone numbers) without the key (PIPL art. 51; docs/privacy.md).

The key comes from, in order: the environment variable SIYU_PSEUDONYM_KEY; the Airflow connection
`siyu_pseudonym` (its password) when running inside an Airflow task; a key file, SIYU_PSEUDONYM_KEY_FILE or
`<privacy dir>/pseudonym.key`, generated (32 random bytes, mode 0600) on first use when none of these
exists. The key is never logged; only its fingerprint (an HMAC of a fixed text) is stored beside what it
produced, so a build or a suppression list made under another key is detected, not silently mismatched.

dbt computes the same HMAC in SQL (macro `hash_identifier`): the dbt-duckdb plugin `Plugin` below sets the
key's inner and outer pads as DuckDB variables on every connection and cursor, so compiled SQL, dbt's logs
and run results hold no key material."""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
import re
import secrets
from pathlib import Path

log = logging.getLogger(__name__)
KEY_ENV = "SIYU_PSEUDONYM_KEY"
KEY_FILE_ENV = "SIYU_PSEUDONYM_KEY_FILE"
KEY_CONN_ID = "siyu_pseudonym"
BLOCK_SIZE = 64  # SHA-256's block size in bytes (RFC 2104)
# DuckDB variables the macro hash_identifier reads.
INNER_PAD_VARIABLE = "siyu_pseudonym_ipad"
OUTER_PAD_VARIABLE = "siyu_pseudonym_opad"
# Phones as siyu normalises them (macro normalize_phone): mainland mobiles, +86 and the 11 digits.
MOBILE = re.compile(r"(86)?1[3-9][0-9]{9}")
# The default of var blocked_phones (tests/test_constants.py); a brand's settings may replace it.
BLOCKED_PHONES = {"13800000000", "00000000000", "13888888888", "11111111111", "12345678901"}


def blocked_phones() -> set[str]:
    """The placeholder phones staging drops: the brand's var blocked_phones (SIYU_CONFIG), else the default."""
    from siyu.config import load_settings  # siyu.config is light, but the dbt plugin loads this module first

    return set(load_settings().dbt_vars.get("blocked_phones", BLOCKED_PHONES))


def privacy_dir(lake: Path | None = None) -> Path:
    """SIYU_PRIVACY_DIR, default `privacy/` beside the lake (data/privacy for data/lake; the lake given, else
    SIYU_LAKE_DIR): the key file when generated, erasure requests waiting, the audit log, the suppression
    list."""
    if explicit := os.environ.get("SIYU_PRIVACY_DIR"):
        return Path(explicit)
    return Path(lake or os.environ.get("SIYU_LAKE_DIR", "data/lake")).resolve().parent / "privacy"


def key_file(lake: Path | None = None) -> Path:
    return Path(os.environ.get(KEY_FILE_ENV) or privacy_dir(lake) / "pseudonym.key")


@functools.cache
def _airflow_key() -> str | None:
    """The connection's password, asked once per process (dbt asks for the key on every cursor)."""
    if "AIRFLOW_CTX_DAG_ID" not in os.environ and f"AIRFLOW_CONN_{KEY_CONN_ID.upper()}" not in os.environ:
        return None  # not in a task and no connection in the environment: do not start Airflow for nothing
    try:
        from airflow.sdk import BaseHook

        return BaseHook.get_connection(KEY_CONN_ID).password or None
    except Exception:  # no such connection: fall through to the key file
        return None


def pseudonym_key(lake: Path | None = None) -> bytes:
    """The secret key (see the module docstring for where it comes from; `lake` locates the key file)."""
    if value := os.environ.get(KEY_ENV):
        return value.encode()
    if value := _airflow_key():
        return value.encode()
    path = key_file(lake)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_hex(32))
        log.warning("pseudonyms: no %s nor connection %s: generated a key in %s", KEY_ENV, KEY_CONN_ID, path)
    return path.read_text().strip().encode()


def pseudonym(value: str, key: bytes) -> str:
    """Hex HMAC-SHA256 of the value's UTF-8 bytes: what `hash_identifier` gives in the warehouse."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def fingerprint(key: bytes) -> str:
    """Names a key without revealing it: the pseudonym of a fixed text, shortened."""
    return pseudonym("siyu key fingerprint", key)[:16]


def pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC's inner and outer pads (RFC 2104): HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m))."""
    block = hashlib.sha256(key).digest() if len(key) > BLOCK_SIZE else key
    block = block.ljust(BLOCK_SIZE, b"\0")
    return bytes(byte ^ 0x36 for byte in block), bytes(byte ^ 0x5C for byte in block)


def normalize_phone(value: str) -> str | None:
    """A phone as siyu's macro normalize_phone writes it (+86 and 11 digits), None when it is not one."""
    if value is None or "*" in value:
        return None
    digits = re.sub(r"[^0-9]", "", value)
    if not MOBILE.fullmatch(digits) or digits[-11:] in blocked_phones():
        return None
    return "+86" + digits[-11:]


def forms(value: str) -> set[str]:
    """The forms an identifier takes once staging normalised it: as is, trimmed and lower-cased
    (normalize_text_id), and as a phone."""
    found = {value, value.strip().lower()}
    if phone := normalize_phone(value):
        found.add(phone)
    found.discard("")
    return found


def _set_pads(connection, lake: Path | None = None) -> None:
    inner, outer = pads(pseudonym_key(lake))
    connection.execute(f"set variable {INNER_PAD_VARIABLE} = unhex('{inner.hex()}')")
    connection.execute(f"set variable {OUTER_PAD_VARIABLE} = unhex('{outer.hex()}')")


try:
    from dbt.adapters.duckdb.plugins import BasePlugin
except ImportError:  # dbt-duckdb is not installed where only the Python side is needed
    BasePlugin = object


class Plugin(BasePlugin):
    """dbt-duckdb plugin (profiles.yml `plugins: [{module: siyu.pseudonyms}]`): the key's pads as DuckDB
    variables on each connection and each cursor (a cursor does not inherit its parent's variables)."""

    def initialize(self, plugin_config) -> None:
        # profiles.yml passes the build's lake, which locates the key file (no process environment needed)
        self.lake = Path(plugin_config["lake"]) if plugin_config.get("lake") else None

    def configure_connection(self, conn) -> None:
        _set_pads(conn, self.lake)

    def configure_cursor(self, cursor):
        _set_pads(cursor, self.lake)
        return cursor
