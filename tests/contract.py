"""What the code says each pipeline stage needs, read from the code itself, to check ``dvc.yaml`` against.

- modules: a stage's command is parsed with the CLI's own parser; the modules it imports are those
  the CLI imports at its top, those its handler imports, and, transitively, every ``synthset``
  module those import (at any level, in any function: a superset, never less);
- settings: every ``params.<name>`` or ``project.<name>`` read in those modules names a section
  (or ``seed``, ``datasets``, a dataset's ``data``) whose places (``config.places``) the stage must
  declare;
- outputs: every out, metric and plot path must be one that a function of ``paths`` produces.

Modules in ``CANNOT_CHANGE_OUTPUTS`` are not a stage's dependency (their edits must re-run
nothing), nor is a package ``__init__`` that holds only a docstring. A stage that declares the
whole ``params.yaml`` (``params: [params.yaml: ]``) covers every setting.
"""

from __future__ import annotations

import ast
import inspect
import shlex
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
SRC = PROJECT / "src"

# Modules whose edits cannot change a byte a stage writes, so that no stage declares them and a
# help text, a log call or an error message re-runs nothing. A module earns its place here only if
# it writes no pipeline output and feeds no value into one, and some stage's command imports it
# (a test holds this list to that).
CANNOT_CHANGE_OUTPUTS = (
    "synthset.cli",          # argument parsing and help; each command calls its stage module
    "synthset",              # the package's version
    "synthset.stages",       # the stage names, used as MLflow tags (this package's __init__ only)
    "synthset.tracking.*",   # MLflow runs, params, metrics, models, lineage: the store, never the outputs
    "synthset.hashes",       # hashes of inputs and settings: MLflow tags, resume keys
    "synthset.errors",       # error text
)
WHOLE_FILE = "*"  # a params dependency on every key of params.yaml


def module_file(name: str, src: Path = SRC) -> Path | None:
    """The file of module ``name`` under ``src``, or None when it is not one (a function, a class)."""
    base = src.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported(tree: ast.AST, src: Path) -> set[str]:
    """The synthset modules an AST imports: ``import synthset.x`` and ``from synthset.x import y``
    (y counts when it is a module itself)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "synthset"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "synthset":
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names
                      if module_file(f"{node.module}.{alias.name}", src)}
    with_packages = set()
    for name in found:  # importing a.b.c runs a/__init__ and a/b/__init__ first
        parts = name.split(".")
        with_packages |= {".".join(parts[:n]) for n in range(1, len(parts) + 1)}
    return {name for name in with_packages if module_file(name, src)}


def closure(start: set[str], src: Path = SRC) -> set[str]:
    """``start`` and every synthset module they import, transitively."""
    seen, todo = set(), list(start)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_imported(ast.parse(module_file(name, src).read_text()), src) - seen)
    return seen


def parse_command(cmd: str):
    """The CLI's own parse of a ``synthset ...`` command line (SystemExit when it does not parse)."""
    from synthset.cli import build_parser

    words = shlex.split(cmd)
    assert words[0] == "synthset", f"{cmd!r}: not a synthset command"
    return build_parser().parse_args(words[1:])


def command_modules(cmd: str, src: Path = SRC) -> set[str]:
    """Every synthset module a ``synthset ...`` command imports: the CLI's top-level imports, its
    handler's imports, and theirs, transitively."""
    handler = parse_command(cmd).run
    cli_tree = ast.parse((src / "synthset" / "cli.py").read_text())
    top_level = ast.Module([node for node in cli_tree.body if isinstance(node, (ast.Import, ast.ImportFrom))], [])
    start = _imported(top_level, src) | _imported(ast.parse(inspect.getsource(handler).strip()), src)
    return {"synthset.cli"} | closure(start - {"synthset.cli"}, src)  # the CLI's other handlers do not run


SETTINGS_NAMES = ("params", "project")  # what the code calls a settings object, by convention
SETTINGS_KEYS = ("seed", "datasets")


def settings_read(modules: set[str], cmd: str, src: Path = SRC) -> set[str]:
    """The attributes read off a settings object in ``modules`` (of the CLI, only in the command's
    handler and the helpers it calls): sections, ``data``, ``data_of``, a dataset's name, ``seed``,
    ``datasets``."""
    from synthset import cli, config

    known = {*config.SECTIONS, *SETTINGS_KEYS, "data", "data_of", "data_specs"}
    trees = [ast.parse(module_file(name, src).read_text()) for name in modules if name != "synthset.cli"]
    trees += [ast.parse(inspect.getsource(function).strip()) for function in (parse_command(cmd).run, cli._params)]
    read = set()
    for tree in trees:
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr in known and isinstance(node.value, ast.Name)
                    and node.value.id in SETTINGS_NAMES):
                read.add(node.attr)
    return read


def required_params(read: set[str], datasets: list[str], scale: str, defined: list[str]) -> set[str]:
    """The params.yaml keys a stage reading ``read`` for ``datasets`` at ``scale`` must declare
    (``defined``: every dataset params.yaml has a block for)."""
    from synthset import config

    required = {key for key in read if key in SETTINGS_KEYS}
    for dataset in datasets:
        for attr in read:
            if attr == "data":
                required |= set(config.places("data", dataset, scale))
            elif attr in ("data_of", "data_specs"):
                required |= {key for d in defined for key in config.places("data", d, scale)}
            elif attr in config.SECTIONS and attr in config.sections_of(dataset):
                required |= set(config.places(attr, dataset, scale))
    return required


def covered(path: str, declared: list[str]) -> bool:
    """Whether a file is among ``declared`` paths, itself or under a declared folder."""
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in declared)


