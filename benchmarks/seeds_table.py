"""Test accuracy as mean ± sd over seeds, for each model × training recipe × streams, with the shuffled control:
the tables models.md keeps, from one command.

    python benchmarks/seeds_table.py --data DATASET [--models lstm,attention,tcn,frame] [--recipes ours]
                                     [--streams pose --streams flow --streams pose,flow] [--seeds 0,1,2]
                                     [--control] [--augment jitter,shift] [--flow-size PX] [--flow-set KEY=VALUE]
                                     [--set KEY=VALUE]
                                     [--out runs/seeds]

Each row trains `dancestyle train --model M --recipe R --streams S --seed N` on DATASET (features cached once and
shared by every run), evaluates the best epoch on the test split, and reports the mean and the sample standard
deviation of the test accuracy over the seeds, with the runs' own numbers. `--control` adds the same with every
clip's frames shuffled in time. Runs already finished under --out are reused (delete them to re-run), so several
copies of the script can share the work (e.g. one per model, each with OMP_NUM_THREADS=1 on a 2-core machine)
and a last run with every row prints the whole table. `--augment` trains every row with those augmentations
(augment.py; its runs are kept apart from the plain ones); `--flow-size` computes flow on frames of that short
side (rows with flow are kept apart too) and `--flow-set refinement=5` changes another flow setting (flow.py's
FlowSettings; kept apart as well); `--set fusion=early` or `--set stream_dropout=0` changes a model setting for
every row (kept apart as well).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path


def run(data: Path, out: Path, model: str, recipe: str, streams: list[str], seed: int, shuffle: bool,
        augment: list[str], flow_size: int | None = None, overrides: dict | None = None,
        flow_overrides: dict | None = None) -> float:
    """Train one run (or reuse a finished one made with the same model settings) and return its test accuracy."""
    from dancestyle.evaluate import evaluate_run
    from dancestyle.flow import DEFAULT_FLOW
    from dancestyle.train import TrainOptions, read_state, state_path, train

    flow = replace(DEFAULT_FLOW.at_size(flow_size) if flow_size else DEFAULT_FLOW, **(flow_overrides or {}))
    options = TrainOptions(model=model, data=data, out=out, streams=streams, seed=seed, recipe=recipe,
                           shuffle_frames=shuffle, random_weights="rgb" in streams, augment=augment, flow=flow,
                           overrides=overrides or {})
    if not (state_path(out).is_file() and read_state(out)["finished"]):
        train(options)
    elif reuse_needs_calibration(out, options):  # a late-fused run from before calibration: calibrate it
        train(TrainOptions(model=model, out=out, resume=True))
    return evaluate_run(str(out), model, str(data), "test").metrics.accuracy


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
    """Those of `names` that change one of `streams`."""
    from dancestyle.augment import AUGMENTATIONS

    return [name for name in names if AUGMENTATIONS[name][0] in streams]


def cell(accuracies: list[float]) -> str:
    spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
    runs = ", ".join(f"{100 * a:.1f}" for a in accuracies)
    return f"{100 * statistics.mean(accuracies):.1f} ± {100 * spread:.1f} ({runs})"


def main() -> None:
    from dancestyle.configs import default_config, parse_settings
    from dancestyle.flow import DEFAULT_FLOW

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--models", default="lstm,attention,tcn,frame")
    parser.add_argument("--recipes", default="ours", help="training recipes, comma-separated (default: ours; "
                        "ours,paper for the recipe table)")
    parser.add_argument("--streams", action="append", help="a set of streams, e.g. pose,flow (repeatable; "
                        "default: pose)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--control", action="store_true", help="also the frames-shuffled control")
    parser.add_argument("--augment", default="", help="augmentations for every row, e.g. jitter,shift (each row "
                        "gets those that change one of its streams)")
    parser.add_argument("--flow-size", type=int, help="short side flow is computed at, px (default: the "
                        "default's; the clip bound scales with it): rows with flow are kept apart")
    parser.add_argument("--flow-set", action="append", default=[], metavar="KEY=VALUE",
                        help="another flow setting for the rows with flow, e.g. refinement=0 (repeatable; kept apart)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a model hyper-parameter for every row, e.g. stream_dropout=0.25 (repeatable; rows kept "
                             "apart)")
    parser.add_argument("--out", type=Path, default=Path("runs/seeds"))
    args = parser.parse_args()
    stream_sets = args.streams or ["pose"]
    seeds = [int(seed) for seed in args.seeds.split(",")]
    controls = [False, True] if args.control else [False]
    augment = [name for name in args.augment.split(",") if name]
    flow_overrides = parse_settings(args.flow_set, DEFAULT_FLOW, "--flow-set")
    changed = "".join(f"-{item.replace('=', '')}" for item in args.set)
    flow_changed = "".join(f"-flow-{item.replace('=', '')}" for item in args.flow_set)

    print(f"Dataset: {args.data}; seeds {args.seeds}; augment: {args.augment or 'none'}; "
          "test accuracy %, mean ± sd (runs) [minutes for the runs]\n")
    header = "| model | recipe | streams | test accuracy |" + (" frames shuffled (control) |" if args.control else "")
    print(header + "\n|---|---|---|---|" + ("---|" if args.control else ""), flush=True)
    results = {}
    for model in args.models.split(","):
        overrides = parse_settings(args.set, default_config(model))
        for recipe in args.recipes.split(","):
            for streams in stream_sets:
                cells = []
                row_augment = augmentations_for(augment, streams.split(","))
                augmented = f"-aug-{'+'.join(row_augment)}" if row_augment else ""
                if args.flow_size and "flow" in streams:
                    augmented += f"-flow{args.flow_size}px"
                if "flow" in streams:
                    augmented += flow_changed
                augmented += changed
                for shuffle in controls:
                    started = time.perf_counter()
                    accuracies = [run(args.data, args.out / f"{model}-{recipe}-{streams.replace(',', '+')}"
                                      f"{'-shuffled' if shuffle else ''}{augmented}-seed{seed}", model, recipe,
                                      streams.split(","), seed, shuffle, row_augment,
                                      args.flow_size if "flow" in streams else None, overrides,
                                      flow_overrides if "flow" in streams else None) for seed in seeds]
                    results[f"{model}/{recipe}/{streams}{'/shuffled' if shuffle else ''}{augmented}"] = accuracies
                    cells.append(cell(accuracies) + f" [{(time.perf_counter() - started) / 60:.0f}]")
                print(f"| `{model}` | `{recipe}` | `{streams}` | " + " | ".join(cells) + " |", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "seeds_table.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
