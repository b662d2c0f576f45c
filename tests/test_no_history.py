"""The reference text and code describe what is, not how it came to be: no issue numbers, work
sessions or build machines' paths (history belongs in commit messages)."""

import re

import pytest

from conftest import PROJECT

PLACES = ["README.md", "docs", "mkdocs.yml", "src", "params.yaml", "benchmarks", "scripts", "dvc.yaml", "MLproject"]
# What changed, and when, is the changelog's to say.
HISTORY_ALLOWED = {"CHANGELOG.md"}
HISTORY = re.compile(r"\bissues? #?\d+|\(issue\b|\bthis session\b|/work/|/tmp/ci\d|/tmp/run|/home/\w+/", re.IGNORECASE)


def _files():
    for place in PLACES:
        path = PROJECT / place
        yield from (sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in {".py", ".md", ".sh", ".yaml", ".yml", ""})
                    if path.is_dir() else [path])


@pytest.mark.parametrize("text, found", [("see issue 15", True), ("(issue", True), ("in /work/main", True),
                                          ("This session measured", True), ("cd /tmp/run31 && dvc repro", True),
                                          ("the tissue 15", False), ("an issue of taste", False),
                                          ("git clone <repo> run && bash scripts/run.sh", False),
                                          ("git worktree add /tmp/mutant HEAD", False)])
def test_the_pattern_finds_history_and_only_history(text, found):
    assert bool(HISTORY.search(text)) is found


def test_every_top_level_text_file_is_checked_or_allowed_history():
    """A new top-level page or config file falls under the check unless it is named as history."""
    top = {path.name for path in PROJECT.iterdir() if path.is_file() and path.suffix in {".md", ".yml", ".yaml"}}
    assert top - set(PLACES) - HISTORY_ALLOWED == set()
    assert not HISTORY_ALLOWED & set(PLACES)


def test_no_history_in_the_reference_text_and_code():
    hits = [f"{path.relative_to(PROJECT)}:{number}: {line.strip()}"
            for path in _files() for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
            if HISTORY.search(line)]
    assert not hits, "history outside commit messages:\n" + "\n".join(hits)
