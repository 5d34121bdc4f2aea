"""keras-seq: sequence models (RNNs, attention, transformers) for Keras 3."""
import pathlib

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
REQUIREMENTS = [
    line.strip()
    for line in (HERE / "requirements.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]

setup(
    name="keras-seq",
    version="0.1.0",
    description="Neural networks on sequences for Keras 3: RNNs, attention, transformers.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_seq", "keras_seq.*"])
    + ["keras_seq.applications"],
    package_dir={"keras_seq.applications": "applications"},
    install_requires=REQUIREMENTS,
    extras_require={
        "test": ["pytest>=8", "pytest-xdist>=3", "jax[cpu]>=0.4.30",
                 # the documentation site (tests/test_docs_site.py builds it)
                 "mkdocs>=1.6", "mkdocs-material>=9.5", "mkdocstrings[python]>=1.0",
                 # property tests of the layers; the linter the code passes (tests/test_lint.py)
                 "hypothesis>=6", "ruff>=0.14"],
    },
    entry_points={"console_scripts": ["keras-seq=keras_seq.cli:main"]},
)
