"""The key tables of spaces/README.md follow the parser's schema: every key it accepts is documented, once per section."""

from __future__ import annotations

import re

import pytest

from search.space import schema
from tests.conftest import ROOT

README = (ROOT / "spaces" / "README.md").read_text()


def _table_keys(heading: str) -> list[str]:
    """The first column of the key table under ``## `heading` ``."""
    section = re.search(rf"^## `{heading}`.*?$(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert section is not None, f"spaces/README.md has no section for {heading}"
    return re.findall(r"^\| `([a-z_]+)` \|", section.group(1), re.M)


@pytest.mark.parametrize(
    ("heading", "keys"),
    [
        ("study", schema.STUDY_KEYS),
        ("start", schema.START_KEYS),
        ("classes", tuple(schema.CLASSES_KEYS)),
        ("data", schema.DATA_KEYS),
        ("train", tuple(schema.TRAIN_KEYS)),
    ],
)
def test_every_key_the_parser_accepts_is_documented(heading: str, keys: tuple[str, ...]) -> None:
    documented = _table_keys(heading)
    assert sorted(documented) == sorted(keys), f"spaces/README.md's {heading} table and search/space/schema.py differ"


def test_every_model_key_and_layer_kind_is_documented() -> None:
    documented = set(_table_keys("model"))
    assert set(schema.TEMPLATE_KEYS) <= documented
    assert set(schema.LAYER_KEYS) <= documented | set(re.findall(r"`(\w+)`", README))
