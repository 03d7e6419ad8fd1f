"""The thread budget (dancestyle/cores.py): the cores a process may use, --threads / DANCESTYLE_THREADS, and the
libraries' settings that follow it. Objects are checked, not timings (benchmarks/busy_machine.py times it)."""

import os
import subprocess
import sys
import types

import pytest
import torch
from typer.testing import CliRunner

from dancestyle import cores
from dancestyle.cli import app
from dancestyle.errors import UsageError

from media import make_video


@pytest.fixture(autouse=True)
def fresh_budget(monkeypatch):
    """No thread setting from the environment (the test command sets OMP_NUM_THREADS); the budget decided anew;
    torch's thread count put back."""
    for name in (cores.THREADS_ENV, "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        monkeypatch.delenv(name, raising=False)
    threads = torch.get_num_threads()
    cores.budget.cache_clear()
    monkeypatch.setattr(cores, "_last_look", None)  # no load measured unless a test measures one
    monkeypatch.setattr(cores, "_last_threads", None)
    yield
    cores.budget.cache_clear()
    torch.set_num_threads(threads)


def write(folder, name, text):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# -- the cores a process may use ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cpu_max, limit", [("150000 100000", 1.5), ("200000 100000", 2.0), ("max 100000", None)])
def test_cgroup_v2_quota(tmp_path, cpu_max, limit):
    write(tmp_path, "cpu.max", cpu_max + "\n")
    assert cores.cgroup_cpu_limit(tmp_path) == limit


@pytest.mark.parametrize("quota, limit", [("50000", 0.5), ("300000", 3.0), ("-1", None)])
def test_cgroup_v1_quota(tmp_path, quota, limit):
    write(tmp_path, "cpu,cpuacct/cpu.cfs_quota_us", quota)
    write(tmp_path, "cpu,cpuacct/cpu.cfs_period_us", "100000")
    assert cores.cgroup_cpu_limit(tmp_path) == limit


def test_no_cgroup_files_no_limit(tmp_path):
    assert cores.cgroup_cpu_limit(tmp_path) is None


def test_available_cores_takes_the_smaller_of_affinity_and_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert cores.available_cores(tmp_path) == 4  # no quota: the affinity
    write(tmp_path, "cpu.max", "250000 100000")
    assert cores.available_cores(tmp_path) == 3  # 2.5 cores of CPU time: three threads can use them
    write(tmp_path, "cpu.max", "10000 100000")
    assert cores.available_cores(tmp_path) == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {5}, raising=False)
    write(tmp_path, "cpu.max", "max 100000")
    assert cores.available_cores(tmp_path) == 1  # pinned to one core of many


# -- the budget -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, threads", [("2", 2), (" 3 ", 3), ("0", 0), (4, 4)])
def test_parse_threads(value, threads):
    assert cores.parse_threads(value) == threads


@pytest.mark.parametrize("value", ["-1", "x", "1.5", "", "two"])
def test_parse_threads_refuses(value):
    with pytest.raises(UsageError, match="whole number of cores"):
        cores.parse_threads(value)


def test_budget_from_the_environment(monkeypatch):
    monkeypatch.setenv(cores.THREADS_ENV, "4")
    assert cores.budget() == cores.ThreadBudget(cores=4, inference=4, decode=2)
    cores.budget.cache_clear()
    monkeypatch.setenv(cores.THREADS_ENV, "0")
    assert cores.budget() is None  # the libraries' own defaults
    assert cores.decode_threads() == 0  # FFmpeg chooses


def test_budget_default_is_the_available_cores(monkeypatch):
    monkeypatch.setattr(cores, "available_cores", lambda: 3)
    assert cores.budget() == cores.split(3) == cores.ThreadBudget(cores=3, inference=3, decode=2)


@pytest.mark.parametrize("available, decode", [(1, 1), (2, 2), (4, 2), (16, 8)])
def test_split_gives_decoding_a_share(available, decode):
    assert cores.split(available) == cores.ThreadBudget(cores=available, inference=available, decode=decode)


