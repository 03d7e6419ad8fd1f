"""torchrun: training over several processes (gloo on CPU), sharded feature extraction, and what is refused."""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dancestyle.distributed import Ranks
from dancestyle.errors import UsageError
from dancestyle.runstate import LOCK_FILE
from dancestyle.train import shard_order

TORCHRUN = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train_command(corpus, out, *extra) -> list[str]:
    return ["-m", "dancestyle", "train", "--model", "attention", "--data", str(corpus), "--streams", "pose",
            "--epochs", "40", "--patience", "60", "--seed", "3", "--out", str(out), "--json", *extra]


def environment(home) -> dict:
    return {**os.environ, "DANCESTYLE_HOME": str(home), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_two_processes_train_and_the_checkpoint_works_in_one(corpus, home, tmp_path, fake_pose):
    from dancestyle.evaluate import evaluate_run
    from dancestyle.pipeline import load_model

    out = tmp_path / "run"
    result = subprocess.run([TORCHRUN, "--standalone", "--nproc-per-node", "2", *train_command(corpus, out)],
                            capture_output=True, text=True, env=environment(home), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 1  # rank 0 alone reports
    history = summaries[0]["history"]
    # chance 0.25; the training clips are being learnt (as tests/test_train.py's one-process run)
    assert len(history) == 40 and max(record["train_accuracy"] for record in history[-5:]) >= 0.45
    assert sorted(p.name for p in out.iterdir() if p.name != LOCK_FILE) == ["config.json", "metrics.json",
                                                                          "model.safetensors", "resume"]
    single = evaluate_run(str(out), "attention", None, "test").metrics  # loads in one process
    shared = subprocess.run([TORCHRUN, "--standalone", "--nproc-per-node", "2", "-m", "dancestyle", "evaluate",
                             "--weights", str(out), "--json"], capture_output=True, text=True,
                            env=environment(home), timeout=300)
    assert shared.returncode == 0, shared.stderr[-3000:]
    assert json.loads(shared.stdout)["accuracy"] == pytest.approx(single.accuracy, abs=1e-4)
    assert load_model("attention", weights=str(out), device="cpu").config.name == "attention"
    resumed = subprocess.run([TORCHRUN, "--standalone", "--nproc-per-node", "2", "-m", "dancestyle", "train",
                              "--resume", "--out", str(out), "--epochs", "44", "--json"],
                             capture_output=True, text=True, env=environment(home), timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout)["history"][:40] == history and json.loads(resumed.stdout)["epochs_run"] == 44


@pytest.mark.slow
def test_the_3d_cnn_trains_under_torchrun_without_ddp_warnings(corpus, home, tmp_path, fake_pose):
    from dancestyle.pipeline import load_model

    out = tmp_path / "r3d"
    command = ["-m", "dancestyle", "train", "--model", "r3d", "--data", str(corpus), "--epochs", "2",
               "--seed", "0", "--out", str(out), "--json"]
    result = subprocess.run([TORCHRUN, "--standalone", "--nproc-per-node", "2", *command],
                            capture_output=True, text=True, env=environment(home), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len([line for line in result.stdout.splitlines() if line.startswith("{")]) == 1
    assert "find_unused_parameters" not in result.stderr  # r3d on pose has no idle pre-training heads
    assert load_model("r3d", weights=str(out), device="cpu").config.streams == ["pose"]


@pytest.mark.slow
def test_two_machines_on_loopback_train_together_and_refuse_different_commands(corpus, home, tmp_path):
    def node(rank: int, port: int, extra: list[str]) -> tuple[subprocess.Popen, Path, Path]:
        out, err = tmp_path / f"node{rank}-{port}.out", tmp_path / f"node{rank}-{port}.err"
        # output to files, not pipes: a node blocked on a full pipe nobody reads would look like a hang
        with out.open("w") as stdout, err.open("w") as stderr:
            process = subprocess.Popen(
                # node 0 hosts the rendezvous, as the machine named in --rdzv-endpoint does (on loopback both
                # nodes match the name, and whichever binds first would host: a race that could hang the other)
                [TORCHRUN, "--nnodes", "2", "--node-rank", str(rank), "--nproc-per-node", "1", "--rdzv-backend",
                 "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "test",
                 "--rdzv-conf", f"is_host={int(rank == 0)}",
                 *train_command(corpus, tmp_path / "two", "--epochs", "5", *extra)],
                stdout=stdout, stderr=stderr, env=environment(home))
        return process, out, err

    def nodes(*per_node_extra):
        port = free_port()
        started = [node(rank, port, extra) for rank, extra in enumerate(per_node_extra)]
        codes = [process.wait(timeout=300) for process, _, _ in started]
        return [(code, out.read_text(), err.read_text()) for code, (_, out, err) in zip(codes, started)]

    (code0, out0, _), (code1, out1, _) = nodes([], [])
    assert (code0, code1) == (0, 0) and json.loads(out0)["epochs_run"] == 5 and out1 == ""
    results = nodes([], ["--seed", "4"])
    assert all(code != 0 for code, _, _ in results)
    assert any("different training options: seed" in stderr for _, _, stderr in results)


def test_sharded_extraction_makes_every_clip_once(corpus, home, monkeypatch):
    import dancestyle.extract as extract
    from dancestyle.data import index_dataset
    from dancestyle.configs import default_config
    from dancestyle.extract import extract_features, training_recipe

    made = []
    real = extract.Extractor.features
    monkeypatch.setattr(extract.Extractor, "features",
                        lambda self, clip, missing: made.append(clip.key) or real(self, clip, missing))
    index = index_dataset(corpus, None)
    specs = training_recipe(index, default_config("lstm", streams=["pose"]), "", "dataset")
    for rank in range(3):
        extract_features(index, specs, shard=(rank, 3))
    assert sorted(made) == sorted(clip.key for clip in index.clips)
    extract_features(index, specs, shard=(1, 3))
    assert len(made) == len(index.clips)  # a run again makes only what is missing: nothing


@pytest.mark.parametrize("world", [2, 3, 40])
def test_every_rank_takes_as_many_steps_and_every_clip_is_seen(world):
    order = torch.randperm(21)
    shares = [shard_order(order, Ranks(rank, world)) for rank in range(world)]
    assert len({len(share) for share in shares}) == 1
    assert set(torch.cat(shares).tolist()) == set(range(21))
    assert torch.equal(shard_order(order, Ranks()), order)


def test_more_processes_than_gpus_is_a_usage_error(monkeypatch):
    from dancestyle.distributed import start

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(UsageError, match="2 processes on this machine"):
        start("cuda")


@pytest.mark.slow
def test_classify_under_torchrun_gives_the_single_process_records_in_input_order(home, tmp_path):
    from media import make_video

    folder = tmp_path / "clips"
    folder.mkdir()
    for number in range(5):
        make_video(folder / f"clip{number}.mp4", frames=30 + 15 * number, size=(32, 48))
    (folder / "clip5.mp4").write_text("not a video")
    command = ["-m", "dancestyle", "classify", str(folder), "--random-weights", "--json", "--model", "tcn"]
    single = subprocess.run([sys.executable, *command], capture_output=True, text=True, env=environment(home))
    shared = subprocess.run([TORCHRUN, "--standalone", "--nproc-per-node", "2", *command], capture_output=True,
                            text=True, env=environment(home), timeout=300)
    assert (single.returncode, shared.returncode) == (1, 1), shared.stderr[-3000:]

    def records(result):
        return [{key: value for key, value in json.loads(line).items() if key != "seconds"}
                for line in result.stdout.splitlines()]

    assert records(shared) == records(single) and len(records(single)) == 6
    assert [record["path"].rsplit("/", 1)[-1] for record in records(shared)] == [f"clip{n}.mp4" for n in range(6)]
