"""scripts/import_cycles.py: the package's modules import each other in no circle, lazy imports included."""

import shutil
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
SCRIPT = PROJECT / "scripts" / "import_cycles.py"


def _check(src: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(src)], capture_output=True, text=True)


def test_the_package_has_no_import_circle():
    checked = _check(PROJECT / "src")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_circle_closed_by_a_lazy_import_is_named(tmp_path):
    """The warm server calling into the CLI by importing it, inside a function: the CLI imports the
    server, so that is a circle, and the check names each module on it."""
    shutil.copytree(PROJECT / "src" / "synthset", tmp_path / "synthset")
    warm = tmp_path / "synthset" / "warm.py"
    warm.write_text(warm.read_text() + "\n\ndef _planted():\n    from synthset import cli\n\n    return cli.main\n")
    checked = _check(tmp_path)
    assert checked.returncode == 1
    assert checked.stdout.strip() == "import circle: synthset.cli -> synthset.warm -> synthset.cli"
