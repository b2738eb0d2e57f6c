"""README and docs/ stay in line with the code: every setting documented once, no dead links."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP_DIRS = ("moodsaas", "accounts", "evaluations", "frontend", "inference", "ml", "modelversions")
# A setting is read through a moodsaas.env helper, or through os.environ by the Django-free libraries.
READ = re.compile(
    r"""(?:env_(?:str|int|bool|list|choice|required)|os\.environ\.get|os\.getenv)\(\s*"([A-Z][A-Z0-9_]*)\""""
)
TABLE_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \|", re.MULTILINE)
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#+\s+(.*)$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def _variables_read() -> set[str]:
    names: set[str] = set()
    for directory in APP_DIRS:
        for path in (ROOT / directory).rglob("*.py"):
            names.update(READ.findall(path.read_text()))
    return names


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _documents() -> list[Path]:
    return [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "models").glob("*/MODEL_CARD.md")),
    ]


def test_the_configuration_table_lists_every_environment_variable_once() -> None:
    rows = TABLE_ROW.findall((ROOT / "docs" / "configuration.md").read_text())
    assert len(rows) == len(set(rows)), sorted(name for name in set(rows) if rows.count(name) > 1)
    read = _variables_read()
    assert read, "no settings found: has the code moved?"
    assert read - set(rows) == set(), "read by the code but not documented"
    assert set(rows) - read == set(), "documented but read by no code"


def test_every_relative_link_in_the_docs_points_to_a_file_and_heading_that_exist() -> None:
    broken = []
    for document in _documents():
        text = FENCE.sub("", document.read_text())
        for target in LINK.findall(text):
            if "://" in target or target.startswith("mailto:"):
                continue
            path, _, anchor = target.partition("#")
            resolved = (document.parent / path).resolve() if path else document
            if not resolved.exists():
                broken.append(f"{document.relative_to(ROOT)}: {target}")
                continue
            if anchor and resolved.suffix == ".md":
                headings = {_anchor(h) for h in HEADING.findall(FENCE.sub("", resolved.read_text()))}
                if anchor not in headings:
                    broken.append(f"{document.relative_to(ROOT)}: {target}")
    assert broken == []
