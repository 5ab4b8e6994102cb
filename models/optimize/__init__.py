"""The optimize stage: INT8 variants of a trained checkpoint, scored and benchmarked per batch size."""
