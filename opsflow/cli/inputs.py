"""Build a run's store from ``--store-file``, ``--store`` and ``--secret``;
read ``--since``.

Later sources win: the file, then each ``--store``, then each ``--secret``.
``--store`` values are JSON when they parse, else strings; ``--secret``
values stay strings. A store file is loaded within the limits of
:mod:`opsflow.safeyaml` (size, alias expansion). Every problem is a
:class:`UsageError` naming the argument or file, raised before anything
runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from opsflow.cli.exits import UsageError
from opsflow.runs.queries import parse_since
from opsflow.runs.record import RunInputs

__all__ = ["check_secrets", "parse_inputs", "parse_since", "parse_store_item"]

SECRETS_KEY = "secrets"
#: A store file is read whole and kept with the run: larger ones are refused.
MAX_STORE_FILE_BYTES = 256 * 1024 * 1024


def parse_store_item(
    item: str, flag: str = "--store", as_json: bool = True
) -> tuple[str, Any]:
    """``KEY=VALUE`` into ``(key, value)``."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or any(ch.isspace() for ch in key):
        raise UsageError(f"bad {flag} {_shown(item, flag)}: expected KEY=VALUE")
    if not as_json:
        return key, raw
    try:
        return key, json.loads(raw)
    except ValueError:
        return key, raw


def _shown(item: str, flag: str) -> str:
    # Never echo a secret's value, even in an error message.
    if flag == "--secret":
        return repr(item.partition("=")[0] + "=***")
    return repr(item)


def _read_store_file(path: str) -> tuple[dict[str, Any], list[str]]:
    from opsflow import safeyaml

    try:
        raw = safeyaml.read_limited(path, MAX_STORE_FILE_BYTES)
        text = raw.decode("utf-8")
    except safeyaml.YamlLimitExceeded as exc:
        raise UsageError(f"--store-file {path}: {exc.problem}") from exc
    except OSError as exc:
        raise UsageError(f"--store-file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"--store-file {path}: not UTF-8 text: {exc}") from exc
    if os.path.splitext(path)[1].lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            raise UsageError(f"--store-file {path}: not valid JSON: {exc}") from exc
    else:
        data = _load_yaml(path, text)
    if data is None:
        data = {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise UsageError(f"--store-file {path}: expected a mapping of names to values")
    secrets = data.pop(SECRETS_KEY, [])
    if not isinstance(secrets, list) or not all(isinstance(s, str) for s in secrets):
        raise UsageError(
            f"--store-file {path}: '{SECRETS_KEY}' must be a list of key names"
        )
    unknown = sorted(set(secrets) - set(data))
    if unknown:
        raise UsageError(
            f"--store-file {path}: '{SECRETS_KEY}' names keys that are not in the "
            f"file: {', '.join(unknown)}"
        )
    return data, secrets


def _load_yaml(path: str, text: str) -> Any:
    """The YAML document of a store file, loaded safely and within limits."""
    import yaml

    from opsflow import safeyaml

    loader = yaml.SafeLoader(text)
    try:
        return safeyaml.load(loader)
    except safeyaml.YamlLimitExceeded as exc:
        raise UsageError(
            f"--store-file {path}:{exc.line}:{exc.column}: {exc.problem}"
        ) from exc
    except RecursionError as exc:
        raise UsageError(f"--store-file {path}: nested too deeply; refused") from exc
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"--store-file {path}: not valid YAML: {first}") from exc
    finally:
        loader.dispose()


def parse_inputs(
    store_items: Sequence[str] = (),
    store_file: str | None = None,
    secret_items: Sequence[str] = (),
) -> RunInputs:
    """The store and secret keys given on the command line."""
    store: dict[str, Any] = {}
    secret_keys: set[str] = set()
    if store_file:
        data, file_secrets = _read_store_file(store_file)
        store.update(data)
        secret_keys.update(file_secrets)
    for item in store_items:
        key, value = parse_store_item(item)
        store[key] = value
    for item in secret_items:
        key, value = parse_store_item(item, flag="--secret", as_json=False)
        store[key] = value
        secret_keys.add(key)
    return RunInputs(store=store, secret_keys=frozenset(secret_keys))


def check_secrets(inputs: RunInputs) -> None:
    """Refuse secrets too short to be masked without mangling other text.

    :raises UsageError: naming the secret (exit 64).
    """
    from opsflow.redaction import WeakSecret
    from opsflow.redaction import check_secrets as check

    try:
        check(inputs.secrets)
    except WeakSecret as exc:
        raise UsageError(str(exc)) from exc