def test_users_omp_num_threads_is_kept_unless_threads_is_given(monkeypatch):
    monkeypatch.setattr(cores, "available_cores", lambda: 2)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cores.budget().inference == 1 and cores.budget().chosen  # used as given, whatever the load
    cores.budget.cache_clear()
    monkeypatch.setenv(cores.THREADS_ENV, "2")
    assert cores.budget().inference == 2 and cores.budget().chosen
    cores.budget.cache_clear()
    monkeypatch.delenv(cores.THREADS_ENV)
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert not cores.budget().chosen  # follows the load


def test_bad_environment_value_is_a_usage_error_naming_it(monkeypatch):
    monkeypatch.setenv(cores.THREADS_ENV, "lots")
    with pytest.raises(UsageError, match=cores.THREADS_ENV):
        cores.budget()


def test_spin_is_shortened_only_before_torch_and_only_if_the_user_did_not_choose(monkeypatch):
    modules = {name: module for name, module in sys.modules.items() if name != "torch"}
    monkeypatch.setattr(sys, "modules", modules)
    cores.prepare_openmp()
    assert os.environ["GOMP_SPINCOUNT"] == str(cores.SPIN_COUNT)
    monkeypatch.setenv("GOMP_SPINCOUNT", "5")
    cores.prepare_openmp()
    assert os.environ["GOMP_SPINCOUNT"] == "5"
    monkeypatch.delenv("GOMP_SPINCOUNT")
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # the user's policy, with its own spin count
    cores.prepare_openmp()
    assert "GOMP_SPINCOUNT" not in os.environ


def test_spin_left_alone_once_torch_is_loaded_or_without_a_budget(monkeypatch):
    cores.prepare_openmp()  # torch is imported here: too late, so nothing is promised
    assert "GOMP_SPINCOUNT" not in os.environ
    monkeypatch.setattr(sys, "modules", {name: module for name, module in sys.modules.items() if name != "torch"})
    monkeypatch.setenv(cores.THREADS_ENV, "0")
    cores.budget.cache_clear()
    cores.prepare_openmp()
    assert "GOMP_SPINCOUNT" not in os.environ


# -- fewer threads while other programs keep cores busy ----------------------------------------------------------

STAT = """cpu  400 0 200 1000 0 0 0 0 0 0
cpu0 100 0 50 300 20 0 5 0 0 0
cpu1 100 0 50 300 0 0 0 0 0 0
cpu2 200 0 100 400 0 0 0 0 0 0
intr 12345 0 0
"""


def test_cpu_sample_counts_the_busy_time_of_this_process_s_cores(tmp_path, monkeypatch):
    write(tmp_path, "stat", STAT)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "sysconf", lambda name: 100)
    sample = cores.cpu_sample(tmp_path / "stat")
    assert sample.busy == pytest.approx((155 + 150) / 100)  # cpu0 and cpu1, idle and iowait left out; not cpu2
    assert sample.cores == 2
    assert sample.own == pytest.approx(sum(os.times()[:2]), abs=0.5)
    assert cores.cpu_sample(tmp_path / "missing") is None  # no /proc/stat (macOS): no measure


def test_cpu_sample_reads_this_machine():
    if not cores.PROC_STAT.is_file():
        pytest.skip("no /proc/stat here")
    before = cores.cpu_sample()
    sum(range(3_000_000))  # some CPU time of this process's own
    after = cores.cpu_sample()
    assert after.busy >= before.busy > 0
    assert after.own > before.own


def test_others_busy_takes_this_process_s_own_time_out():
    before = cores.CpuSample(at=10.0, busy=100.0, own=5.0)
    assert cores.others_busy(before, cores.CpuSample(at=12.0, busy=103.0, own=6.0)) == pytest.approx(1.0)
    assert cores.others_busy(before, cores.CpuSample(at=12.0, busy=101.0, own=7.0)) == 0.0  # never below 0
    assert cores.others_busy(before, before) == 0.0


@pytest.mark.parametrize("budget, run_on, busy, threads", [(2, 2, 0.0, 2), (2, 2, 0.4, 2), (2, 2, 1.0, 1),
                                                             (2, 2, 2.6, 1), (8, 8, 3.2, 5), (1, 1, 0.0, 1),
                                                             (2, 64, 40.0, 2), (4, 8, 5.0, 3)])
