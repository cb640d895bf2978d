"""Training engine: the staged GCL trainer and its parts."""
from .trainer import GCLTrainer

__all__ = ["GCLTrainer"]
