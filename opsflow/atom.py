"""``Atom``: the smallest unit a flow is made of (a task or a retry controller).

An atom declares what it needs and what it gives:

* ``requires``/``optional``: inferred from the signature of ``execute`` (a
  parameter with a default is optional), plus ``requires=`` given by hand;
* ``rebind``: feed a parameter from a value of another name (a list maps
  position by position, a dict maps parameter -> value name);
* ``inject``: values private to this atom, which win over everything else;
* ``provides``: the name (str), the names of the items of a returned
  sequence (list/tuple), or of a returned mapping (set, or dict
  ``{name: key}``) under which the result is stored.

``revert`` gets its own mapping (``revert_requires``, ``revert_rebind``,
falling back to the execute ones); ``result`` and ``flow_failures`` are
supplied by the engine and are never requirements.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, TypeAlias

from opsflow.types import notifier
from opsflow.types.empty import EMPTY_MAPPING, or_empty

__all__ = ["Atom", "Provides", "Rebind", "Requires"]

#: What an atom's result is stored as: one name (the whole result), names by
#: position (a list or tuple), by key (a mapping of name to key), or a set
#: of keys of a dict result.
Provides: TypeAlias = str | Sequence[str] | Mapping[str, Any] | AbstractSet[str] | None
#: Names of values an atom needs besides its own parameters.
Requires: TypeAlias = str | Iterable[str] | None
#: Where parameters come from: parameter name -> value name, or the value
#: names in the parameters' order.
Rebind: TypeAlias = Mapping[str, str] | Sequence[str] | None

#: Arguments the engine passes to ``revert`` itself.
REVERT_RESULT = "result"
REVERT_FLOW_FAILURES = "flow_failures"
_ENGINE_REVERT_ARGS = (REVERT_RESULT, REVERT_FLOW_FAILURES)

#: Marker in ``save_as``: store the whole result under that name.
WHOLE_RESULT = None


def _signature_args(function: Callable[..., Any]) -> tuple[list[str], list[str], bool]:
    """(required names, all names, accepts **kwargs) of ``function``."""
    required: list[str] = []
    every: list[str] = []
    takes_kwargs = False
    for param in inspect.signature(function).parameters.values():
        if param.kind is param.VAR_KEYWORD:
            takes_kwargs = True
        elif param.kind is param.VAR_POSITIONAL:
            continue
        else:
            every.append(param.name)
            if param.default is param.empty:
                required.append(param.name)
    return required, every, takes_kwargs


class NameSet(frozenset):  # type: ignore[type-arg]
    """A frozen set of names that iterates in the order they were declared.

    Code that zips ``requires`` or ``provides`` with values relies on that
    order, as it can with TaskFlow's ordered sets. Set operations give plain
    frozensets.
    """

    __slots__ = ("_order",)
    _order: tuple[str, ...]

    def __new__(cls, names: Iterable[str] = ()) -> NameSet:
        order = tuple(dict.fromkeys(names))
        self = super().__new__(cls, order)
        self._order = order
        return self

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __repr__(self) -> str:
        return f"NameSet({list(self._order)!r})"


#: Shared empty set: most atoms need or give nothing, and every set is an
#: object the garbage collector walks (100,000-task flows feel it).
_NO_NAMES = NameSet()
#: An atom's version unless it says otherwise.
_DEFAULT_VERSION = (1, 0)


def _names(names: Iterable[str]) -> NameSet:
    found = NameSet(names)
    return found if found else _NO_NAMES


def save_as_mapping(provides: Provides) -> dict[str, Any]:
    """``{stored name: index or key or WHOLE_RESULT}`` for a ``provides`` value."""
    if provides is None:
        return EMPTY_MAPPING
    if isinstance(provides, str):
        return {provides: WHOLE_RESULT}
    if isinstance(provides, Mapping):
        return dict(provides)
    if isinstance(provides, list | tuple):
        return {name: index for index, name in enumerate(provides)}
    if isinstance(provides, set | frozenset):
        return {name: name for name in sorted(provides)}
    raise TypeError(
        f"Atom provides must be a str, list, tuple, set or dict, not {type(provides)}"
    )


def _rebind_mapping(required: list[str], rebind: Rebind) -> dict[str, str]:
    if rebind is None:
        return {}
    if isinstance(rebind, Mapping):
        return dict(rebind)
    if isinstance(rebind, list | tuple):
        mapping = dict(zip(required, rebind, strict=False))
        # Names beyond the required parameters go to *args/**kwargs as themselves.
        mapping.update((name, name) for name in rebind[len(required) :])
        return mapping
    raise TypeError(f"Invalid rebind value {rebind!r}: expected a list, tuple or dict")


def build_arg_mapping(
    atom_name: str | None,
    function: Callable[..., Any],
    requires: Requires = None,
    rebind: Rebind = None,
    auto_extract: bool = True,
    ignore_list: Iterable[str] = (),
) -> tuple[dict[str, str], dict[str, str]]:
    """``(required, optional)``: parameter name -> the value name it is fed from."""
    ignored = set(ignore_list)
    sig_required, sig_all, takes_kwargs = _signature_args(function)
    sig_required = [name for name in sig_required if name not in ignored]
    required: dict[str, str] = {}
    if auto_extract:
        required.update((name, name) for name in sig_required)
    if requires:
        names = [requires] if isinstance(requires, str) else list(requires)
        required.update((name, name) for name in names)
    # Rebinding an optional parameter makes the new name a requirement.
    required.update(_rebind_mapping(sig_required, rebind))
    optional: dict[str, str] = {}
    if auto_extract:
        optional = {
            name: name
            for name in sig_all
            if name not in required and name not in ignored
        }
    if not takes_kwargs:
        extra = [name for name in required if name not in sig_all]
        if extra:
            raise ValueError(f"Extra arguments given to atom {atom_name}: {extra}")
    missing = [name for name in sig_required if name not in required]
    if missing:
        raise ValueError(f"Missing arguments for atom {atom_name}: {missing}")
    return required, optional


class Atom:
    """Base of tasks and retry controllers: a name, inputs, outputs.

    Subclasses define ``execute`` and ``revert``.
    """

    #: Among atoms ready at the same moment, higher priority goes first.
    priority = 0
    #: What the atom provides when ``provides=`` is not given.
    default_provides: Provides = None

    # What an atom reads from its class until it has a value of its own: most
    # atoms inject, provide, rebind and require nothing, and every attribute
    # an instance holds costs 8 bytes in each (CPython keeps them in a
    # per-instance array sized by the attributes set).
    version: tuple[int, ...] = _DEFAULT_VERSION
    inject: dict[str, Any] | None = None
    save_as: dict[str, Any] = EMPTY_MAPPING
    provides: NameSet = _NO_NAMES
    optional_mapping: dict[str, str] = EMPTY_MAPPING
    revert_optional_mapping: dict[str, str] = EMPTY_MAPPING
    rebind: dict[str, str] = EMPTY_MAPPING
    revert_rebind: dict[str, str] = EMPTY_MAPPING
    execute_requires: NameSet = _NO_NAMES
    requires: NameSet = _NO_NAMES
    optional: NameSet = _NO_NAMES
    revert_optional: NameSet = _NO_NAMES

    def __init__(
        self,
        name: str | None = None,
        provides: Provides = None,
        requires: Requires = None,
        auto_extract: bool = True,
        rebind: Rebind = None,
        inject: Mapping[str, Any] | None = None,
        ignore_list: Iterable[str] | None = None,
        revert_rebind: Rebind = None,
        revert_requires: Requires = None,
    ) -> None:
        if provides is None:
            provides = self.default_provides
        self.name = name
        hold = self._hold
        hold("version", _DEFAULT_VERSION)
        hold("inject", dict(inject) if inject else None)
        save_as = save_as_mapping(provides)
        hold("save_as", save_as)
        hold("provides", _names(save_as))
        ignore = list(ignore_list or ())
        required, optional_mapping = build_arg_mapping(
            name, self._signature_of("execute"), requires, rebind, auto_extract, ignore
        )
        revert_required, revert_optional_mapping = build_arg_mapping(
            name,
            self._signature_of("revert"),
            revert_requires or requires,
            revert_rebind or rebind,
            auto_extract,
            ignore + list(_ENGINE_REVERT_ARGS),
        )
        hold("optional_mapping", or_empty(optional_mapping))
        hold("revert_optional_mapping", or_empty(revert_optional_mapping))
        hold("rebind", or_empty({**required, **optional_mapping}))
        hold("revert_rebind", or_empty({**revert_required, **revert_optional_mapping}))
        execute_requires = _names(required.values())
        hold("execute_requires", execute_requires)
        revert_only = [
            n for n in revert_required.values() if n not in required.values()
        ]
        hold(
            "requires",
            _names([*execute_requires, *revert_only])
            if revert_only
            else execute_requires,
        )
        hold("optional", _names(optional_mapping.values()))
        hold("revert_optional", _names(revert_optional_mapping.values()))

    def _hold(self, attribute: str, value: object) -> None:
        """Give the atom ``value`` as ``attribute``, unless it is the very
        object its class already gives (the shared defaults above; a class
        that overrides one always gets the instance's own value, as the
        atom's constructor always set it)."""
        if value is not Atom.__dict__[attribute] or (
            getattr(type(self), attribute, None) is not value
        ):
            setattr(self, attribute, value)

    #: The atom's own notifier once made. A class default until then, so
    #: that reading it needs no ``self.__dict__``: asking for that makes
    #: CPython build a dict for the instance (64 bytes an atom in a run).
    _notifier: notifier.Notifier | None = None

    @property
    def notifier(self) -> notifier.Notifier:
        """This atom's own notifier (progress events), made on first use."""
        own = self._notifier
        if own is None:
            own = self._notifier = notifier.Notifier()
        return own

    def _signature_of(self, method: str) -> Callable[..., Any]:
        """The callable whose signature tells what ``method`` needs."""
        return getattr(self, method)

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        """Do the atom's work; the return value is stored as its result."""
        raise NotImplementedError

    def revert(self, *args: Any, **kwargs: Any) -> Any:
        """Undo what ``execute`` did (``result=`` and ``flow_failures=`` are given)."""

    def pre_execute(self) -> None:
        """Called just before ``execute``, on the same worker."""

    def post_execute(self) -> None:
        """Called just after ``execute``, on the same worker."""

    def pre_revert(self) -> None:
        """Called just before ``revert``, on the same worker."""

    def post_revert(self) -> None:
        """Called just after ``revert``, on the same worker."""

    def __str__(self) -> str:
        version = ".".join(str(v) for v in self.version)
        return f'"{self.name}=={version}"'

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__qualname__} {self}>"
