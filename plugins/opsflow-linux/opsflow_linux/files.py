"""Directory, file and template tasks whose revert restores exactly what was there.

* :class:`Directory` creates a directory and any missing parents; its revert
  removes the outermost directory it created, with everything in it (all of
  it is newer than the run), and gives back the mode of one that existed.
* :class:`File` and :class:`Template` write a regular file atomically; the
  result records whether the file existed and, if so, its bytes, mode and
  owner, so the revert removes a file it created or puts back the old one
  byte for byte.
* :class:`RemoveTree` (deprovisioning) removes a directory; it has nothing to
  give back.

Each result says ``changed: False`` when the target state already held (the
directory with its mode, the file with its bytes and mode, no tree to
remove), so a second run of the same flow reports nothing changed.

Each ``execute`` undoes its own partial work before raising, because a
task's revert only learns that it failed, not how far it got.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
from typing import Any

from opsflow import task
from opsflow_linux.fill import fill

__all__ = ["Directory", "File", "RemoveTree", "Template"]


class Directory(task.Task):
    """Create ``path`` (and missing parents) with ``mode``.

    An existing directory is kept; only its mode changes (and comes back on
    revert). The result is ``{"path", "created", "previous_mode", "changed"}``.
    """

    def __init__(self, path: str, mode: int = 0o755, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.mode = mode

    def execute(self, **values: Any) -> dict[str, Any]:
        path = os.path.abspath(fill(self.path, values))
        missing = []
        probe = path
        while not os.path.lexists(probe):
            missing.append(probe)
            probe = os.path.dirname(probe)
        if not os.path.isdir(probe):
            raise NotADirectoryError(f"{probe} exists and is not a directory")
        if not missing:
            previous_mode = stat.S_IMODE(os.stat(path).st_mode)
            if previous_mode != self.mode:
                os.chmod(path, self.mode)
            return {
                "path": path,
                "created": None,
                "previous_mode": previous_mode,
                "changed": previous_mode != self.mode,
            }
        outermost = missing[-1]
        try:
            for directory in reversed(missing):
                os.mkdir(directory, self.mode)
                os.chmod(directory, self.mode)  # the umask narrowed mkdir's mode
        except BaseException:
            shutil.rmtree(outermost, ignore_errors=True)
            raise
        return {
            "path": path,
            "created": outermost,
            "previous_mode": None,
            "changed": True,
        }

    def revert(self, result: Any = None, **values: Any) -> None:
        if not isinstance(result, dict):
            return  # execute failed and undid its own work
        if result["created"]:
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(result["created"])
        elif result["previous_mode"] is not None and os.path.isdir(result["path"]):
            os.chmod(result["path"], result["previous_mode"])


class File(task.Task):
    """Write ``content`` to the regular file ``path`` with ``mode``.

    ``content`` is taken literally (use :class:`Template` to compute it);
    ``path`` may have placeholders. The directory must exist. The result is
    ``{"path", "sha256", "previous", "changed"}``: ``previous`` is ``None``
    when the file was created, otherwise its old bytes (base64), mode and
    owner; a file that already has these bytes and mode is left alone
    (``changed`` False). With ``replace=False`` a file that exists with
    other content (a live config, say) is refused before anything is
    written; the same content is accepted, so a resumed run can write it
    again.
    """

    def __init__(
        self,
        path: str,
        content: str | bytes = "",
        mode: int = 0o644,
        replace: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.content = content
        self.mode = mode
        self.replace = replace

    def render(self, values: dict[str, Any]) -> bytes:
        """The bytes to write."""
        content = self.content
        return content.encode() if isinstance(content, str) else bytes(content)

    def execute(self, **values: Any) -> dict[str, Any]:
        path = os.path.abspath(fill(self.path, values))
        data = self.render(values)  # a template error stops before any write
        previous = _capture(path)
        if (
            previous is not None
            and not self.replace
            and base64.b64decode(previous["content"]) != data
        ):
            raise FileExistsError(
                f"{path} already exists with other content: not overwritten "
                "(remove it first, or let this step replace it)"
            )
        changed = previous is None or (
            base64.b64decode(previous["content"]),
            previous["mode"],
        ) != (data, self.mode)
        if changed:
            _write_atomically(path, data, self.mode)
        return {
            "path": path,
            "sha256": hashlib.sha256(data).hexdigest(),
            "previous": previous,
            "changed": changed,
        }

    def revert(self, result: Any = None, **values: Any) -> None:
        if not isinstance(result, dict):
            return  # execute failed before (or while) replacing the file
        if result.get("changed") is False:
            return  # it wrote nothing
        path, previous = result["path"], result["previous"]
        if previous is None:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
            return
        data = base64.b64decode(previous["content"])
        _write_atomically(path, data, previous["mode"])
        if (previous["uid"], previous["gid"]) != _owner(path):
            os.chown(path, previous["uid"], previous["gid"])


class Template(File):
    """Render the Jinja2 ``template`` (text) into ``path``.

    The template sees ``variables`` and every value named in ``requires=``
    (those win). An undefined name is an error, never an empty string.
    """

    def __init__(
        self,
        path: str,
        template: str,
        variables: dict[str, Any] | None = None,
        mode: int = 0o644,
        replace: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(path, content=b"", mode=mode, replace=replace, **kwargs)
        self.template = template
        self.variables = dict(variables or {})

    def render(self, values: dict[str, Any]) -> bytes:
        # Imported here: listing the plugins (opsflow-run --list) imports
        # this module, and jinja2 costs more than the rest of it put together.
        import jinja2

        environment = jinja2.Environment(
            undefined=jinja2.StrictUndefined, keep_trailing_newline=True
        )
        text = environment.from_string(self.template).render(
            {**self.variables, **values}
        )
        return text.encode()


class RemoveTree(task.Task):
    """Remove the directory ``path`` and all it holds (deprovisioning).

    Nothing to give back on revert: a deprovisioning flow removes things.
    """

    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path

    def execute(self, **values: Any) -> dict[str, Any]:
        path = os.path.abspath(fill(self.path, values))
        existed = os.path.isdir(path)
        if existed:
            shutil.rmtree(path)
        return {"path": path, "removed": existed, "changed": existed}


def _capture(path: str) -> dict[str, Any] | None:
    """What is at ``path`` now: ``None`` (nothing) or a regular file's record."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        raise FileExistsError(f"{path} exists and is not a regular file")
    with open(path, "rb") as handle:
        content = handle.read()
    return {
        "content": base64.b64encode(content).decode("ascii"),
        "mode": stat.S_IMODE(info.st_mode),
        "uid": info.st_uid,
        "gid": info.st_gid,
    }


def _owner(path: str) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_uid, info.st_gid


def _write_atomically(path: str, data: bytes, mode: int) -> None:
    """Replace ``path`` in one rename: readers see the old file or the new one."""
    directory = os.path.dirname(path)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".opsflow-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise
