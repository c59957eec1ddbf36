"""Hostile store and archive files (issue 17), written the way tills, Excel and vendors write them.

Every case lands through `ingest_files` into a fresh lake, and its outcome per file (lines read, landed,
quarantined, duplicates) is the one in the table. For every file of every case the accounting rule holds
(lines read = landed + quarantined + duplicates), the lake agrees with the manifests, no case raises, and
a second run finds nothing new. Then all cases go into one drop folder at once: one bad file never
changes another's outcome."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from siyu.ingest import store
from siyu.ingest.store import ingest_files, load_registry

RUN = SimpleNamespace(run_id="hostile")  # ingest_files needs only the run id
DT = "2025-12-30"
POS = [
    "receipt_no",
    "line_no",
    "store_id",
    "sold_at",
    "card_no",
    "phone",
    "salesperson",
    "sku",
    "category",
    "qty",
    "unit_price",
    "amount",
]
MEMBERS = ["card_no", "store_id", "phone", "name", "gender", "birthday", "registered_at", "marketing_opt_in"]
CATEGORIES = ["护肤", "女装", "童装"]  # not all valid UTF-8 once in GBK ("女装" alone would be)
ARRIVED = 1_767_000_000  # mtimes are set explicitly, so arrival order is the case's, not the disk's


@dataclass(frozen=True)
class Outcome:
    lines_read: int
    landed: int
    quarantined: int
    duplicates: int


# --- writing files as vendors do -----------------------------------------------------------------------------


def next_day(dt: str) -> str:
    return (date.fromisoformat(dt) + timedelta(days=1)).isoformat()


def pos_path(dt: str, store_id: str = "S0001", suffix: str = "", folder: str = "") -> str:
    return f"pos/{folder or store_id}/pos_{store_id}_{dt}{suffix}.csv"


def members_path(dt: str, store_id: str = "S0001") -> str:
    return f"members/{store_id}/members_{store_id}_{dt}.csv"


def pos_row(dt: str, n: int, **values: str) -> dict:
    row = {
        "receipt_no": f"S0001-{dt}-{n}",
        "line_no": "1",
        "store_id": "S0001",
        "sold_at": f"{dt} 10:0{n % 10}:00",
        "card_no": f"M{n:09d}",
        "phone": "13800000000",
        "salesperson": "guide00001",
        "sku": f"SKU{n:03d}",
        "category": CATEGORIES[n % 3],
        "qty": "1",
        "unit_price": "199.00",
        "amount": "199.00",
    }
    return row | values


def member_row(dt: str, n: int, **values: str) -> dict:
    row = {
        "card_no": f"M{dt}-{n}",
        "store_id": "S0001",
        "phone": "13900000000",
        "name": ["王芳", "李娜", "张伟"][n % 3],
        "gender": "2",
        "birthday": "1985-06-01",
        "registered_at": f"{dt} 11:00:00",
        "marketing_opt_in": "Y",
    }
    return row | values


def csv_text(columns: list[str], rows: list, *, terminator: str = "\r\n", quoting: int = csv.QUOTE_MINIMAL) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=terminator, quoting=quoting)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row[c] for c in columns] if isinstance(row, dict) else row)
    return buffer.getvalue()


def pos_csv(dt: str, n: int = 3, encoding: str = "utf-8", **kwargs) -> bytes:
    return csv_text(POS, [pos_row(dt, i) for i in range(1, n + 1)], **kwargs).encode(encoding)


def message(dt: str, n: int, **values) -> dict:
    sent = int(datetime.fromisoformat(f"{dt}T10:00:00+08:00").timestamp()) * 1000 + n
    record = {
        "msgid": f"msg-{dt}-{n}",
        "action": "send",
        "from": "guide00001",
        "tolist": ["wmCustomer1"],
        "roomid": "",
        "msgtime": sent,
        "msgtype": "text",
        "text": {"content": f"您好 {n}"},
    }
    return record | values


def visit(dt: str, n: int, **values) -> dict:
    record = {
        "visit_id": f"v-{dt}-{n}",
        "visitor_id": "yz0001",
        "visit_time": int(datetime.fromisoformat(f"{dt}T12:00:00+08:00").timestamp()) + n,
        "source": "group",
        "source_ref": "wrChat1",
    }
    return record | values


def jsonl(*lines: dict | str | bytes, terminator: bytes = b"\n") -> bytes:
    encoded = []
    for line in lines:
        if isinstance(line, dict):
            line = json.dumps(line, ensure_ascii=False)
        encoded.append(line if isinstance(line, bytes) else line.encode("utf-8"))
    return b"".join(line + terminator for line in encoded)


def put(drops: Path, relative: str, data: bytes, order: int = 0) -> Path:
    path = drops / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, ns=((ARRIVED + order) * 10**9,) * 2)
    return path


def link(drops: Path, relative: str, target: str) -> None:
    path = drops / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


# --- the corpus ----------------------------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    build: Callable[[Path, str], None]  # writes the case's files for a business date
    expect: dict[str, Outcome]  # relative path ({dt}, {next} filled in) → outcome
    check: Callable[[Path, str], None] | None = None  # further assertions on the lake


def one(path: Callable[[str], str], data: Callable[[str], bytes]) -> Callable[[Path, str], None]:
    return lambda drops, dt: put(drops, path(dt), data(dt)) and None


POS_FILE = "pos/S0001/pos_S0001_{dt}.csv"
MEMBERS_FILE = "members/S0001/members_S0001_{dt}.csv"
ARCHIVE_FILE = "archive/{dt}.jsonl"


def landed(lake: Path, entity: str, dt: str) -> pd.DataFrame:
    return pd.read_parquet(lake / "raw/store" / entity / f"dt={dt}" / "part-0.parquet")


def quarantined(lake: Path, entity: str, dt: str) -> pd.DataFrame:
    folder = lake / "quarantine/store" / entity / f"dt={dt}"
    return pd.concat(pd.read_parquet(p) for p in folder.glob("*.parquet")) if folder.exists() else pd.DataFrame()


def entries(lake: Path) -> dict[str, dict]:
    found = {}
    for manifest in sorted(lake.glob("raw/store/*/dt=*/_manifest.json")):
        for entry in json.loads(manifest.read_text(encoding="utf-8"))["files"]:
            found[entry["name"]] = entry
    return found


def reasons(lake: Path, entity: str, dt: str) -> list[str]:
    frame = quarantined(lake, entity, dt)
    return sorted(frame["reason"]) if len(frame) else []


def rows_of(dt: str, *rows: dict, columns: list[str] = POS, encoding: str = "utf-8", **kwargs) -> bytes:
    return csv_text(columns, list(rows), **kwargs).encode(encoding)


def cut_gbk(dt: str) -> bytes:
    raw = pos_csv(dt, encoding="gbk")
    whole = "女装".encode("gbk")
    return raw.replace(whole, whole[:3], 1)  # 装 loses its second byte; a comma follows


def mixed_gbk_utf8(dt: str) -> bytes:
    lines = pos_csv(dt).split(b"\r\n")
    lines[1] = lines[1].decode("utf-8").encode("gbk")
    lines[3] = lines[3].decode("utf-8").encode("gbk")
    return b"\r\n".join(lines)  # line 3 stays UTF-8 (女装), lines 2 and 4 are GBK


def huge_header(dt: str) -> bytes:
    header = ",".join(POS) + "," + "x" * 50_000_000
    return (header + "\r\n").encode() + pos_csv(dt, 2).split(b"\r\n", 1)[1]


def resend(corrected_amount: str) -> Callable[[Path, str], None]:
    def build(drops: Path, dt: str) -> None:
        put(drops, pos_path(dt), pos_csv(dt), order=0)
        rows = [pos_row(dt, 1), pos_row(dt, 2, amount=corrected_amount, unit_price=corrected_amount), pos_row(dt, 3)]
        put(drops, pos_path(dt, suffix="_resend"), rows_of(dt, *rows), order=3600)

    return build


def check_corrected(lake: Path, dt: str) -> None:
    frame = landed(lake, "pos_lines", dt).set_index("receipt_no")
    assert frame.loc[f"S0001-{dt}-2", "amount"] == "179.00", "the corrected resend wins"
    assert set(frame["file"]) == {f"pos_S0001_{dt}_resend.csv"}


def check_names(*names: str) -> Callable[[Path, str], None]:
    def check(lake: Path, dt: str) -> None:
        assert sorted(landed(lake, "members", dt)["name"]) == sorted(names)

    return check


def check_column(entity: str, column: str, values: list[str]) -> Callable[[Path, str], None]:
    def check(lake: Path, dt: str) -> None:
        assert sorted(landed(lake, entity, dt)[column]) == sorted(values)

    return check


def check_reason(entity: str, fragment: str) -> Callable[[Path, str], None]:
    def check(lake: Path, dt: str) -> None:
        assert reasons(lake, entity, dt) and all(fragment in reason for reason in reasons(lake, entity, dt))

    return check


def check_entry(name: str, **fields) -> Callable[[Path, str], None]:
    def check(lake: Path, dt: str) -> None:
        entry = entries(lake)[name.format(dt=dt, next=next_day(dt))]
        for key, value in fields.items():
            if isinstance(value, str):
                assert value.format(dt=dt, next=next_day(dt)) in entry[key], (key, entry)
            else:
                assert entry[key] == value, (key, entry)

    return check


def check_all(*checks: Callable[[Path, str], None]) -> Callable[[Path, str], None]:
    def check(lake: Path, dt: str) -> None:
        for each in checks:
            each(lake, dt)

    return check


def with_members(*names: str, **kwargs) -> Callable[[str], bytes]:
    return lambda dt: rows_of(dt, *(member_row(dt, i, name=n) for i, n in enumerate(names)), columns=MEMBERS, **kwargs)


def bad_pos(*changes: dict, good: int = 1) -> Callable[[str], bytes]:
    """`good` valid rows, then one row per change (each a bad value, or a boundary that must land)."""
    return lambda dt: rows_of(
        dt, *(pos_row(dt, i) for i in range(good)), *(pos_row(dt, 10 + i, **c) for i, c in enumerate(changes))
    )


def symlinked_folder(drops: Path, dt: str) -> None:
    put(drops, pos_path(dt), pos_csv(dt))
    link(drops, "pos/nas", "/etc")


def same_bytes_other_folder(drops: Path, dt: str) -> None:
    put(drops, pos_path(dt), pos_csv(dt), order=0)
    put(drops, pos_path(dt, folder="S0001/copy"), pos_csv(dt), order=60)


def same_bytes_other_day(drops: Path, dt: str) -> None:
    put(drops, pos_path(dt), pos_csv(dt), order=0)
    put(drops, pos_path(next_day(dt)), pos_csv(dt), order=60)


def one_receipt_two_files(drops: Path, dt: str) -> None:
    put(drops, pos_path(dt), pos_csv(dt), order=0)
    put(drops, pos_path(dt, "S0002"), rows_of(dt, pos_row(dt, 1, amount="1.00")), order=60)


def broken_resend(drops: Path, dt: str) -> None:
    put(drops, pos_path(dt), pos_csv(dt), order=0)
    put(drops, pos_path(dt, suffix="_resend"), cut_gbk(dt), order=60)


def check_no_system_file(lake: Path, dt: str) -> None:
    passwd = Path("/etc/passwd").read_bytes()[:12]
    for path in lake.rglob("*"):
        assert not path.is_file() or passwd not in path.read_bytes(), path


def deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


CASES = [
    # Encodings
    Case("utf8 LF", one(pos_path, lambda dt: pos_csv(dt, terminator="\n")), {POS_FILE: Outcome(3, 3, 0, 0)}),
    Case(
        "utf8 with BOM and CRLF",
        one(pos_path, lambda dt: b"\xef\xbb\xbf" + pos_csv(dt)),
        {POS_FILE: Outcome(3, 3, 0, 0)},
        check_all(check_entry(POS_FILE, encoding="utf-8-sig"), check_column("pos_lines", "category", CATEGORIES)),
    ),
    Case(
        "Excel GBK export (CRLF, a quoted comma)",
        one(pos_path, bad_pos({"sku": "SKU,逗号"}, good=2)),  # written below as GBK
        {POS_FILE: Outcome(3, 3, 0, 0)},
    ),
    Case(
        "GB18030 four-byte character in a name",
        one(members_path, with_members("𠀾王", "李娜", "张伟", encoding="gb18030")),
        {MEMBERS_FILE: Outcome(3, 3, 0, 0)},
        check_all(check_entry(MEMBERS_FILE, encoding="gb18030"), check_names("𠀾王", "李娜", "张伟")),
    ),
    Case(
        "GBK with one cut multi-byte character",
        one(pos_path, cut_gbk),
        {POS_FILE: Outcome(4, 0, 4, 0)},
        check_all(check_reason("pos_lines", "not UTF-8"), check_entry(POS_FILE, encoding="unknown")),
    ),
    Case(
        "UTF-8 and GBK lines mixed",
        one(pos_path, mixed_gbk_utf8),
        {POS_FILE: Outcome(4, 0, 4, 0)},
        check_reason("pos_lines", "mixes encodings"),
    ),
    Case(
        "BOM followed by GBK",
        one(pos_path, lambda dt: b"\xef\xbb\xbf" + pos_csv(dt, encoding="gbk")),
        {POS_FILE: Outcome(4, 0, 4, 0)},
        check_reason("pos_lines", "byte order mark"),
    ),
    Case(
        # UTF-16 lines are counted at their LF bytes: the last holds the final NUL byte of "\n\x00".
        "Excel 'Unicode text' (UTF-16)",
        one(pos_path, lambda dt: pos_csv(dt, encoding="utf-16")),
        {POS_FILE: Outcome(5, 0, 5, 0)},
    ),
    Case(
        "binary junk named .csv",
        one(pos_path, lambda dt: b"\x89PNG\r\n\x1a\n" + b"\xff\xfe\x00\x81" * 10),
        {POS_FILE: Outcome(3, 0, 3, 0)},
    ),
    # Records and text
    Case(
        "quoted newline in a member's name",
        one(members_path, with_members("王\n芳", "李\r\n娜", "张伟")),
        {MEMBERS_FILE: Outcome(3, 3, 0, 0)},
        check_names("王\n芳", "李\r\n娜", "张伟"),
    ),
    Case(
        "U+2028, NEL and form feed in names",
        one(members_path, with_members("王\u2028芳", "李\x85娜", "张\x0c伟")),
        {MEMBERS_FILE: Outcome(3, 3, 0, 0)},
        check_names("王\u2028芳", "李\x85娜", "张\x0c伟"),
    ),
    Case(
        "NUL in a name",
        one(members_path, with_members("王\x00芳", "李娜", "张伟")),
        {MEMBERS_FILE: Outcome(3, 2, 1, 0)},
        check_reason("members", "NUL"),
    ),
    Case(
        "terminal escape in a SKU",
        one(pos_path, bad_pos({"sku": "SKU\x1b[31m"}, good=2)),
        {POS_FILE: Outcome(3, 2, 1, 0)},
        check_reason("pos_lines", "control character U+001B"),
    ),
    Case(
        "every field quoted, doubled quotes",
        one(pos_path, lambda dt: rows_of(dt, pos_row(dt, 1, sku='SKU "A"'), pos_row(dt, 2), quoting=csv.QUOTE_ALL)),
        {POS_FILE: Outcome(2, 2, 0, 0)},
        check_column("pos_lines", "sku", ['SKU "A"', "SKU002"]),
    ),
    Case(
        "CR, LF and CRLF line ends mixed",
        one(pos_path, lambda dt: pos_csv(dt).replace(b"\r\n", b"\n", 2).replace(b"\r\n", b"\r", 1)),
        {POS_FILE: Outcome(3, 3, 0, 0)},
    ),
    Case(
        "blank lines between rows",
        one(pos_path, lambda dt: pos_csv(dt).replace(b"\r\n", b"\r\n\r\n")),
        {POS_FILE: Outcome(3, 3, 0, 0)},
    ),
    Case(
        "trailing delimiter on every line",
        one(pos_path, lambda dt: pos_csv(dt).replace(b"\r\n", b",\r\n")),
        {POS_FILE: Outcome(3, 3, 0, 0)},
    ),
    Case(
        "trailing delimiter on data lines only",
        one(pos_path, lambda dt: pos_csv(dt).replace(b"\r\n", b",\r\n").replace(b"amount,\r\n", b"amount\r\n")),
        {POS_FILE: Outcome(3, 3, 0, 0)},
    ),
    Case(
        "a row too long and a row too short",
        one(
            pos_path,
            lambda dt: pos_csv(dt, 1) + b"S0001-x,1,S0001\r\n" + pos_csv(dt, 1).split(b"\r\n")[1] + b",extra\r\n",
        ),
        {POS_FILE: Outcome(3, 1, 2, 0)},
    ),
    Case(
        "truncated last line",
        one(pos_path, lambda dt: pos_csv(dt)[:-40]),
        {POS_FILE: Outcome(3, 2, 1, 0)},
        check_reason("pos_lines", "truncated"),
    ),
    Case(
        "exact duplicate line",
        one(pos_path, lambda dt: pos_csv(dt) + pos_csv(dt, 1).split(b"\r\n")[1] + b"\r\n"),
        {POS_FILE: Outcome(4, 3, 0, 1)},
    ),
    Case(
        "one receipt line twice with other amounts",
        one(pos_path, lambda dt: rows_of(dt, pos_row(dt, 1), pos_row(dt, 2), pos_row(dt, 1, amount="9.00"))),
        {POS_FILE: Outcome(3, 2, 1, 0)},
        check_all(
            check_column("pos_lines", "amount", ["199.00", "9.00"]), check_reason("pos_lines", "again on line 4")
        ),
    ),
    Case("empty file", one(pos_path, lambda dt: b""), {POS_FILE: Outcome(0, 0, 0, 0)}),
    Case("header only", one(pos_path, lambda dt: pos_csv(dt, 0)), {POS_FILE: Outcome(0, 0, 0, 0)}),
    Case(
        "50 MB header line",
        one(pos_path, huge_header),
        {POS_FILE: Outcome(3, 0, 3, 0)},
        check_all(check_reason("pos_lines", "field larger than field limit"), check_entry(POS_FILE, reason="header")),
    ),
    Case(
        "200 KB field in one row",
        one(pos_path, bad_pos({"sku": "x" * 200_000}, good=2)),
        {POS_FILE: Outcome(3, 2, 1, 0)},
        check_reason("pos_lines", "field larger than field limit"),
    ),
    # Header
    Case(
        "missing column",
        one(pos_path, lambda dt: rows_of(dt, *(pos_row(dt, i) for i in range(3)), columns=POS[:-1])),
        {POS_FILE: Outcome(4, 0, 4, 0)},
        check_reason("pos_lines", "missing columns ['amount']"),
    ),
    Case(
        "extra column",
        one(
            pos_path,
            lambda dt: rows_of(dt, *(pos_row(dt, i) | {"remark": "备注"} for i in range(3)), columns=[*POS, "remark"]),
        ),
        {POS_FILE: Outcome(3, 3, 0, 0)},
        check_entry(POS_FILE, ignored_columns=["remark"]),
    ),
    Case(
        "reordered columns",
        one(
            pos_path,
            lambda dt: rows_of(dt, pos_row(dt, 1, amount="1.00"), pos_row(dt, 2, amount="2.00"), columns=POS[::-1]),
        ),
        {POS_FILE: Outcome(2, 2, 0, 0)},
        check_column("pos_lines", "amount", ["1.00", "2.00"]),
    ),
    Case(
        "upper-cased, padded header",
        one(pos_path, lambda dt: pos_csv(dt).replace(b"receipt_no,line_no", b" RECEIPT_NO ,Line_No ", 1)),
        {POS_FILE: Outcome(3, 3, 0, 0)},
    ),
    Case(
        "a column twice",
        one(pos_path, lambda dt: pos_csv(dt).replace(b"amount\r\n", b"qty\r\n", 1)),
        {POS_FILE: Outcome(4, 0, 4, 0)},
        check_reason("pos_lines", "appears twice"),
    ),
    Case(
        "semicolon-delimited (European Excel)",
        one(pos_path, lambda dt: pos_csv(dt).replace(b",", b";")),
        {POS_FILE: Outcome(4, 0, 4, 0)},
        check_reason("pos_lines", "missing columns"),
    ),
    # Numbers, ids, dates
    Case(
        "NaN, Infinity, 1e308, -inf amounts",
        one(pos_path, bad_pos({"amount": "NaN"}, {"amount": "Infinity"}, {"amount": "1e308"}, {"unit_price": "-inf"})),
        {POS_FILE: Outcome(5, 1, 4, 0)},
    ),
    Case(
        "full-width digits",
        one(pos_path, bad_pos({"qty": "１２"}, {"amount": "１２３.00"}, {"line_no": "１"})),
        {POS_FILE: Outcome(4, 1, 3, 0)},
    ),
    Case(
        "underscores and thousands separators",
        one(pos_path, bad_pos({"amount": "1_000.00"}, {"amount": "1,000.00"}, {"qty": "1_0"})),
        {POS_FILE: Outcome(4, 1, 3, 0)},
    ),
    Case(
        "huge quantities (±10000 land)",
        one(
            pos_path,
            bad_pos({"qty": "99999999999"}, {"qty": "10001"}, {"qty": "-10001"}, {"qty": "10000"}, {"qty": "-10000"}),
        ),
        {POS_FILE: Outcome(6, 3, 3, 0)},
    ),
    Case(
        "amount bounds and decimals",
        one(
            pos_path,
            bad_pos(
                {"amount": "999999999.99"},
                {"amount": "1000000000.00"},
                {"amount": "1.005"},
                {"amount": "+1.00"},
                {"amount": ".50"},
            ),
        ),
        {POS_FILE: Outcome(6, 2, 4, 0)},
    ),
    Case(
        "store ids with non-ASCII digits",
        one(
            pos_path,
            bad_pos({"store_id": "S٠٠٠١"}, {"store_id": "S０００１"}, {"store_id": "s0001"}, {"store_id": "S00001"}),
        ),
        {POS_FILE: Outcome(5, 1, 4, 0)},
        check_column("pos_lines", "store_id", ["S0001"]),
    ),
    Case(
        "years 9999 and 0001, 30 February, ISO T",
        one(
            pos_path,
            bad_pos(
                {"sold_at": "9999-12-31 23:59:59"},
                {"sold_at": "0001-01-01 00:00:00"},
                {"sold_at": "2025-02-30 10:00:00"},
                {"sold_at": "2025-12-30T10:00:00"},
            ),
        ),
        {POS_FILE: Outcome(5, 1, 4, 0)},
    ),
    Case(
        "history import back to 1990",
        one(pos_path, bad_pos({"sold_at": "1990-01-01 00:00:00"}, {"sold_at": "1989-12-31 23:59:59"}, good=0)),
        {POS_FILE: Outcome(2, 1, 1, 0)},
        check_column("pos_lines", "sold_at", ["1990-01-01 00:00:00"]),
    ),
    Case(
        "member birthdays in 0001, 9999, 1950 and none",
        one(
            members_path,
            lambda dt: rows_of(
                dt,
                *(member_row(dt, i, birthday=b) for i, b in enumerate(["0001-01-01", "9999-01-01", "1950-05-05", ""])),
                columns=MEMBERS,
            ),
        ),
        {MEMBERS_FILE: Outcome(4, 2, 2, 0)},
    ),
    # Resends, copies, links
    Case(
        "corrected resend",
        resend("179.00"),
        {POS_FILE: Outcome(3, 0, 0, 3), "pos/S0001/pos_S0001_{dt}_resend.csv": Outcome(3, 3, 0, 0)},
        check_all(check_corrected, check_entry(POS_FILE, superseded_by="pos/S0001/pos_S0001_{dt}_resend.csv")),
    ),
    Case(
        "a broken resend replaces nothing",
        broken_resend,
        {POS_FILE: Outcome(3, 3, 0, 0), "pos/S0001/pos_S0001_{dt}_resend.csv": Outcome(4, 0, 4, 0)},
    ),
    Case(
        "same bytes in another folder",
        same_bytes_other_folder,
        {POS_FILE: Outcome(3, 3, 0, 0), "pos/S0001/copy/pos_S0001_{dt}.csv": Outcome(3, 0, 0, 3)},
        check_entry("pos/S0001/copy/pos_S0001_{dt}.csv", duplicate_of="pos/S0001/pos_S0001_{dt}.csv"),
    ),
    Case(
        "same bytes under the next day's name",
        same_bytes_other_day,
        {POS_FILE: Outcome(3, 3, 0, 0), "pos/S0001/pos_S0001_{next}.csv": Outcome(3, 0, 0, 3)},
    ),
    Case(
        "one receipt line in two stores' files",
        one_receipt_two_files,
        {POS_FILE: Outcome(3, 2, 0, 1), "pos/S0002/pos_S0002_{dt}.csv": Outcome(1, 1, 0, 0)},
    ),
    Case(
        "symlink to a system file",
        lambda drops, dt: link(drops, pos_path(dt), "/etc/passwd"),
        {POS_FILE: Outcome(0, 0, 0, 0)},
        check_all(check_no_system_file, check_entry(POS_FILE, reason="symlink")),
    ),
    Case("symlinked folder to /etc", symlinked_folder, {POS_FILE: Outcome(3, 3, 0, 0)}, check_no_system_file),
    # Session archive and visit tracking (JSONL)
    Case(
        "archive line in GBK",
        one(
            lambda dt: f"archive/{dt}.jsonl",
            lambda dt: jsonl(
                message(dt, 1), json.dumps(message(dt, 2), ensure_ascii=False).encode("gbk"), message(dt, 3)
            ),
        ),
        {ARCHIVE_FILE: Outcome(3, 2, 1, 0)},
        check_reason("messages", "not UTF-8"),
    ),
    Case(
        "msgtime 'soon'",
        one(lambda dt: f"archive/{dt}.jsonl", lambda dt: jsonl(message(dt, 1), message(dt, 2, msgtime="soon"))),
        {ARCHIVE_FILE: Outcome(2, 1, 1, 0)},
        check_reason("messages", "not an integer"),
    ),
    Case(
        "msgtime 10**30",
        one(lambda dt: f"archive/{dt}.jsonl", lambda dt: jsonl(message(dt, 1), message(dt, 2, msgtime=10**30))),
        {ARCHIVE_FILE: Outcome(2, 1, 1, 0)},
        check_reason("messages", "outside"),
    ),
    Case(
        "msgtime float, bool, negative, in seconds",
        one(
            lambda dt: f"archive/{dt}.jsonl",
            lambda dt: jsonl(
                message(dt, 1),
                message(dt, 2, msgtime=1.7e12),
                message(dt, 3, msgtime=True),
                message(dt, 4, msgtime=-1),
                message(dt, 5, msgtime=message(dt, 5)["msgtime"] // 1000),
            ),
        ),
        {ARCHIVE_FILE: Outcome(5, 1, 4, 0)},
    ),
    Case(
        "not JSON, an array, 100k-deep nesting, a missing key, tolist a string, 5000 digits",
        one(
            lambda dt: f"archive/{dt}.jsonl",
            lambda dt: jsonl(
                message(dt, 1),
                "{not json",
                "[1, 2]",
                deep_json(100_000),
                {k: v for k, v in message(dt, 2).items() if k != "from"},
                message(dt, 3, tolist="wmCustomer1"),
                '{"msgtime": ' + "9" * 5000 + "}",
            ),
        ),
        {ARCHIVE_FILE: Outcome(7, 1, 6, 0)},
    ),
    Case(
        "archive with BOM and CRLF",
        one(
            lambda dt: f"archive/{dt}.jsonl",
            lambda dt: b"\xef\xbb\xbf" + jsonl(message(dt, 1), message(dt, 2), terminator=b"\r\n"),
        ),
        {ARCHIVE_FILE: Outcome(2, 2, 0, 0)},
    ),
    Case(
        "a repeated message, and a msgid reused with other content",
        one(
            lambda dt: f"archive/{dt}.jsonl",
            lambda dt: jsonl(message(dt, 1), message(dt, 1), message(dt, 2), message(dt, 2, msgtype="image")),
        ),
        {ARCHIVE_FILE: Outcome(4, 2, 1, 1)},
    ),
    Case(
        "blank lines and a truncated last line",
        one(
            lambda dt: f"archive/{dt}.jsonl",
            lambda dt: jsonl(message(dt, 1), "", message(dt, 2), "   ") + jsonl(message(dt, 3))[:-20],
        ),
        {ARCHIVE_FILE: Outcome(3, 2, 1, 0)},
    ),
    Case(
        "NUL in message content",
        one(
            lambda dt: f"archive/{dt}.jsonl",
            lambda dt: jsonl(message(dt, 1), message(dt, 2, text={"content": "a\x00b"})),
        ),
        {ARCHIVE_FILE: Outcome(2, 1, 1, 0)},
        check_reason("messages", "NUL"),
    ),
    Case(
        "msgtype null lands for the raw gate to judge",
        one(lambda dt: f"archive/{dt}.jsonl", lambda dt: jsonl(message(dt, 1, msgtype=None))),
        {ARCHIVE_FILE: Outcome(1, 1, 0, 0)},
    ),
    Case(
        "archive symlink to a system file",
        lambda drops, dt: link(drops, f"archive/{dt}.jsonl", "/etc/passwd"),
        {ARCHIVE_FILE: Outcome(0, 0, 0, 0)},
        check_no_system_file,
    ),
    Case(
        "tracking visit_time 10**30 and in milliseconds",
        one(
            lambda dt: f"tracking/{dt}.jsonl",
            lambda dt: jsonl(
                visit(dt, 1),
                visit(dt, 2, visit_time=10**30),
                visit(dt, 3, visit_time=visit(dt, 3)["visit_time"] * 1000),
            ),
        ),
        {"tracking/{dt}.jsonl": Outcome(3, 1, 2, 0)},
    ),
]


def _gbk_export(case: Case) -> Case:
    """The Excel GBK case writes its rows in GBK (the helper builds UTF-8)."""
    build = case.build

    def in_gbk(drops: Path, dt: str) -> None:
        build(drops, dt)
        path = drops / pos_path(dt)
        path.write_bytes(path.read_bytes().decode("utf-8").encode("gbk"))

    return Case(
        case.id,
        in_gbk,
        case.expect,
        check_all(
            check_entry(POS_FILE, encoding="gbk"), check_column("pos_lines", "sku", ["SKU000", "SKU001", "SKU,逗号"])
        ),
    )


CASES = [_gbk_export(case) if case.id.startswith("Excel GBK") else case for case in CASES]


def expected(case: Case, dt: str) -> dict[str, Outcome]:
    return {name.format(dt=dt, next=next_day(dt)): outcome for name, outcome in case.expect.items()}


def outcome(entry: dict) -> Outcome:
    return Outcome(entry["lines_read"], entry["landed"], entry["quarantined"], entry["duplicates"])


def assert_lake_agrees(lake: Path) -> None:
    """Per file the accounting rule; per partition the data and the quarantine are what the files say."""
    for path in lake.glob("raw/store/*/dt=*/_manifest.json"):
        manifest = json.loads(path.read_text(encoding="utf-8"))
        for entry in manifest["files"]:
            assert entry["lines_read"] == entry["landed"] + entry["quarantined"] + entry["duplicates"], entry
        assert manifest["rows"] == sum(e["landed"] for e in manifest["files"]) == len(pd.read_parquet(path.parent))
        assert manifest["quarantined"] == sum(e["quarantined"] for e in manifest["files"])
        assert len(quarantined(lake, manifest["entity"], manifest["dt"])) == manifest["quarantined"]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_file(case: Case, tmp_path):
    drops, lake = tmp_path / "drops", tmp_path / "lake"
    case.build(drops, DT)

    ingest_files(drops, lake, RUN)

    assert {name: outcome(entry) for name, entry in entries(lake).items()} == expected(case, DT)
    assert_lake_agrees(lake)
    if case.check:
        case.check(lake, DT)
    assert ingest_files(drops, lake, RUN)["partitions"] == [], "a second run finds nothing new"


def test_every_case_in_one_drop_folder(tmp_path):
    """GIVEN every hostile file in one drop folder (each case on its own dates) WHEN one run loads them
    THEN each file has the outcome it has alone: a bad file or line never blocks or changes another."""
    drops, lake = tmp_path / "drops", tmp_path / "lake"
    dates = {case.id: (date(2025, 6, 1) + timedelta(days=2 * i)).isoformat() for i, case in enumerate(CASES)}
    for case in CASES:
        case.build(drops, dates[case.id])

    ingest_files(drops, lake, RUN)

    found = {name: outcome(entry) for name, entry in entries(lake).items()}
    assert found == {name: o for case in CASES for name, o in expected(case, dates[case.id]).items()}
    assert_lake_agrees(lake)


def test_a_file_growing_while_read_is_loaded_as_read_and_completed_next_run(tmp_path, monkeypatch):
    """GIVEN a till still writing its file: each time siyu reads it, more bytes follow
    THEN each run records the hash of the bytes it parsed, and later runs land the rest (4 of 4 rows)."""
    drops, lake = tmp_path / "drops", tmp_path / "lake"
    full = pos_csv(DT, 4)
    row_starts = [index + 2 for index in range(len(full)) if full[index : index + 2] == b"\r\n"][:-1]
    cut = [row_starts[2] + 20, row_starts[3] + 20, len(full)]  # mid-row, in its ASCII receipt number
    path = put(drops, pos_path(DT), full[: cut[0]])
    read, pending = store.read_drop_file, list(cut[1:])

    def read_then_grow(target: Path) -> bytes:
        data = read(target)
        if target == path and pending:
            target.write_bytes(full[: pending.pop(0)])
        return data

    monkeypatch.setattr(store, "read_drop_file", read_then_grow)
    recorded = []
    for _ in range(4):
        ingest_files(drops, lake, RUN)
        entry = entries(lake)[pos_path(DT)]
        recorded.append((entry["sha256"], entry["landed"]))
        assert load_registry(lake).by_path[pos_path(DT)] == entry["sha256"], "the registry holds the bytes parsed"

    assert [landed for _, landed in recorded] == [2, 3, 4, 4]
    assert len(landed(lake, "pos_lines", DT)) == 4 and quarantined(lake, "pos_lines", DT).empty
    assert ingest_files(drops, lake, RUN)["partitions"] == []


def test_the_registry_is_written_only_after_the_partition_landed(tmp_path, monkeypatch):
    drops, lake = tmp_path / "drops", tmp_path / "lake"
    put(drops, pos_path(DT), pos_csv(DT))

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(store, "write_partition", crash)
    with pytest.raises(OSError):
        ingest_files(drops, lake, RUN)
    assert load_registry(lake).by_path == {}
    monkeypatch.undo()
    assert ingest_files(drops, lake, RUN)["partitions"] == [("pos_lines", DT)], "the next run loads the file"
    assert not list((lake / "_state").glob("*.tmp"))


def test_a_format_1_registry_reloads_nothing(tmp_path):
    """Lakes landed before the content-hash registry keep their files: nothing reloads after the upgrade."""
    drops, lake = tmp_path / "drops", tmp_path / "lake"
    put(drops, pos_path(DT), pos_csv(DT))
    ingest_files(drops, lake, RUN)
    registry = load_registry(lake)
    (lake / "_state/processed_files.json").write_text(json.dumps(registry.by_path), encoding="utf-8")

    assert ingest_files(drops, lake, RUN)["partitions"] == []
    assert load_registry(lake).by_hash == registry.by_hash


def test_a_resend_arriving_later_on_a_later_run_replaces_the_day(tmp_path):
    """The issue's correction scenario across two runs: the day is reloaded and the resend's amounts win."""
    drops, lake = tmp_path / "drops", tmp_path / "lake"
    put(drops, pos_path(DT), pos_csv(DT), order=0)
    ingest_files(drops, lake, RUN)
    rows = [pos_row(DT, 1), pos_row(DT, 2, amount="179.00", unit_price="179.00"), pos_row(DT, 3)]
    put(drops, pos_path(DT, suffix="_resend"), rows_of(DT, *rows), order=86_400)

    assert ingest_files(drops, lake, RUN)["partitions"] == [("pos_lines", DT)]
    check_corrected(lake, DT)
    assert_lake_agrees(lake)


def test_quarantine_keeps_at_most_2000_characters_of_a_record(tmp_path):
    drops, lake = tmp_path / "drops", tmp_path / "lake"
    put(drops, pos_path(DT), huge_header(DT))
    ingest_files(drops, lake, RUN)
    raw = quarantined(lake, "pos_lines", DT).sort_values("line")["raw"]
    header_length = len(",".join(POS)) + 1 + 50_000_000
    assert raw.str.len().max() < 2_100 and f"({header_length} characters)" in raw.iloc[0]


def test_a_file_that_cannot_be_opened_is_listed_and_the_others_land(tmp_path, monkeypatch):
    drops, lake = tmp_path / "drops", tmp_path / "lake"
    put(drops, pos_path(DT), pos_csv(DT))
    put(drops, pos_path(DT, "S0002"), rows_of(DT, pos_row(DT, 9, store_id="S0002")))
    read = store.read_drop_file

    def refuse_one(path: Path) -> bytes:
        if path.name.startswith("pos_S0002"):
            raise PermissionError(13, "Permission denied")
        return read(path)

    monkeypatch.setattr(store, "read_drop_file", refuse_one)
    ingest_files(drops, lake, RUN)

    found = entries(lake)
    assert outcome(found[pos_path(DT)]) == Outcome(3, 3, 0, 0)
    assert outcome(found[pos_path(DT, "S0002")]) == Outcome(0, 0, 0, 0)
    assert "Permission denied" in found[pos_path(DT, "S0002")]["reason"]
    assert ingest_files(drops, lake, RUN)["partitions"] == [], "retried when the file or its mode changes"
