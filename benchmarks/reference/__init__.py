"""Straightforward reference implementations (per-item loops, dense matrices) that the fast code
of the packages is tested against and timed against:

* :mod:`benchmarks.reference.cluster`: k-reciprocal Jaccard distance, eps selection, DBSCAN
* :mod:`benchmarks.reference.evaluation`: the per-query Market-1501 evaluation loop
* :mod:`benchmarks.reference.render`: the per-face z-buffer rasteriser

Each module is imported on its own (this package imports none of them).
"""
