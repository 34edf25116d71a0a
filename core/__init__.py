"""simtune's tuning core: spaces, trials, schedulers, backends and the Tuner."""
