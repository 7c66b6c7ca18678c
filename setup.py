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
    # the template of an exported aligned space's hyperparams.yaml
    package_data={"speechbrain_align.inference": ["aligned_space.yaml"]},
    python_requires=">=3.10",
    # Ranges for installing the plugin into your own environment. run.sh installs
    # the exact, tested set in requirements.lock instead (tests/test_lock.py keeps
    # the two consistent).
    install_requires=[
        # torchaudio loads only against the torch build it was compiled for, and
        # `import speechbrain` imports torchaudio: torchaudio 2.11.1 (which declares
        # torch>=2.11) fails to load against torch 2.11.0, so both are pinned.
        "torch==2.11.0",
        "torchaudio==2.11.0",
        "speechbrain==1.1.2",
        "hyperpyyaml>=1.2,<2",
        "numpy>=1.24,<3",
        "scipy>=1.10,<2",
        "faiss-cpu>=1.7.4,<2",
        "sentencepiece>=0.1.99",
        "soundfile>=0.12,<1",
        "espeakng-loader>=0.2,<0.3",
        "gensim>=4.3,<5",
        "matplotlib>=3.7,<4",
        "tqdm>=4.60,<5",
    ],
    extras_require={"dev": ["pytest>=7,<10", "pytest-timeout>=2,<3"]},
    entry_points={
        "console_scripts": [
            "sb-align-build-corpus=speechbrain_align.dataio.synthetic.cli:main",
        ]
    },
)
