"""docs/architecture.md is checked against the code it describes."""

import importlib
import pathlib
import re
import sys
import textwrap
import threading

from opsflow.engines import builder

DOC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "architecture.md"
ROOT = DOC.parent.parent


def test_the_architecture_doc_shows_the_engine_machine_as_the_code_defines_it():
    text = DOC.read_text()
    start = text.index("<!-- engine-diagram:start -->")
    end = text.index("<!-- engine-diagram:end -->")
    shown = text[start:end]
    assert f"```mermaid\n{builder.mermaid()}\n```" in shown


def test_every_transition_of_the_machine_leads_to_a_final_state():
    targets = {target for _source, _event, target in builder.TRANSITIONS}
    sources = {source for source, _event, _target in builder.TRANSITIONS}
    assert set(builder.FINAL_STATES) <= targets
    assert not set(builder.FINAL_STATES) & sources


def documented_run_path() -> list[str]:
    """The functions the doc's run path names, in its order (a class: its
    ``__init__``); every name must exist."""
    text = DOC.read_text()
    start = text.index("<!-- run-path:start -->")
    end = text.index("<!-- run-path:end -->")
    path = []
    for name in re.findall(r"`(opsflow(?:\.\w+)+)`", text[start:end]):
        if name == "opsflow.conf":  # the file
            continue
        module, _, attribute = name.rpartition(".")
        try:
            found = getattr(importlib.import_module(module), attribute)
        except ImportError:  # Class.method
            module, _, owner = module.rpartition(".")
            found = getattr(getattr(importlib.import_module(module), owner), attribute)
        path.append(f"{name}.__init__" if isinstance(found, type) else name)
    return path


def qualified(frame_code) -> str | None:
    """``opsflow.pkg.module.Class.method`` of a code object of opsflow."""
    path = pathlib.Path(frame_code.co_filename)
    try:
        relative = path.resolve().relative_to(ROOT)
    except ValueError:
        return None
    if relative.parts[0] != "opsflow":
        return None
    module = ".".join(relative.with_suffix("").parts)
    return f"{module}.{frame_code.co_qualname}"


def test_one_opsflow_run_makes_the_calls_the_doc_lists_in_its_order(
    tmp_path, monkeypatch
):
    from opsflow.cmd import run

    # Given a flow plugin installed as a distribution, and a state directory
    (tmp_path / "doc_path_flow.py").write_text(
        textwrap.dedent(
            """
            from opsflow import task
            from opsflow.patterns import linear_flow

            class Hello(task.Task):
                def execute(self):
                    return "hello"

            def hello_flow():
                return linear_flow.Flow("hello").add(Hello())
            """
        )
    )
    dist = tmp_path / "doc_path_flow-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: doc-path-flow\n")
    (dist / "entry_points.txt").write_text(
        "[opsflow.flows]\ndoc-path = doc_path_flow:hello_flow\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    conf = tmp_path / "opsflow.conf"
    conf.write_text(f"[DEFAULT]\nstate_path = {tmp_path / 'state'}\n")
    calls: list[str] = []
    names: dict[object, str | None] = {}

    def profile(frame, event, _arg):
        if event == "call":
            code = frame.f_code
            if code not in names:
                names[code] = qualified(code)
            name = names[code]
            if name is not None and (not calls or calls[-1] != name):
                calls.append(name)

    # When opsflow-run runs it, every call of opsflow recorded in order
    threading.setprofile(profile)
    sys.setprofile(profile)
    try:
        code = run.main(["doc-path", "--config-file", str(conf)])
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]
    assert code == 0

    # Then the documented path is what ran, in that order
    documented = documented_run_path()
    assert len(documented) >= 10
    position = 0
    for name in documented:
        assert name in calls[position:], f"{name} is not called after the step before"
        position = calls.index(name, position) + 1
