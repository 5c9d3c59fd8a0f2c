"""The ``qcrd`` command: one subcommand per pipeline stage, and ``run`` for all of them.

qcrd run --config configs/quickstart.yaml
qcrd train --config configs/quickstart.yaml train.lr=3e-5 train.max_steps=20
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from qcrd.config import ConfigError, RunConfig, load_config
from qcrd.rundir import STAGES, StageMismatch

app = typer.Typer(
    help="Distil a large model's reasoning into a small one with QCRD "
    "(quality-guided contrastive rationale distillation).",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="YAML experiment file (configs/*.yaml); default: all defaults."
    ),
]
Overrides = Annotated[
    list[str] | None,
    typer.Argument(
        help="Dotted overrides, e.g. train.lr=3e-5 data.max_train=64.", show_default=False
    ),
]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Redo the stage (and every later one) even if complete.")
]


def _setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False)],
        force=True,
    )
    # Libraries' own bars and chatter would interleave with ours.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    for noisy in ("httpx", "openai", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _load(config: Path | None, overrides: list[str] | None) -> RunConfig:
    try:
        return load_config(config, overrides or [])
    except ConfigError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None


def _run(stages: list[str], config: Path | None, overrides: list[str] | None, force: bool) -> None:
    _setup_logging()
    cfg = _load(config, overrides)
    from qcrd.pipeline import IncompleteStage, run_stages

    try:
        results = run_stages(cfg, stages, force=force)
    except (StageMismatch, IncompleteStage, FileNotFoundError, ValueError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(1) from None
    for stage, summary in results.items():
        if summary is None:
            console.print(f"[dim]{stage}: already complete[/dim]")
        else:
            console.print(f"[green]{stage}[/green] done in {summary.get('seconds')} s")
    metrics_path = Path(cfg.run_dir) / "evaluate" / "metrics.json"
    if "evaluate" in stages and metrics_path.is_file():
        metrics = json.loads(metrics_path.read_text())
        console.print(
            f"[bold]test accuracy {100 * metrics['test_accuracy']:.2f}%[/bold] "
            f"({metrics['method']} on {metrics['task']}, {metrics['test_examples']} examples); "
            f"report: {Path(cfg.run_dir) / 'report' / 'report.md'}"
        )


@app.command()
def run(config: ConfigOpt = None, overrides: Overrides = None, force: ForceOpt = False) -> None:
    """Run the whole pipeline: data, teacher, filter, train, evaluate, report.

    Complete stages are skipped; an interrupted one continues where it stopped.
    """
    _run(list(STAGES), config, overrides, force)


@app.command()
def data(config: ConfigOpt = None, overrides: Overrides = None, force: ForceOpt = False) -> None:
    """Load the task's splits and any pre-generated teacher rationales into the run directory."""
    _run(["data"], config, overrides, force)


@app.command()
def teacher(
    config: ConfigOpt = None,
    overrides: Overrides = None,
    force: ForceOpt = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Estimate tokens and cost only.")
    ] = False,
) -> None:
    """Sample K rationales per training input from the teacher (cached in SQLite)."""
    if dry_run:
        _setup_logging()
        cfg = _load(config, overrides)
        from qcrd.rundir import RunDir
        from qcrd.teacher.stage import run_teacher_stage

        run_dir = RunDir.create(cfg)
        estimate = run_teacher_stage(
            cfg, run_dir.root / "data", run_dir.stage("teacher"), dry_run=True
        )
        console.print_json(json.dumps(estimate))
        return
    _run(["teacher"], config, overrides, force)


@app.command(name="filter")
def filter_(config: ConfigOpt = None, overrides: Overrides = None, force: ForceOpt = False) -> None:
    """Self-consistency: vote on the teacher's answers and keep the agreeing rationales."""
    _run(["filter"], config, overrides, force)


@app.command()
def train(config: ConfigOpt = None, overrides: Overrides = None, force: ForceOpt = False) -> None:
    """Train the student with the configured method (ft, single_task, dss, qcrd)."""
    _run(["train"], config, overrides, force)


