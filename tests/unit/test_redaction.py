"""Secrets scrubbed from results and failures; masking of values only."""

from __future__ import annotations

import collections
import io
import logging
import os
import stat

import pytest

from opsflow import exceptions, privatefiles, redaction
from opsflow.cli.masking import MASK, Masker
from opsflow.redaction import Redactor
from opsflow.types.failure import Failure

SECRET = "hunter2-Zq9"
redactor = Redactor.of_secrets({"password": SECRET, "pin": 48213})


def captured(exc: BaseException) -> Failure:
    try:
        raise exc
    except BaseException:
        return Failure()


# -- values ----------------------------------------------------------------------
def test_a_secret_is_scrubbed_from_strings_numbers_keys_and_nested_containers():
    Pair = collections.namedtuple("Pair", "a b")
    value = {
        "token": f"token-for-{SECRET}",
        SECRET: [SECRET, 48213, 7, ("x", f"pin {48213}")],
        "pair": Pair(SECRET, 1),
        "seen": {SECRET},
    }
    assert redactor.value(value) == {
        "token": "token-for-***",
        MASK: [MASK, MASK, 7, ("x", "pin ***")],
        "pair": Pair(MASK, 1),
        "seen": {MASK},
    }


def test_a_value_without_secrets_is_returned_as_the_same_object():
    value = {"a": ["b", 1, None, True], "c": ("d",)}
    assert redactor.value(value) is value
    assert redaction.NO_SECRETS.value(value) is value


def test_an_object_whose_repr_shows_a_secret_becomes_its_scrubbed_repr():
    class Token:
        def __repr__(self) -> str:
            return f"Token({SECRET})"

    assert redactor.value(Token()) == "Token(***)"


def test_a_longer_secret_that_contains_a_shorter_one_is_masked_whole():
    both = Redactor.of_secrets({"a": "abcd", "b": "abcdef"})
    assert both.text("xabcdefx abcd") == "x***x ***"


def test_the_texts_of_a_structured_secret_are_each_of_its_scalars():
    nested = Redactor.of_secrets({"db": {"user": "admin", "ports": [5432, None]}})
    assert sorted(nested.texts) == ["5432", "admin"]


@pytest.mark.parametrize(
    "secrets", [{"pin": "abc"}, {"pin": 42}, {"db": ["ok12", "x"]}]
)
def test_secrets_shorter_than_four_characters_are_refused(secrets):
    with pytest.raises(redaction.WeakSecret, match="shorter than 4 characters"):
        redaction.check_secrets(secrets)


def test_a_worker_is_told_only_the_secrets_its_arguments_carry():
    both = Redactor.of_secrets({"a": "first-secret", "b": "second-secret"})
    arguments = {"dsn": "postgresql://u:first-secret@db/x", "n": 3}
    assert both.found_in(arguments) == ["first-secret"]
    assert both.found_in({"n": 3}) == []


# -- failures --------------------------------------------------------------------
def test_a_failure_is_scrubbed_in_message_args_traceback_and_causes():
    try:
        try:
            raise KeyError(SECRET)
        except KeyError as exc:
            raise RuntimeError(f"login refused for {SECRET}", SECRET) from exc
    except RuntimeError:
        failure = Failure()
    assert SECRET in failure.traceback_str or SECRET in repr(
        failure.causes[0].to_dict()
    )
    scrubbed = redactor.failure(failure)
    assert SECRET not in repr(scrubbed.to_dict())
    assert scrubbed.exception_str == "('login refused for ***', '***')"
    assert scrubbed.exception_args == ("login refused for ***", MASK)
    assert scrubbed.causes[0].exception_str == "'***'"
    assert scrubbed.exc_type_names == failure.exc_type_names
    # The exception object is a scrubbed copy of the same type
    assert type(scrubbed.exception) is RuntimeError
    with pytest.raises(RuntimeError) as raised:
        scrubbed.reraise()
    assert SECRET not in str(raised.value)


def test_a_clean_failure_is_returned_as_it_was():
    failure = captured(ValueError("nothing to hide"))
    assert redactor.failure(failure) is failure


