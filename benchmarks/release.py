"""Release a classifier: fetch Let's Dance, train the default model over seeds, evaluate every seed on the test
split, write a model card with those numbers and the commands, and (with --push) upload one seed's checkpoint.

    python benchmarks/release.py --repo ORG/NAME [--data DIR] [--models lstm] [--seeds 0,1,2] [--epochs N]
                                 [--random-weights] [--no-end-to-end] [--out runs/release] [--push]

A dry run by default: everything is written under --out and what would be uploaded is printed; --push uploads it
(`hf auth login` first) through checkpoints.push_checkpoint, as one commit. Without --data (or with a --data folder
that does not exist yet) the dataset is fetched with `dancestyle fetch-dataset`; an existing folder is used as is.

Each seed runs `dancestyle train --model M --seed N` (the model's defaults, recipe ours; train keeps the epoch best
on validation), then is scored on the validation split and on the test split with the dataset's skeleton files,
and end to end on the test split (`--pose-source estimator`: the pose backend on the frames, what classify runs;
`--no-end-to-end` skips it, and it needs the backend's weights, downloaded once). A dataset without skeleton files
(<style>/<video>) is scored end to end only. Every score is written beside its run as evaluation-*.json (evaluate's
--json) and all of them in release.json under --out.

Which seed is published: the one with the best validation accuracy (ties: the first seed listed), the protocol of
seeds_table.py; test numbers play no part. The card reports test accuracy as mean ± sd over the seeds, the pooled
accuracy with its 95% Wilson interval (the seeds' predictions are not independent: the interval reflects the
number of test clips, not the spread between seeds), each seed's numbers, the published seed, and the commands.
It ends by printing the entry for dancestyle/published.py: its test_accuracy is the published seed's on the
dataset's skeletons (end to end where there are none), its revision the commit of the push (a placeholder in a
dry run). With several --models, each goes to ORG/NAME-<model>.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # seeds_table, also when this file is imported by path (tests)

from seeds_table import Score, best_candidate, test_cell  # noqa: E402

REVISION_PLACEHOLDER = "<the 40-hex commit of the push: run with --push>"


@dataclass
class SeedRun:
    """One seed's run and its scores: validation, and test per pose source ("dataset", "estimator")."""

    seed: int
    out: Path
    val: Score
    test: dict[str, Score]
    commands: list[str]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def command_line(*args: object) -> str:
    return shlex.join(str(arg) for arg in args)


# -- the dataset ----------------------------------------------------------------------------------------------------

def dataset(data: Path | None) -> tuple[Path, list[str]]:
    """The dataset folder and the commands that made it: an existing --data as is, else `fetch-dataset`."""
    if data is not None and data.is_dir():
        return data, []
    args = ["dancestyle", "fetch-dataset", "--json", *(["--dest", str(data)] if data else [])]
    say(f"Fetching the dataset: {command_line(*args)}")
    result = subprocess.run([sys.executable, "-m", "dancestyle", *args[1:]], stdout=subprocess.PIPE, text=True)
    if result.returncode:
        raise SystemExit(f"fetch-dataset failed (exit {result.returncode}): see its message above.")
    return Path(json.loads(result.stdout.strip().splitlines()[-1])["root"]), [command_line(*args)]


# -- one seed: train, score --------------------------------------------------------------------------------------

def train_seed(data: Path, out: Path, model: str, seed: int, args) -> str:
    """Train one seed into `out` (a finished run there is reused); returns the equivalent command."""
    from dancestyle.configs import TrainOptions, default_config
    from dancestyle.pipeline import resolve_device
    from dancestyle.runstate import read_state, state_path
    from dancestyle.train import train

    options = TrainOptions(model=model, data=data, out=out, streams=default_config(model).streams, seed=seed,
                           epochs=args.epochs, random_weights=args.random_weights, device=resolve_device("auto"))
    if state_path(out).is_file() and read_state(out)["finished"]:
        say(f"{out}: a finished run, reused (delete it to train again)")
    else:
        say(f"Training {model}, seed {seed} into {out}")
        train(options)
    extra = [*(["--epochs", args.epochs] if args.epochs else []), *(["--random-weights"] if args.random_weights
                                                                  else [])]
    return command_line("dancestyle", "train", "--model", model, "--data", data, "--seed", seed, "--out", out, *extra)


