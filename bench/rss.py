"""Peak resident memory of process trees, from /proc (Linux): a sampling thread and exact peaks at exit.

`TreeSampler` polls every watched root process and all of its descendants (gunicorn's master and its
workers; a `copydesk worker` and any child it starts): per process the kernel's own high-water mark
(VmHWM, so a peak between two polls is not missed), and per role the largest *sum* of current RSS (VmRSS)
and of PSS seen in one poll (the processes' peaks need not coincide, so the sum of their VmHWM is only an
upper bound, also reported; forked processes share pages, which RSS counts in each and PSS once, so the
summed PSS is the memory the role really holds). `wait_peak` reaps a child with wait4(), whose ru_maxrss
is the exact peak RSS of that process and of every descendant it reaped itself.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import defaultdict
from pathlib import Path

PROC = Path("/proc")


def _status_kib(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) in KiB, or None for a process that is gone (or a zombie, which has neither)."""
    try:
        text = (PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    found = {}
    for line in text.splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            name, value = line.split(":", 1)
            found[name] = int(value.split()[0])
    if len(found) < 2:
        return None
    return found["VmRSS"], found["VmHWM"]


def _pss_kib(pid: int) -> int:
    """Proportional set size: each shared page counted once across processes (forked workers share most of
    their parent's pages, which their RSS counts again); 0 when unreadable."""
    try:
        for line in (PROC / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = defaultdict(list)
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # after "pid (comm) state"
        tree[ppid].append(int(entry.name))
    return tree


def descendants(root: int, tree: dict[int, list[int]]) -> list[int]:
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(tree.get(pid, ()))
    return found


class TreeSampler(threading.Thread):
    """Poll the process trees of watched roots, grouped by role, every `interval` seconds."""

    def __init__(self, interval: float = 0.1, series_every: float = 5.0) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.interval, self.series_every = interval, series_every
        self.roots: dict[str, list[int]] = defaultdict(list)
        self.hwm: dict[str, dict[int, int]] = defaultdict(dict)  # role -> pid -> KiB
        self.peak_sum: dict[str, int] = defaultdict(int)  # role -> KiB of VmRSS
        self.peak_pss: dict[str, int] = defaultdict(int)  # role -> KiB of Pss
        self.last: dict[str, float] = {}  # the latest poll's summed VmRSS per role, MiB
        self.rss: dict[int, int] = {}  # the latest poll's VmRSS per process, KiB
        self.series: list[dict] = []  # every `series_every` s: seconds and the summed VmRSS per role, MiB
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._t0 = time.monotonic()

    def watch(self, role: str, pid: int) -> None:
        with self._lock:
            self.roots[role].append(pid)
        self.sample()

    def sample(self) -> None:
        tree = _children()
        now = {}
        with self._lock:
            for role, roots in self.roots.items():
                total = pss = 0
                for pid in {p for root in roots for p in descendants(root, tree)}:
                    status = _status_kib(pid)
                    if status is None:
                        continue
                    total += status[0]
                    self.rss[pid] = status[0]
                    pss += _pss_kib(pid)
                    self.hwm[role][pid] = max(self.hwm[role].get(pid, 0), status[1])
                self.peak_sum[role] = max(self.peak_sum[role], total)
                self.peak_pss[role] = max(self.peak_pss[role], pss)
                now[role] = round(total / 1024, 1)
            self.last = now
            elapsed = time.monotonic() - self._t0
            if now and (not self.series or elapsed - self.series[-1]["s"] >= self.series_every):
                self.series.append({"s": round(elapsed, 1), **now})

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)

    def figures(self, exact: dict[str, int] | None = None) -> dict:
        """Per role, MiB: the largest summed RSS and summed PSS of one poll, the largest single process (VmHWM;
        `exact`, e.g. a wait4 peak, only when larger: wait4 reports the forking parent's size for a child that
        exec'd, so it suits children of a small parent), the sum of every process's own peak, the process count."""
        out = {}
        for role, peaks in self.hwm.items():
            biggest = max([*peaks.values(), (exact or {}).get(role, 0)], default=0)
            out[role] = {"processes": len(peaks), "peak_rss_sum_mib": round(self.peak_sum[role] / 1024, 1),
                         "peak_pss_sum_mib": round(self.peak_pss[role] / 1024, 1),
                         "peak_process_mib": round(biggest / 1024, 1),
                         "sum_of_process_peaks_mib": round(sum(peaks.values()) / 1024, 1)}
        return out


def reap(proc: subprocess.Popen) -> tuple[int, int] | None:
    """If `proc` has exited, reap it with wait4(): its exit code and ru_maxrss in KiB (the peak RSS of it and
    of the descendants it reaped itself); None while it runs."""
    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
    if not pid:
        return None
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss


def wait_peak(proc: subprocess.Popen, timeout: float) -> tuple[int, int]:
    """`reap` once `proc` exits (SIGKILL after `timeout` s)."""
    deadline = time.monotonic() + timeout
    while (done := reap(proc)) is None:
        if time.monotonic() > deadline:
            proc.kill()
            deadline = float("inf")
        time.sleep(0.1)
    return done
