"""opsflow.web.security: the bind rule and the token file."""

from __future__ import annotations

import pytest

from opsflow.exceptions import ConfigurationError, ExitCode, exit_code_of
from opsflow.web import security


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost"]
)
def test_loopback_addresses_are_loopback(host):
    assert security.is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "192.0.2.7"])
def test_other_addresses_are_not(host):
    assert not security.is_loopback(host)


def test_a_non_loopback_address_without_a_token_file_is_refused():
    with pytest.raises(ConfigurationError) as caught:
        security.check_bind("0.0.0.0", None)
    assert exit_code_of(caught.value) == ExitCode.CONFIG
    assert "auth_token_file" in str(caught.value)


def _token_file(tmp_path, text: str, mode: int = 0o600):
    token = tmp_path / "token"
    token.write_text(text)
    token.chmod(mode)
    return token


def test_loopback_needs_no_token_and_a_token_file_gives_one(tmp_path):
    assert security.check_bind("127.0.0.1", None) is None
    token = _token_file(tmp_path, "  s3cret-token\n")
    assert security.check_bind("0.0.0.0", str(token)) == "s3cret-token"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_a_token_file_others_can_open_is_refused(tmp_path, mode):
    token = _token_file(tmp_path, "s3cret-token\n", mode)
    with pytest.raises(ConfigurationError) as caught:
        security.check_bind("127.0.0.1", str(token))
    assert exit_code_of(caught.value) == ExitCode.CONFIG
    assert f"mode {mode:04o} gives others access to it: chmod 600" in str(caught.value)
    assert "s3cret-token" not in str(caught.value)


def test_a_token_file_only_its_owner_reads_is_taken(tmp_path):
    token = _token_file(tmp_path, "s3cret-token\n", 0o400)
    assert security.read_token(str(token)) == "s3cret-token"


def test_an_empty_token_file_is_refused(tmp_path):
    token = _token_file(tmp_path, "\n")
    with pytest.raises(ConfigurationError, match="holds no token"):
        security.check_bind("127.0.0.1", str(token))


def test_the_login_cookie_is_not_the_token_and_expires():
    now = 1_800_000_000
    value = security.session_value("s3cret-token", now + 60)
    assert "s3cret-token" not in value
    assert security.session_valid("s3cret-token", value, now=now)
    assert not security.session_valid("other-token", value, now=now)
    assert not security.session_valid("s3cret-token", value, now=now + 61)


@pytest.mark.parametrize(
    "forged",
    ["", "forged", "9999999999999.abc", "²2.abc", "1900000000.", "1900000000.00"],
)
def test_a_forged_or_stretched_cookie_is_refused(forged):
    assert not security.session_valid("s3cret-token", forged, now=1_800_000_000)
    # moving the expiry later breaks the digest
    later = security.session_value("s3cret-token", 1_800_000_060)
    stretched = "1900000000." + later.partition(".")[2]
    assert not security.session_valid("s3cret-token", stretched, now=1_800_000_000)


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("127.0.0.1:8787", "127.0.0.1"),
        ("LOCALHOST:8787", "localhost"),
        ("[::1]:8787", "::1"),
        ("::1", "::1"),
        ("attacker.example:8787", "attacker.example"),
        ("attacker.example", "attacker.example"),
    ],
)
def test_the_host_name_of_a_host_header(header, name):
    assert security.host_of(header) == name
