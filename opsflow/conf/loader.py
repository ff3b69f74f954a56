"""Read ``opsflow.conf`` and report every problem as one line.

oslo.config finds the file in its usual places (``~/.opsflow/``, ``~/``,
``/etc/opsflow/``, ``/etc/``) unless ``--config-file``/``--config-dir`` are
given. oslo.config converts values lazily, so :func:`load` reads every option
once: a bad value fails here, before anything runs, instead of half-way
through a run.
"""

from __future__ import annotations

import difflib
import glob
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from oslo_config import cfg, types

from opsflow.conf import opts
from opsflow.conf.errors import ConfigError, invalid_value

__all__ = [
    "ConfigError",
    "allowed_values",
    "invalid_value",
    "load",
    "unknown_options",
    "where_set",
]

PROJECT = "opsflow"


def load(
    config_files: Sequence[str] = (),
    config_dirs: Sequence[str] = (),
    overrides: Mapping[tuple[str | None, str], tuple[str, Any]] | None = None,
    warn: bool = True,
) -> cfg.ConfigOpts:
    """A fully validated :class:`~oslo_config.cfg.ConfigOpts` for one run.

    ``overrides`` maps ``(group, option)`` to ``(flag, value)``: command-line
    flags such as ``--engine`` that win over the files; ``flag`` names the
    source in error messages. With ``warn``, each option of a known group
    that no code reads (a typo, most often) is one warning line on stderr
    naming the file, the group, the option and the closest valid name.
    """
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    _register_logging_opts(conf)
    args: list[str] = []
    for path in config_files:
        args += ["--config-file", path]
    for path in config_dirs:
        args += ["--config-dir", path]
    try:
        conf(args=args, project=PROJECT, use_env=False)
    except cfg.ConfigFileParseError as exc:
        raise ConfigError(exc.config_file, f"cannot be parsed: {exc.msg}") from exc
    except cfg.ConfigFilesNotFoundError as exc:
        raise ConfigError(", ".join(exc.config_files), "not found") from exc
    except cfg.ConfigDirNotFoundError as exc:
        raise ConfigError(exc.config_dir, "config directory not found") from exc
    except cfg.Error as exc:
        raise ConfigError("opsflow.conf", str(exc)) from exc
    except OSError as exc:  # a directory, or a file this user cannot read
        path = exc.filename or ", ".join(config_files)
        reason = exc.strerror or str(exc)
        raise ConfigError(
            str(path), f"cannot be read as a configuration file: {reason}"
        ) from exc
    for (group, name), (flag, value) in (overrides or {}).items():
        if value is None:
            continue
        try:
            conf.set_override(name, value, group=group)
        except ValueError as exc:
            opt = _find_opt(conf, group, name)
            raise ConfigError(
                flag, f"{value!r} is not valid", allowed=allowed_values(opt)
            ) from exc
    _validate_all(conf)
    _check_state_path(conf)
    if warn:
        for warning in unknown_options(conf):
            prog = os.path.basename(sys.argv[0]) or PROJECT
            print(f"{prog}: warning: {warning}", file=sys.stderr)
    return conf


