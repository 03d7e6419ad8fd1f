"""benchmarks/release.py end to end, offline: a tiny synthetic corpus, one model over two seeds of one epoch with a
random RGB backbone, and end-to-end scores from the stand-in pose estimator (conftest's FakePoseEstimator). The dry
run's model card must carry exactly the numbers of the runs' metrics.json and evaluation JSONs; --push must put the
published seed's files, and that card, on the stand-in Hub (tests/hub_server.py) at the revision it prints."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import re
import statistics
from pathlib import Path

import pytest

from conftest import FakePoseEstimator
import test_hub
from test_hub import log_in

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"
REPO = "someone/letsdance-release"
SEEDS = (0, 1)
SOURCES = ("dataset", "estimator")  # where the test split's poses came from: evaluation-test-<source>.json


def load_release():
    """benchmarks/ is not a package: the script, imported by path (registered first, as dataclasses need)."""
    import sys

    spec = importlib.util.spec_from_file_location("benchmarks_release", BENCHMARKS / "release.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


release = load_release()
hub = test_hub.hub  # the stand-in Hub fixture, this module's too
from seeds_table import wilson_interval  # noqa: E402 (on sys.path once release.py is loaded)


def release_args(corpus: Path, out: Path, *extra: str) -> list[str]:
    return ["--repo", REPO, "--data", str(corpus), "--seeds", ",".join(map(str, SEEDS)), "--epochs", "1",
            "--random-weights", "--out", str(out), *extra]


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory) -> tuple[Path, str]:
    """One dry run on a tiny corpus (4 styles x 6 clips of 3 s): (its --out, what it printed)."""
    import huggingface_hub.constants as hub_constants

    from dancestyle.synthetic import generate_corpus
    from media import SMALL_CORPUS_STYLES

    root = tmp_path_factory.mktemp("release")
    corpus = root / "synthetic"
    generate_corpus(corpus, clips_per_class=6, seed=1, frames_per_clip=90, size=(64, 48),
                    classes=SMALL_CORPUS_STYLES, pose_noise="clean", workers=1)
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        patch.setenv("DANCESTYLE_HOME", str(root / "home"))
        patch.setattr(hub_constants, "HF_HUB_OFFLINE", True)  # a dry run reaches for nothing
        patch.setattr("dancestyle.maker.create_pose_estimator", FakePoseEstimator)
        release.main(release_args(corpus, root / "out"))
    return root / "out", printed.getvalue()


def cell(text: str) -> tuple[str, int, int]:
    """'40.0 (2/5)' -> ('40.0', 2, 5)."""
    percent, correct, clips = re.fullmatch(r"([\d.]+) \((\d+)/(\d+)\)", text.strip()).groups()
    return percent, int(correct), int(clips)


def counts(evaluation: dict) -> tuple[int, int]:
    """(correct, clips) of an evaluation JSON, from its confusion matrix."""
    confusion = evaluation["confusion"]
    return sum(row[i] for i, row in enumerate(confusion)), sum(map(sum, confusion))


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def card_table(card: str) -> dict[int, dict[str, str]]:
    """The card's per-seed table: seed -> {column: cell}."""
    rows = [line.strip("|").split("|") for line in card.splitlines() if line.startswith("| ")]
    header = [name.strip() for name in rows[0]]
    return {int(row[0]): dict(zip(header, (value.strip() for value in row))) for row in rows[1:]}