def test_threads_beside_other_programs(budget, run_on, busy, threads):
    """(2, 64, 40.0): a quota of 2 cores on a big host with 24 cores idle keeps both threads."""
    assert cores.threads_beside(budget, run_on, busy) == threads


class Machine:
    """A clock and a /proc/stat for cores.py: other programs keep `busy_cores` of the `run_on` cores busy; time moves
    by advance()."""

    def __init__(self, monkeypatch, busy_cores: float, run_on: int = 2):
        self.now, self.busy, self.busy_cores, self.samples, self.run_on = 100.0, 50.0, busy_cores, 0, run_on
        monkeypatch.setattr(cores, "time", types.SimpleNamespace(monotonic=lambda: self.now, sleep=self.advance))
        monkeypatch.setattr(cores, "cpu_sample", self.sample)
        monkeypatch.setattr(cores, "_last_look", self.sample())
        self.samples = 0

    def sample(self):
        self.samples += 1
        return cores.CpuSample(at=self.now, busy=self.busy, own=1.0, cores=self.run_on)

    def advance(self, seconds: float):
        self.now += seconds
        self.busy += self.busy_cores * seconds


def test_networks_get_fewer_threads_beside_a_busy_program(monkeypatch):
    monkeypatch.setattr(cores, "available_cores", lambda: 2)
    Machine(monkeypatch, busy_cores=1.0).advance(2.0)
    torch.set_num_threads(2)
    cores.apply_to_torch()
    assert torch.get_num_threads() == 1


def test_an_idle_machine_keeps_every_core(monkeypatch):
    monkeypatch.setattr(cores, "available_cores", lambda: 2)
    Machine(monkeypatch, busy_cores=0.2).advance(2.0)
    assert cores.inference_threads() == 2


def test_a_thread_count_the_user_chose_is_not_cut(monkeypatch):
    machine = Machine(monkeypatch, busy_cores=2.0)
    machine.advance(2.0)
    monkeypatch.setenv(cores.THREADS_ENV, "2")
    assert cores.inference_threads() == 2
    monkeypatch.delenv(cores.THREADS_ENV)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    cores.budget.cache_clear()
    assert cores.inference_threads() == 3
    assert machine.samples == 0  # nothing measured


def test_the_decision_is_kept_a_while_then_measured_again(monkeypatch):
    monkeypatch.setattr(cores, "available_cores", lambda: 2)
    machine = Machine(monkeypatch, busy_cores=1.0)
    machine.advance(2.0)
    assert cores.inference_threads() == 1
    machine.busy_cores = 0.0  # the other program finishes
    machine.advance(cores.RECHECK_S / 2)
    assert cores.inference_threads() == 1 and machine.samples == 1  # kept: decided RECHECK_S / 2 ago
    machine.advance(cores.RECHECK_S / 2)
    assert cores.inference_threads() == 2 and machine.samples == 2


def test_a_process_that_just_started_looks_a_little_longer(monkeypatch):
    monkeypatch.setattr(cores, "available_cores", lambda: 2)
    machine = Machine(monkeypatch, busy_cores=1.0)
    machine.advance(0.01)  # 10 ms: one tick of /proc/stat
    assert cores.inference_threads() == 1
    assert machine.now == pytest.approx(100.0 + cores.SHORTEST_LOOK_S)


def test_onnxruntime_threads_follow_the_load(monkeypatch):
    import onnxruntime

    monkeypatch.setattr(cores, "available_cores", lambda: 4)
    Machine(monkeypatch, busy_cores=2.0, run_on=4).advance(2.0)
    options = onnxruntime.SessionOptions()
    cores.apply_to_onnxruntime(options)
    assert options.intra_op_num_threads == 2


# -- the CLI ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, env", [(["--threads", "x"], {}), (["--threads", "-2"], {}),
                                       ([], {cores.THREADS_ENV: "1.5"})])
def test_bad_threads_is_a_usage_error(args, env):
    result = CliRunner().invoke(app, [*args, "models"], env={**env, "COLUMNS": "200"})
    assert result.exit_code == 2
    assert "whole number of cores" in result.output
    assert "Traceback" not in result.output