@app.command()
def evaluate(
    config: ConfigOpt = None, overrides: Overrides = None, force: ForceOpt = False
) -> None:
    """Test accuracy of the validation-selected student, by generation."""
    _run(["evaluate"], config, overrides, force)


@app.command()
def report(config: ConfigOpt = None, overrides: Overrides = None, force: ForceOpt = False) -> None:
    """Write the run's Markdown report."""
    _run(["report"], config, overrides, force)


def _csv(text: str, what: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        console.print(f"[red]error:[/red] --{what} is empty")
        raise typer.Exit(2)
    return items


@app.command()
def compare(
    config: ConfigOpt = None,
    overrides: Overrides = None,
    methods: Annotated[
        str, typer.Option("--methods", help="Comma-separated train.method values.")
    ] = "ft,dss,qcrd",
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated train.seed values.")] = "0",
    no_run: Annotated[
        bool, typer.Option("--no-run", help="Only aggregate the runs already complete.")
    ] = False,
) -> None:
    """Compare methods over seeds: one run per (method, seed) under run_dir, then a table.

    Complete runs are reused, so a comparison can be built up over several sittings.
    Writes <run_dir>/comparison/comparison.{md,html,json}.
    """
    _setup_logging()
    for text in overrides or []:
        key = text.partition("=")[0].strip()
        if key in ("train.method", "train.seed"):
            console.print(f"[red]error:[/red] {key} is set per run: use --methods / --seeds")
            raise typer.Exit(2)
    cfg = _load(config, overrides)
    method_list = _csv(methods, "methods")
    try:
        seed_list = [int(s) for s in _csv(seeds, "seeds")]
    except ValueError:
        console.print(f"[red]error:[/red] --seeds must be integers, got {seeds!r}")
        raise typer.Exit(2) from None
    from qcrd.evaluation.compare import compare as run_comparison
    from qcrd.pipeline import IncompleteStage

    try:
        result = run_comparison(cfg, method_list, seed_list, run=not no_run)
    except ConfigError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None
    except (StageMismatch, IncompleteStage, FileNotFoundError, ValueError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(1) from None
    from qcrd.reporting.report import mean_std

    for method, summary in result["summary"].items():
        acc = summary["test_accuracy"]
        console.print(f"{method}: test accuracy {mean_std(acc)} over {acc['n']} seed(s)")
    if result["missing"]:
        console.print(f"[yellow]{len(result['missing'])} run(s) not complete[/yellow]")
    console.print(f"comparison: {Path(cfg.run_dir) / 'comparison' / 'comparison.md'}")


@app.command()
def export(
    config: ConfigOpt = None,
    overrides: Overrides = None,
    out: Annotated[Path, typer.Option("--out", help="Folder to write the export into.")] = Path(
        "export"
    ),
    push: Annotated[
        str | None,
        typer.Option(
            "--push",
            help="Also upload to the Hugging Face Hub: the model to REPO_ID, the data sets to "
            "REPO_ID-rationales and REPO_ID-preferences (needs a token and internet).",
            metavar="REPO_ID",
        ),
    ] = None,
    private: Annotated[bool, typer.Option("--private", help="Create private Hub repos.")] = False,
) -> None:
    """Export a finished run: the student with a model card, the kept rationales and the
    preference pairs as data sets with cards."""
    _setup_logging()
    cfg = _load(config, overrides)
    from qcrd.export import ExportError, export_run, push_export

    try:
        summary = export_run(cfg, out)
        console.print(f"exported to {out}: {json.dumps(summary['files'])}")
        if push:
            for url in push_export(out, push, private=private):
                console.print(f"pushed: {url}")
    except (ExportError, FileNotFoundError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(1) from None


@app.command(name="config")
def show_config(config: ConfigOpt = None, overrides: Overrides = None) -> None:
    """Print the resolved configuration (every default spelled out)."""
    from qcrd.config import dump_config

    sys.stdout.write(dump_config(_load(config, overrides)))


if __name__ == "__main__":
    app()
