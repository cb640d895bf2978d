"""Mesh subsystem: body models, mesh regression, rotation, rendering, structure maps and the
synthetic multi-camera person dataset."""
