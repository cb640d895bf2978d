"""ReflectConv2d keeps the unpadded input for its backward pass: the same values and gradients
as the plain padded convolution, bit for bit, with one padded activation less in the graph."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reid.engine.gcl_step import GCLStepConfig, GCLTrainStep
from reid.losses.gan import r1_gradient_penalty
from reid.memory import InstanceMemory
from reid.models.gcl import AppearanceDecoder, MultiScaleDiscriminator, StructureEncoder
from reid.models.gcl.reflect_conv import ReflectConv2d, keep_padded_inputs, reflect_conv2d
from tests.test_gcl_networks import TinyIdentityEncoder, tiny_module

FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
PRECISIONS = ("fp32", "bf16")


def _autocast(precision: str):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")


def _forward_backward(module: nn.Module, leaf: torch.Tensor, precision: str, lean: bool,
                      loss=lambda out: (out.float() ** 2).sum()):
    """Output, input gradient and parameter gradients of ``loss(module(leaf * 1.5))``: the
    module sees a non-leaf input, in bfloat16 under bf16 autocast (as the layers inside a
    network do, after the first convolution)."""
    module.zero_grad(set_to_none=True)
    x = leaf.detach().clone().requires_grad_(True)
    block = keep_padded_inputs() if not lean else torch.enable_grad()
    with block, _autocast(precision):
        h = x * 1.5
        out = module(h.bfloat16() if precision == "bf16" else h)
    grads = torch.autograd.grad(loss(out), [x] + list(module.parameters()), allow_unused=True)
    return out.detach(), grads


def _assert_identical(a, b):
    out_a, grads_a = a
    out_b, grads_b = b
    assert out_a.dtype == out_b.dtype and out_a.stride() == out_b.stride()
    assert torch.equal(out_a, out_b)
    assert len(grads_a) == len(grads_b)
    for i, (ga, gb) in enumerate(zip(grads_a, grads_b)):
        assert (ga is None) == (gb is None), i
        if ga is not None:
            assert torch.equal(ga, gb), f"gradient {i} differs by {(ga - gb).abs().max()}"


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kernel,stride,padding,dilation,groups",
                         [(3, 1, 1, 1, 1), (3, 2, 1, 1, 1), (5, 1, 2, 1, 1), (3, 1, 3, 3, 1),
                          (3, 1, 1, 1, 2)])
def test_reflect_conv_matches_the_plain_form_bit_for_bit(precision, fmt, kernel, stride, padding,
                                                         dilation, groups):
    torch.manual_seed(1)
    conv = ReflectConv2d(4, 6, kernel, stride, padding=padding, dilation=dilation, groups=groups)
    conv = conv.to(memory_format=FORMATS[fmt])
    leaf = torch.randn(3, 4, 11, 9).contiguous(memory_format=FORMATS[fmt])
    lean = _forward_backward(conv, leaf, precision, lean=True)
    _assert_identical(lean, _forward_backward(conv, leaf, precision, lean=False))
    if precision == "fp32" and fmt == "contiguous":  # and the stock layer
        stock = nn.Conv2d(4, 6, kernel, stride, padding=padding, dilation=dilation, groups=groups,
                          padding_mode="reflect")
        stock.load_state_dict(conv.state_dict())
        _assert_identical(lean, _forward_backward(stock, leaf, precision, lean=True))


def _networks():
    torch.manual_seed(2)
    return {
        "E_str": (StructureEncoder(out_channels=16, num_res_blocks=2, dilations=(1, 2, 3)),
                  lambda: torch.rand(2, 1, 32, 16) * 2 - 1),
        "G": (AppearanceDecoder(in_channels=16, code_dim=8, num_parts=4, mlp_dim=8,
                                num_res_blocks=4), None),
        "D": (MultiScaleDiscriminator(base_channels=4, num_scales=3, num_res_blocks=2),
              lambda: torch.rand(2, 3, 64, 32) * 2 - 1),
    }


class _Decode(nn.Module):
    """G with a fixed appearance code (one tensor in, one out)."""

    def __init__(self, g: AppearanceDecoder):
        super().__init__()
        self.g = g
        self.code = torch.randn(2, 8, 4)

    def forward(self, x):
        return self.g(x, self.code)


class _Scores(nn.Module):
    """D's score maps of all scales flattened into one tensor."""

    def __init__(self, d: MultiScaleDiscriminator):
        super().__init__()
        self.d = d

    def forward(self, x):
        return torch.cat([s.flatten() for s in self.d(x)])


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["E_str", "G", "D"])
def test_gcl_networks_match_the_plain_form_bit_for_bit(name, fmt, precision):
    net, make_input = _networks()[name]
    if name == "G":
        net, make_input = _Decode(net), (lambda: torch.randn(2, 16, 8, 4))
    elif name == "D":
        net = _Scores(net)
    net = net.to(memory_format=FORMATS[fmt])
    leaf = make_input().contiguous(memory_format=FORMATS[fmt])
    lean = _forward_backward(net, leaf, precision, lean=True)
    _assert_identical(lean, _forward_backward(net, leaf, precision, lean=False))


