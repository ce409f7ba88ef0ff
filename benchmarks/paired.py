"""convscope and one peer timed in the same minutes: their runs interleaved, each in a process.

This machine's speed drifts in spells of seconds to minutes (a pure-Python loop takes 4 ms in a
fast spell and 8 ms in a slow one). Timed one after the other, a peer and convscope can fall in
different spells and their ratio moves by 1.5x either way. Here each tool has a child process
(``peer_tools.serve``) that times one run when asked; the parent asks the peer for runs for
about half a second (``BLOCK``; one run if it is slower), then convscope for about as long
(``burst``), and so on, so both medians cover the same stretch of the machine's time. Blocks,
not single runs: the first run after the other tool's is slower (its caches are cold, about 15%
for convscope after a real forward), and one in a block hardly moves a median. Each child
still measures its own peak memory on its first run.
"""
from __future__ import annotations

import contextlib
import statistics

MOST_RUNS = 200  # a cap on a fast tool's runs within its time span
BLOCK = 0.5  # seconds of one tool's runs before the other's turn


class Timed:
    """One tool's child: the first run's result (``first``), then one run's seconds per
    ``run``. A child that overruns is killed; what it measured before stands."""

    def __init__(self, context, args: list, limit: float):
        """``args``: ``peer_tools.serve``'s after the connection. ``limit``: seconds the child
        may take for its build and warm-up, for its first run, and for each later run."""
        from peer_tools import serve

        self._connection, theirs = context.Pipe()
        self._process = context.Process(target=serve, args=(theirs, *args), daemon=True)
        self._process.start()
        theirs.close()
        self.limit = limit
        self.cut: str | None = None  # why a run after the first got no answer

    def first(self) -> dict:
        answer = self._answer()
        if answer is None:
            return {"error": f"timeout >{self.limit:.0f} s before its first run"}
        if answer == "ready":  # built and warmed up: the first run has a limit of its own
            answer = self._answer()
            if answer is None:
                return {"error": f"timeout >{self.limit:.0f} s", "lower_bound": self.limit}
        return {"error": answer} if isinstance(answer, str) else answer

    def run(self) -> float | None:
        """The seconds of one more run; None if the child overran, failed or died (it is then
        gone, and ``cut`` says why)."""
        if self.cut is not None:
            return None
        try:
            self._connection.send("run")
        except OSError:
            answer = "died"
        else:
            answer = self._answer()
        if isinstance(answer, float):
            return answer
        self.cut = (f"timeout >{self.limit:.0f} s" if answer is None else
                    answer["error"] if isinstance(answer, dict) else answer)
        self.close()
        return None

    def _answer(self):
        """The child's next message; None past ``limit``, or a str saying how it died."""
        try:
            if self._connection.poll(self.limit):
                return self._connection.recv()
            self.close(wait=False)  # still busy: it would not read a "stop"
            return None
        except (EOFError, OSError):  # died without a word: the OOM killer, most likely
            self._process.join()
            return f"killed (exit {self._process.exitcode}; out of memory?)"

    def close(self, wait: bool = True) -> None:
        """Ask the child to stop (``wait``: give it 2 s), else kill it."""
        if self._connection.closed:
            return
        if wait and self._process.is_alive():
            with contextlib.suppress(OSError):
                self._connection.send("stop")
            self._process.join(timeout=2)
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._connection.close()


def more(times: list[float], options) -> bool:
    """Whether a tool's runs go on: at least ``--repeat``, more until they add up to ``--span``
    seconds, none once they add up to ``--budget`` (slow real forwards run once or twice)."""
    spent = sum(times)
    return ((len(times) < options.repeat or spent < options.span) and spent < options.budget
            and len(times) < MOST_RUNS)


def burst(ours: Timed, seconds: float) -> list[float]:
    """convscope's runs after a peer's block of ``seconds``: at least one, more until they take
    as long (at most ``BLOCK`` seconds, ``MOST_RUNS`` runs)."""
    times: list[float] = []
    while not times or (sum(times) < min(seconds, BLOCK) and len(times) < MOST_RUNS):
        seconds_ours = ours.run()
        if seconds_ours is None:
            break
        times.append(seconds_ours)
    return times


def time_pair(ours: Timed | None, peer: Timed, options) -> tuple[dict, list[float]]:
    """The peer's result, with ``seconds`` the median of its runs and ``ours_seconds`` the
    median of convscope's runs interleaved with them (absent without ``ours``); and those
    runs of convscope's. The peer's first run (the one that measures its peak) is a block of
    its own."""
    result = peer.first()
    if "error" in result:
        peer.close()
        return result, []
    times, ours_times, block = [result["seconds"]], [], [result["seconds"]]
    while block:
        if ours is not None:
            ours_times += burst(ours, sum(block))
        block = []
        while more(times, options) and (not block or sum(block) < BLOCK):
            seconds = peer.run()
            if seconds is None:  # overran or died: its runs so far stand
                break
            block.append(seconds)
            times.append(seconds)
    peer.close()
    result.update(seconds=statistics.median(times), runs=len(times))
    if peer.cut is not None:
        result["cut_short"] = peer.cut
    if ours_times:
        result.update(ours_seconds=statistics.median(ours_times), ours_runs=len(ours_times))
    return result, ours_times


def time_alone(ours: Timed, first: dict, times: list[float], options) -> dict:
    """convscope's own result for the row: ``first`` with the median of all its runs, topped
    up to the same rule as a peer's where the pairs left it short (no peer ran); ``first`` as
    it is if it failed."""
    while times and more(times, options):
        seconds = ours.run()
        if seconds is None:
            break
        times.append(seconds)
    ours.close()
    if not times:
        return first
    result = {**first, "seconds": statistics.median(times), "runs": len(times)}
    if ours.cut is not None:
        result["cut_short"] = ours.cut
    return result
