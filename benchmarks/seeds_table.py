"""Validation and test accuracy over seeds, for each model × training recipe × streams, with choices made on
validation and the shuffled control: the tables models.md keeps, from one command.

The protocol: every candidate setting of a row is trained over the seeds and scored on the validation split only,
and the one with the best validation mean (ties: the first listed) becomes the row's final setting. Test is scored
once, for that final setting only, and reported as mean ± sd over the seeds with the 95% interval of the pooled
accuracy. No choice (defaults, recipes, fusion, flow settings, epochs) is ever made from a test number.

    python benchmarks/seeds_table.py --data DATASET [--models lstm,attention,tcn,frame] [--recipes ours]
                                     [--streams pose --streams flow --streams pose,flow] [--seeds 0,1,2]
                                     [--choose KEY=V1,V2,...] [--control] [--augment jitter,shift]
                                     [--flow-size PX] [--flow-set KEY=VALUE] [--set KEY=VALUE] [--epochs N]
                                     [--out runs/seeds]
    # e.g. the tcn's input dropout, chosen on validation; test reported for the chosen value only:
    python benchmarks/seeds_table.py --data DATASET --models tcn --choose input_dropout=0,0.25,0.5 --control

Each run is `dancestyle train --model M --recipe R --streams S --seed N` on DATASET (features cached once and
shared by every run); its best epoch (kept on validation by train) is scored on the validation split, and the
chosen setting's runs on the test split. A row prints, for every candidate, the validation accuracy (mean and
sample sd over the seeds, the runs' numbers, [minutes to train and validate]); the chosen one is marked (with
more than one candidate) and only it has a test cell: mean ± sd over the seeds, the runs' numbers, and the pooled
accuracy (every seed's test predictions counted together, correct / clips) with its 95% Wilson score interval.
The seeds' predictions are not independent (the same clips, models trained on the same data), so that interval
reflects the number of test clips, not the spread between seeds: it is optimistic about how a new seed would do.
Validation numbers flatter every candidate alike (train keeps the epoch best on validation); test does not.

`--choose KEY=V1,V2` makes each row's candidates the values of one model setting (a `--set` key; repeat the
option for the grid of several keys, in the order given); without it a row has one candidate, the defaults plus
`--set`. `--control` adds the same protocol with every clip's frames shuffled in time (its candidate chosen on its
own shuffled validation split, so the control gets the same tuning a real row gets); `--only-control` runs that
alone (e.g. beside the process that trains the row itself). Runs already finished under
--out are reused (delete them to re-run) and runs stopped part way are resumed, so several copies of the script can
share the work (e.g. one per model, each with OMP_NUM_THREADS=1 on a 2-core machine; train refuses a second writer
of one run) and a last run with every row prints the whole table. `--augment`
trains every row with those augmentations (augment.py; its runs are kept apart from the plain ones);
`--flow-size` computes flow on frames of that short side (rows with flow are kept apart too) and
`--flow-set refinement=5` changes another flow setting (flow.py's FlowSettings; kept apart as well); `--set
fusion=early` or `--set stream_dropout=0` changes a model setting for every row, and each `--choose` candidate is
kept apart the same way (its runs are named as that `--set` would name them); `--epochs N` caps every run's
epochs (for smoke tests; kept apart). seeds_table.json under --out keeps every number: each run's validation and
test accuracy with its counts, and the pooled counts.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class Score:
    """One run scored on one split."""

    accuracy: float
    correct: int
    clips: int


def train_run(data: Path, out: Path, model: str, recipe: str, streams: list[str], seed: int, shuffle: bool,
              augment: list[str], flow_size: int | None = None, overrides: dict | None = None,
              flow_overrides: dict | None = None, epochs: int | None = None) -> Path:
    """Train one run into `out` (or reuse a finished one made with the same model settings); returns `out`."""
    from dancestyle.flow import DEFAULT_FLOW
    from dancestyle.runstate import read_state, state_path
    from dancestyle.train import TrainOptions, train

    flow = replace(DEFAULT_FLOW.at_size(flow_size) if flow_size else DEFAULT_FLOW, **(flow_overrides or {}))
    options = TrainOptions(model=model, data=data, out=out, streams=streams, seed=seed, recipe=recipe,
                           shuffle_frames=shuffle, random_weights="rgb" in streams, augment=augment, flow=flow,
                           overrides=overrides or {}, epochs=epochs)
    if state_path(out).is_file() and not read_state(out)["finished"]:
        train(TrainOptions(model=model, out=out, resume=True))  # a run stopped part way
    elif not state_path(out).is_file():
        train(replace(options, overwrite=True))  # (what a run stopped before its first epoch left)
    elif reuse_needs_calibration(out, options):  # a late-fused run from before calibration: calibrate it
        train(TrainOptions(model=model, out=out, resume=True))
    return out


def score_run(out: Path, model: str, data: Path, split: str) -> Score:
    """A finished run's accuracy on `split` ("val" or "test"), with the counts it comes from."""
    from dancestyle.evaluate import evaluate_run

    confusion = evaluate_run(str(out), model, str(data), split).metrics.confusion
    correct = sum(row[i] for i, row in enumerate(confusion))
    clips = sum(map(sum, confusion))
    return Score(correct / clips, int(correct), int(clips))


