"""YAML within limits: alias expansion, loops, nesting and size."""

from __future__ import annotations

import pytest
import yaml

from opsflow import safeyaml
from opsflow.yamlflows import marks


def load(text: str):
    loader = yaml.SafeLoader(text)
    try:
        return safeyaml.load(loader)
    finally:
        loader.dispose()


def laughs(levels: int) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 10)}]")
    return "\n".join(lines)


def test_a_billion_laughs_is_refused_before_anything_is_built():
    with pytest.raises(safeyaml.YamlLimitExceeded, match="aliases expand to") as err:
        load(laughs(9))
    assert (err.value.line, err.value.column) == (1, 1)


def test_aliases_that_add_fewer_values_than_the_limit_load_as_usual():
    data = load(laughs(3))  # 10 + 100 + 1,000 + 10,000 values
    assert len(data["a3"]) == 10 and data["a3"][0] is data["a2"]


def test_merge_keys_and_shared_blocks_load_as_usual():
    data = load("base: &base {a: 1, b: 2}\none: {<<: *base, b: 3}\ntwo: *base\n")
    assert data["one"] == {"a": 1, "b": 3} and data["two"] == {"a": 1, "b": 2}


def test_an_alias_loop_is_refused():
    with pytest.raises(safeyaml.YamlLimitExceeded, match="loop") as err:
        load("x: 1\nhosts: &h [a, *h]\n")
    assert err.value.line == 2


def test_deep_nesting_is_measured_without_overflowing_the_stack():
    node = yaml.SequenceNode("tag:yaml.org,2002:seq", [])
    for _ in range(50_000):
        node = yaml.SequenceNode("tag:yaml.org,2002:seq", [node])
    safeyaml.check_aliases(node)  # no RecursionError


def test_a_file_over_its_limit_is_refused_and_one_at_it_is_read(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_bytes(b"x" * 1024)
    assert safeyaml.read_limited(str(path), 1024) == b"x" * 1024
    with pytest.raises(safeyaml.YamlLimitExceeded, match="larger than 1023 bytes"):
        safeyaml.read_limited(str(path), 1023)


def test_a_marked_load_refuses_a_bomb_with_its_place():
    with pytest.raises(marks.OverLimit) as err:
        marks.load("name: x\n" + laughs(9), "f.yaml")
    assert str(err.value.mark) == "f.yaml:1:1"
    assert "aliases expand to" in err.value.problem


def test_a_marked_load_with_top_keys_refuses_other_documents_without_quoting():
    with pytest.raises(marks.UnexpectedDocument) as err:
        marks.load("root:$6$hash: x\n", "shadow", top_keys=("name", "steps"))
    assert "hash" not in str(err.value)
    assert marks.load("# only a comment\n", "f", top_keys=("name",)) is None
    assert marks.load("name: x\n", "f", top_keys=("name",)) == {"name": "x"}