def unknown_options(conf: cfg.ConfigOpts) -> list[str]:
    """``FILE: [group] name ...`` for each option set in a file that is no
    option of its group, with the closest valid name when there is one.

    oslo.config ignores such options silently, so ``executer = process``
    would leave the run on the default executor without a word. Sections
    that are no group of opsflow's are left alone (other programs may
    share the file), unless their name is close to one of opsflow's.
    """
    known: dict[str, set[str]] = {"DEFAULT": {"config_file", "config_dir"}}
    for group, opt in _iter_opts():
        names = known.setdefault(group or "DEFAULT", set())
        names.add(opt.dest)
        names.update(d.name.replace("-", "_") for d in opt.deprecated_opts if d.name)
    warnings = []
    for path in _config_files_in_order(conf):
        sections: dict[str, dict[str, list[str]]] = {}
        try:
            cfg.ConfigParser(path, sections).parse()
        except (OSError, cfg.Error):
            continue  # reported by oslo.config already, or unreadable
        for section, values in sections.items():
            if section not in known:
                close = difflib.get_close_matches(section, list(known), n=1)
                if close:
                    warnings.append(
                        f"{path}: [{section}] is not a group of opsflow.conf and is "
                        f"ignored; did you mean [{close[0]}]?"
                    )
                continue
            for name in values:
                if name.replace("-", "_") in known[section]:
                    continue
                close = difflib.get_close_matches(name, sorted(known[section]), n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                warnings.append(
                    f"{path}: [{section}] {name} is not an option of [{section}] "
                    f"and is ignored{hint}"
                )
    return warnings


def allowed_values(opt: cfg.Opt) -> str:
    """The values an option accepts, in words, for error messages."""
    kind = opt.type
    choices = getattr(kind, "choices", None)
    if choices:
        return ", ".join(str(choice) for choice in choices)
    if isinstance(kind, types.Boolean):
        return "true or false"
    if isinstance(kind, types.Integer | types.Float):
        noun = "an integer" if isinstance(kind, types.Integer) else "a number"
        bounds = []
        if kind.min is not None:
            bounds.append(f">= {kind.min}")
        if kind.max is not None:
            bounds.append(f"<= {kind.max}")
        return " ".join([noun, *bounds])
    return kind.type_name if hasattr(kind, "type_name") else "a string"


def _register_logging_opts(conf: cfg.ConfigOpts) -> None:
    """oslo.log's options, as file options only.

    ``oslo_log.log.register_options`` would also make them command-line
    options of oslo.config's own parser, which exits the process on a bad
    value in a file; opsflow-run parses its own command line.
    """
    for group, opt in _iter_opts():
        if not _is_opsflow_opt(opt):
            conf.register_opt(opt, group=group)


def _is_opsflow_opt(opt: cfg.Opt) -> bool:
    return any(opt in group_opts for _, group_opts in opts.list_opts())


def _find_opt(conf: cfg.ConfigOpts, group: str | None, name: str) -> cfg.Opt:
    for opt_group, opt in _iter_opts():
        if opt_group == group and opt.dest == name:
            return opt
    raise KeyError(name)


def _iter_opts() -> Iterable[tuple[str | None, cfg.Opt]]:
    """Every option :func:`load` registers: opsflow's and oslo.log's."""
    # oslo_log._options is the module oslo.log names in its own
    # ``oslo.config.opts`` entry point: the documented way to list its options.
    from oslo_log import _options as log_options

    for group, group_opts in [*opts.list_opts(), *log_options.list_opts()]:
        for opt in group_opts:
            yield (None if group in (None, "DEFAULT") else group), opt


def _validate_all(conf: cfg.ConfigOpts) -> None:
    for group, opt in _iter_opts():
        try:
            if group is None:
                conf[opt.dest]
            else:
                conf[group][opt.dest]
        except (cfg.ConfigFileValueError, ValueError) as exc:
            source, raw = where_set(conf, group, opt.dest)
            label = f"[{group or 'DEFAULT'}] {opt.dest}"
            shown = "***" if opt.secret else repr(raw)
            raise ConfigError(
                source,
                f"= {shown} is not valid",
                option=label,
                allowed=allowed_values(opt),
            ) from exc


def _check_state_path(conf: cfg.ConfigOpts) -> None:
    """``state_path`` is a directory, or can become one (made on first use).

    Checked here, without creating anything, so that a path naming a file
    is a configuration error before a run starts, not a crash half-way.
    """
    wanted = os.path.abspath(os.path.expanduser(conf.state_path))
    existing = wanted
    while not os.path.exists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    if os.path.isdir(existing):
        return
    source, _raw = where_set(conf, None, "state_path")
    if existing == wanted:
        problem = "is not a directory"
    else:
        problem = f"cannot be created: {existing} is not a directory"
    raise ConfigError(
        source,
        f"= {conf.state_path!r} {problem}",
        option="[DEFAULT] state_path",
        allowed="a directory (created on first use if missing)",
    )


def _config_files_in_order(conf: cfg.ConfigOpts) -> list[str]:
    files = list(conf.config_file or [])
    for directory in conf.config_dir or []:
        files += sorted(glob.glob(os.path.join(directory, "*.conf")))
    return files


def where_set(conf: cfg.ConfigOpts, group: str | None, name: str) -> tuple[str, str]:
    """The last file (the one that wins) that sets ``[group] name``, and its value."""
    found = ("opsflow.conf", "?")
    for path in _config_files_in_order(conf):
        sections: dict[str, dict[str, list[str]]] = {}
        try:
            cfg.ConfigParser(path, sections).parse()
        except (OSError, cfg.Error):
            continue
        values = sections.get(group or "DEFAULT", {}).get(name)
        if values:
            found = (path, values[-1])
    return found