def evaluate_seed(out: Path, model: str, data: Path, split: str, pose_source: str) -> tuple[Score, str]:
    """Score a run on `split` with poses from `pose_source`; writes evaluate's --json beside the run."""
    from dancestyle.evaluate import evaluate_run
    from dancestyle.pipeline import resolve_device

    say(f"Evaluating {out} on {split}, poses from {pose_source}")
    result = evaluate_run(str(out), model, str(data), split, resolve_device("auto"), pose_source=pose_source)
    scores = result.metrics.to_json(split, len(result.predictions))
    (out / f"evaluation-{split}-{pose_source}.json").write_text(json.dumps(scores, indent=2) + "\n")
    correct = sum(row[i] for i, row in enumerate(scores["confusion"]))
    command = command_line("dancestyle", "evaluate", "--weights", out, "--model", model, "--data", data,
                           "--split", split, "--pose-source", pose_source, "--json")
    return Score(correct / scores["clips"], correct, scores["clips"]), command


def run_seed(data: Path, model: str, seed: int, args) -> SeedRun:
    out = args.out / f"{model}-seed{seed}"
    commands = [train_seed(data, out, model, seed, args)]
    has_skeletons = json.loads((out / "config.json").read_text())["training"].get("layout") != "videos"
    val, command = evaluate_seed(out, model, data, "val", "dataset" if has_skeletons else "estimator")
    commands.append(command)
    sources = (["dataset"] if has_skeletons else []) + (["estimator"] if args.end_to_end or not has_skeletons
                                                        else [])
    test = {}
    for source in sources:
        test[source], command = evaluate_seed(out, model, data, "test", source)
        commands.append(command)
    return SeedRun(seed, out, val, test, commands)


# -- the card ---------------------------------------------------------------------------------------------------------

SOURCE_NAMES = {"dataset": "the dataset's skeleton files", "estimator": "end to end (the pose backend on the frames, "
                "what classify runs)"}
SOURCE_COLUMNS = {"dataset": "test (skeletons)", "estimator": "test (end to end)"}


def percent(score: Score) -> str:
    return f"{100 * score.accuracy:.1f} ({score.correct}/{score.clips})"


