"""cnsn: the Python side of cnsn-pipeline.

`cnsn.torch` holds the paper's SelfNorm as a module that can take the statistics the pipeline
returns with each batch (`returnStats`), so that its weights learn in the trainer. The client that
drives the pipeline from Python (`cnsn.connect`, PYTHON.md) is not built yet.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
