"""Sweeps of experiments/run.py (``-m``): what runs, where, and how far they are.

Modules: sweeper (Hydra's basic sweeper that leaves complete runs out), compose (the
configs of many sweep jobs, fast), progress (run directory names, failed.txt,
progress.json and the ``SweepProgress`` callback), orphans (a sweep's workers die with
it), overrides (the command line checked against conf/ before Hydra composes it),
hydra_private (the only names taken from Hydra's private API).
"""
