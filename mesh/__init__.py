"""Mesh subsystem: body models, mesh regression, rotation, rendering, structure maps and the
synthetic multi-camera person dataset.

It stands on :mod:`common` alone: every function takes explicit arguments (paths, folders,
sizes, angles, devices). Reading these from a ReID config is the ReID side's job, in its views
package (structure maps) and its data package (the synthetic dataset)."""
