"""What an atom requires and provides, from its signature."""

from __future__ import annotations

import copy
import pickle

import pytest

from opsflow import atom, task
from opsflow.types.empty import EMPTY_MAPPING


class Resize(task.Task):
    def execute(self, volume, size, force=False):
        return size

    def revert(self, volume, result, flow_failures, **kwargs):
        pass


class NoArgs(task.Task):
    def execute(self):
        return 1


def test_requires_come_from_the_execute_signature_and_optional_from_defaults():
    t = Resize()

    assert set(t.requires) == {"volume", "size"}
    assert set(t.optional) == {"force"}


def test_a_task_without_a_name_is_named_module_and_class():
    assert Resize().name == f"{__name__}.Resize"


def test_a_task_is_an_atom():
    assert isinstance(Resize(), atom.Atom)


class TakesAnything(task.Task):
    def execute(self, base, **kwargs):
        return kwargs


def test_explicit_requires_are_added_to_the_signature():
    t = TakesAnything(requires=["extra"])

    assert set(t.requires) == {"base", "extra"}


def test_explicit_requires_a_function_cannot_take_are_an_error():
    with pytest.raises(ValueError):
        NoArgs(requires=["extra"])


def test_rebind_list_renames_required_arguments_in_order():
    t = Resize(rebind=["vol_id", "new_size"])

    assert t.rebind["volume"] == "vol_id"
    assert t.rebind["size"] == "new_size"
    assert set(t.requires) == {"vol_id", "new_size"}


def test_rebind_dict_renames_chosen_arguments():
    t = Resize(rebind={"size": "new_size"})

    assert t.rebind == {"volume": "volume", "size": "new_size", "force": "force"}
    assert set(t.requires) == {"volume", "new_size"}


def test_rebinding_an_optional_argument_makes_the_new_name_required():
    t = Resize(rebind={"force": "always"})

    assert "always" in t.requires
    assert "force" not in t.optional


def test_rebinding_an_argument_the_function_does_not_take_is_an_error():
    with pytest.raises(ValueError):
        NoArgs(rebind={"missing": "x"})


def test_inject_is_kept_on_the_atom():
    t = Resize(inject={"volume": "v-1"})

    assert t.inject == {"volume": "v-1"}


def test_provides_a_string_is_one_name():
    t = NoArgs(provides="answer")

    assert set(t.provides) == {"answer"}
    assert t.save_as == {"answer": None}


def test_provides_a_tuple_maps_names_to_indexes():
    t = NoArgs(provides=("first", "second"))

    assert set(t.provides) == {"first", "second"}
    assert t.save_as == {"first": 0, "second": 1}


def test_provides_a_set_maps_names_to_keys_of_a_dict_result():
    t = NoArgs(provides={"host", "port"})

    assert set(t.provides) == {"host", "port"}
    assert t.save_as == {"host": "host", "port": "port"}


def test_provides_of_another_type_is_an_error():
    with pytest.raises(TypeError):
        NoArgs(provides=42)


def test_default_provides_is_used_when_provides_is_not_given():
    class Named(NoArgs):
        default_provides = "value"

    assert set(Named().provides) == {"value"}
    assert set(Named(provides="other").provides) == {"other"}


def test_result_and_flow_failures_are_never_revert_requirements():
    t = Resize()

    # revert takes volume (already required) plus result and flow_failures,
    # which the engine supplies itself
    assert set(t.requires) == {"volume", "size"}
    assert "result" not in t.requires
    assert "flow_failures" not in t.requires


def test_revert_requirements_are_part_of_what_the_atom_requires():
    class Undo(task.Task):
        def execute(self, a):
            return a

        def revert(self, undo_token, **kwargs):
            pass

    t = Undo()

    assert set(t.requires) == {"a", "undo_token"}


def test_revert_requires_replaces_the_revert_arguments():
    t = Resize(revert_requires=["ticket"])

    assert "ticket" in t.requires
    assert "ticket" in t.revert_rebind


def test_revert_rebind_renames_revert_arguments():
    t = Resize(revert_rebind={"volume": "old_volume"})

    assert t.revert_rebind["volume"] == "old_volume"
    assert "old_volume" in t.requires
    # execute still binds volume to its own name
    assert t.rebind["volume"] == "volume"


def test_auto_extract_false_ignores_the_signature():
    t = Resize(auto_extract=False, requires=["volume", "size"])

    assert set(t.requires) == {"volume", "size"}
    assert set(t.optional) == set()


def test_ignore_list_drops_arguments_from_the_requirements():
    class Plain(task.Task):
        def execute(self, volume, size):
            return size

    t = Plain(ignore_list=["size"])

    assert set(t.requires) == {"volume"}


