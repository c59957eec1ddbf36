"""The README's commands are true: every `make` target it names exists, every `siyu` command and option it
shows is one the CLI has (and every CLI option says what it does), the world and simulator commands run
as written, and its SQL and Python run on a built warehouse."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from siyu.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
SIYU = [sys.executable, "-m", "siyu.cli"]


def fenced(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def bash_commands() -> list[str]:
    """Each command line of the README's bash blocks, without its trailing comment."""
    lines = []
    for block in fenced("bash"):
        for line in block.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                lines.append(command)
    return lines


def inline_commands(prefixes: tuple[str, ...]) -> list[str]:
    """Code spans in the prose that are commands (start with one of `prefixes`)."""
    prose = re.sub(r"```.*?```", "", README, flags=re.S)
    spans = (" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose))
    return [span for span in spans if span.startswith(prefixes)]


def siyu_commands() -> list[list[str]]:
    """Every siyu command the README shows, as arguments after `siyu` (optional parts in [...] included)."""
    found = []
    for text in bash_commands() + inline_commands(("siyu ", ".venv/bin/siyu ")):
        for command in re.findall(r"(?:\.venv/bin/)?\bsiyu [a-z][^`|;&]*", text):
            found.append(shlex.split(command.replace("[", " ").replace("]", " "))[1:])
    return found


def subcommand_parsers(parser: argparse.ArgumentParser, path=()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from subcommand_parsers(sub, (*path, name))


def test_every_cli_option_says_what_it_does():
    undescribed = [
        f"siyu {' '.join(path)} {action.option_strings or action.dest}"
        for path, parser in subcommand_parsers(build_parser())
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction) and not action.help
    ]
    assert not undescribed, undescribed


def test_every_siyu_command_in_the_readme_exists_with_its_options():
    commands = siyu_commands()
    assert len(commands) >= 8, commands
    parsers = dict(subcommand_parsers(build_parser()))
    for arguments in commands:
        words = [word for word in arguments if not word.startswith("-")]
        path = ()
        while words and (*path, words[0]) in parsers:
            path = (*path, words.pop(0))
        assert path and path in parsers, f"siyu {' '.join(arguments)}: no such command"
        known = {option for action in parsers[path]._actions for option in action.option_strings}
        used = {word.split("=")[0] for word in arguments if word.startswith("--")}
        assert used <= known, f"siyu {' '.join(arguments)}: unknown options {used - known}"


def test_every_make_target_in_the_readme_exists():
    spans = inline_commands(("make ",))
    targets = {line.split()[1] for line in bash_commands() + spans if line.startswith("make ")}
    assert {"demo", "test", "airflow", "docs"} <= targets
    for target in sorted(targets):
        dry = subprocess.run(["make", "-n", target], cwd=REPO, capture_output=True, text=True)
        assert dry.returncode == 0, f"make {target}: {dry.stderr}"


def test_docker_compose_commands_match_the_compose_file():
    compose = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    for command in bash_commands():
        if "docker compose" in command:
            profile = re.search(r"--profile (\S+)", command)
            assert not profile or re.search(rf"profiles:\s*\[?\s*\"?{profile.group(1)}", compose), command
            for variable in re.findall(r"\b([A-Z_]+)=\.\.\.", command):
                assert variable in compose, f"{variable} is not read by docker-compose.yml"


def test_the_readme_does_not_send_analysts_to_a_cli_that_cannot_open_the_warehouse():
    # PyPI's duckdb-cli stops at 1.5.6, which cannot open a file written by the DuckDB siyu locks (2.0.0).
    assert "pip install duckdb-cli" not in README


@pytest.mark.integration
def test_world_and_simulator_commands_run_as_written(tmp_path):
    """The README's world, drops and serve commands, with `data/` under a temporary folder."""
    shown = [command for command in bash_commands() if re.match(r"\.venv/bin/siyu (world|sim) ", command)]
    assert len(shown) == 3, shown
    for command in shown:
        arguments = shlex.split(re.sub(r"\[[^]]*\]", "", command).replace("data/", f"{tmp_path}/"))[1:]
        if arguments[:2] == ["sim", "serve"]:
            port = arguments[arguments.index("--port") + 1]
            server = subprocess.Popen([*SIYU, *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                for _ in range(120):
                    try:
                        if httpx.get(f"http://127.0.0.1:{port}/_sim/health", timeout=1).status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.5)
                else:
                    pytest.fail(f"{command}: no answer on port {port}")
            finally:
                server.terminate()
                server.wait(timeout=30)
        else:
            subprocess.run([*SIYU, *arguments], check=True, capture_output=True, timeout=600)
    assert (tmp_path / "world" / "world.json").exists()
    assert any((tmp_path / "drops" / "pos").rglob("*.csv"))


@pytest.mark.integration
def test_the_readme_queries_run_on_a_built_warehouse(world_warehouse):
    """Every SQL statement and the Python snippet of the README, on the small world's warehouse (paths
    under data/demo/ pointed at it), through `siyu sql`."""
    lake = world_warehouse.parents[1] / "lake"
    statements = [
        statement.strip()
        for block in fenced("sql")
        for statement in re.sub(r"--[^\n]*", "", block).split(";")
        if statement.strip()
    ]
    assert len(statements) >= 4
    for statement in statements:
        statement = statement.replace("data/demo/lake", str(lake))
        ran = subprocess.run(
            [*SIYU, "sql", statement, "--warehouse", str(world_warehouse), "--csv"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ran.returncode == 0, f"{statement}\n{ran.stderr}"
        if "where not is_available" not in statement:  # lists what is missing: empty for a brand with every source
            assert len(ran.stdout.splitlines()) >= 2, f"{statement} returned no rows"
    (python,) = fenced("python")
    snippet = python.replace("data/demo/warehouse/siyu.duckdb", str(world_warehouse))
    namespace: dict = {}
    exec(compile(snippet.replace("\ncon.sql(", "\nresult = con.sql("), "README", "exec"), namespace)
    assert len(namespace["result"]) > 0


@pytest.mark.integration
def test_siyu_docs_writes_one_file_that_needs_no_server(world_warehouse, tmp_path):
    lake = world_warehouse.parents[1] / "lake"
    out = tmp_path / "docs"
    env = {**os.environ, "SIYU_LAKE_DIR": str(lake)}
    subprocess.run(
        [*SIYU, "docs", "--lake", str(lake), "--warehouse", str(world_warehouse), "--out", str(out)],
        check=True,
        capture_output=True,
        env=env,
        timeout=600,
    )
    page = (out / "static_index.html").read_text(encoding="utf-8")
    # The manifest and the catalog are inside the page: a browser needs nothing beside it.
    assert "schemas.getdbt.com/dbt/manifest/" in page and "schemas.getdbt.com/dbt/catalog/" in page
    assert "dim_customers" in page


@pytest.mark.integration
def test_airflow_and_dbt_commands_in_the_readme_have_their_options():
    """`airflow backfill create ...`, `airflow dags trigger ...` and `dbt build ...` as the README writes them:
    each subcommand exists and takes the options shown (`--help` of the venv's own airflow and dbt)."""
    binaries = Path(sys.executable).parent
    shown = inline_commands(("airflow ", "dbt ", "cd dbt_project")) + [
        line for line in bash_commands() if line.startswith(("airflow ", "dbt "))
    ]
    checked, helps = set(), {}
    for text in shown:
        command = re.search(r"\b(airflow|dbt) ([a-z]+(?: [a-z]+)?)(.*)", text.split("&&")[-1])
        tool, subcommand, rest = command.groups()
        words = subcommand.split()
        if tool == "airflow" and words[0] == "dags":
            words = words[:2]
        else:
            words = words[:1] if tool == "dbt" or words[0] != "backfill" else words[:2]
        key = (tool, *words)
        if key not in helps:
            helps[key] = subprocess.run(
                [str(binaries / tool), *words, "--help"], capture_output=True, text=True, timeout=300
            )
        helped = helps[key]
        assert helped.returncode == 0, f"{tool} {' '.join(words)}: {helped.stderr[-500:]}"
        for option in re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-c)\b", rest):
            assert option in helped.stdout, f"{text}: {tool} {' '.join(words)} has no {option}"
        checked.add(key)
    assert {("airflow", "backfill", "create"), ("airflow", "dags", "trigger"), ("dbt", "build")} <= checked
