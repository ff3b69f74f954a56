"""opsflow.plugins: loading by name through stevedore, and broken plugins.

Each test installs a throw-away distribution (a ``.dist-info`` folder with
``entry_points.txt`` and its modules) on ``sys.path``, so stevedore finds and
imports the plugins the same way it finds operators' plugins.
"""

from __future__ import annotations

import importlib
import sys
import textwrap

import pytest

from opsflow.conf.loader import ConfigError
from opsflow.exceptions import MissingDependencies
from opsflow.plugins import executors, flows, persistence
from opsflow.plugins.catalog import Catalog
from opsflow.plugins.loader import Namespace, PluginBroken, PluginNotFound

MODULES = {
    "unit_plugins_good": '''
        from opsflow import task
        from opsflow.patterns import linear_flow

        class Hello(task.Task):
            """Say hello."""
            def execute(self):
                return "hello"

        def hello_flow(greeting="hi"):
            """A flow of one task."""
            return linear_flow.Flow("hello").add(Hello(name=greeting))

        def not_a_flow():
            return 42

        def raising_flow():
            raise ValueError("cannot build")

        NOT_CALLABLE = "a string"

        class NotATask:
            pass
    ''',
    "unit_plugins_broken": """
        import unit_plugins_dependency_that_is_missing
    """,
}

ENTRY_POINTS = """
    [unit.test.things]
    good = unit_plugins_good:hello_flow
    broken = unit_plugins_broken:anything
    missing_attr = unit_plugins_good:no_such_name

    [opsflow.tasks]
    unit.hello = unit_plugins_good:Hello
    unit.not_a_task = unit_plugins_good:NotATask

    [opsflow.flows]
    unit-hello = unit_plugins_good:hello_flow
    unit-not-callable = unit_plugins_good:NOT_CALLABLE

    [opsflow.executors]
    unit-pool = unit_plugins_good:Hello
"""


@pytest.fixture(autouse=True)
def installed_plugins(tmp_path, monkeypatch):
    for name, source in MODULES.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    dist = tmp_path / "unit_plugins-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: unit-plugins\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(textwrap.dedent(ENTRY_POINTS))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in MODULES:
        sys.modules.pop(name, None)


@pytest.fixture
def catalog(installed_plugins):
    """The plugins as a program sees them, the throw-away distribution included."""
    return Catalog()


def test_names_are_listed_without_importing_any_plugin():
    names = Namespace("unit.test.things").names()
    assert names == ["broken", "good", "missing_attr"]
    assert "unit_plugins_broken" not in sys.modules


def test_a_plugin_loads_by_name():
    factory = Namespace("unit.test.things").load("good")
    assert factory.__name__ == "hello_flow"


def test_an_unknown_name_lists_what_is_installed():
    with pytest.raises(PluginNotFound) as caught:
        Namespace("unit.test.things").load("nope")
    assert str(caught.value) == (
        "no unit.test.things plugin named 'nope' "
        "(available: broken, good, missing_attr)"
    )


def test_an_empty_namespace_says_none_are_installed():
    with pytest.raises(PluginNotFound, match=r"available: none installed"):
        Namespace("unit.test.nothing.here").load("x")


def test_a_plugin_that_fails_to_import_is_reported_by_name_with_its_error():
    with pytest.raises(PluginBroken) as caught:
        Namespace("unit.test.things").load("broken")
    assert caught.value.broken.name == "broken"
    assert "ModuleNotFoundError" in caught.value.broken.error
    assert "unit_plugins_dependency_that_is_missing" in str(caught.value)


def test_scanning_reports_broken_plugins_and_still_loads_the_others():
    loaded, broken = Namespace("unit.test.things").scan()
    assert [plugin.name for plugin in loaded] == ["good"]
    assert loaded[0].distribution == "unit-plugins"
    assert {item.name: item.target for item in broken} == {
        "broken": "unit_plugins_broken:anything",
        "missing_attr": "unit_plugins_good:no_such_name",
    }
    assert (
        "AttributeError" in {item.name: item.error for item in broken}["missing_attr"]
    )


