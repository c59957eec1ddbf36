"""What stores and the archive service leave in folders: daily POS and member CSVs per store, with the
flaws real files have, and daily session-archive JSONL. Deterministic for a world and seed; the flaws
written are listed in the world's truth folder."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from siyu_sim.world.spec import CHINA_TZ, DAY_SECONDS

log = logging.getLogger(__name__)
POS_COLUMNS = [
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
MEMBER_COLUMNS = ["card_no", "store_id", "phone", "name", "gender", "birthday", "registered_at", "marketing_opt_in"]
ENCODINGS = ("utf-8", "utf-8-sig", "gbk")
STORE_MASTER_COLUMNS = ["store_id", "store_name", "city", "opened_on"]
STAFF_COLUMNS = ["userid", "name", "store_id", "status"]
MASTER_ENCODING = "gbk"  # the vendor's head-office export, written by a zh-CN Windows machine


def store_encoding(store_id: str, seed: int) -> str:
    """Each store's till writes one encoding: most UTF-8, some with a BOM, some GBK."""
    draw = np.random.default_rng([seed, int(store_id[1:])]).random()
    return ENCODINGS[0] if draw < 0.6 else ENCODINGS[1] if draw < 0.8 else ENCODINGS[2]


def _day_of(ts: pd.Series, start_ts: int) -> pd.Series:
    return (ts - start_ts) // DAY_SECONDS


def _date(day: int, start_ts: int) -> str:
    return datetime.fromtimestamp(start_ts + day * DAY_SECONDS, CHINA_TZ).strftime("%Y-%m-%d")


def _fmt_ts(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, unit="s", utc=True).dt.tz_convert(CHINA_TZ).dt.strftime("%Y-%m-%d %H:%M:%S")


