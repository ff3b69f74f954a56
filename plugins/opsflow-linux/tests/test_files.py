"""Directory, file and template tasks: the revert gives back exactly what was there."""

from __future__ import annotations

import os
import stat

import pytest
from jinja2 import UndefinedError
from opsflow_linux.files import Directory, File, RemoveTree, Template


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_directory_with_missing_parents_is_created_and_its_revert_removes_them(
    tmp_path,
):
    target = tmp_path / "a" / "b" / "c"
    task = Directory(str(target), mode=0o750, name="dir")
    result = task.execute()
    assert target.is_dir() and mode_of(target) == 0o750
    assert result["created"] == str(tmp_path / "a")
    (target / "left-by-a-service").write_text("x")
    task.revert(result=result)
    task.revert(result=result)  # a second revert is harmless
    assert os.listdir(tmp_path) == []


def test_an_existing_directory_is_kept_and_gets_its_mode_back(tmp_path):
    target = tmp_path / "kept"
    target.mkdir(mode=0o700)
    (target / "old").write_text("old")
    task = Directory(str(target), mode=0o755, name="dir")
    result = task.execute()
    assert mode_of(target) == 0o755
    task.revert(result=result)
    assert mode_of(target) == 0o700
    assert os.listdir(target) == ["old"]


def test_a_file_that_existed_gets_its_bytes_and_mode_back(tmp_path):
    path = tmp_path / "conf"
    path.write_bytes(b"old \x00 bytes\n")
    os.chmod(path, 0o600)
    task = File(str(path), content="new\n", mode=0o644, name="file")
    result = task.execute()
    assert path.read_text() == "new\n" and mode_of(path) == 0o644
    task.revert(result=result)
    assert path.read_bytes() == b"old \x00 bytes\n" and mode_of(path) == 0o600
    assert os.listdir(tmp_path) == ["conf"]  # no temporary file left over


def test_a_file_it_created_is_removed_on_revert(tmp_path):
    task = File(str(tmp_path / "new"), content=b"\x01", name="file")
    result = task.execute()
    task.revert(result=result)
    task.revert(result=result)
    assert os.listdir(tmp_path) == []


def test_a_failed_execute_leaves_nothing_for_the_revert(tmp_path):
    (tmp_path / "dir").mkdir()
    task = File(str(tmp_path / "dir"), content="x", name="file")
    with pytest.raises(FileExistsError, match="not a regular file"):
        task.execute()
    task.revert(result=object())  # the engine passes the failure
    assert os.listdir(tmp_path) == ["dir"]


def test_a_template_sees_its_variables_and_the_required_values(tmp_path):
    task = Template(
        "{where}/out.conf",
        "port={{ port }} name={{ name }}\n",
        variables={"name": "demo", "port": 1},
        requires=["port", "where"],
        name="tpl",
    )
    result = task.execute(port=8080, where=str(tmp_path))
    assert (tmp_path / "out.conf").read_text() == "port=8080 name=demo\n"
    assert result["path"] == str(tmp_path / "out.conf")


def test_an_undefined_template_name_is_an_error_and_writes_nothing(tmp_path):
    task = Template(str(tmp_path / "out"), "{{ missing }}", name="tpl")
    with pytest.raises(UndefinedError):
        task.execute()
    assert os.listdir(tmp_path) == []


def test_remove_tree_removes_a_directory_and_accepts_one_already_gone(tmp_path):
    (tmp_path / "d" / "e").mkdir(parents=True)
    task = RemoveTree(str(tmp_path / "d"), name="rm")
    assert task.execute()["removed"] is True
    assert task.execute()["removed"] is False
    assert os.listdir(tmp_path) == []


def test_replace_false_refuses_other_content_before_writing(tmp_path):
    path = tmp_path / "live.conf"
    path.write_text("live\n")
    task = File(str(path), content="new\n", replace=False, name="file")
    with pytest.raises(FileExistsError, match="already exists with other content"):
        task.execute()
    assert path.read_text() == "live\n"
    assert os.listdir(tmp_path) == ["live.conf"]


def test_replace_false_accepts_the_same_content_again(tmp_path):
    path = tmp_path / "conf"
    task = File(str(path), content="same\n", replace=False, name="file")
    task.execute()
    again = task.execute()  # a resumed run writes it again
    assert again["previous"] is not None and path.read_text() == "same\n"