def test_functor_task_takes_requirements_from_the_callable():
    def resize(volume, size=1):
        return size

    t = task.FunctorTask(resize, provides="new_size")

    assert t.name.endswith("resize")
    assert set(t.requires) == {"volume"}
    assert set(t.optional) == {"size"}
    assert set(t.provides) == {"new_size"}


def test_functor_task_revert_callable_may_name_result_and_flow_failures():
    t = task.FunctorTask(
        lambda volume: volume,
        name="f",
        revert=lambda volume, result, flow_failures: None,
    )

    assert set(t.requires) == {"volume"}


def test_map_functor_task_requires_each_item_and_provides_a_list():
    t = task.MapFunctorTask(lambda x: x * 2, requires=["a", "b"], provides="doubled")

    assert set(t.requires) == {"a", "b"}
    assert set(t.provides) == {"doubled"}
    assert t.execute(a=1, b=2) == [2, 4]


def test_reduce_functor_task_folds_its_inputs():
    t = task.ReduceFunctorTask(
        lambda x, y: x + y, requires=["a", "b", "c"], provides="total"
    )

    assert t.execute(a=1, b=2, c=3) == 6


def test_reduce_functor_task_needs_two_inputs():
    with pytest.raises(ValueError):
        task.ReduceFunctorTask(lambda x, y: x + y, requires=["a"])


def test_atoms_that_rebind_and_provide_nothing_share_one_read_only_mapping():
    first, second = NoArgs("a"), NoArgs("b")
    shared = (
        first.rebind,
        first.revert_rebind,
        first.optional_mapping,
        first.revert_optional_mapping,
        first.save_as,
    )
    assert all(mapping is EMPTY_MAPPING for mapping in shared)
    assert second.rebind is first.rebind
    assert first.rebind == {} and isinstance(first.rebind, dict)
    with pytest.raises(TypeError, match="shared"):
        first.rebind["volume"] = "vol"
    with pytest.raises(TypeError, match="shared"):
        first.save_as.update(x=None)
    assert second.rebind == {}


def test_the_shared_mapping_survives_copies_and_pickles_as_itself():
    original = NoArgs("a")
    for clone in (
        copy.copy(original),
        copy.deepcopy(original),
        pickle.loads(pickle.dumps(original)),
    ):
        assert clone.rebind is EMPTY_MAPPING
        assert clone.save_as is EMPTY_MAPPING
    assert dict(EMPTY_MAPPING) == {} and type(dict(EMPTY_MAPPING)) is dict


def test_an_atom_with_mappings_gets_its_own_changeable_dicts():
    resize = Resize("r", rebind={"size": "new_size"}, provides="size")
    assert resize.rebind is not EMPTY_MAPPING
    assert resize.rebind == {"volume": "volume", "size": "new_size", "force": "force"}
    assert resize.save_as == {"size": None}
    resize.save_as["other"] = None  # a mapping of its own: nobody else sees it
    assert Resize("s", provides="size").save_as == {"size": None}


def test_a_task_notifier_is_its_own_and_not_pickled():
    one, other = NoArgs("a"), NoArgs("b")
    heard = []
    one.notifier.register(
        task.EVENT_UPDATE_PROGRESS, lambda event, details: heard.append(details)
    )
    assert one.notifier is one.notifier
    assert other.notifier is not one.notifier
    one.notify_progress(0.5)
    other.notify_progress(0.7)
    assert heard == [{"progress": 0.5}]
    clone = pickle.loads(pickle.dumps(one))
    assert clone._notifier is None and len(clone.notifier) == 0
    kept = one.copy()
    assert kept.notifier is not one.notifier and len(kept.notifier) == 1


def test_an_atom_holds_only_the_values_it_has_of_its_own():
    assert vars(NoArgs("a")) == {"name": "a"}
    resize = Resize("r", provides="size", inject={"force": True})
    own = vars(resize)
    assert own["save_as"] == {"size": None} and own["inject"] == {"force": True}
    assert "revert_optional" not in own  # revert takes nothing optional
    assert resize.revert_optional == frozenset() and resize.version == (1, 0)


def test_the_constructor_overrides_class_attributes_of_the_same_names():
    class Declares(task.Task):
        version = (2, 0)
        inject = {"x": 1}
        rebind = {"a": "b"}

        def execute(self):
            return None

    declared = Declares("d")
    assert declared.version == (1, 0)
    assert declared.inject is None
    assert declared.rebind == {}
    assert Declares("e", inject={"y": 2}).inject == {"y": 2}