def key_covered(key: str, declared: list[str]) -> bool:
    return any(key == d or key.startswith(d + ".") or d == WHOLE_FILE for d in declared)


def producible_paths(params_file: Path = PROJECT / "params.yaml") -> set[str]:
    """Every path a function of ``paths`` returns for the names the pipeline uses."""
    from synthset import config, paths
    from synthset.report.pages import PAGES

    project = config.load(params_file)
    study2 = config.load(params_file, dataset=config.STUDY2_DATASETS[0]).study2
    domains = {
        "dataset": list(project.data_specs),
        "label": sorted({label for spec in project.data_specs.values() for label in spec.labels}),
        "source": list(config.SOURCES),
        "split": ["train", "holdout", "validation"],
        "name": [*config.STUDY2_MODELS, *map(paths.semi_name, config.SEMI_VARIANTS),
                 *map(paths.ssl_gan_name, study2.ssl.labels)],
        "seed": list(range(project.seed, project.seed + 5)),
        "page": ["index", *PAGES],
        "test_set": ["real", "synth"],
    }
    found = {str(value) for value in vars(paths).values() if isinstance(value, Path)}
    for name, function in inspect.getmembers(paths, inspect.isfunction):
        if function.__module__ != paths.__name__:
            continue
        arguments = list(inspect.signature(function).parameters)
        if any(argument not in domains for argument in arguments):
            continue  # e.g. run_dir: relative to another path
        combos = [{}]
        for argument in arguments:
            combos = [{**combo, argument: value} for combo in combos for value in domains[argument]]
        for combo in combos:
            value = function(**combo)
            if isinstance(value, Path):
                found.add(str(value))
    return found


@dataclass
class StageReport:
    name: str
    missing_modules: list[str] = field(default_factory=list)
    missing_params: list[str] = field(default_factory=list)
    unknown_outputs: list[str] = field(default_factory=list)
    needless_modules: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        out = []
        if self.missing_modules:
            out.append(f"{self.name}: deps lack " + ", ".join(self.missing_modules))
        if self.missing_params:
            out.append(f"{self.name}: params lack " + ", ".join(self.missing_params))
        if self.needless_modules:
            out.append(f"{self.name}: deps name code that cannot change its outputs: " + ", ".join(self.needless_modules))
        if self.unknown_outputs:
            out.append(f"{self.name}: outputs no function of synthset.paths produces: " + ", ".join(self.unknown_outputs))
        return out


def cannot_change_outputs(module: str) -> bool:
    """``name`` itself, or with ``.*`` every module of that package too."""
    return any(module == name or (name.endswith(".*") and (module == name[:-2] or module.startswith(name[:-1])))
               for name in CANNOT_CHANGE_OUTPUTS)


def docstring_only(path: Path) -> bool:
    body = ast.parse(path.read_text()).body
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)


def code_dependencies(cmd: str, src: Path = SRC) -> list[str]:
    """The module files (relative to the project) a stage running ``cmd`` must declare."""
    wanted = []
    for name in command_modules(cmd, src):
        path = module_file(name, src)
        if cannot_change_outputs(name) or (path.name == "__init__.py" and docstring_only(path)):
            continue
        wanted.append(str(path.relative_to(src.parent)))
    return sorted(wanted)


def needless(deps: list[str], src: Path = SRC) -> list[str]:
    """The module files ``deps`` cover that the stage must not depend on: those that cannot change outputs."""
    found = []
    for path in sorted((src / "synthset").rglob("*.py")):
        relative = str(path.relative_to(src.parent))
        if "__pycache__" in relative or not covered(relative, deps):
            continue
        name = ".".join(path.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
        if cannot_change_outputs(name):
            found.append(relative)
    return found


def check_stage(name: str, cmd: str, deps: list[str], params: list[str], outputs: list[str], scale: str,
                datasets: list[str], producible: set[str], src: Path = SRC, defined: list[str] | None = None) -> StageReport:
    """What ``dvc.yaml`` lacks for one stage, given its resolved command, deps, params and outputs."""
    modules = command_modules(cmd, src)
    files = code_dependencies(cmd, src)
    args = parse_command(cmd)
    for_datasets = [args.dataset] if getattr(args, "dataset", None) else list(datasets)
    required = required_params(settings_read(modules, cmd, src), for_datasets, scale, defined or list(datasets))
    return StageReport(
        name,
        missing_modules=[f for f in files if not covered(f, deps)],
        needless_modules=needless(deps, src),
        missing_params=sorted(key for key in required if not key_covered(key, params)),
        unknown_outputs=sorted(path for path in outputs if path not in producible),
    )


def pipeline_stages(project: Path = PROJECT):
    """(name, cmd, deps, params, outputs) of every stage ``dvc.yaml`` defines, after DVC's own
    foreach/matrix expansion."""
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        for stage in repo.index.stages:
            if not getattr(stage, "cmd", None):
                continue  # data.dvc
            deps, params = [], []
            for dep in stage.deps:
                if type(dep).__name__ == "ParamsDependency":
                    params += list(dep.params) or [WHOLE_FILE]
                else:
                    deps.append(dep.def_path)
            yield stage.addressing, stage.cmd, deps, params, [out.def_path for out in stage.outs]


def plot_paths(dvc_yaml: dict) -> list[str]:
    """The files the top-level ``plots:`` of ``dvc.yaml`` draw from."""
    found = []
    for entry in dvc_yaml.get("plots", []):
        for definition in entry.values():
            y = (definition or {}).get("y", {})
            found += list(y) if isinstance(y, dict) else []
    return found
