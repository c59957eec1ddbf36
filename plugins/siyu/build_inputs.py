"""What a whole-project build reads, fingerprinted, so a daily run with nothing new does no work (issue 22).

A build is a function of: the published lake partitions (each one's manifest names its rows, checksum and
run), the privacy folder (suppression list, consent events, the key file), the world's truth when given,
the dbt vars of the call (the brand's settings, the snapshot date, the locations), the dbt project's files,
siyu's own code (the Python models import it), the pseudonym key, and the warehouse's `activation.sends`
as the frequency caps read them: the sends before the day the last build's audiences were computed as of,
without their run ids (activation exporting that day, or exporting it again, changes nothing the build
reads; a build of another day differs in its vars or lake anyway). When all of them equal what the last successful build
read, and its warehouse is still there, building again would give the same tables: the transform skips it
and says so. Anything else builds, and the log names what changed."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)
PROJECT_SUFFIXES = {".sql", ".yml", ".yaml", ".csv", ".md", ".py", ".jinja"}
PROJECT_SKIP = {"target", "logs", "dbt_packages", "__pycache__"}


def _digest(parts) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else str(part).encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def _files(folder: Path, suffixes: set[str] | None = None) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file()
        and not PROJECT_SKIP & set(path.relative_to(folder).parts)
        and (suffixes is None or path.suffix in suffixes)
    )


def _contents(folder: Path, suffixes: set[str] | None = None) -> str:
    """The folder's files by name and content."""
    return _digest(
        part for path in _files(folder, suffixes) for part in (path.relative_to(folder).as_posix(), path.read_bytes())
    )


def _stats(folder: Path | None) -> str:
    """The folder's files by name, size and modification time (for data folders too big to read whole)."""
    if folder is None:
        return ""
    return _digest(
        f"{path.relative_to(folder).as_posix()}:{path.stat().st_size}:{path.stat().st_mtime_ns}"
        for path in _files(folder)
    )


def _lake(lake: Path) -> dict[str, str]:
    """Per raw entity (`lake:<source>/<entity>`, so the log names what changed), every published partition:
    its manifest (rows, checksum, run), else its data file's size and time."""
    from siyu.lake import MANIFEST

    parts: dict[str, list] = {}
    for partition in sorted(Path(lake).glob("raw/*/*/dt=*")):
        entity = partition.parent.relative_to(Path(lake) / "raw").as_posix()
        found = parts.setdefault(f"lake:{entity}", [])
        manifest = partition / MANIFEST
        found.append(partition.name)
        if manifest.exists():
            found.append(manifest.read_bytes())
        else:
            found.extend(f"{path.name}:{path.stat().st_size}:{path.stat().st_mtime_ns}" for path in _files(partition))
    return {name: _digest(found) for name, found in parts.items()}


def fingerprint(
    lake: Path, warehouse: Path, build_vars: dict, truth: Path | None, sends_before: str | None = None
) -> dict[str, str]:
    """A digest of each thing the build reads; the sends as of `sends_before` (the last build's as-of day)."""
    import siyu
    from siyu.pseudonyms import fingerprint as key_fingerprint
    from siyu.pseudonyms import privacy_dir, pseudonym_key
    from siyu.transform import PROJECT_DIR
    from siyu.warehouse.maintenance import sends_digest

    key = key_fingerprint(pseudonym_key(Path(lake)))  # first: it may create the key file in the privacy folder
    return {
        **_lake(lake),
        "privacy": _stats(privacy_dir(Path(lake))),
        "truth": _stats(Path(truth)) if truth is not None else "",
        "vars": _digest([json.dumps(build_vars, sort_keys=True, ensure_ascii=False, default=str)]),
        "project": _contents(PROJECT_DIR, PROJECT_SUFFIXES),
        "code": _contents(Path(siyu.__file__).parent, {".py"}),
        "key": key,
        "activation_sends": sends_digest(Path(warehouse), sends_before),
    }


def state_file(warehouse: Path) -> Path:
    """Where the inputs of the warehouse's last successful whole-project build are kept."""
    return Path(warehouse).resolve().parent / "dbt_target" / "last_build_inputs.json"


def changed_since_last_build(warehouse: Path, current: dict[str, str]) -> list[str] | None:
    """What differs from the last successful build's inputs; None when there is no such build (or its
    warehouse is gone)."""
    last = _record(warehouse)
    if not Path(warehouse).exists() or not last:
        return None
    recorded = last.get("inputs", {})
    return sorted(name for name in current.keys() | recorded.keys() if current.get(name) != recorded.get(name))


def _record(warehouse: Path) -> dict:
    try:
        return json.loads(state_file(warehouse).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def last_build_time(warehouse: Path) -> str | None:
    return _record(warehouse).get("built_at")


def last_as_of(warehouse: Path) -> str | None:
    """The day the last recorded build's audiences were computed as of."""
    return _record(warehouse).get("as_of")


def remember(warehouse: Path, inputs: dict[str, str]) -> None:
    """Record the inputs of a successful whole-project build (after it, so a crash leaves the old record)."""
    from siyu.activation import audiences_as_of
    from siyu.warehouse.maintenance import sends_digest

    # The sends are read again as of the day this build computed its audiences for (the on-run-start hook
    # may also have created the table).
    as_of = audiences_as_of(Path(warehouse))
    as_of = as_of.isoformat() if as_of else None
    inputs = {**inputs, "activation_sends": sends_digest(Path(warehouse), as_of)}
    path = state_file(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    record = {"built_at": datetime.now(UTC).isoformat(timespec="seconds"), "as_of": as_of, "inputs": inputs}
    temporary.write_text(json.dumps(record, indent=1), encoding="utf-8")
    temporary.replace(path)
