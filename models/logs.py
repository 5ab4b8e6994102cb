"""Logging of the ML libraries inside an actor: one call, made by the control plane's logging setup
once transformers is imported."""

from __future__ import annotations


def route_transformers_logging() -> None:
    """transformers has its own stderr handler; send its records through the root logger instead."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_default_handler()
    hf_logging.enable_propagation()
    hf_logging.set_verbosity_warning()
