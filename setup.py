"""Installs the packages common, reid, mesh and generators.

The core (``pip install -e .``) is what ReID training and evaluation on a real dataset need.
Heavier parts are extras, each named in the error raised when one is missing:

=============  ==========================================  ===================================
extra          packages                                    needed for
=============  ==========================================  ===================================
synthetic      anny (brings warp-lang)                     the synthetic dataset, Anny bodies
export         onnx, onnxruntime, onnxscript               ONNX export and its check
video          av, opencv-python-headless, imageio         mp4 / GIF clips, optical flow (GANs)
smpl           smplx                                       SMPL bodies from licensed files
faiss          faiss-cpu                                   the faiss kNN backend on the CPU
gpu            faiss-gpu (instead of faiss-cpu)            the faiss kNN backend on CUDA
test           pytest, pytest-timeout                      the test suite
all            every CPU extra above                       ``make setup``
peers          cython, setuptools (and fastreid, below)    ``tools/bench_eval.py --peers``
=============  ==========================================  ===================================

The ``peers`` extra times fast-reid's evaluation next to ours. fastreid 1.4.0 pins
``torch==1.13.1``, so it is not listed (pip would replace this torch); install it without its
dependencies: ``pip install -e '.[peers]' && pip install --no-deps fastreid==1.4.0``. Only its
evaluation files are used (they need numpy, and Cython to compile ``rank_cy.pyx``).
"""
from setuptools import find_packages, setup

INSTALL_REQUIRES = [
    "torch>=2.1",
    "torchvision>=0.16",
    "numpy>=1.24",
    "scipy>=1.10",
    "pillow>=9.0",
    "pyyaml>=6.0",
    "yacs>=0.1.8",
    "timm>=0.9",
    "scikit-learn>=1.3",
    "numba>=0.59",
    "tqdm>=4.60",
    "tensorboard>=2.12",
    "matplotlib>=3.7",
]

EXTRAS = {
    "synthetic": ["anny>=0.6"],
    "export": ["onnx>=1.15", "onnxruntime>=1.16", "onnxscript>=0.1"],
    "video": ["av>=12.0", "opencv-python-headless>=4.8", "imageio>=2.30"],
    "smpl": ["smplx>=0.1.28"],
    "faiss": ["faiss-cpu>=1.7.4"],
    # faiss-gpu provides the same `faiss` module: install it instead of the `faiss` extra.
    # PyTorch3D (the optional rasteriser backend) is built from source on CUDA machines.
    "gpu": ["faiss-gpu>=1.7.4"],
    "test": ["pytest>=7.0", "pytest-timeout>=2.1"],
    # With `pip install --no-deps fastreid==1.4.0` (its torch pin must not be installed).
    "peers": ["cython>=3.0", "setuptools>=61"],
}
EXTRAS["all"] = sorted({req for name in ("synthetic", "export", "video", "smpl", "faiss", "test")
                        for req in EXTRAS[name]})

setup(
    name="gcl-reid",
    version="0.1.0",
    description="Unsupervised person re-identification with GAN augmentation (GCL) and video GANs",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["common", "common.*", "reid", "reid.*", "mesh", "mesh.*",
                                    "generators", "generators.*"]),
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
)
