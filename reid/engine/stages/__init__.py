"""The stages of the GCL trainer, in the order they may run.

Each stage declares what the trainer does around it (:class:`~reid.engine.stages.base.Stage`:
``needs_generative``, ``evaluates_baseline_before``, ``saves_after``, ``final_tag``) and reads
its own ``SOLVER.<section>``; the batches of every stage go through one loop
(:mod:`reid.engine.loop`).
"""
from reid.engine.loop import TrainingDivergedError

from .base import EpochPlan, Stage
from .baseline import ClusterContrastStage
from .generative import GanWarmupStage, JointStage
from .source import SourceWarmupStage

STAGE_TYPES = {stage.name: stage for stage in (SourceWarmupStage, ClusterContrastStage,
                                                GanWarmupStage, JointStage)}
STAGE_ORDER = tuple(STAGE_TYPES)

__all__ = ["ClusterContrastStage", "EpochPlan", "GanWarmupStage", "JointStage", "STAGE_ORDER",
           "STAGE_TYPES", "SourceWarmupStage", "Stage", "TrainingDivergedError"]
