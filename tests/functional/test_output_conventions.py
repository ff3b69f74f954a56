"""The listings' output formats (``-f``, ``-c``), ``--version``, ``--list``'s
plain descriptions, unknown ``--store`` keys and ``--graph`` file names,
through the installed ``opsflow-run``."""

from __future__ import annotations

import csv
import io
import json
from importlib import metadata

import yaml


def test_version_is_the_installed_distributions(cli):
    proc = cli.run("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"opsflow-run {metadata.version('opsflow')}\n"


def test_list_shows_plain_first_sentences(cli):
    proc = cli.run("--list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # The docstring says ``delay`` seconds: markup off, first sentence only
    assert (
        "  demo.step  One unit of work: takes delay seconds, reports progress, "
        "writes a file" in lines
    )
    # An abbreviation does not end the sentence
    assert (
        "  linux.address  Add address (CIDR, e.g. 10.0.0.1/30) to ifname, in netns"
        in (lines)
    )
    assert not [line for line in lines if "``" in line or ":class:`" in line]


def _rows(cli, *args):
    proc = cli.run(*args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_list_as_rows_in_every_format(cli):
    as_json = json.loads(
        _rows(cli, "--list", "-f", "json", "-c", "name", "-c", "status")
    )
    assert {"name": "fixture-ok", "status": "ok"} in as_json
    assert {"name": "fixture-broken", "status": "BROKEN"} in as_json
    assert all(list(row) == ["name", "status"] for row in as_json)
    as_yaml = yaml.safe_load(_rows(cli, "--list", "-f", "yaml", "-c", "NAME"))
    assert {"name": "demo"} in as_yaml
    table = list(csv.reader(io.StringIO(_rows(cli, "--list", "-f", "csv"))))
    assert table[0] == [
        "namespace",
        "name",
        "status",
        "description",
        "target",
        "distribution",
    ]
    assert [
        "opsflow.flows",
        "fixture-ok",
        "ok",
        "Succeed in one step, returning the count and its type",
        "opsflow_fixture_good.flows:ok_flow",
        "opsflow-fixture-good",
    ] in table
    values = _rows(cli, "--list", "-f", "value", "-c", "namespace", "-c", "name")
    assert "opsflow.tasks demo.step\n" in values
    boxed = _rows(cli, "--list", "-c", "name").splitlines()
    assert boxed[:3] == [boxed[0], boxed[1], boxed[0]]  # rule, header, rule
    assert boxed[1].split() == ["|", "name", "|"]
    assert any(line.split() == ["|", "fixture-ok", "|"] for line in boxed)


def test_unknown_column_is_a_usage_error_listing_the_columns(cli):
    proc = cli.run("--list", "-c", "nmae")
    assert proc.returncode == 64
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines()[-1] == (
        "opsflow-run: error: -c nmae: --list has no such column; its columns: "
        "namespace, name, status, description, target, distribution"
    )


def test_history_and_show_steps_as_rows(cli):
    ran = cli.run("fixture-ok", "--store", "count=4")
    assert ran.returncode == 0, ran.stderr
    run_id = ran.stdout.split("run ", 2)[1].split()[0]
    history = _rows(cli, "--history", "-f", "value", "-c", "run_id", "-c", "state")
    assert history == f"{run_id} SUCCESS\n"
    steps = list(
        csv.reader(io.StringIO(_rows(cli, "--show", "last", "-f", "csv", "-c", "step")))
    )
    assert steps == [["step"], ["typed"]]
    shown = json.loads(_rows(cli, "--show", run_id[:8], "-f", "json", "-c", "result"))
    assert shown == [{"result": {"count": 4, "type": "int"}}]
    unknown = cli.run("--history", "-c", "flw")
    assert unknown.returncode == 64
    assert "run_id, flow, state, started_at, updated_at, note" in unknown.stderr


def test_json_without_columns_keeps_each_listings_document(cli):
    listing = json.loads(_rows(cli, "--list", "--format", "json"))
    assert "fixture-ok" in [p["name"] for p in listing["opsflow.flows"]["plugins"]]
    assert json.loads(_rows(cli, "--history", "-f", "json")) == []


def test_row_formats_go_with_listings_only(cli, marker_dir):
    proc = cli.run("fixture-ok", "-f", "csv")
    assert proc.returncode == 64
    assert "go with a listing: --list, --history or --show RUN_ID" in proc.stderr
    assert json.loads(_rows(cli, "--history", "--format", "json")) == []


def test_unknown_store_key_warns_with_the_closest_input_and_the_run_goes_on(cli):
    proc = cli.run("fixture-ok", "--store", "cuont=2", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert (
        "opsflow-run: warning: store key cuont is taken by no step of flow "
        "fixture-ok nor by its factory (did you mean count?); going on"
    ) in proc.stderr.splitlines()
    assert json.loads(proc.stdout)["state"] == "SUCCESS"
    # A key the factory takes is used, so no warning; nor for a factory
    # that takes any key
    for args in (
        ["fixture-ok", "--store", "count=2"],
        ["fixture-kwargs", "--store", "x=1"],
    ):
        quiet = cli.run(*args, "--dry-run")
        assert quiet.returncode == 0, quiet.stderr
        assert "warning" not in quiet.stderr


def test_graph_with_an_extension_no_format_has_is_a_usage_error(cli, tmp_path):
    picture = tmp_path / "flow.jpg"
    proc = cli.run("fixture-ok", "--graph", str(picture))
    assert proc.returncode == 64
    assert not picture.exists()
    line = proc.stderr.strip().splitlines()[-1]
    assert "no picture format is written as .jpg" in line
    assert ".dot, .gv, .svg, .png, .mmd" in line
    assert "--graph-format dot|svg|png|mermaid|text" in line
    # --graph-format says what to write, whatever the name
    forced = cli.run("fixture-ok", "--graph", str(picture), "--graph-format", "dot")
    assert forced.returncode == 0, forced.stderr
    assert picture.read_text().startswith("digraph")