@pytest.mark.slow
def test_the_dry_run_card_carries_the_runs_numbers(dry_run):
    out, printed = dry_run
    runs = {seed: out / f"lstm-seed{seed}" for seed in SEEDS}
    val = {seed: counts(read_json(run / "evaluation-val-dataset.json")) for seed, run in runs.items()}
    chosen = max(SEEDS, key=lambda seed: (val[seed][0] / val[seed][1], -seed))  # best validation, ties: first
    card = (runs[chosen] / "README.md").read_text()
    assert not (runs[1 - chosen] / "README.md").exists()
    assert card.startswith("---\nlibrary_name: dancestyle\n") and f"# {REPO}\n" in card  # model_card's, extended
    assert f"**Published: seed {chosen}**" in card and "synthetic corpus" in card

    table = card_table(card)
    assert sorted(table) == list(SEEDS) and [seed for seed in SEEDS if table[seed]["published"] == "yes"] == [chosen]
    for seed, run in runs.items():
        metrics = read_json(run / "metrics.json")
        assert cell(table[seed]["validation"]) == (f"{100 * val[seed][0] / val[seed][1]:.1f}", *val[seed])
        assert val[seed][0] / val[seed][1] == pytest.approx(metrics["best_val_accuracy"])  # train's own choice
        for source in SOURCES:
            evaluation = read_json(run / f"evaluation-test-{source}.json")
            correct, clips = counts(evaluation)
            assert evaluation["clips"] == clips and evaluation["accuracy"] == round(correct / clips, 4)
            assert cell(table[seed][release.SOURCE_COLUMNS[source]]) == (f"{100 * correct / clips:.1f}", correct, clips)

    for source in SOURCES:
        scores = [counts(read_json(runs[seed] / f"evaluation-test-{source}.json")) for seed in SEEDS]
        accuracies = [correct / clips for correct, clips in scores]
        correct, clips = sum(score[0] for score in scores), sum(score[1] for score in scores)
        low, high = wilson_interval(correct, clips)
        start = f"- test, poses from {release.SOURCE_NAMES[source]}:"
        line = next(line for line in card.splitlines() if line.startswith(start))
        assert line.endswith(
            f"{100 * statistics.mean(accuracies):.1f} ± {100 * statistics.stdev(accuracies):.1f} "
            f"({', '.join(f'{100 * a:.1f}' for a in accuracies)}); pooled {100 * correct / clips:.1f} "
            f"[{100 * low:.1f}, {100 * high:.1f}] ({correct}/{clips})")

    for seed in SEEDS:  # the exact commands, each seed's
        assert f"dancestyle train --model lstm --data {out.parent / 'synthetic'} --seed {seed}" in card
        assert f"--weights {runs[seed]} --model lstm" in card and "--pose-source estimator --json" in card
    assert "python benchmarks/release.py --repo " + REPO in card

    weights_sha256 = hashlib.sha256((runs[chosen] / "model.safetensors").read_bytes()).hexdigest()
    test_accuracy = counts(read_json(runs[chosen] / "evaluation-test-dataset.json"))
    assert "Dry run: would upload" in printed and "README.md" in printed and "model.safetensors" in printed
    assert (f"PublishedCheckpoint(model='lstm', repo='{REPO}', revision='{release.REVISION_PLACEHOLDER}', "
            f"sha256='{weights_sha256}'" in printed)
    assert f", test_accuracy={round(test_accuracy[0] / test_accuracy[1], 4)})," in printed
    assert printed.rstrip().endswith("the revision is the commit --push makes")
    recorded = read_json(out / "release.json")["lstm"]
    assert recorded["published_seed"] == chosen and recorded["revision"] is None


@pytest.mark.slow
def test_push_puts_the_published_seed_and_its_card_on_the_hub(dry_run, hub, monkeypatch, fake_pose, capsys):
    from dancestyle.published import PublishedCheckpoint

    out, _ = dry_run
    log_in(monkeypatch)
    release.main(release_args(out.parent / "synthetic", out, "--push"))  # the finished runs are reused

    chosen = Path(read_json(out / "release.json")["lstm"]["published_run"])
    revision = hub.refs[REPO]["main"]
    tree = hub.commits[REPO][revision]
    assert sorted(tree) == [".gitattributes", "README.md", "config.json", "metrics.json", "model.safetensors"]
    for name in ("README.md", "config.json", "metrics.json", "model.safetensors"):
        assert tree[name] == (chosen / name).read_bytes(), name
    assert "--push" in tree["README.md"].decode() and "## Test accuracy over 2 seeds" in tree["README.md"].decode()

    printed = capsys.readouterr().out
    assert f"Pushed to {hub.url}/{REPO} at {revision}" in printed
    entry = re.search(r'"lstm": (PublishedCheckpoint\(.*\)),', printed).group(1)
    published = eval(entry, {"PublishedCheckpoint": PublishedCheckpoint})  # the line a maintainer pastes
    assert published.ref == f"{REPO}@{revision}"
    assert published.sha256 == hashlib.sha256(tree["model.safetensors"]).hexdigest()
    assert read_json(out / "release.json")["lstm"]["revision"] == revision