def test_a_task_plugin_must_be_a_task_subclass(catalog):
    assert catalog.tasks.load("unit.hello").__name__ == "Hello"
    with pytest.raises(PluginBroken, match="not a subclass of opsflow.task.Task"):
        catalog.tasks.load("unit.not_a_task")


def test_a_flow_plugin_must_be_callable(catalog):
    with pytest.raises(PluginBroken, match="is not callable"):
        catalog.flows.load("unit-not-callable")


def test_one_catalog_reads_the_installed_entry_points_once(catalog, monkeypatch):
    import importlib.metadata

    catalog.tasks.names()  # the table is read on first use
    calls = []
    real = importlib.metadata.entry_points
    monkeypatch.setattr(
        importlib.metadata, "entry_points", lambda **kw: calls.append(kw) or real(**kw)
    )
    # Every namespace of the catalog answers from the table it read
    assert "unit-hello" in catalog.flows.names()
    assert catalog.executors.names() and catalog.tasks.names()
    assert calls == []
    # A new catalog reads them again (a plugin installed meanwhile is seen)
    assert "unit.hello" in Catalog().tasks.names()
    assert len(calls) == 1


def test_a_factory_gets_only_the_store_keys_its_signature_accepts():
    def factory(region, size=1):
        return None

    store = {"region": "eu", "size": 3, "token": "s3cr3t"}
    assert flows.factory_arguments(factory, "f", store) == {"region": "eu", "size": 3}


def test_a_factory_with_var_keyword_gets_the_whole_store():
    def factory(region, **kwargs):
        return None

    store = {"region": "eu", "token": "x"}
    assert flows.factory_arguments(factory, "f", store) == store


def test_a_factory_parameter_without_default_missing_from_the_store_is_named():
    def factory(region, zone, size=1):
        return None

    with pytest.raises(MissingDependencies) as caught:
        flows.factory_arguments(factory, "f", {"size": 2})
    assert caught.value.missing_requirements == ["region", "zone"]


def test_build_flow_calls_the_factory_and_returns_its_flow(catalog):
    flow = flows.build_flow(
        catalog.flows.load("unit-hello"), "unit-hello", {"greeting": "yo"}
    )
    assert [atom.name for atom in flow] == ["yo"]


def test_build_flow_reports_a_factory_that_raises_or_returns_no_flow():
    good = importlib.import_module("unit_plugins_good")
    with pytest.raises(flows.FlowFactoryFailed, match="ValueError: cannot build"):
        flows.build_flow(good.raising_flow, "r", {})
    with pytest.raises(flows.FlowFactoryFailed, match="returned int, not a Flow"):
        flows.build_flow(good.not_a_flow, "n", {})


def test_a_factory_refusing_its_inputs_names_them_and_never_shows_a_secret():
    from opsflow.cli import exits
    from opsflow.redaction import Redactor

    def demo(steps=1, password=None):
        raise ValueError(f"steps must be a number, not {steps!r} ({password})")

    with pytest.raises(flows.FlowInputsRejected) as caught:
        flows.build_flow(
            demo,
            "demo",
            {"steps": "abc", "password": "hunter2-Zq9"},
            Redactor.of_secrets({"password": "hunter2-Zq9"}),
        )
    assert str(caught.value) == (
        "flow demo refused its inputs (password, steps): ValueError: steps must "
        "be a number, not 'abc' (***)"
    )
    assert caught.value.inputs == ["password", "steps"]
    assert exits.exit_code_of(caught.value) == exits.ExitCode.USAGE


