"""Installs the speechbrain_align plugin (see README.md)."""
from setuptools import find_packages, setup

setup(
    name="speechbrain_align",
    version="0.1.0",
    description=(
        "Unsupervised cross-modal alignment of speech and text embedding "
        "spaces, as a SpeechBrain plugin"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["speechbrain_align", "speechbrain_align.*"]),
    python_requires=">=3.10",
    install_requires=[
        # torchaudio's wheels load only against the torch release of the same
        # minor version, and `import speechbrain` imports torchaudio.
        "torch==2.11.*",
        "torchaudio==2.11.*",
        "speechbrain==1.1.2",
        "hyperpyyaml",
        "numpy",
        "scipy",
        "faiss-cpu",
        "sentencepiece",
        "soundfile",
        "espeakng-loader",
        "gensim",
        "matplotlib",
        "tqdm",
    ],
    extras_require={"dev": ["pytest", "pytest-timeout"]},
    entry_points={
        "console_scripts": [
            "sb-align-build-corpus=speechbrain_align.dataio.synthetic:main",
        ]
    },
)
