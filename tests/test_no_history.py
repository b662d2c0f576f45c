"""The reference text and code describe what is, not how it came to be: no issue numbers, work
sessions or build machines' paths (history belongs in commit messages)."""

import re

import pytest

from conftest import PROJECT

PLACES = ["README.md", "docs", "src", "params.yaml", "benchmarks", "scripts", "dvc.yaml", "MLproject"]
HISTORY = re.compile(r"\bissues? #?\d+|\(issue\b|\bthis session\b|/work/|/tmp/ci\d|/home/\w+/", re.IGNORECASE)


def _files():
    for place in PLACES:
        path = PROJECT / place
        yield from (sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in {".py", ".md", ".sh", ".yaml", ".yml", ""})
                    if path.is_dir() else [path])


@pytest.mark.parametrize("text, found", [("see issue 15", True), ("(issue", True), ("in /work/main", True),
                                          ("This session measured", True), ("the tissue 15", False),
                                          ("an issue of taste", False)])
def test_the_pattern_finds_history_and_only_history(text, found):
    assert bool(HISTORY.search(text)) is found


def test_no_history_in_the_reference_text_and_code():
    hits = [f"{path.relative_to(PROJECT)}:{number}: {line.strip()}"
            for path in _files() for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
            if HISTORY.search(line)]
    assert not hits, "history outside commit messages:\n" + "\n".join(hits)
