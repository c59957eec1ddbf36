"""`make bench`: measure what the issues ask at the scale they name and write it to BENCHMARKS.md."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

from siyu.world.generate import generate
from siyu.world.spec import WorldSpec

BENCHMARKS = Path(__file__).resolve().parents[2] / "BENCHMARKS.md"


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


def main() -> None:
    parser = argparse.ArgumentParser(description="siyu benchmarks")
    parser.add_argument("--scale", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    body = bench_world(args.scale, args.seed)
    write_section(f"world-{args.scale}", body)
    print(body)
    print(json.dumps({"written": str(BENCHMARKS)}))


if __name__ == "__main__":
    main()
