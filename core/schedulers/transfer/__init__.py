"""Transfer learning from other tasks: source data (data.py) and three methods that use it,
one per module: ZeroShot (zero_shot.py), BoundingBox (bounding_box.py), QuantileBased
(quantile_based.py). The schedulers get the source data as plain data (a TransferData);
experiments/sources.py reads it from a benchmark's other tasks, and from Python the user
names earlier runs (`sources=[run directories]`)."""
