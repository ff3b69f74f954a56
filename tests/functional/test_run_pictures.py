"""Pictures of runs that went wrong, and of long flows, through ``opsflow-run``."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET

import pytest
from test_views import Views


@pytest.fixture
def views(cli, tmp_path):
    return Views(cli, tmp_path)


def _draw(views, run_id, tmp_path, name):
    proc = views.cli.run("--show", run_id, "--graph", str(tmp_path / name))
    assert proc.returncode == 0, proc.stderr
    return (tmp_path / name).read_text()


def test_a_failure_run_marks_its_failure_and_what_needs_a_person(views, tmp_path):
    # Given a run that failed at c, whose revert of b then failed
    with open(views.blocker, "w", encoding="utf-8") as handle:
        handle.write("b\n")
    assert views.run("views-linear", fail_at="c").returncode == 2
    run_id = views.last_run_id()
    # When its picture is drawn
    text = _draw(views, run_id, tmp_path, "run.txt")
    dot = _draw(views, run_id, tmp_path, "run.dot")
    mermaid = _draw(views, run_id, tmp_path, "run.mmd")
    # Then c is the step that failed, b's revert failed, a is still applied
    assert re.search(r"3\. c  REVERTED failed here", text)
    assert "2. b  REVERT_FAILURE" in text
    assert "1. a  needs a person (SUCCESS)" in text
    assert text.endswith("reverted: c\nrevert failed: b\nneeds a person: a\n")
    assert '"a" [label="1. a\\nneeds a person (SUCCESS) ' in dot
    assert "#c8e6c9" not in dot  # nothing is drawn as a green success
    # And no undo arrow points into b (c alone was reverted: no arrow at all)
    assert 'label="undo ' not in dot
    assert "class s1 NEEDS_PERSON" in mermaid and "class s3 failedHere" in mermaid


def test_a_reverted_run_joins_its_reverts_in_order(views, tmp_path):
    assert views.run("views-linear", fail_at="c").returncode == 1
    dot = _draw(views, views.last_run_id(), tmp_path, "run.dot")
    undo = re.findall(r'"(\w)" -> "(\w)" \[color="#c62828".*label="undo (\d)"', dot)
    assert undo == [("c", "b", "1"), ("b", "a", "2")]
    assert '"c" [label="3. c\\nREVERTED failed here ' in dot


def test_a_run_whose_flow_file_is_gone_is_drawn_from_its_stored_steps(views, tmp_path):
    # Given a run of a YAML flow, then its file removed
    assert views.run("views-linear", fail_at="c").returncode == 1
    run_id = views.last_run_id()
    (tmp_path / "flows.d" / "views-linear.yaml").unlink()
    # When the run is drawn
    text = _draw(views, run_id, tmp_path, "run.txt")
    dot = _draw(views, run_id, tmp_path, "run.dot")
    # Then every stored step is there, with a note that the links are missing
    lines = text.splitlines()
    assert lines[1].startswith("links are missing: the run's flow could not be")
    for index, name in enumerate("abcd", start=1):
        assert f"{index}. {name}" in text
    assert "links are missing" in dot.split("\n", 3)[2]
    assert not re.search(r'"\w" -> "\w";', dot)


def test_a_long_linear_flow_is_drawn_top_to_bottom(cli, tmp_path):
    long = tmp_path / "long.dot"
    short = tmp_path / "short.dot"
    assert cli.run("demo", "--store", "steps=10", "--graph", str(long)).returncode == 0
    assert cli.run("demo", "--graph", str(short)).returncode == 0
    assert "  rankdir=TB;" in long.read_text()  # 12 steps in a chain
    assert "  rankdir=LR;" in short.read_text()  # 6


@pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="Graphviz's dot is not installed (apt-get install graphviz); "
    ".ci/run installs it",
)
def test_a_long_flow_svg_is_taller_than_it_is_wide(cli, tmp_path):
    svg = tmp_path / "long.svg"
    proc = cli.run("demo", "--store", "steps=10", "--graph", str(svg))
    assert proc.returncode == 0, proc.stderr
    root = ET.parse(svg).getroot()
    width, height = (float(root.get(key).rstrip("pt")) for key in ("width", "height"))
    assert height > 3 * width
