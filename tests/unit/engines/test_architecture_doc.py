"""The engine diagram in docs/architecture.md is drawn from the code."""

import pathlib

from opsflow.engines import builder

DOC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "architecture.md"


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
