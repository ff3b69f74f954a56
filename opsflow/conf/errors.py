"""The configuration error every option problem becomes, without oslo.config.

Kept apart from :mod:`opsflow.conf.loader` so that code which only refuses
a name (an unknown executor driver or persistence backend) does not import
oslo.config to say so.
"""

from __future__ import annotations

from opsflow.exceptions import ConfigurationError

__all__ = ["ConfigError", "invalid_value"]


class ConfigError(ConfigurationError):
    """A configuration file, option value or driver name is not valid."""

    def __init__(
        self,
        source: str,
        problem: str,
        option: str | None = None,
        allowed: str | None = None,
    ) -> None:
        self.source = source
        self.option = option
        self.problem = problem
        self.allowed = allowed
        where = f"{source}: {option} " if option else f"{source}: "
        tail = f"; allowed: {allowed}" if allowed else ""
        super().__init__(f"{where}{problem}{tail}")


def invalid_value(
    source: str, option: str | None, value: object, what: str, allowed: str
) -> ConfigError:
    """The error ``FILE: [group] name = 'value' is not WHAT; allowed: ...``.

    With no ``option`` (a command-line flag as ``source``) it reads
    ``--flag: 'value' is not WHAT; allowed: ...``.
    """
    if option:
        return ConfigError(source, f"= {value!r} is not {what}", option, allowed)
    return ConfigError(source, f"{value!r} is not {what}", allowed=allowed)
