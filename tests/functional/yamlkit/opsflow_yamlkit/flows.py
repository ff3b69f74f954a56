"""Python flows, each the twin of a YAML file in ``../flows.d``."""

from __future__ import annotations

from opsflow import retry
from opsflow.patterns import graph_flow, linear_flow, unordered_flow
from opsflow_yamlkit.tasks import Step


def linear():
    """Three steps in a row."""
    return linear_flow.Flow("kit-linear").add(
        Step(name="one"), Step(name="two"), Step(name="three")
    )


def nested():
    """A linear flow holding an unordered flow holding a graph flow."""
    inner_graph = graph_flow.Flow("inner-graph").add(
        Step(name="g_provider", provides="shared"),
        Step(name="g_consumer", requires=["shared"]),
    )
    middle = unordered_flow.Flow("middle").add(
        Step(name="u_first"), inner_graph, Step(name="u_last")
    )
    return linear_flow.Flow("kit-nested").add(
        Step(name="start"), middle, Step(name="finish")
    )


def times():
    """A subflow retried up to three times, between two plain steps."""
    attempts = linear_flow.Flow(
        "attempts", retry=retry.Times(3, name="again", provides="attempt")
    ).add(Step(name="prepare"), Step(name="flaky"))
    return linear_flow.Flow("kit-times").add(
        Step(name="before"), attempts, Step(name="after")
    )


def for_each():
    """A subflow tried with each value until one works."""
    tries = linear_flow.Flow(
        "tries",
        retry=retry.ForEach(["red", "green", "blue"], name="colours", provides="item"),
    ).add(Step(name="paint"))
    return linear_flow.Flow("kit-for-each").add(Step(name="prime"), tries)


def parameterized():
    """Like for_each, with the values from the store key ``candidates``."""
    tries = linear_flow.Flow(
        "tries",
        retry=retry.ParameterizedForEach(
            name="candidates_retry", provides="item", rebind={"values": "candidates"}
        ),
    ).add(Step(name="paint"))
    return linear_flow.Flow("kit-parameterized").add(Step(name="prime"), tries)


def links():
    """A probe decides whether install and configure run."""
    probe = Step(name="probe", provides="status", rebind={"value": "probe_status"})
    install = Step(name="install")
    configure = Step(name="configure")
    report = Step(name="report")
    flow = graph_flow.Flow("kit-links").add(probe, install, configure, report)
    flow.link(probe, install, decider=lambda h: h["probe"] in ("missing", "old"))
    flow.link(install, configure)
    flow.link(probe, report)
    return flow
