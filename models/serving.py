"""A trained member served by Ray Serve: one replica holds one variant of one checkpoint.

`ServedModel` is the deployment behind `python -m orchestrator serve` (see
`orchestrator.serving`): the fp32 checkpoint loaded as the ensemble stage loads it
(`models.ensemble.members.MemberModel`), or an INT8 artefact of the optimize stage loaded as
that stage measured it. `predict` is batched by Serve across concurrent requests, at the batch
size and wait the driver chose; `propose` and `score` are the ensemble's two steps, exactly as
`models.ensemble.members` runs them for `predict`.

The driver names this class by dotted path and imports it without torch: the model libraries
load in the replica only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

from ray import serve

from contract.serving import ServedVariant

Row = dict[str, Any]


class ServedModel:
    """One replica: the variant loaded once, predicting batches Serve gathers. Serve calls the
    methods from several threads at once; the model (and its tokenizer, which is not
    thread-safe) serves one call at a time, off the replica's event loop."""

    def __init__(self, served: ServedVariant):
        import torch

        from models.ensemble.members import MemberModel
        from models.optimize.quantize import load_quantized
        from models.registry import load_family

        job = served.job
        if served.max_batch_size != job.settings.eval_batch_size:  # the family batches as Serve does
            job = dataclasses.replace(job, settings=job.settings.model_copy(
                update={"eval_batch_size": served.max_batch_size}))
        torch.set_num_threads(max(1, int(job.settings.resources.cpus)))
        self.busy = threading.Lock()
        self.member = MemberModel(job) if served.variant == "fp32" else None
        if self.member is None:
            self.family = load_family(job.family)(job)
            self.model, self.tokenizer = load_quantized(Path(served.path), job)
        self.predict.set_max_batch_size(served.max_batch_size)  # type: ignore[attr-defined]
        self.predict.set_batch_wait_timeout_s(served.batch_wait_s)  # type: ignore[attr-defined]

    def _predict_rows(self, rows: list[Row]) -> list[Row]:
        with self.busy:
            if self.member is not None:
                return self.member.predict(rows)
            return self.family.predict(self.model, self.tokenizer, rows)  # type: ignore[no-any-return]

    @serve.batch(max_batch_size=1, batch_wait_timeout_s=0.0)  # both set per deployment in __init__
    async def predict(self, requests: list[list[Row]]) -> list[list[dict[str, Any]]]:
        """Each request's rows predicted together with the other requests Serve gathered: one
        record per row ({"prediction": ..., and for classifiers "probabilities"}), with how many
        rows that model call predicted. The family splits them into batches of `max_batch_size`."""
        rows = [row for request in requests for row in request]
        started = time.perf_counter()
        records = await asyncio.to_thread(self._predict_rows, rows)
        ms = round((time.perf_counter() - started) * 1000, 2)
        records = [{**record, "batch_size": len(rows), "model_ms": ms} for record in records]
        answers, start = [], 0
        for request in requests:
            answers.append(records[start:start + len(request)])
            start += len(request)
        return answers

    def propose(self, rows: list[Row], own: bool, candidates: int, beams: int) -> dict[str, Any]:
        """The ensemble's first step for these inputs: own predictions and top beams."""
        assert self.member is not None, "the ensemble serves fp32 members"
        with self.busy:
            predictions = self.member.predict(rows) if own else None
            proposed = self.member.propose(rows, candidates, beams) if candidates else None
        return {"predictions": predictions, "candidates": proposed}

    def score(self, pairs: list[tuple[str, str]]) -> list[float]:
        """The ensemble's second step: this member's log-likelihood of each pooled summary."""
        assert self.member is not None, "the ensemble serves fp32 members"
        with self.busy:
            return self.member.score(pairs)
