"""Base classes declare their hooks abstract: a subclass that forgets one fails at construction."""
import inspect

import pytest

from generators.layers import SpatialSelfAttention, TemporalSelfAttention, _AxisSelfAttention
from generators.stylegan.training import AdversarialTrainer
from generators.train_loop import TrainingLoop
from mesh.body.base import BodyModel
from mesh.render.renderer import MeshRenderer, TorchRenderer
from reid.engine.stages.base import Stage
from reid.engine.stages.generative import GanWarmupStage, JointStage


@pytest.mark.parametrize("base, hooks", [
    (Stage, {"plan_epoch", "train_step"}),
    (BodyModel, {"forward"}),
    (MeshRenderer, {"rasterize"}),
    (TrainingLoop, {"final_generator_state", "network_weights", "render_fixed_samples"}),
    (AdversarialTrainer, {"fake_inputs", "discriminate"}),
    (_AxisSelfAttention, {"_to_sequences", "_from_sequences"}),
])
def test_hooks_are_abstract(base, hooks):
    assert inspect.isabstract(base)
    assert set(base.__abstractmethods__) == hooks


def test_concrete_subclasses_implement_every_hook():
    for cls in (GanWarmupStage, JointStage, TorchRenderer, SpatialSelfAttention, TemporalSelfAttention):
        assert not inspect.isabstract(cls), cls


def test_a_renderer_without_rasterize_cannot_be_built():
    class Incomplete(MeshRenderer):
        pass

    with pytest.raises(TypeError, match="rasterize"):
        Incomplete()
