"""The backend protocol the Tuner drives; the backend owns the clock."""

from __future__ import annotations

from typing import Any

from simtune.core.trial import Event, Trial


class Backend:
    """Runs trials and hands back their events in time order.

    The Tuner never knows whether the clock is real or virtual: it only reads
    `time()` and waits in `next_events(until)`.
    """

    name: str = "backend"
    # True if the same seed gives the same events (the simulator): an interrupted run is
    # then resumed by running it again from the start and checking every row against the
    # recorded ones; otherwise the recorded rows are fed back and the trials that were
    # running are taken over with `recover` and continued with `resume`.
    deterministic: bool = False

    def time(self) -> float:
        """Seconds since the backend started, on its own clock."""
        raise NotImplementedError

    def start(self, trial: Trial) -> None:
        """Start `trial` on a free worker (from the checkpoint of `trial.checkpoint_of` if set)."""
        raise NotImplementedError

    def resume(self, trial: Trial) -> None:
        """Resume the paused `trial` from its checkpoint."""
        raise NotImplementedError

    def restart(self, trial: Trial) -> None:
        """Start `trial`, which just failed, again from its newest checkpoint (a retry,
        core.retries); by default as `resume` does."""
        self.resume(trial)

    def pause(self, trial_id: int) -> None:
        """Stop running `trial_id` but keep its checkpoint; frees its worker now."""
        raise NotImplementedError

    def stop(self, trial_id: int) -> None:
        """Stop `trial_id` for good; its later reports never appear; frees its worker now."""
        raise NotImplementedError

    def recover(self, trial: Trial) -> None:
        """Take over `trial` of an interrupted earlier process of this run, as paused.

        Whatever that process left of the trial (its checkpoint) stays in place, so that
        `resume(trial)` continues from it (or starts from scratch if nothing was left).
        A trial id that was used for a different configuration raises ValueError.
        """
        raise NotImplementedError(
            f"backend {self.name} cannot take over the trials of an interrupted run"
        )

    def recover_reports(self, trial: Trial) -> None:
        """After `recover(trial)`: hand over first, at its resume, the reports it made that
        the interrupted process never recorded (above `trial.fidelity`), where the backend
        can still read them (its output on storage); by default there are none."""

    def drain(self) -> list[Event]:
        """For a graceful interrupt: end the running trials and return the events of what
        they already said that `next_events` did not hand out yet (by default none)."""
        return []

    def next_events(self, until: float | None = None) -> list[Event]:
        """Wait for the next events, at most until time `until`.

        Returns [] when the clock reached `until` first, or when nothing is running.
        """
        raise NotImplementedError

    def checkpoint_bytes(self, trial_id: int) -> int:
        """Bytes the checkpoint of `trial_id` takes here (0: the backend keeps none here)."""
        return 0

    def delete_checkpoint(self, trial_id: int) -> int:
        """Delete the checkpoint of `trial_id`, which has ended; the bytes freed (by
        default none: the backend keeps no checkpoint it could delete)."""
        return 0

    def status(self) -> str:
        """What the status line should add about the backend, as '; ...' ('' if nothing):
        e.g. backend=ray's trials waiting for a node that has their resources."""
        return ""

    def charge(self, seconds: float) -> None:
        """Account for `seconds` the Tuner spent deciding (real clocks: no-op)."""

    def close(self) -> None:
        """Release every resource; no trial keeps running."""

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name}