def _r1_gradients(d: MultiScaleDiscriminator, real: torch.Tensor, precision: str, lean: bool):
    d.zero_grad(set_to_none=True)
    real = real.detach().clone().requires_grad_(True)
    block = keep_padded_inputs() if not lean else torch.enable_grad()
    with block:
        with _autocast(precision):
            outs = [o.float() for o in d(real)]
        gp = r1_gradient_penalty(outs, real)  # create_graph: D is differentiated twice
        total = sum((o - 1).pow(2).mean() for o in outs) + 0.03 * gp
        total.backward()
    return gp.detach(), [p.grad.clone() for p in d.parameters()]


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_r1_penalty_double_backward_matches_the_plain_form(fmt, precision):
    torch.manual_seed(3)
    d = MultiScaleDiscriminator(base_channels=4, num_scales=3, num_res_blocks=2)
    d = d.to(memory_format=FORMATS[fmt])
    real = (torch.rand(2, 3, 64, 32) * 2 - 1).contiguous(memory_format=FORMATS[fmt])
    gp_lean, grads_lean = _r1_gradients(d, real, precision, lean=True)
    gp_plain, grads_plain = _r1_gradients(d, real, precision, lean=False)
    assert gp_lean > 0 and torch.equal(gp_lean, gp_plain)
    for i, (a, b) in enumerate(zip(grads_lean, grads_plain)):
        assert torch.equal(a, b), f"D parameter {i} differs by {(a - b).abs().max()}"


def _joint_step_result(lean: bool, fmt: str, precision: str):
    torch.manual_seed(0)
    enc, module = TinyIdentityEncoder(), tiny_module()
    enc.to(memory_format=FORMATS[fmt])
    module.to(memory_format=FORMATS[fmt])
    memory = InstanceMemory(12, dim=16)
    memory.initialize(torch.randn(12, 16))
    memory.set_labels(torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, -1, -1, 3]))
    id_opt = torch.optim.SGD(enc.parameters(), lr=0.1)
    gen_opt = torch.optim.Adam(module.generator_parameters(), lr=1e-4, betas=(0.0, 0.999))
    dis_opt = torch.optim.Adam(module.discriminator_parameters(), lr=1e-4, betas=(0.0, 0.999))
    step = GCLTrainStep(enc, module, id_opt, gen_opt, dis_opt, memory,
                        GCLStepConfig(num_negatives=5, precision=precision), train_encoder=True)
    g = torch.Generator().manual_seed(4)
    batch = [(torch.rand(4, c, 64, 32, generator=g) * 2 - 1).contiguous(
        memory_format=FORMATS[fmt]) for c in (3, 1, 1)]
    block = keep_padded_inputs() if not lean else torch.enable_grad()
    with block:
        terms = [step(*batch, torch.tensor([0, 3, 6, 9])) for _ in range(2)]
    state = [t.detach().clone() for t in list(enc.parameters()) + list(module.parameters())]
    return terms, state, memory.features.clone()


