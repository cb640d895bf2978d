"""The stages of the GCL trainer, in the order they may run."""
from .base import Stage, TrainingDivergedError
from .baseline import ClusterContrastStage
from .generative import GanWarmupStage, JointStage
from .source import SourceWarmupStage

STAGE_TYPES = {
    "source": SourceWarmupStage,
    "baseline": ClusterContrastStage,
    "gan_warmup": GanWarmupStage,
    "joint": JointStage,
}
STAGE_ORDER = tuple(STAGE_TYPES)
GENERATIVE_STAGES = ("gan_warmup", "joint")

__all__ = ["ClusterContrastStage", "GENERATIVE_STAGES", "GanWarmupStage", "JointStage",
           "STAGE_ORDER", "STAGE_TYPES", "SourceWarmupStage", "Stage", "TrainingDivergedError"]
