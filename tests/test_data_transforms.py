"""Transforms: [-1, 1] range, shapes, determinism, paired geometry, random erasing."""
import numpy as np
import pytest
import torch
from PIL import Image

from reid.data import (PairedTrainTransform, RandomErasing, build_test_transform,
                       build_train_transform)


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (40, 20, 3), dtype=np.uint8))


def test_test_transform_range_and_values(image):
    out = build_test_transform((32, 16))(image)
    assert out.shape == (3, 32, 16) and out.dtype == torch.float32
    assert out.min() >= -1 and out.max() <= 1
    white = build_test_transform((8, 4))(Image.new("RGB", (4, 8), (255, 255, 255)))
    black = build_test_transform((8, 4))(Image.new("RGB", (4, 8), (0, 0, 0)))
    assert torch.allclose(white, torch.ones_like(white))
    assert torch.allclose(black, -torch.ones_like(black))


@pytest.mark.parametrize("color_jitter", [False, True])
def test_train_transform_range_shape(image, color_jitter):
    transform = build_train_transform((32, 16), padding=4, re_prob=1.0, color_jitter=color_jitter)
    for seed in range(10):
        torch.manual_seed(seed)
        out = transform(image)
        assert out.shape == (3, 32, 16)
        assert out.min() >= -1 and out.max() <= 1


def test_train_transform_deterministic_given_seed(image):
    transform = build_train_transform((32, 16), padding=4, re_prob=0.5)
    torch.manual_seed(3)
    a = [transform(image) for _ in range(4)]
    torch.manual_seed(3)
    b = [transform(image) for _ in range(4)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(a[0], x) for x in a[1:])  # it is random across calls


def test_train_transform_without_augmentation_equals_test(image):
    train = build_train_transform((32, 16), flip_prob=0, padding=0, re_prob=0)
    assert torch.equal(train(image), build_test_transform((32, 16))(image))


def test_flip_always(image):
    train = build_train_transform((32, 16), flip_prob=1.0, padding=0, re_prob=0)
    assert torch.equal(train(image), build_test_transform((32, 16))(image).flip(-1))


def test_random_erasing_fill_modes():
    img = torch.full((3, 32, 16), 0.5)
    torch.manual_seed(0)
    zero = RandomErasing(1.0, fill="zero")(img)
    changed = zero != img
    assert changed.any() and (zero[changed] == 0).all()
    rand = RandomErasing(1.0, fill="random")(img)
    assert (rand != img).any() and rand.min() >= -1 and rand.max() <= 1
    assert torch.equal(RandomErasing(0.0)(img), img)
    assert torch.equal(img, torch.full((3, 32, 16), 0.5))  # input untouched
    with pytest.raises(ValueError, match="fill"):
        RandomErasing(0.5, fill="mean")


def test_bad_size_rejected():
    with pytest.raises(ValueError, match="height, width"):
        build_test_transform((0, 16))


def test_paired_transform_same_geometry():
    # The structure map is the grey version of the image: same geometry keeps them equal.
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (32, 16), dtype=np.uint8)
    rgb = Image.fromarray(np.repeat(grey[..., None], 3, axis=2))
    smap = Image.fromarray(grey, mode="L")
    transform = PairedTrainTransform((32, 16), flip_prob=0.5, padding=4, map_fill=0)
    flips = set()
    for seed in range(12):
        torch.manual_seed(seed)
        img_t, map_t = transform(rgb, smap)
        assert img_t.shape == (3, 32, 16) and map_t.shape == (1, 32, 16)
        assert img_t.min() >= -1 and map_t.max() <= 1
        assert torch.allclose(img_t[0:1], map_t, atol=1e-6)
        torch.manual_seed(seed)
        flips.add(torch.rand(()).item() < 0.5)
    assert flips == {True, False}


def test_paired_transform_pads_map_with_white_and_erases_image_only():
    rgb = Image.new("RGB", (16, 32), (0, 0, 0))
    smap = Image.new("L", (16, 32), 0)
    transform = PairedTrainTransform((32, 16), flip_prob=0, padding=6, re_prob=1.0)
    saw_pad = False
    for seed in range(8):
        torch.manual_seed(seed)
        img_t, map_t = transform(rgb, np.zeros((32, 16), dtype=np.uint8))
        saw_pad |= bool((map_t == 1).any())
        assert set(map_t.unique().tolist()) <= {-1.0, 1.0}
        assert (img_t != -1).any()  # erased with random values
    assert saw_pad


def test_paired_transform_moves_several_maps_with_one_geometry():
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (40, 20, 3), dtype=np.uint8))
    maps = [Image.fromarray(rng.integers(0, 255, (40, 20), dtype=np.uint8)) for _ in range(2)]
    paired = PairedTrainTransform((32, 16), flip_prob=0.5, padding=3)
    for seed in range(4):
        torch.manual_seed(seed)
        img_t, (first, second) = paired.apply(image, maps)
        torch.manual_seed(seed)
        img_one, first_one = paired(image, maps[0])
        torch.manual_seed(seed)
        _, second_one = paired(image, maps[1])
        assert torch.equal(img_t, img_one)
        assert torch.equal(first, first_one) and torch.equal(second, second_one)