def reuse_needs_calibration(out: Path, options) -> bool:
    """Whether a finished run under `out` lacks only its calibration; a run of other model settings (a default
    changed since it ran) is refused rather than reported under today's."""
    from dancestyle.configs import config_from_dict
    from dancestyle.train import model_config

    recorded = json.loads((out / "config.json").read_text())
    ran, wanted = config_from_dict(recorded["model"]), model_config(options, recorded["model"]["classes"])
    differ = {key: (value, wanted.to_dict()[key]) for key, value in ran.to_dict().items()
              if value != wanted.to_dict()[key]}
    if differ:
        raise SystemExit(f"{out} holds a run with other model settings than this row's (ran, wanted: {differ}); "
                         "delete it or pass another --out.")
    return ran.one_model_per_stream and not recorded.get("calibration")


def augmentations_for(names: list[str], streams: list[str]) -> list[str]:
    """Those of `names` that change one of `streams` (a flip changes them all)."""
    from dancestyle.augment import AUGMENTATIONS, FLIPS

    return [name for name in names if name in FLIPS or AUGMENTATIONS[name][0] in streams]


# -- the protocol's arithmetic (pure: tested without training) ------------------------------------------------------

def candidate_items(choose: list[str]) -> list[list[str]]:
    """["input_dropout=0,0.5", "hidden=32,64"] -> the grid of `--set`-style items, in the order given:
    [["input_dropout=0", "hidden=32"], ["input_dropout=0", "hidden=64"], ["input_dropout=0.5", "hidden=32"], ...].
    No --choose: one candidate with no items."""
    axes = []
    for option in choose:
        key, equals, values = option.partition("=")
        listed = [value.strip() for value in values.split(",") if value.strip()]
        if not equals or not key.strip() or not listed:
            raise SystemExit(f"--choose {option}: not KEY=V1,V2,... (e.g. --choose input_dropout=0,0.25,0.5).")
        axes.append([f"{key.strip()}={value}" for value in listed])
    keys = [axis[0].partition("=")[0] for axis in axes]
    if len(set(keys)) < len(keys):
        raise SystemExit(f"--choose names a key twice ({', '.join(keys)}): give each key's values once.")
    return [list(items) for items in itertools.product(*axes)]


def best_candidate(validation: list[list[float]]) -> int:
    """The index of the candidate with the best mean validation accuracy over its seeds; ties go to the first
    listed (means are compared to 9 decimals, so sums of the same counts in another order still tie)."""
    means = [round(statistics.mean(accuracies), 9) for accuracies in validation]
    return means.index(max(means))


def pooled(scores: list[Score]) -> Score:
    """Every run's predictions counted together."""
    correct, clips = sum(score.correct for score in scores), sum(score.clips for score in scores)
    return Score(correct / clips if clips else float("nan"), correct, clips)