def test_threads_option_sets_the_budget(monkeypatch):
    monkeypatch.setenv(cores.THREADS_ENV, "")  # restored after the test: the option writes it
    result = CliRunner().invoke(app, ["--threads", "3", "models"])
    assert result.exit_code == 0, result.output
    assert os.environ[cores.THREADS_ENV] == "3"
    assert cores.budget() == cores.split(3)


def test_cli_sets_the_spin_count_before_torch_is_imported():
    """OpenMP reads GOMP_SPINCOUNT when torch loads: the root callback must run before any import of torch."""
    script = (
        "import os, sys\n"
        "from dancestyle import cores\n"
        "use_threads = cores.use_threads\n"
        "def spy(threads):\n"
        "    print('torch loaded' if 'torch' in sys.modules else 'torch not loaded')\n"
        "    use_threads(threads)\n"
        "cores.use_threads = spy\n"
        "sys.argv = ['dancestyle', '--threads', '1', 'models', '--json']\n"
        "from dancestyle.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(os.environ.get('GOMP_SPINCOUNT'))\n"
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith(("OMP_", "GOMP_"))}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    lines = result.stdout.splitlines()
    assert lines[0] == "torch not loaded", result.stdout + result.stderr
    assert lines[-1] == str(cores.SPIN_COUNT)


# -- the libraries follow it ------------------------------------------------------------------------------------

def test_onnxruntime_options_follow_the_budget(monkeypatch):
    import onnxruntime

    monkeypatch.setenv(cores.THREADS_ENV, "3")
    options = onnxruntime.SessionOptions()
    cores.apply_to_onnxruntime(options)
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (3, 1)
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_onnxruntime_options_untouched_with_library_defaults(monkeypatch):
    import onnxruntime

    monkeypatch.setenv(cores.THREADS_ENV, "0")
    options = onnxruntime.SessionOptions()
    cores.apply_to_onnxruntime(options)
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (0, 0)
    with pytest.raises(RuntimeError, match="does not have configuration"):  # onnxruntime's own default
        options.get_session_config_entry("session.intra_op.allow_spinning")


def test_pose_network_session_is_built_with_the_budget(monkeypatch):
    """The pose networks' own onnxruntime sessions (what load_model builds) get the budget's options."""
    import onnxruntime

    from dancestyle.pose.rtmpose import OnnxNetwork

    seen = {}

    class Session:
        def __init__(self, model, sess_options, providers):
            seen["options"] = sess_options

        def get_providers(self):
            return ["CPUExecutionProvider"]

        def get_inputs(self):
            return [type("Input", (), {"name": "x", "shape": ["batch", 3, 8, 8]})()]

    monkeypatch.setattr(onnxruntime, "InferenceSession", Session)
    monkeypatch.setenv(cores.THREADS_ENV, "1")
    OnnxNetwork(b"model")
    assert seen["options"].intra_op_num_threads == 1
    assert seen["options"].get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert torch.get_num_threads() == 1


def test_torch_threads_follow_the_budget_when_decoding_starts(monkeypatch):
    from dancestyle.video import ReadAhead

    torch.set_num_threads(2)
    monkeypatch.setenv(cores.THREADS_ENV, "1")
    assert list(ReadAhead(iter([1, 2]))) == [1, 2]
    assert torch.get_num_threads() == 1


def test_torch_threads_untouched_with_library_defaults(monkeypatch):
    torch.set_num_threads(2)
    monkeypatch.setenv(cores.THREADS_ENV, "0")
    cores.apply_to_torch()
    assert torch.get_num_threads() == 2


def test_decoder_threads_follow_the_budget(tmp_path, monkeypatch):
    from dancestyle import video

    decoders = []  # each opened video's decoder, kept to look at once decoding is over

    def opened(path, open_container=video._open):
        container = open_container(path)
        decoders.append(container.streams.video[0].codec_context)
        return container

    monkeypatch.setattr(video, "_open", opened)
    monkeypatch.setenv(cores.THREADS_ENV, "4")
    clip = make_video(tmp_path / "clip.mp4", frames=10)
    assert list(video.iter_sampled_frames(clip, video.sample_interval(1)))
    assert decoders[0].thread_count == cores.split(4).decode == 2