def write_store_drops(world_dir: Path, out: Path, first_day: int = 0, last_day: int | None = None) -> dict:
    """Write pos/<store>/pos_<store>_<date>.csv and members/<store>/members_<store>_<date>.csv for days
    [first_day, last_day]. Flaws: duplicated lines, bad dates, a truncated last line (the file is sent again
    complete the next day as ..._resend.csv)."""
    meta = json.loads((world_dir / "world.json").read_text(encoding="utf-8"))
    seed, start_ts = meta["seed"], meta["start_ts"]
    last_day = meta["days"] - 1 if last_day is None else last_day
    rng = np.random.default_rng([seed, 7001])
    pos = pd.read_parquet(world_dir / "store/pos_lines.parquet")
    pos["day"] = _day_of(pos["sold_at"], start_ts)
    pos = pos[(pos["day"] >= first_day) & (pos["day"] <= last_day)]
    pos_out = pd.DataFrame(
        {
            "receipt_no": pos["receipt_no"],
            "line_no": pos["line_no"],
            "store_id": pos["store_id"],
            "sold_at": _fmt_ts(pos["sold_at"]),
            "card_no": pos["card_no"],
            "phone": pos["phone"],
            "salesperson": pos["salesperson"],
            "sku": pos["sku"],
            "category": pos["category"],
            "qty": pos["qty"],
            "unit_price": (pos["unit_price_fen"] / 100).map("{:.2f}".format),
            "amount": (pos["amount_fen"] / 100).map("{:.2f}".format),
            "day": pos["day"],
        }
    )
    members = pd.read_parquet(world_dir / "store/members.parquet")
    members["day"] = _day_of(members["registered_at"], start_ts).clip(lower=0)
    members = members[(members["day"] >= first_day) & (members["day"] <= last_day)]
    members_out = members.assign(
        registered_at=_fmt_ts(members["registered_at"]),
        marketing_opt_in=members["marketing_opt_in"].map({True: "Y", False: "N"}),
    )

    flaws: list[dict] = []
    files = 0
    for kind, frame, columns in (("pos", pos_out, POS_COLUMNS), ("members", members_out, MEMBER_COLUMNS)):
        for (store_id, day), rows in frame.groupby(["store_id", "day"], sort=True):
            name = f"{kind}_{store_id}_{_date(day, start_ts)}"
            lines = [list(map(str, r)) for r in rows[columns].itertuples(index=False)]
            file_flaws = []
            if kind == "pos":
                for index in range(len(lines)):
                    draw = rng.random()
                    if draw < 0.004:
                        lines[index][3] = "2025-13-45 25:61:00"
                        file_flaws.append(("bad_date", index, lines[index]))
                    elif draw < 0.008:
                        file_flaws.append(("duplicate_line", index, lines[index]))
                duplicates = [entry for entry in file_flaws if entry[0] == "duplicate_line"]
                for offset, (_, index, line) in enumerate(duplicates):
                    lines.insert(index + offset + 1, list(line))
            truncated = kind == "pos" and len(lines) > 1 and rng.random() < 0.05
            encoding = store_encoding(store_id, seed)
            target = out / kind / store_id / f"{name}.csv"
            _write_csv(target, columns, lines, encoding, truncate_last=truncated)
            files += 1
            for flaw, index, line in file_flaws:
                flaws.append(
                    {
                        "file": str(target.relative_to(out)),
                        "flaw": flaw,
                        "receipt_no": line[0],
                        "line_no": int(line[1]),
                        "source_row": index,
                    }
                )
            if truncated:
                flaws.append(
                    {
                        "file": str(target.relative_to(out)),
                        "flaw": "truncated_last_line",
                        "receipt_no": lines[-1][0],
                        "line_no": int(lines[-1][1]),
                        "source_row": len(lines) - 1,
                    }
                )
                resend = out / kind / store_id / f"{name}_resend.csv"
                _write_csv(resend, columns, lines, encoding, truncate_last=False)
                files += 1
                flaws.append(
                    {
                        "file": str(resend.relative_to(out)),
                        "flaw": "resent_complete",
                        "receipt_no": "",
                        "line_no": 0,
                        "source_row": -1,
                    }
                )
    files += write_master_data(world_dir, out, last_day)
    truth_dir = world_dir / "truth"
    truth_dir.mkdir(exist_ok=True)
    pd.DataFrame(flaws, columns=["file", "flaw", "receipt_no", "line_no", "source_row"]).to_parquet(
        truth_dir / "store_drop_flaws.parquet", index=False
    )
    summary = {"files": files, "flaws": len(flaws), "pos_lines": len(pos_out), "member_rows": len(members_out)}
    log.info("store drops: %s", summary)
    return summary


def write_master_data(world_dir: Path, out: Path, day: int) -> int:
    """The store system's master data as of the end of `day`, as full snapshots: stores/stores_<date>.csv
    (门店档案) and staff/staff_<date>.csv (导购档案; a guide who left is listed as resigned). Returns the
    number of files written."""
    meta = json.loads((world_dir / "world.json").read_text(encoding="utf-8"))
    start_ts = meta["start_ts"]
    dated = _date(day, start_ts)
    stores = pd.read_parquet(world_dir / "store/stores.parquet")
    opened = _fmt_ts(stores["opened_at"]).str[:10]
    store_lines = [
        list(row) for row in zip(stores["store_id"], stores["store_name"], stores["city"], opened, strict=True)
    ]
    staff = pd.read_parquet(world_dir / "wecom/staff.parquet")
    resigned = staff["resigned_at"] < start_ts + (day + 1) * DAY_SECONDS  # null (still employed) is False
    staff_lines = [
        [userid, name, store_id, "resigned" if left else "active"]
        for userid, name, store_id, left in zip(
            staff["userid"], staff["name"], staff["store_id"], resigned, strict=True
        )
    ]
    _write_csv(out / "stores" / f"stores_{dated}.csv", STORE_MASTER_COLUMNS, store_lines, MASTER_ENCODING, False)
    _write_csv(out / "staff" / f"staff_{dated}.csv", STAFF_COLUMNS, staff_lines, MASTER_ENCODING, False)
    return 2


