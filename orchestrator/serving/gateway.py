"""The HTTP face of `serve`: one Ray Serve ingress deployment in front of the model deployments.

Routes: `POST /v1/summarize` (or `/v1/classify`, by the run's task) with `{"input": "..."}` or
`{"input": ["...", ...]}`; `GET /healthz`; `GET /v1/info`. Every error is JSON with a 4xx or 5xx
status and a message saying what to change. A request carries text only: nothing in it names a
file, a model or code, so none can read files or load code.

One model: a request's inputs go to the model deployment in one call, and Serve batches the calls
of concurrent requests (up to the optimize stage's batch size of them, predicted together). The
ensemble: the request's inputs go to every member at once (`propose`, then `score` for
stacking) and the chosen method combines them, as `predict` does: the replica's `Combiner`
(`models.ensemble.apply`, named by dotted path), which keeps the meta-learner loaded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from ray.exceptions import RayActorError
from starlette.requests import Request
from starlette.responses import JSONResponse

from contract.ensemble import Combines, PoolParts
from contract.work import resolve
from orchestrator.serving.plan import Limits, ServePlan

log = logging.getLogger(__name__)
COMBINER = "models.ensemble.apply:Combiner"  # numpy, scikit-learn and the meta-learner: in the replica only


class RequestProblem(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def parse_inputs(body: bytes, limits: Limits) -> tuple[list[str], bool]:
    """The request's inputs and whether it sent a list; RequestProblem (400 or 413) otherwise."""
    if len(body) > limits.max_body_bytes:
        raise RequestProblem(413, f"the body has {len(body)} bytes; the limit is {limits.max_body_bytes}")
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestProblem(400, f"the body is not JSON ({exc}); send {{\"input\": \"text\"}}") from None
    if not isinstance(payload, dict) or "input" not in payload:
        raise RequestProblem(400, "missing field 'input': send {\"input\": \"text\"} or {\"input\": [\"text\", ...]}")
    given = payload["input"]
    many = isinstance(given, list)
    texts = given if many else [given]
    if many and not texts:
        raise RequestProblem(400, "'input' is an empty list; send at least one text")
    if len(texts) > limits.max_inputs:
        raise RequestProblem(413, f"'input' has {len(texts)} texts; the limit is {limits.max_inputs} per request")
    for i, text in enumerate(texts):
        where = f"input[{i}]" if many else "input"
        if not isinstance(text, str):
            raise RequestProblem(400, f"{where} is {type(text).__name__}; it must be a string")
        if not text.strip():
            raise RequestProblem(400, f"{where} is empty")
        if len(text) > limits.max_input_chars:
            raise RequestProblem(413, f"{where} has {len(text)} characters; the limit is {limits.max_input_chars}")
    return texts, many


def problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


class Gateway:
    """The ingress replica: parses and limits requests, calls the models, answers in JSON."""

    def __init__(self, plan: ServePlan, limits: Limits, models: dict[str, Any]):
        self.plan, self.limits, self.models = plan, limits, models
        chosen = plan.ensemble
        self.combiner: Combines | None = (resolve(COMBINER)(chosen, plan.run_dir / "ensemble") if chosen is not None
                                          else None)

    async def __call__(self, request: Request) -> JSONResponse:
        path, method = request.url.path.rstrip("/") or "/", request.method
        routes = {"/healthz": "GET", "/v1/info": "GET", self.plan.route: "POST"}
        if path not in routes:
            return problem(404, f"no route {path}; use POST {self.plan.route}, GET /v1/info or GET /healthz")
        if method != routes[path]:
            return problem(405, f"{path} takes {routes[path]}, not {method}")
        if path == "/healthz":
            return JSONResponse({"status": "ok"})
        if path == "/v1/info":
            return JSONResponse(self.plan.info())
        started = time.perf_counter()
        try:
            texts, many = parse_inputs(await request.body(), self.limits)
            answer = await asyncio.wait_for(self._answer(texts), timeout=self.limits.timeout_s)
        except RequestProblem as exc:
            return problem(exc.status, str(exc))
        except TimeoutError:
            return problem(504, f"no answer within {self.limits.timeout_s:g} s; send fewer or shorter inputs, or retry")
        except RayActorError as exc:  # the replica died under this request; Serve starts another
            return problem(503, f"a model replica failed while answering ({type(exc).__name__}); retry")
        except Exception as exc:  # noqa: BLE001 - a model's own error: said, logged in its replica's log
            log.exception("answering failed")
            return problem(500, f"the model failed on this request: {type(exc).__name__}: {str(exc)[:300]}")
        outputs, extra = answer
        head = {"model": "ensemble" if self.plan.ensemble else self.plan.served[0].job.name,
                "variant": "fp32" if self.plan.ensemble else self.plan.served[0].variant,
                "method": self.plan.ensemble.method if self.plan.ensemble else "single",
                "latency_ms": round((time.perf_counter() - started) * 1000, 2), **extra}
        return JSONResponse({**head, "outputs": outputs} if many else {**head, "output": outputs[0]})

    async def _answer(self, texts: list[str]) -> tuple[list[Any], dict[str, Any]]:
        rows = [{"id": str(i), self.plan.input_column: text} for i, text in enumerate(texts)]
        if self.plan.ensemble is None:
            records = await self.models[self.plan.served[0].job.name].predict.remote(rows)
            return [self._output(r) for r in records], {"batch_size": records[0]["batch_size"]}
        return await self._ensemble(rows), {}

    def _output(self, record: dict[str, Any]) -> Any:
        if self.plan.task != "classification":
            return record["prediction"]
        labels = self.plan.served[0].job.labels
        return {"label": record["prediction"],
                "probabilities": dict(zip(labels, record.get("probabilities") or [], strict=False))}

    async def _ensemble(self, rows: list[dict[str, Any]]) -> list[Any]:
        chosen, plan, combiner = self.plan.ensemble, self.plan, self.combiner
        assert chosen is not None and combiner is not None
        names = chosen.members
        stacking = chosen.stacking and plan.task != "classification"
        candidates = plan.num_candidates if stacking else 0
        proposals = dict(zip(names, await asyncio.gather(
            *(self.models[m].propose.remote(rows, True, candidates, plan.num_beams) for m in names)), strict=True))
        if chosen.method == "best_single":
            return [self._output(p) for p in proposals[names[0]]["predictions"]]
        if plan.task == "classification":
            labels = combiner.classify({m: [p["probabilities"] for p in proposals[m]["predictions"]] for m in names})
            return [{"label": label} for label in labels]
        sources = [str(r[plan.input_column]) for r in rows]
        own = {m: [p["prediction"] for p in proposals[m]["predictions"]] for m in names}
        beams = {m: proposals[m]["candidates"] or [] for m in names} if stacking else None
        pool = PoolParts(list(names), sources, own, beams)
        if stacking:
            pairs = pool.pairs()
            scores = await asyncio.gather(*(self.models[m].score.remote(pairs) for m in names))
            pool = pool.scored(pairs, dict(zip(names, scores, strict=True)))
        return combiner.summarize(pool, plan.language)
