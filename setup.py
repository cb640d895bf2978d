"""Installs the packages reid, mesh and generators."""
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
    "faiss-cpu>=1.7.4",
    "numba>=0.59",
    "tqdm>=4.60",
    "tensorboard>=2.12",
    "onnx>=1.15",
    "onnxruntime>=1.16",
    "onnxscript>=0.1",
    "anny>=0.6",
    "smplx>=0.1.28",
    "opencv-python-headless>=4.8",
    "imageio>=2.30",
    "imageio-ffmpeg>=0.4",
]

setup(
    name="gcl-reid",
    version="0.1.0",
    description="Unsupervised person re-identification with GAN augmentation (GCL) and video GANs",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["reid", "reid.*", "mesh", "mesh.*",
                                    "generators", "generators.*"]),
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "test": ["pytest>=7.0", "pytest-timeout>=2.1"],
        # On CUDA machines: faiss-gpu replaces faiss-cpu; PyTorch3D must be built from source.
        "gpu": ["faiss-gpu>=1.7.4"],
    },
)
