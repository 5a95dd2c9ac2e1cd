"""Search spaces: the YAML format of ``spaces/*.yaml``, parsed and validated into a :class:`Space`.

A space has four sections (``study``, ``data``, ``train``, ``model``). In ``train`` and ``model``
every scalar may be a constant or a distribution:

- ``kernel: 3``                                   constant
- ``kernel: {choice: [3, 5, 7]}``                 categorical
- ``depth: {int: [1, 4]}``                        integer (optional ``step``, ``log: true``)
- ``lr: {float: [1.0e-4, 1.0e-2], log: true}``    float (optional ``step``, ``log``)

Everything is checked here, before any training: unknown keys (with a "did you mean"), wrong
types, empty choices, reversed ranges. Each problem is one :class:`SpaceError` naming the file,
the key and what was expected. ``spaces/README.md`` documents every key.

One module per concept: :mod:`~search.space.messages` (errors and "did you mean"),
:mod:`~search.space.params` (a key's kinds and distributions), :mod:`~search.space.schema` (every key),
:mod:`~search.space.values` (the parsed space), :mod:`~search.space.sections` and
:mod:`~search.space.models` (parsing), :mod:`~search.space.overrides` (``--set``) and
:mod:`~search.space.load` (reading a file). Parsing is pure: it reads the space file and nothing
else (a ``start:`` is a reference that :func:`search.trials.start.resolve_start` opens when a run begins),
and it imports no torch, so a bad space is refused in a fraction of a second.
"""

from search.space.load import load_space, parse_space, read_yaml, space_from_dict
from search.space.messages import SpaceError, did_you_mean
from search.space.params import Choice, Distribution, FloatRange, IntRange, Key, is_distribution, parse_param
from search.space.sections import check_study_name
from search.space.values import Design, DesignsModel, ExplicitModel, Space, StartedModel, StartRef, StudySpec, TemplateModel

__all__ = [
    "Choice",
    "Design",
    "DesignsModel",
    "Distribution",
    "ExplicitModel",
    "FloatRange",
    "IntRange",
    "Key",
    "Space",
    "SpaceError",
    "StartRef",
    "StartedModel",
    "StudySpec",
    "TemplateModel",
    "check_study_name",
    "did_you_mean",
    "is_distribution",
    "load_space",
    "parse_param",
    "parse_space",
    "read_yaml",
    "space_from_dict",
]