@pytest.mark.parametrize("fmt,precision", [("contiguous", "fp32"), ("channels_last", "bf16")])
def test_joint_step_is_unchanged_bit_for_bit(fmt, precision):
    """Two joint iterations (G/E_id step, D step with R1) end with the same weights, memory and
    logged terms as with the plain padded convolutions."""
    terms_lean, state_lean, memory_lean = _joint_step_result(True, fmt, precision)
    terms_plain, state_plain, memory_plain = _joint_step_result(False, fmt, precision)
    assert terms_lean == terms_plain
    assert torch.equal(memory_lean, memory_plain)
    for i, (a, b) in enumerate(zip(state_lean, state_plain)):
        assert torch.equal(a, b), f"parameter {i} differs by {(a - b).abs().max()}"


@pytest.mark.parametrize("fmt", FORMATS)
def test_gradcheck_and_gradgradcheck_in_float64(fmt):
    torch.manual_seed(5)
    weight = torch.randn(3, 2, 3, 3, dtype=torch.double, requires_grad=True)
    bias = torch.randn(3, dtype=torch.double, requires_grad=True)
    x = torch.randn(2, 2, 5, 4, dtype=torch.double, requires_grad=True)

    def conv(t, w, b):
        t = (t * 1.0).contiguous(memory_format=FORMATS[fmt])
        return reflect_conv2d(t, (1, 2, 2, 1), w, b, stride=1, dilation=1)

    assert torch.autograd.gradcheck(conv, (x, weight, bias))
    assert torch.autograd.gradgradcheck(conv, (x, weight, bias))


class _SavedShapes:
    """Outer saved-tensor hooks that record the shape of every tensor a graph keeps."""

    def __init__(self):
        self.shapes = []

    def hooks(self):
        def pack(t):
            self.shapes.append(tuple(t.shape))
            return t.detach()

        return torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_graph_keeps_the_input_not_its_padded_copy(fmt, precision):
    torch.manual_seed(6)
    conv = ReflectConv2d(4, 4, 3, 1, padding=2).to(memory_format=FORMATS[fmt])
    leaf = torch.randn(2, 4, 8, 6, requires_grad=True)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    padded_shape, input_shape = (2, 4, 12, 10), (2, 4, 8, 6)
    saved = {}
    for lean in (True, False):
        record = _SavedShapes()
        block = keep_padded_inputs() if not lean else torch.enable_grad()
        with block, _autocast(precision), record.hooks():  # the layer hands what it keeps to these
            out = conv((leaf * 1.0).to(dtype).contiguous(memory_format=FORMATS[fmt]))
        out.sum().backward()
        saved[lean] = record.shapes
    assert padded_shape in saved[False]
    assert padded_shape not in saved[True]
    assert input_shape in saved[True]
    assert tuple(conv.weight.shape) in saved[True]


def test_input_changed_in_place_after_the_forward_pass_is_an_error():
    conv = ReflectConv2d(2, 2, 3, 1, padding=1)
    x = torch.randn(1, 2, 5, 5, requires_grad=True).clone()
    y = reflect_conv2d(x, (1, 1, 1, 1), conv.weight, conv.bias)
    with torch.no_grad():
        x.mul_(2)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.sum().backward()


def test_activation_checkpointing_around_the_layer_gives_the_same_gradients():
    from torch.utils.checkpoint import checkpoint

    torch.manual_seed(7)
    net = nn.Sequential(ReflectConv2d(3, 4, 3, 1, padding=1), nn.LeakyReLU(0.2),
                        ReflectConv2d(4, 2, 3, 1, padding=1))
    leaf = torch.randn(2, 3, 8, 6)

    def wrapped(x):
        return checkpoint(net, x, use_reentrant=False)

    class _Checkpointed(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return wrapped(x)

    checkpointed = _forward_backward(_Checkpointed(), leaf, "fp32", lean=True)
    _assert_identical(checkpointed, _forward_backward(net, leaf, "fp32", lean=False))


def test_without_a_graph_the_layer_is_the_plain_convolution():
    torch.manual_seed(8)
    conv = ReflectConv2d(3, 4, 3, 1, padding=1)
    x = torch.randn(2, 3, 7, 5)
    want = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), conv.weight, conv.bias)
    with torch.no_grad():
        assert torch.equal(conv(x), want)
    with torch.inference_mode():
        assert torch.equal(conv(x), want)
