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


def test_loopback_needs_no_token_and_a_token_file_gives_one(tmp_path):
    assert security.check_bind("127.0.0.1", None) is None
    token = tmp_path / "token"
    token.write_text("  s3cret-token\n")
    assert security.check_bind("0.0.0.0", str(token)) == "s3cret-token"


def test_an_empty_token_file_is_refused(tmp_path):
    token = tmp_path / "token"
    token.write_text("\n")
    with pytest.raises(ConfigurationError, match="holds no token"):
        security.check_bind("127.0.0.1", str(token))


def test_the_login_cookie_is_not_the_token():
    value = security.session_value("s3cret-token")
    assert "s3cret-token" not in value
    assert value == security.session_value("s3cret-token")
    assert value != security.session_value("other-token")
