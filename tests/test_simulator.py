import numpy as np
import pandas as pd
import pytest

from simtune.blackboxes.synthetic import BraninCurves
from simtune.core.backends.simulated import SimulatedBackend
from simtune.core.trial import Trial
from tests.helpers import simulate, toy_table


def _backend(table, seed=0):
    return SimulatedBackend(table, rng=np.random.default_rng(seed))


def _drain(backend, until=None):
    out = []
    while events := backend.next_events(until):
        out.extend(events)
    return out


def test_reports_arrive_at_elapsed_times_in_order():
    table = toy_table()
    backend = _backend(table)
    backend.start(Trial(0, {"i": 2}))  # 3 s per epoch
    backend.start(Trial(1, {"i": 0}))  # 1 s per epoch
    events = _drain(backend)
    times = [e.time for e in events]
    assert times == sorted(times)
    by_trial = {(e.trial_id, e.fidelity): e.time for e in events}
    assert by_trial[(0, 1)] == 3.0 and by_trial[(0, 4)] == 12.0
    assert by_trial[(1, 4)] == 4.0
    assert backend.time() == 12.0
    assert [e.last for e in events if e.trial_id == 1] == [False, False, False, True]


def test_ties_are_first_in_first_out():
    table = toy_table()
    backend = _backend(table)
    for trial_id in (5, 3, 4):  # same config: identical report times
        backend.start(Trial(trial_id, {"i": 1}))
    events = _drain(backend)
    assert [e.trial_id for e in events[:3]] == [5, 3, 4]
    assert all(e.time == 2.0 for e in events[:3])


def test_metrics_come_from_the_table():
    table = toy_table()
    backend = _backend(table, seed=1)
    backend.start(Trial(0, {"i": 3}))
    events = _drain(backend)
    seed = 1 if events[0].metrics["loss"] == pytest.approx(40.5) else 0
    for e in events:
        assert e.metrics["loss"] == pytest.approx(10.0 * 4 / e.fidelity + 0.5 * seed)


def test_stop_removes_future_reports_and_frees_worker_now():
    table = toy_table()
    backend = _backend(table)
    backend.start(Trial(0, {"i": 5}))  # 6 s per epoch
    backend.start(Trial(1, {"i": 0}))
    first = backend.next_events()[0]
    assert (first.trial_id, first.time) == (1, 1.0)
    backend.stop(0)
    assert backend.n_running == 1
    events = _drain(backend)
    assert all(e.trial_id == 1 for e in events)
    assert backend.time() == 4.0  # no virtual time passes for the stopped trial


def test_pause_then_resume_continues_from_checkpoint():
    table = toy_table()
    backend = _backend(table)
    trial = Trial(0, {"i": 1})  # 2 s per epoch
    backend.start(trial)
    backend.next_events()
    second = backend.next_events()[0]
    assert (second.fidelity, second.time) == (2, 4.0)
    backend.pause(0)
    backend.start(Trial(1, {"i": 4}))  # 5 s per epoch: occupies the clock until t=24
    backend.next_events()  # t = 9
    backend.resume(trial)
    events = [e for e in _drain(backend) if e.trial_id == 0]
    assert [e.fidelity for e in events] == [3, 4]  # continues, does not restart
    assert [e.time for e in events] == [11.0, 13.0]  # resumed at 9, 2 s per remaining epoch


def test_until_stops_the_clock_without_losing_events():
    table = toy_table()
    backend = _backend(table)
    backend.start(Trial(0, {"i": 4}))
    assert backend.next_events(until=3.0) == []
    assert backend.time() == 3.0
    assert backend.next_events(until=10.0)[0].time == 5.0


def test_seed_drawn_only_among_existing_seeds():
    table = toy_table(seeds_missing=True)
    assert table.seeds_of({"i": 0}) == [0]
    assert table.seeds_of({"i": 3}) == [0, 1]
    backend = _backend(table)
    losses = set()
    for trial_id in range(40):
        backend.start(Trial(trial_id, {"i": trial_id % 2}))  # configs without seed 1
        losses.add(backend.next_events()[0].metrics["loss"])
        backend.stop(trial_id)
    assert losses == {10.0, 20.0}  # seed 0 only: never NaN, never seed 1's +0.5
    seen = set()
    for trial_id in range(100, 140):
        backend.start(Trial(trial_id, {"i": 3}))
        seen.add(backend.next_events()[0].metrics["loss"])
        backend.stop(trial_id)
    assert seen == {40.0, 40.5}  # both seeds drawn where both exist


@pytest.mark.parametrize("n_workers", [1, 3, 8])
def test_never_more_than_n_workers(tmp_path, n_workers):
    tuner = simulate(
        BraninCurves(), "asha", seed=0, out=tmp_path, n_workers=n_workers, max_wallclock=3000
    )
    df = pd.read_csv(tmp_path / "results.csv")
    ends = df.groupby("trial_id")["time"].max()
    starts = pd.Series({t.trial_id: t.start_time for t in tuner.trials.values()})
    starts = starts[ends.index]
    # at every start instant, count trials whose interval [start, end) contains it
    for t in starts.to_numpy():
        running = ((starts <= t) & (ends > t)).sum()
        assert running <= n_workers
    assert len(tuner.trials) > n_workers


def test_results_in_time_order_and_stopped_trials_silent(tmp_path):
    simulate(BraninCurves(), "asha", seed=1, out=tmp_path, max_wallclock=5000)
    df = pd.read_csv(tmp_path / "results.csv")
    assert df["time"].is_monotonic_increasing
    stopped = df[df["decision"] == "stop"]
    assert len(stopped) > 10
    for _, row in stopped.iterrows():
        later = df[(df["trial_id"] == row["trial_id"]) & (df.index > row.name)]
        assert later.empty
    assert set(stopped["epoch"]) <= {1, 3, 9, 27}  # ASHA stops only at rung levels


def test_same_seed_same_file_other_seed_other_file(tmp_path):
    for name, seed in [("a", 4), ("b", 4), ("c", 5)]:
        simulate(BraninCurves(), "asha", seed=seed, out=tmp_path / name, max_wallclock=2000)
    a, b, c = ((tmp_path / n / "results.csv").read_bytes() for n in "abc")
    assert a == b
    assert a != c


def test_budget_by_trials_lets_running_trials_finish(tmp_path):
    tuner = simulate(toy_table(), "random", seed=0, out=tmp_path, n_workers=2, max_trials=4)
    df = pd.read_csv(tmp_path / "results.csv")
    assert len(tuner.trials) == 4
    assert (df.groupby("trial_id")["epoch"].max() == 4).all()  # each ran to the end
    assert (df.groupby("trial_id")["status"].last() == "completed").all()


def test_finite_space_exhausted_ends_run(tmp_path):
    tuner = simulate(toy_table(), "random", seed=0, out=tmp_path, max_wallclock=10**6)
    assert sorted(t.config["i"] for t in tuner.trials.values()) == list(range(6))
