"""The key tables of spaces/README.md follow the parser's schema: every key it accepts is documented, once per section."""

from __future__ import annotations

import re
from pathlib import Path

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


# ---------------------------------------------------------------- links and length

PAGES = ["README.md", "CONTRIBUTING.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]
PAGES += ["spaces/README.md", "benchmarks/README.md"]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+\s+(.+?)\s*$", page.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def _relative_links(page: str) -> list[str]:
    text = re.sub(r"```.*?```", "", (ROOT / page).read_text(), flags=re.S)  # code blocks hold no links
    return [target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target)]


def test_the_pages_and_their_links_exist() -> None:
    assert all((ROOT / page).is_file() for page in PAGES)
    assert {"docs/results.md", "docs/reference.md", "docs/many-machines.md"} <= set(PAGES)
    assert sum(len(_relative_links(page)) for page in PAGES) > 20


@pytest.mark.parametrize("page", PAGES)
def test_every_relative_link_points_at_a_file_that_exists(page: str) -> None:
    broken = []
    for target in _relative_links(page):
        path, _, anchor = target.partition("#")
        file = (ROOT / page).parent / path if path else ROOT / page
        if not file.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(f"{target} (no heading #{anchor} in {file.relative_to(ROOT)})")
    assert broken == [], f"{page}: broken links: {', '.join(broken)}"


def test_the_readme_is_a_reference_of_at_most_150_lines() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 150
    for command in (
        "python -m search run spaces/recon.yaml --trials 100",
        "optuna-dashboard sqlite:///studies/recon.db",
        "python -m analysis.latent_vs_error --study recon",
        "pytest -m slow",
        "CAE_DATA_DIR",
        "search.optimize(",
    ):
        assert command in "\n".join(lines), f"README.md no longer shows {command}"


def test_the_readmes_space_example_is_a_space(tmp_path: Path) -> None:
    from search import architecture, load_space

    (example,) = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    (tmp_path / "recon.yaml").write_text(example)
    space = load_space(tmp_path / "recon.yaml")
    assert space.study.name == "recon"
    assert architecture(space, seed=0).latent_size > 0
