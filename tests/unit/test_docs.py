"""What the pages say, checked against the code they describe."""

from __future__ import annotations

import configparser
import os
import re

from oslo_log import handlers

from opsflow.cli.exits import ExitCode

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def _read(*parts: str) -> str:
    with open(os.path.join(REPO, *parts), encoding="utf-8") as handle:
        return handle.read()


def _section(text: str, title: str) -> str:
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_systemd_unit_treats_a_suspended_run_as_success():
    section = _section(_read("docs", "operator-guide.md"), "Running from systemd")
    unit = configparser.ConfigParser(interpolation=None)
    unit.read_string(section.split("```ini\n", 1)[1].split("```", 1)[0])
    assert unit["Service"]["SuccessExitStatus"] == str(int(ExitCode.SUSPENDED))
    assert unit["Service"]["ExecStart"].split()[0].endswith("/opsflow-run")


def test_the_journald_priorities_are_those_oslo_log_sends():
    section = _section(_read("docs", "operator-guide.md"), "Running from systemd")
    rows = re.findall(r"\|\s*([A-Z]+)\s*\|\s*(\d) \(\w+\)\s*\|", section)
    assert len(rows) == 5
    for level, priority in rows:
        assert handlers.SYSLOG_MAP[level] == int(priority), level


def test_no_page_or_module_cites_a_text_outside_the_repository():
    cited = re.compile(r"SPEC|[Ss]ection [0-9]")
    found = []
    for top in ("README.md", "docs", "opsflow", "plugins"):
        root = os.path.join(REPO, top)
        paths = (
            [root]
            if os.path.isfile(root)
            else [
                os.path.join(folder, name)
                for folder, _dirs, names in os.walk(root)
                for name in names
                if name.endswith((".md", ".py", ".cfg", ".yaml", ".j2"))
            ]
        )
        for path in paths:
            with open(path, encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    if cited.search(line):
                        found.append(f"{os.path.relpath(path, REPO)}:{number}")
    assert found == []