def test_a_run_record_names_the_factory_inputs_and_a_rebuild_reads_the_store(
    catalog,
):
    from opsflow.runs.record import RunRecord
    from opsflow.runs.source import FlowSource

    def names(flow):
        return [atom.name for atom in flow]

    source = FlowSource.lookup(catalog, "unit-hello")
    # Given records of runs whose factory took a store key, or a secret
    public = RunRecord.create("unit-hello", {"greeting": "yo"}, frozenset(), {})
    secret = RunRecord.create(
        "unit-hello", {"greeting": "s3cr3t"}, frozenset({"greeting"}), {}
    )
    # Then they hold names only; a rebuild takes the values from the run's
    # stored store, or from the secrets given again
    assert (public.factory_inputs, public.factory_secrets) == (("greeting",), ())
    assert (secret.factory_inputs, secret.factory_secrets) == ((), ("greeting",))
    assert "factory_kwargs" not in public.to_meta()
    assert "yo" not in repr(public.to_meta()) and "s3cr3t" not in repr(secret)
    assert names(source.rebuild(public, {"greeting": "yo"}, {})) == ["yo"]
    assert names(source.rebuild(secret, {}, {"greeting": "s3cr3t"})) == ["s3cr3t"]
    # And a run recorded before names were kept still carries its values
    legacy = RunRecord.from_meta(
        {"run": {"flow": "unit-hello", "factory_kwargs": {"greeting": "old"}}}
    )
    assert legacy is not None
    assert names(source.rebuild(legacy, {}, {})) == ["old"]


def test_an_installed_executor_name_resolves_to_itself(catalog):
    assert executors.resolve_executor(catalog.executors, "unit-pool") == "unit-pool"


def test_an_unknown_executor_is_a_config_error_listing_the_installed_ones(catalog):
    with pytest.raises(ConfigError) as caught:
        executors.resolve_executor(
            catalog.executors, "warp", source="--executor", option=None
        )
    assert str(caught.value).startswith("--executor: 'warp' is not an installed")
    assert caught.value.allowed is not None and "unit-pool" in caught.value.allowed


def test_no_configured_executor_leaves_the_choice_to_the_engine(catalog):
    assert executors.resolve_executor(catalog.executors, None) is None


def test_an_unknown_executor_in_the_config_file_names_the_file_and_option(catalog):
    only_synchronous = Namespace("unit.test.no.such.group")
    only_synchronous.names = lambda: ["synchronous"]  # type: ignore[method-assign]
    with pytest.raises(ConfigError) as caught:
        executors.resolve_executor(
            only_synchronous, "thread", source="/etc/opsflow/opsflow.conf"
        )
    assert str(caught.value) == (
        "/etc/opsflow/opsflow.conf: [engine] executor = 'thread' is not an "
        "installed executor driver; allowed: synchronous"
    )


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("sqlite:////var/lib/opsflow/runs.sqlite", "sqlite"),
        ("mysql+pymysql://u:p@db/opsflow", "mysql"),
        ("postgresql://db/opsflow", "postgresql"),
        ("memory://", "memory"),
    ],
)
def test_the_persistence_backend_is_named_by_the_url_scheme(url, name):
    assert persistence.backend_name(url) == name


def test_an_unknown_persistence_scheme_is_a_config_error():
    with pytest.raises(
        ConfigError, match=r"scheme 'nosql' has no installed persistence"
    ):
        persistence.load_backend(Catalog().persistence, "nosql://x")


def test_the_built_in_driver_table_is_what_opsflow_registers_as_entry_points():
    from importlib.metadata import distribution

    registered = {
        ep.name: ep.value
        for ep in distribution("opsflow").entry_points
        if ep.group == executors.NAMESPACE
    }
    assert registered == executors.BUILT_IN


@pytest.mark.parametrize("name", sorted(executors.BUILT_IN))
def test_a_built_in_driver_loads_as_its_entry_point_does(name):
    from importlib.metadata import distribution

    (entry_point,) = [
        ep
        for ep in distribution("opsflow").entry_points
        if ep.group == executors.NAMESPACE and ep.name == name
    ]
    assert executors.load_driver(name) is entry_point.load()


def test_a_name_that_is_not_built_in_is_an_entry_point_of_the_catalog(catalog):
    loaded = executors.load_driver("unit-pool", catalog)
    assert loaded is catalog.executors.load("unit-pool")
    with pytest.raises(PluginNotFound):
        executors.load_driver("warp", catalog)
