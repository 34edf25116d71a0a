"""The tuning core, installed as `simtune.core`: spaces, trials, schedulers, backends, Tuner.

Its public names are importable from the top-level package: `from simtune import Tuner`.
"""