def release_section(runs: list[SeedRun], chosen: SeedRun, release_command: str, fetched: list[str]) -> str:
    """What model_card's text gets added for a release: the numbers over seeds and how to reproduce them."""
    sources = list(chosen.test)
    lines = ["", f"## Test accuracy over {len(runs)} seeds", "",
             f"Seeds {', '.join(str(run.seed) for run in runs)}, each trained with the model's defaults; train keeps "
             f"each run's epoch best on validation. **Published: seed {chosen.seed}**, the seed with the best "
             "validation accuracy (ties: the first seed listed); no test number played a part in the choice.", "",
             "Accuracy %: mean ± sd over the seeds (each seed's); pooled [95% Wilson interval] (correct/clips). The "
             "seeds' predictions are not independent (the same test clips), so the interval reflects the number "
             "of test clips, not the spread between seeds.", ""]
    lines += [f"- test, poses from {SOURCE_NAMES[source]}: {test_cell([run.test[source] for run in runs])}"
              for source in sources]
    columns = ["seed", "validation", *(SOURCE_COLUMNS[source] for source in sources), "published"]
    lines += ["", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += [f"| {run.seed} | {percent(run.val)} | " + " | ".join(percent(run.test[source]) for source in sources)
              + f" | {'yes' if run is chosen else ''} |" for run in runs]
    lines += ["", "## Reproduce", "", "```bash", release_command, *fetched,
              "# what it runs, per seed (through the Python API; these commands do the same):",
              *(command for run in runs for command in run.commands), "```"]
    return "\n".join(lines) + "\n"


# -- publishing -----------------------------------------------------------------------------------------------------

def published_entry(model: str, repo: str, directory: Path, revision: str, test_accuracy: float) -> str:
    """The line a maintainer adds to PUBLISHED in dancestyle/published.py."""
    config = json.loads((directory / "config.json").read_text())
    training = config["training"]
    trained_on = (f"synthetic corpus {training['dataset']}, train split" if training.get("synthetic") else
                  f"Let's Dance ({len(config['model']['classes'])} classes), train split")
    return (f'"{model}": PublishedCheckpoint(model={model!r}, repo={repo!r}, revision={revision!r}, '
            f'sha256={config["weights_sha256"]!r}, trained_on={trained_on!r}, '
            f"test_accuracy={round(test_accuracy, 4)}),")


def publish(directory: Path, repo: str, card: str, push: bool) -> str:
    """Push the checkpoint with its card and return the commit now at the repo's main; a dry run says what it
    would upload and returns the placeholder."""
    from dancestyle.checkpoints import CONFIG_FILE, METRICS_FILE, WEIGHTS_FILE, push_checkpoint

    names = ["README.md", *(name for name in (CONFIG_FILE, WEIGHTS_FILE, METRICS_FILE)
                            if (directory / name).is_file())]
    files = ", ".join(f"{name} ({(directory / name).stat().st_size} bytes)" for name in names)
    if not push:
        print(f"Dry run: would upload to the Hub repo {repo} from {directory}: {files}. Pass --push to upload.")
        return REVISION_PLACEHOLDER
    from huggingface_hub import HfApi

    url = push_checkpoint(directory, repo, card)
    revision = HfApi(library_name="dancestyle").model_info(repo, revision="main").sha
    print(f"Pushed to {url} at {revision}: {files}")
    return revision


def release_model(data: Path, model: str, repo: str, args, fetched: list[str]) -> dict:
    """Train, score, write the card, publish (or not): one model's release; returns its record for release.json."""
    from dancestyle.checkpoints import model_card

    runs = [run_seed(data, model, seed, args) for seed in args.seeds]
    chosen = runs[best_candidate([[run.val.accuracy] for run in runs])]
    release_command = command_line("python", "benchmarks/release.py", *args.argv)
    card = model_card(chosen.out, repo) + release_section(runs, chosen, release_command, fetched)
    (chosen.out / "README.md").write_text(card)
    print(f"{model}: model card {chosen.out / 'README.md'} (published seed {chosen.seed})")
    revision = publish(chosen.out, repo, card, args.push)
    primary = next(iter(chosen.test))  # the dataset's skeletons where there are any
    entry = published_entry(model, repo, chosen.out, revision, chosen.test[primary].accuracy)
    note = "" if args.push else "  # dry run: the revision is the commit --push makes"
    print(f"dancestyle/published.py, PUBLISHED:\n    {entry}{note}")
    return {"repo": repo, "revision": None if revision == REVISION_PLACEHOLDER else revision,
            "published_seed": chosen.seed, "published_run": str(chosen.out), "entry": entry,
            "runs": [{**asdict(run), "out": str(run.out)} for run in runs]}


def main(argv: list[str] | None = None) -> None:
    from huggingface_hub.utils import validate_repo_id

    from dancestyle.configs import DEFAULT_MODEL
    from dancestyle.errors import DanceStyleError

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", required=True, help="the Hub repo, ORG/NAME (several --models: ORG/NAME-<model>)")
    parser.add_argument("--data", type=Path, help="dataset folder; an existing one is used as is (default: fetch "
                        "Let's Dance with `dancestyle fetch-dataset`)")
    parser.add_argument("--models", default=DEFAULT_MODEL, help=f"comma-separated (default: {DEFAULT_MODEL})")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, help="at most this many epochs per run (default: train's; for tests)")
    parser.add_argument("--random-weights", action="store_true", help="random RGB backbone (offline tests only; "
                        "the end-to-end scores still need the pose backend's weights)")
    parser.add_argument("--no-end-to-end", dest="end_to_end", action="store_false",
                        help="skip the test split scored with --pose-source estimator")
    parser.add_argument("--out", type=Path, default=Path("runs/release"))
    parser.add_argument("--push", action="store_true", help="upload (default: a dry run)")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    args.argv, args.seeds = argv, [int(seed) for seed in args.seeds.split(",")]
    models = args.models.split(",")
    try:
        validate_repo_id(args.repo)
    except ValueError as e:
        raise SystemExit(f"--repo {args.repo}: not a Hub repo id ({e}).") from None
    if "/" not in args.repo:
        raise SystemExit(f"--repo {args.repo}: name the owner too (ORG/NAME).")
    data, fetched = dataset(args.data)
    records = {}
    try:
        for model in models:
            repo = args.repo if len(models) == 1 else f"{args.repo}-{model}"
            records[model] = release_model(data, model, repo, args, fetched)
    except DanceStyleError as e:
        raise SystemExit(str(e)) from None
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "release.json").write_text(json.dumps({"data": str(data), **records}, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