def test_an_exception_that_reads_otherwise_than_its_args_is_not_kept():
    # OSError's text comes from errno and strerror, not from args alone
    failure = captured(OSError(13, f"denied for {SECRET}"))
    scrubbed = redactor.failure(failure)
    assert "***" in scrubbed.exception_str and SECRET not in scrubbed.exception_str
    assert scrubbed.exception is None or SECRET not in str(scrubbed.exception)
    with pytest.raises(BaseException) as raised:
        scrubbed.reraise()
    assert SECRET not in str(raised.value)


def test_the_worker_reply_is_scrubbed_before_it_reaches_the_result_backend():
    # Given the generic worker function and a plugin that fails with its value
    pytest.importorskip("opsflow_fixture_remote")
    from opsflow.executors.celery_app import SECRETS_KEY, CelerySettings, run_atom

    document = {
        "plugin": "remote.boom",
        "atom": "boom",
        "action": "execute",
        "arguments": {"value": SECRET},
    }
    # When it runs with and without being told the secret
    told = run_atom(CelerySettings(), {**document, SECRETS_KEY: [SECRET]})
    untold = run_atom(CelerySettings(), document)
    # Then only the reply of the one told is scrubbed
    assert SECRET in repr(untold)
    assert SECRET not in repr(told)
    assert told["failure"]["exception_str"] == "boom from the plugin with '***'"
    echoed = run_atom(
        CelerySettings(),
        {
            **document,
            "plugin": "remote.echo",
            "init": {"steps": 1},
            SECRETS_KEY: [SECRET],
        },
    )
    assert echoed["outcome"] == "success" and echoed["result"]["value"] == MASK


# -- the CLI's masking -------------------------------------------------------------
def _logged(masker: Masker, logger_name: str, *args) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    masker.install([handler])
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(*args)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_opsflow_log_lines_keep_their_ids_and_only_secret_arguments_are_masked():
    run_id = "4cafe418-1d2c-4b46-89a9-5b99926cf267"
    masker = Masker({"token": "cafe", "password": SECRET})
    line = _logged(masker, "opsflow.run", "run %s: got %s", run_id, SECRET)
    assert f"run {run_id}: got {MASK}" in line
    assert "opsflow.run" in line


def test_a_plugin_log_line_is_masked_whole_but_not_its_timestamp():
    year = "2026"
    masker = Masker({"token": year})
    line = _logged(masker, "opsflow_linux.commands", "since %s", year)
    assert line.endswith(f"opsflow_linux.commands since {MASK}\n")
    assert line[:4].isdigit()  # the asctime the formatter added is intact


def test_plugin_prints_are_masked_only_while_plugin_code_runs(capsys):
    import sys

    masker = Masker({"password": SECRET})
    with masker.masking_std_streams():
        print(f"task says {SECRET}")
    print(f"opsflow says run {SECRET[:4]}")
    out = capsys.readouterr().out
    assert out == f"task says {MASK}\nopsflow says run {SECRET[:4]}\n"
    assert not hasattr(sys.stdout, "_masker")


# -- files -------------------------------------------------------------------------
def test_private_dirs_are_0700_even_under_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        privatefiles.make_private_dirs(str(tmp_path / "a" / "b" / "c"))
        fd = privatefiles.open_private(str(tmp_path / "a" / "d" / "f"))
        os.close(fd)
    finally:
        os.umask(old)
    for path in ("a", "a/b", "a/b/c", "a/d"):
        assert stat.S_IMODE(os.stat(tmp_path / path).st_mode) == 0o700, path
    assert stat.S_IMODE(os.stat(tmp_path / "a" / "d" / "f").st_mode) == 0o600


def test_a_file_in_the_way_of_a_private_dir_is_an_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError):
        privatefiles.make_private_dirs(str(tmp_path / "file" / "below"))


def test_exceptions_module_is_untouched_by_redaction():
    # A redacted failure is still matched by type names, as before
    scrubbed = redactor.failure(captured(exceptions.NotFound(f"no {SECRET}")))
    assert scrubbed.check(exceptions.NotFound)