def _write_csv(path: Path, columns: list[str], lines: list[list[str]], encoding: str, truncate_last: bool) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows(lines)
    text = buffer.getvalue()
    if truncate_last:
        last_line_start = text.rstrip("\r\n").rfind("\r\n") + 2
        text = text[: last_line_start + max(1, (len(text) - last_line_start) // 2)]
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".part")
    temporary.write_bytes(text.encode(encoding))
    temporary.replace(path)


def write_archive(world_dir: Path, out: Path, first_day: int = 0, last_day: int | None = None) -> dict:
    """Daily JSONL of decrypted session-archive messages: archive/YYYY-MM-DD.jsonl."""
    meta = json.loads((world_dir / "world.json").read_text(encoding="utf-8"))
    start_ts = meta["start_ts"]
    last_day = meta["days"] - 1 if last_day is None else last_day
    messages = pd.read_parquet(world_dir / "wecom/messages.parquet")
    day = (messages["msgtime"] // 1000 - start_ts) // DAY_SECONDS
    messages = messages[(day >= first_day) & (day <= last_day)]
    by_day = dict(tuple(messages.groupby(day[messages.index], sort=True)))
    files = 0
    for number in range(first_day, last_day + 1):
        # A day without messages still gets its (empty) file, so a reader knows the day is complete.
        rows = by_day.get(number, messages.iloc[:0])
        target = out / "archive" / f"{_date(int(number), start_ts)}.jsonl"
        target.parent.mkdir(parents=True, exist_ok=True)
        columns = ("msgid", "action", "from", "tolist", "roomid", "msgtime", "msgtype", "content")
        with target.with_suffix(".part").open("w", encoding="utf-8") as handle:
            for msgid, action, sender, tolist, roomid, msgtime, msgtype, content in zip(
                *(rows[c] for c in columns), strict=True
            ):
                handle.write(
                    json.dumps(
                        {
                            "msgid": msgid,
                            "action": action,
                            "from": sender,
                            "tolist": list(tolist),
                            "roomid": roomid,
                            "msgtime": int(msgtime),
                            "msgtype": msgtype,
                            "text": {"content": content},
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
        target.with_suffix(".part").replace(target)
        files += 1
    return {"files": files, "messages": len(messages)}


def write_visits(world_dir: Path, out: Path, first_day: int = 0, last_day: int | None = None) -> dict:
    """Daily JSONL of the shop's visit tracking (the mini-program/H5 analytics export): tracking/YYYY-MM-DD.jsonl,
    one visit per line: visit_id, visitor_id (yz_open_id, or an anonymous id), visit_time (unix seconds),
    source and source_ref (a group chat_id, a guide userid or a referrer's yz_open_id when known)."""
    meta = json.loads((world_dir / "world.json").read_text(encoding="utf-8"))
    start_ts = meta["start_ts"]
    last_day = meta["days"] - 1 if last_day is None else last_day
    visits = pd.read_parquet(world_dir / "shop/visits.parquet")
    day = (visits["visit_time"] - start_ts) // DAY_SECONDS
    visits = visits[(day >= first_day) & (day <= last_day)]
    by_day = dict(tuple(visits.groupby(day[visits.index], sort=True)))
    files = 0
    columns = ("visit_id", "visitor_id", "visit_time", "source", "source_ref")
    for number in range(first_day, last_day + 1):
        rows = by_day.get(number, visits.iloc[:0])
        target = out / "tracking" / f"{_date(int(number), start_ts)}.jsonl"
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.with_suffix(".part").open("w", encoding="utf-8") as handle:
            for values in zip(*(rows[c] for c in columns), strict=True):
                record = dict(zip(columns, values, strict=True))
                record["visit_time"] = int(record["visit_time"])
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        target.with_suffix(".part").replace(target)
        files += 1
    return {"files": files, "visits": len(visits)}
