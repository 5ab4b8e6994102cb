"""The control plane: CLI, config, supervision of training actors, stages and the report."""

__version__ = "0.1.0"
