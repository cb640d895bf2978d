"""Views of a person for GCL: the one door between the ReID side and the view sources.

The rest of ``reid`` reaches the mesh package, the video generators and generated-view folders
only through this package.

* **Mesh views** (:mod:`reid.views.structure_maps`, :mod:`reid.views.mesh_data`,
  :mod:`reid.views.foreground`): grey structure maps of each image's body mesh, rotated about the
  vertical axis, read from the cache of ``MESH.DIR`` (default ``<dataset folder>/meshes``) at
  the original view 0 and the rotations ``MESH.ANGLES``. Needs the maps of every training image
  at every angle: ``tools/prepare_meshes.py`` renders them (an HMR checkpoint and the SMPL
  files), the synthetic dataset brings its own, or ``MESH.DIR`` points at released renders. They
  feed the generative stages (image, original map, one rotated map per sample) and, with
  ``CLUSTER.FOREGROUND_MASK``, the person-only images clustered from the original-view
  silhouettes.
* **Video-GAN views** (:mod:`reid.views.video`): one generated frame per crop from a frozen,
  image-conditioned video generator (ImaGINator), the ``L_vid`` term of the joint stage. Needs a
  generator config and its trained checkpoint (``GCL.VIDEO_VIEW.CONFIG`` / ``WEIGHTS``). This
  is the only module of ``reid`` that imports ``generators``.
* **Generated-view folders** (:mod:`reid.views.generated_folders`): such generated frames written
  once as an extra unlabelled training folder in the Market-1501 layout
  (``tools/generate_views.py``) and appended to the training list with
  ``DATASETS.EXTRA_TRAIN_DIRS`` (the reader is :mod:`reid.data.generated_folders`). Needs the
  folder (writing it needs what the video views need).

The embedded synthetic dataset (:mod:`reid.views.synthetic_dataset`) is made through here too:
its people are mesh bodies, rendered with their structure maps at the same viewpoints, and
with evaluation-only ground-truth novel views (``ground_truth_angles``,
``read_ground_truth_views``: the views x'_new should be; only the view-fidelity metrics read
them, never training).

The viewpoint names of the mesh package come through here too: :data:`ORIGINAL_VIEW` (0) and
:func:`novel_view_angles` (the rotations of a list of angles).
"""
from mesh.rotation import ORIGINAL_VIEW, novel_view_angles
from mesh.synthetic.ground_truth import (ground_truth_angles, ground_truth_path,
                                         read_ground_truth_views)

from .foreground import ForegroundMaskedDataset, build_foreground_loader, silhouette_from_map
from .generated_folders import generate_views_for_dataset, write_generated_views
from .mesh_data import ViewPairDataset, build_view_loader
from .structure_maps import (MissingStructureMapsError, check_structure_maps, dataset_splits,
                             prepare_structure_maps, structure_cache_for, view_angles_of)
from .video import VideoViewError, VideoViewGenerator, video_view_loss

__all__ = [
    "ForegroundMaskedDataset",
    "MissingStructureMapsError",
    "ORIGINAL_VIEW",
    "VideoViewError",
    "VideoViewGenerator",
    "ViewPairDataset",
    "build_foreground_loader",
    "build_view_loader",
    "check_structure_maps",
    "dataset_splits",
    "generate_views_for_dataset",
    "ground_truth_angles",
    "ground_truth_path",
    "novel_view_angles",
    "prepare_structure_maps",
    "read_ground_truth_views",
    "silhouette_from_map",
    "structure_cache_for",
    "video_view_loss",
    "view_angles_of",
    "write_generated_views",
]
