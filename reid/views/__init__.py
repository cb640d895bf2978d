"""Views of a person for GCL: the door between the ReID trainer and the view sources.

* mesh views: the structure maps of the rotated body mesh (:mod:`reid.views.structure_maps`)
"""
