"""How many threads this process gives video decoding and the networks: one budget, decided once.

PyAV, torch (OpenMP) and onnxruntime each assume by default that they own every core, and their idle workers
spin. Decoding runs ahead in its own thread while the networks run, so on a laptop that is busy with anything else
the threads spin against each other (one busy program made `classify` 2-5x slower on 2 cores). The budget:
- counts the cores this process may really use (CPU affinity and a cgroup CPU quota, not os.cpu_count());
- gives the networks all of them (pose and RGB take turns in one thread, never run at once), and decoding, which
  runs beside them, a share of them (`split`);
- makes waiting workers sleep instead of spinning (onnxruntime's allow_spinning), or spin only briefly (OpenMP's
  spin count: its default spins ~3 ms, which under load burns the time a shared core has left);
- gives the networks fewer threads while other programs keep some of those cores busy (measured from /proc/stat
  since the process started, less this process's own CPU time): a thread that shares its core with another
  program runs at a fraction of its speed, and every other thread of a parallel operation waits for it (with
  both cores busy, ResNet-18 took 502-535 ms a frame with 2 threads against 75-130 ms with 1).

`--threads N` (or DANCESTYLE_THREADS=N) sets the core count by hand (then no load is measured); 0 leaves every
library its own defaults (the behaviour before the budget, kept for comparison). An OMP_NUM_THREADS,
OMP_WAIT_POLICY or GOMP_SPINCOUNT the user set is kept.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import UsageError

THREADS_ENV = "DANCESTYLE_THREADS"
LIBRARY_DEFAULTS = 0  # --threads 0: no budget, each library picks its own threads (and spins)
CGROUP_ROOT = Path("/sys/fs/cgroup")
SPIN_COUNT = 10_000  # libgomp's busy-wait loops before a waiting worker sleeps (~0.1 ms; its default is 300,000)
PROC_STAT = Path("/proc/stat")
SHORTEST_LOOK_S = 0.25  # /proc/stat counts in ticks of 10 ms: over a shorter time the load it shows is noise
RECHECK_S = 30.0  # the networks' thread count follows the load when it is older than this (next video, next network)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThreadBudget:
    """cores: what this process may use. inference: torch's and onnxruntime's intra-op threads (fewer while other
    programs keep cores busy: inference_threads). decode: FFmpeg's threads for one video (1: decoding stays in the
    read-ahead thread). chosen: the user chose the thread count (--threads, DANCESTYLE_THREADS, OMP_NUM_THREADS),
    so it is used as given, whatever the load (not compared: the same budget either way)."""

    cores: int
    inference: int
    decode: int
    chosen: bool = field(default=False, compare=False)


# -- the cores this process may use ------------------------------------------------------------------------------

def cgroup_cpu_limit(root: Path = CGROUP_ROOT) -> float | None:
    """The cgroup's CPU quota in cores (2.5 for "250000 100000"), or None where none is set or none can be read.
    cgroup v2 keeps it in cpu.max ("max 100000": no limit); v1 in cpu.cfs_quota_us / cpu.cfs_period_us (-1: none)."""
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        return _quota(quota, period)
    for folder in (root / "cpu", root / "cpu,cpuacct", root):
        quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
        if quota is not None and period is not None:
            return _quota(quota, period)
    return None


def _quota(quota: str, period: str) -> float | None:
    try:
        quota_us, period_us = int(quota), int(period)
    except ValueError:  # "max": no limit
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def available_cores(cgroup_root: Path = CGROUP_ROOT) -> int:
    """The cores this process may run on (its CPU affinity), fewer where a cgroup quota allows less CPU time."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows: no affinity call
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit(cgroup_root)
    if limit is not None:
        cores = min(cores, math.ceil(limit))  # 1.5 cores of quota: two threads can use it
    return max(1, cores)


# -- the budget ---------------------------------------------------------------------------------------------------

def parse_threads(value: str | int) -> int:
    """A --threads / DANCESTYLE_THREADS value: a whole number of cores >= 0 (0: the libraries' own defaults)."""
    try:
        threads = int(str(value).strip())
    except ValueError:
        threads = -1
    if threads < 0:
        raise UsageError(f"{str(value)!r} is not a whole number of cores (1 or more; 0 leaves each library its own "
                         "threads).")
    return threads