def wilson_interval(correct: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (95% for the default z); (0, 1) for no trials."""
    if total == 0:
        return 0.0, 1.0
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z / (1 + z * z / total) * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return (0.0 if correct == 0 else centre - half), (1.0 if correct == total else centre + half)


def spread(accuracies: list[float]) -> tuple[float, float]:
    """Mean and sample sd (0 for one run)."""
    return statistics.mean(accuracies), statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0


def validation_cell(accuracies: list[float]) -> str:
    mean, sd = spread(accuracies)
    return f"{100 * mean:.1f} ± {100 * sd:.1f} ({', '.join(f'{100 * a:.1f}' for a in accuracies)})"


def test_cell(scores: list[Score]) -> str:
    together = pooled(scores)
    low, high = wilson_interval(together.correct, together.clips)
    return (f"{validation_cell([score.accuracy for score in scores])}; pooled {100 * together.accuracy:.1f} "
            f"[{100 * low:.1f}, {100 * high:.1f}] ({together.correct}/{together.clips})")


def run_name(items: list[str]) -> str:
    """The part of a run's folder name that `--set` items (and `--choose` candidates) add: '-fusionearly'."""
    return "".join(f"-{item.replace('=', '')}" for item in items)


# -- one row ------------------------------------------------------------------------------------------------------

def protocol_row(args, model: str, recipe: str, streams: str, shuffle: bool, suffix: str, candidates: list[list[str]],
                 seeds: list[int], row_augment: list[str], flow_overrides: dict) -> dict:
    """Train every candidate over the seeds, score each on validation, choose, score the chosen one on test."""
    from dancestyle.configs import default_config, parse_settings

    prefix = f"{model}-{recipe}-{streams.replace(',', '+')}{'-shuffled' if shuffle else ''}{suffix}"
    with_flow = "flow" in streams
    row = {"model": model, "recipe": recipe, "streams": streams, "shuffled": shuffle, "seeds": seeds,
           "candidates": []}
    for items in candidates:
        overrides = parse_settings(items, default_config(model), "--set/--choose")
        started = time.perf_counter()
        outs = [train_run(args.data, args.out / f"{prefix}{run_name(items)}-seed{seed}", model, recipe,
                          streams.split(","), seed, shuffle, row_augment, args.flow_size if with_flow else None,
                          overrides, flow_overrides if with_flow else None, args.epochs) for seed in seeds]
        val = [score_run(out, model, args.data, "val") for out in outs]
        mean, sd = spread([score.accuracy for score in val])
        row["candidates"].append({"set": items, "settings": overrides, "runs": [str(out) for out in outs],
                                  "val": [asdict(score) for score in val], "val_mean": mean, "val_sd": sd,
                                  "val_pooled": asdict(pooled(val)),
                                  "minutes": round((time.perf_counter() - started) / 60, 1)})
    chosen = best_candidate([[score["accuracy"] for score in candidate["val"]] for candidate in row["candidates"]])
    test = [score_run(Path(out), model, args.data, "test") for out in row["candidates"][chosen]["runs"]]
    together = pooled(test)
    mean, sd = spread([score.accuracy for score in test])
    row.update(chosen=chosen, test=[asdict(score) for score in test], test_mean=mean, test_sd=sd,
               test_pooled={**asdict(together), "wilson95": list(wilson_interval(together.correct, together.clips))})
    return row


def row_lines(model: str, recipe: str, streams: str, rows: list[dict]) -> list[str]:
    """One table line per candidate: its validation cell, and the chosen one's test cell, for each of `rows` (the
    row, then its shuffled control)."""
    lines = []
    for index, candidate in enumerate(rows[0]["candidates"]):
        cells = []
        for row in rows:
            val = [score["accuracy"] for score in row["candidates"][index]["val"]]
            mark = " **chosen**" if index == row["chosen"] and len(row["candidates"]) > 1 else ""
            cells.append(f"{validation_cell(val)} [{row['candidates'][index]['minutes']:.0f}]{mark}")
            cells.append(test_cell([Score(**score) for score in row["test"]]) if index == row["chosen"] else "—")
        setting = f"`{', '.join(candidate['set'])}`" if candidate["set"] else "defaults"
        lines.append(f"| `{model}` | `{recipe}` | `{streams}` | {setting} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    from dancestyle.configs import default_config, parse_settings
    from dancestyle.errors import DanceStyleError
    from dancestyle.recipe import flow_overrides

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--models", default="lstm,attention,tcn,frame")
    parser.add_argument("--recipes", default="ours", help="training recipes, comma-separated (default: ours; "
                        "ours,paper for the recipe table)")
    parser.add_argument("--streams", action="append", help="a set of streams, e.g. pose,flow (repeatable; "
                        "default: pose)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--choose", action="append", default=[], metavar="KEY=V1,V2",
                        help="candidate values of a model setting, chosen on validation per row (repeatable: the "
                             "grid; default: one candidate, the defaults)")
    parser.add_argument("--control", action="store_true", help="also the frames-shuffled control")
    parser.add_argument("--only-control", action="store_true", help="the frames-shuffled control alone (its row's "
                        "own runs trained by another process, or not wanted)")
    parser.add_argument("--augment", default="", help="augmentations for every row, e.g. jitter,shift (each row "
                        "gets those that change one of its streams)")
    parser.add_argument("--flow-size", type=int, help="short side flow is computed at, px (default: the "
                        "default's; the clip bound scales with it): rows with flow are kept apart")
    parser.add_argument("--flow-set", action="append", default=[], metavar="KEY=VALUE",
                        help="another flow setting for the rows with flow, e.g. refinement=0 (repeatable; kept apart)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a model hyper-parameter for every row, e.g. stream_dropout=0.25 (repeatable; rows kept "
                             "apart)")
    parser.add_argument("--epochs", type=int, help="at most this many epochs per run (default: train's; runs kept "
                        "apart)")
    parser.add_argument("--out", type=Path, default=Path("runs/seeds"))
    args = parser.parse_args()
    stream_sets = args.streams or ["pose"]
    seeds = [int(seed) for seed in args.seeds.split(",")]
    controls = [True] if args.only_control else [False, True] if args.control else [False]
    augment = [name for name in args.augment.split(",") if name]
    choices = candidate_items(args.choose)
    both = {item.partition("=")[0].strip() for item in args.set} & {item.partition("=")[0] for item in choices[0]}
    if both:
        raise SystemExit(f"--set and --choose both name {', '.join(sorted(both))}: a setting is fixed or chosen.")
    candidates = [[*args.set, *items] for items in choices]
    try:  # every setting checked before the first run trains
        flow_changes = flow_overrides(args.flow_set)
        for model in args.models.split(","):
            for items in candidates:
                parse_settings(items, default_config(model), "--set/--choose")
    except DanceStyleError as e:
        raise SystemExit(str(e)) from None
    flow_changed = "".join(f"-flow-{item.replace('=', '')}" for item in args.flow_set)
    epochs = f"-epochs{args.epochs}" if args.epochs else ""

    print(f"Dataset: {args.data}; seeds {args.seeds}; augment: {args.augment or 'none'}. Accuracy %: validation "
          "mean ± sd (runs) [minutes to train and validate]; test for the setting chosen on validation only: "
          "mean ± sd (runs); pooled [95% Wilson interval] (correct/clips)\n")
    header = "| model | recipe | streams | setting | validation | test |"
    if args.control:
        header += " frames shuffled (control): validation | frames shuffled: test |"
    print(header + "\n|---|---|---|---|---|---|" + ("---|---|" if args.control else ""), flush=True)
    results = {}
    for model in args.models.split(","):
        for recipe in args.recipes.split(","):
            for streams in stream_sets:
                row_augment = augmentations_for(augment, streams.split(","))
                suffix = f"-aug-{'+'.join(row_augment)}" if row_augment else ""
                if args.flow_size and "flow" in streams:
                    suffix += f"-flow{args.flow_size}px"
                if "flow" in streams:
                    suffix += flow_changed
                suffix += epochs
                rows = []
                for shuffle in controls:
                    try:
                        row = protocol_row(args, model, recipe, streams, shuffle, suffix, candidates, seeds,
                                           row_augment, flow_changes)
                    except DanceStyleError as e:
                        raise SystemExit(str(e)) from None
                    results[f"{model}/{recipe}/{streams}{'/shuffled' if shuffle else ''}{suffix}"
                            f"{run_name(args.set)}"] = row
                    rows.append(row)
                label = f"{streams}, frames shuffled" if args.only_control else streams
                print("\n".join(row_lines(model, recipe, label, rows)), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "seeds_table.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