def split(cores: int) -> ThreadBudget:
    """The networks get every core: pose and RGB run one after the other, and with spinning off a waiting worker
    costs nothing. Decoding runs beside them: two threads at least (on 2 cores, one decoder thread made a 20 s 1080p
    timeline 7-20% slower, busy and idle), at most half the cores beyond that, so it never crowds out the networks
    it feeds."""
    return ThreadBudget(cores=cores, inference=cores, decode=min(cores, max(2, cores // 2)))


@functools.cache
def budget() -> ThreadBudget | None:
    """This process's budget (decided on first use, then kept); None where DANCESTYLE_THREADS=0 asks for the
    libraries' defaults. DANCESTYLE_THREADS (which --threads sets) wins over OMP_NUM_THREADS; an OMP_NUM_THREADS
    the user set alone is the networks' thread count."""
    requested = os.environ.get(THREADS_ENV, "").strip()
    if requested:
        try:
            cores = parse_threads(requested)
        except UsageError as e:
            raise UsageError(f"{THREADS_ENV}: {e.message}", "Set it to a number of cores, e.g. 2.") from None
        return None if cores == LIBRARY_DEFAULTS else replace(split(cores), chosen=True)
    plan = split(available_cores())
    user_omp = _positive_int(os.environ.get("OMP_NUM_THREADS"))
    if user_omp:
        plan = ThreadBudget(plan.cores, inference=user_omp, decode=plan.decode, chosen=True)
    return plan


def _positive_int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if number > 0 else None


# -- how busy other programs keep those cores ---------------------------------------------------------------------

@dataclass(frozen=True)
class CpuSample:
    """At monotonic time `at`: the CPU seconds every program has spent on the `cores` this process may run on
    (`busy`) and this process's own CPU seconds (`own`), both since boot / since the process started."""

    at: float
    busy: float
    own: float
    cores: int = 1


def cpu_sample(stat: Path = PROC_STAT) -> CpuSample | None:
    """Now's CpuSample, from /proc/stat's lines of the cores this process may run on; None where there is no
    /proc/stat (macOS, Windows) or it cannot be read."""
    text = _read(stat)
    if text is None:
        return None
    try:
        mine = {f"cpu{core}" for core in os.sched_getaffinity(0)}
    except (AttributeError, OSError):
        mine = {"cpu"}  # the line summing every core
    ticks, cores = 0, 0
    for line in text.splitlines():
        name, *fields = line.split()
        if name in mine and len(fields) >= 4:
            counts = [int(field) for field in fields[:8]]
            ticks += sum(counts) - counts[3] - (counts[4] if len(counts) > 4 else 0)  # all but idle and iowait
            cores += 1
    if mine == {"cpu"}:
        cores = os.cpu_count() or 1
    own = os.times()
    return CpuSample(time.monotonic(), ticks / os.sysconf("SC_CLK_TCK"), own.user + own.system, max(1, cores))


def others_busy(before: CpuSample, after: CpuSample) -> float:
    """How many cores other programs kept busy between two samples, on average (this process's own CPU time taken
    out: its threads were importing, decoding or computing meanwhile)."""
    seconds = after.at - before.at
    if seconds <= 0:
        return 0.0
    return max(0.0, (after.busy - before.busy) - (after.own - before.own)) / seconds


def threads_beside(threads: int, cores: int, busy_elsewhere: float) -> int:
    """The networks' threads, at most `threads`, where other programs keep `busy_elsewhere` of the `cores` this
    process may run on busy: the cores left (rounded), one at least. A cgroup quota that allows fewer cores than
    the process may run on keeps its share of a busy host: only when fewer than `threads` cores are left does the
    count go down."""
    return max(1, min(threads, math.floor(cores - busy_elsewhere + 0.5)))


_last_look: CpuSample | None = cpu_sample()  # when this module loads: the CLI then imports torch (about 1 s)
_last_threads: int | None = None


def inference_threads() -> int | None:
    """The networks' intra-op threads now: the budget's, fewer while other programs keep some of its cores busy
    (measured since the last decision, which is kept for RECHECK_S); a count the user chose as given; None with
    the libraries' defaults."""
    global _last_look, _last_threads
    plan = budget()
    if plan is None or plan.chosen:
        return None if plan is None else plan.inference
    if _last_threads is not None and _last_look is not None and time.monotonic() - _last_look.at < RECHECK_S:
        return _last_threads
    now = cpu_sample()
    if now is None or _last_look is None:  # nothing to measure with: every core of the budget
        return plan.inference
    if now.at - _last_look.at < SHORTEST_LOOK_S:  # started a moment ago (a library call): look a little longer
        time.sleep(SHORTEST_LOOK_S - (now.at - _last_look.at))
        now = cpu_sample() or now
    busy = others_busy(_last_look, now)
    threads = threads_beside(plan.inference, now.cores, busy)
    if threads != _last_threads:
        log.debug("other programs keep %.1f of %d cores busy: the networks run %d thread(s)", busy, plan.cores,
                  threads)
    _last_look, _last_threads = now, threads
    return threads


def use_threads(threads: int) -> None:
    """Set this process's core count (the CLI's --threads), for it and the processes it starts. Call before the
    networks are built and before torch is imported (OpenMP reads its spin count when torch loads)."""
    os.environ[THREADS_ENV] = str(threads)
    budget.cache_clear()
    prepare_openmp()


# -- applying it to each library --------------------------------------------------------------------------------

def prepare_openmp() -> None:
    """OpenMP (libgomp: torch's on Linux) reads how long a waiting worker spins once, when torch loads it: shorten
    that before. Measured on 2 cores: never spinning (OMP_WAIT_POLICY=PASSIVE) sped classify up beside a busy
    process as much as SPIN_COUNT did, but made small training steps 45% slower on an idle machine, where
    SPIN_COUNT kept their speed. Too late (torch already imported), or a wait policy or spin count the user set:
    left alone."""
    user_set = "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ
    if budget() is not None and "torch" not in sys.modules and not user_set:
        os.environ["GOMP_SPINCOUNT"] = str(SPIN_COUNT)


def apply_to_torch() -> None:
    """torch's intra-op threads follow the budget (if torch is loaded; it is process-wide). Its inter-op pool only
    serves torch.jit.fork, unused here: one thread."""
    torch = sys.modules.get("torch")
    if torch is None:
        return
    threads = inference_threads()
    if threads is None:
        return
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # allowed once, and only before inter-op work started: already settled
        pass


def apply_to_onnxruntime(options) -> None:
    """An onnxruntime SessionOptions follows the budget: intra-op threads, one inter-op thread (the graph runs
    sequentially), and workers that sleep instead of spinning between calls."""
    threads = inference_threads()
    if threads is None:
        return
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")


def decode_threads() -> int:
    """FFmpeg's thread count for one video's decoder; 0 lets FFmpeg choose (one per core)."""
    plan = budget()
    return 0 if plan is None else plan.decode
