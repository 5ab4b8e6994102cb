"""RESULTS.md from the results that `run_all.py` writes to results.json.

Pure functions of plain data (no Ray, torch or orchestrator import), so a hand-built dict renders
in milliseconds in the tests. Timings are summarised as median [min-max] with the number of
samples; every ratio is of two medians measured in the same invocation. Each benchmark also gets
a `figures` dict (its headline numbers) in results.json, computed by the same functions.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable
from typing import Any

from benchmarks.common import describe, fmt_spread, median_ratio
from orchestrator.outcome import stopped_early_text

REGENERATE = "python benchmarks/run_all.py"
DIALOGSUM_SETTINGS = ("epochs", "early_stopping", "train_size", "validation_size", "test_size")


def _f(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in rows)]


# ---------------------------------------------------------------------------------------- 1. concurrency


def concurrency_figures(result: dict[str, Any]) -> dict[str, Any]:
    seq, orch, stage = result["sequential_s"], result["orchestrated_s"], result["training_stage_s"]
    ideal = min(len(result["candidates"]), result["usable_cpus"])
    tuned = result.get("tune_s", [])
    end_to_end, training = median_ratio(seq, orch), median_ratio(seq, stage)
    return {
        "sequential_s": describe(seq), "orchestrated_s": describe(orch), "training_stage_s": describe(stage),
        "tune_s": describe(tuned), "speedup_tune": median_ratio(seq, tuned),
        "orchestrated_vs_tune": median_ratio(tuned, orch),
        "speedup_end_to_end": end_to_end, "speedup_training_stage": training, "ideal_speedup": ideal,
        "efficiency_end_to_end": end_to_end / ideal if end_to_end else None,
        "efficiency_training_stage": training / ideal if training else None,
    }


def concurrency_section(result: dict[str, Any]) -> list[str]:
    fig = concurrency_figures(result)
    n = len(result["candidates"])
    lines = [
        f"Method: {n} candidates ({', '.join(result['candidates'])}) from `{_short(result['config'])}` with "
        f"`{' '.join(result['overrides'])}`, trained one after another in one process "
        f"({result['sequential_threads']} torch thread), concurrently by `orchestrator run` (one actor each) and "
        "by Ray Tune as a user would write it (one trial per candidate through `tune.grid_search`, one CPU each, "
        f"each trial calling the same `train_candidate`; `ray.init` to `ray.shutdown`), {result['repeats']} "
        "repeat(s) rotating which side goes first; no warm-up (every orchestrated run is a "
        "cold start; the sequential side's imports are warm after its first repeat, which favours it). "
        "Statistic: median [min-max] of the repeats; speed-ups are ratios of medians.",
        "",
    ]
    rows = [
        [f"sequential, one process, {result['sequential_threads']} thread", fmt_spread(result["sequential_s"], 1),
         str(len(result["sequential_s"])), "1.00x", "-"],
        ["orchestrated, end to end (Ray start to summary)", fmt_spread(result["orchestrated_s"], 1),
         str(len(result["orchestrated_s"])), _f(fig["speedup_end_to_end"], suffix="x"),
         _f(_pct(fig["efficiency_end_to_end"]), 0, " %")],
        ["orchestrated, training stage only", fmt_spread(result["training_stage_s"], 1),
         str(len(result["training_stage_s"])), _f(fig["speedup_training_stage"], suffix="x"),
         _f(_pct(fig["efficiency_training_stage"]), 0, " %")],
        *([["Ray Tune, one trial per candidate, end to end", fmt_spread(result["tune_s"], 1),
            str(len(result["tune_s"])), _f(fig["speedup_tune"], suffix="x"),
            _f(_pct(fig["speedup_tune"] / fig["ideal_speedup"] if fig["speedup_tune"] else None), 0, " %")]]
          if result.get("tune_s") else []),
        [f"ideal: min({n} candidates, {result['usable_cpus']} usable cores)", "-", "-",
         f"{fig['ideal_speedup']:.2f}x", "100 %"],
    ]
    lines += _table(["side", "seconds", "n", "speed-up", "efficiency (of ideal)"], rows)
    if fig["orchestrated_vs_tune"] is not None:
        lines += ["", f"The orchestrated run against Ray Tune's trials, end to end: "
                      f"{_f(fig['orchestrated_vs_tune'], suffix='x')} (Tune's median over the orchestrator's)."]
    return lines


# ---------------------------------------------------------------------------------------- default run


def default_run_figures(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for side, runs in result["runs"].items():
        if not runs:
            continue
        stages = sorted({s for r in runs for s, v in r["stages"].items() if v is not None})
        out[side] = {"end_to_end_s": describe([r["end_to_end_s"] for r in runs]),
                     "stages_s": {s: describe([r["stages"][s] for r in runs if r["stages"].get(s) is not None])
                                  for s in stages},
                     "workers_started": runs[-1].get("workers_started") or {}}
    if "current" in out and "baseline" in out:
        out["speedup"] = median_ratio([r["end_to_end_s"] for r in result["runs"]["baseline"]],
                                      [r["end_to_end_s"] for r in result["runs"]["current"]])
    return out


def default_run_section(result: dict[str, Any]) -> list[str]:
    fig = default_run_figures(result)
    baseline = f"revision `{result['baseline']}`" if result.get("baseline") else "no baseline"
    compared = (f", from this tree and from {baseline} (a git worktree, the same virtual environment), "
                f"{result['repeats']} repeat(s) alternating which goes first. Each tree runs the config it ships, so "
                "what changed in `configs/full.yaml` between them (split sizes, ensemble settings) is part of the "
                "comparison" if result.get("baseline") else f", {result['repeats']} time(s)")
    lines = [
        "Method: `python -m orchestrator run configs/full.yaml` as shipped (every stage, the dashboard on)"
        + (f" with `{' '.join(result['overrides'])}`" if result["overrides"] else "")
        + ", as a fresh process each time" + compared
        + ". Seconds: median [min-max] of the repeats; stages from each run's summary.json.",
        "",
    ]
    if result.get("baseline_skipped"):
        lines += [f"The baseline was skipped: {result['baseline_skipped']}.", ""]
    stages = sorted({s for side in ("baseline", "current") if side in fig for s in fig[side]["stages_s"]},
                    key=lambda s: ("train", "ensemble", "optimize").index(s) if s in ("train", "ensemble", "optimize")
                    else 9)
    rows = []
    for side, label in (("baseline", f"before ({result.get('baseline')})"), ("current", "this tree")):
        if side not in fig:
            continue
        runs = result["runs"][side]
        rows.append([label, fmt_spread([r["end_to_end_s"] for r in runs], 0),
                     *[fmt_spread([r["stages"][s] for r in runs if r["stages"].get(s) is not None], 0) for s in stages],
                     ", ".join(f"{k} {v}" for k, v in fig[side]["workers_started"].items()) or "not recorded"])
    lines += _table(["tree", "end to end s", *[f"{s} s" for s in stages], "actor processes started per stage"], rows)
    if fig.get("speedup"):
        lines += ["", f"Before over after, end to end: {fig['speedup']:.2f}x."]
    last = (result["runs"]["current"] or [{}])[-1]
    if "stopped_early" in last:
        stops = [f"{name} {stopped_early_text(stop)}" if stop else f"{name} trained all its epochs"
                 for name, stop in last["stopped_early"].items()]
        lines += ["", "Early stopping in this tree's last run: " + "; ".join(stops) + "."]
    return lines


# ---------------------------------------------------------------------------------------- 2. overhead


def stage_overhead_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-stage overhead of the orchestrated runs this invocation made: a stage's wall time in
    summary.json against the work inside it (the longest candidate's own clock for training; the
    models' own clocks, one after another, for the optimize stage)."""
    rows = []
    concurrency = _ok_result(results, "concurrency")
    if concurrency and concurrency.get("orchestrated_runs"):
        runs = concurrency["orchestrated_runs"]
        rows.append(_train_row("concurrency: orchestrated runs", runs))
        outside = [r["end_to_end_s"] - sum(v for v in r["stages"].values() if v) for r in runs]
        rows.append({"run": "concurrency: orchestrated runs",
                     "stage": "outside the stages: Ray start, data, preflight, summary, shutdown (stage s: the whole run)",
                     "stage_s": [r["end_to_end_s"] for r in runs], "inside_s": None, "overhead_s": outside,
                     "share": median_ratio(outside, [r["end_to_end_s"] for r in runs])})
    ensemble = _ok_result(results, "ensemble")
    builtin = (ensemble or {}).get("datasets", {}).get("builtin", {})
    if builtin.get("status") == "ok":
        rows.append(_train_row("ensemble: builtin run", [builtin["run"]]))
    quantization = _ok_result(results, "quantization")
    if quantization:
        section = quantization["optimize"]
        inside = sum(m.get("wall_s", 0.0) for m in section.get("models", {}).values() if m.get("status") == "ok")
        if section.get("wall_s"):
            rows.append({"run": "quantization", "stage": "optimize (models one at a time)",
                         "stage_s": [section["wall_s"]], "inside_s": [inside],
                         "overhead_s": [section["wall_s"] - inside], "share": (section["wall_s"] - inside) / section["wall_s"]})
    return rows


def _train_row(run: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    stage = [r["stages"]["train"] for r in records]
    longest = [max((c["inside_s"] for c in r["candidates"].values() if c["inside_s"] is not None), default=0.0)
               for r in records]
    overhead = [s - w for s, w in zip(stage, longest, strict=True)]
    per_candidate = [c["supervised_s"] - c["inside_s"] for r in records for c in r["candidates"].values()
                     if c["inside_s"] is not None and c["supervised_s"] is not None and not c.get("resumed")]
    return {"run": run, "stage": "train (candidates concurrently)", "stage_s": stage, "inside_s": longest,
            "overhead_s": overhead, "share": median_ratio(overhead, stage), "per_candidate_s": per_candidate}


STEPS_PER_CANDIDATE = 4  # a default run: train, the ensemble's propose and score, optimize


def fixed_cost_per_step(result: dict[str, Any]) -> dict[str, float | None]:
    """A candidate's fixed cost per step over a default run's four: a cold start at every step
    (a new actor each, as before warm workers) against one cold start and warm reuse after it."""
    starts = result["actor_start_s"]
    cold = describe(starts.get("stage_worker_training_imports", []))["median"]
    warm = describe(starts.get("warm_stage_worker", []))["median"]
    return {
        "new_actor_every_step": cold,
        "warm_worker": None if cold is None or warm is None
        else (cold + (STEPS_PER_CANDIDATE - 1) * warm) / STEPS_PER_CANDIDATE,
    }


def overhead_figures(result: dict[str, Any]) -> dict[str, Any]:
    bare = result["actor_start_s"]["bare"]
    return {
        "ray_start_s": {k: describe(v) for k, v in result["ray_start_s"].items()},
        "actor_start_s": {k: describe(v) for k, v in result["actor_start_s"].items()},
        "actor_start_vs_bare": {k: median_ratio(v, bare) for k, v in result["actor_start_s"].items()},
        "fixed_cost_per_step_s": fixed_cost_per_step(result),
    }


def overhead_section(result: dict[str, Any] | None, results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if result is not None:
        fig = overhead_figures(result)
        lines += [
            f"**(a) Ray start.** Method: `orchestrator.cluster.connect` (a private local cluster, as `orchestrator run` "
            "starts it) until a trivial task returned, then `ray.shutdown`; dashboard off and on alternating, "
            f"{result['repeats']} repeat(s), no warm-up (a cold start is what is measured). Median [min-max] s.",
            "",
            *_table(["variant", "seconds", "n"], [
                [k.replace("_", " "), fmt_spread(v, 2), str(len(v))] for k, v in result["ray_start_s"].items()
            ]),
            "",
            "**(b) Actor start.** Method: on one running local cluster, from creating the actor to the return of its "
            "first method call, one actor at a time (1 CPU each), killed after each measurement; kinds rotate within "
            f"each of {result['repeats']} repeat(s). Median [min-max] s; the ratio is of medians.",
            "",
            *_table(["actor", "seconds", "n", "vs bare"], [
                [ACTOR_LABELS.get(k, k), fmt_spread(v, 2), str(len(v)), _f(fig["actor_start_vs_bare"][k], suffix="x")]
                for k, v in result["actor_start_s"].items()
            ]),
            "",
        ]
        cost = fig["fixed_cost_per_step_s"]
        if cost["warm_worker"] is not None:
            lines += [
                f"**Fixed cost per candidate and step**, over a default run's {STEPS_PER_CANDIDATE} steps (train, "
                "the ensemble's propose and score, optimize), from the medians above: a new actor for every step "
                f"pays the cold start each time, {_f(cost['new_actor_every_step'])} s; a warm worker pays it once and "
                f"the warm call after it, {_f(cost['warm_worker'])} s per step.",
                "",
            ]
    else:
        lines += ["(a) and (b) were not measured: the overhead benchmark did not run or failed (see the overview).", ""]
    rows = stage_overhead_rows(results)
    lines.append("**(c) Per-stage overhead** of this invocation's orchestrated runs: a stage's wall time in summary.json "
                 "against the work inside it (the longest candidate's own clock inside its actor for training; "
                 "the models' own clocks added up for the optimize stage, which runs them one at a time). "
                 "Median [min-max] s over the runs.")
    lines.append("")
    if not rows:
        lines.append("Not measured: it reads the orchestrated runs of the concurrency, ensemble or quantization "
                     "benchmark, and none of them ran successfully in this invocation.")
        return lines
    lines += _table(["run", "stage", "stage s", "work inside s", "overhead s", "share", "n"], [
        [r["run"], r["stage"], fmt_spread(r["stage_s"], 1), fmt_spread(r["inside_s"] or [], 1),
         fmt_spread(r["overhead_s"], 1), _f(_pct(r["share"]), 0, " %"), str(len(r["stage_s"]))]
        for r in rows
    ])
    per_candidate = [s for r in rows for s in r.get("per_candidate_s", [])]
    if per_candidate:
        lines += ["", f"Per candidate, the supervisor's clock (actor launch to result collected) minus the candidate's "
                      f"own: {fmt_spread(per_candidate, 1)} s over {len(per_candidate)} candidate runs (the actor's process "
                      "start and its import of the training code before the candidate's clock starts; returning the "
                      "result and the supervisor's 0.5 s poll after it stops)."]
    return lines


ACTOR_LABELS = {
    "bare": "bare actor, empty method",
    "stage_worker": "StageWorker, no-op work item",
    "stage_worker_training_imports": "StageWorker, item importing models.training (a cold start)",
    "warm_stage_worker": "the same item again on that warm StageWorker (a later step)",
}


# ---------------------------------------------------------------------------------------- 3. failures


def failure_isolation_figures(result: dict[str, Any]) -> dict[str, Any]:
    scenarios = result["scenarios"]
    reference = [r["survivor_train_s"] for r in scenarios["reference"]]
    out = {}
    for kind, runs in scenarios.items():
        train = [r["survivor_train_s"] for r in runs]
        out[kind] = {
            "survivor_train_s": describe(train),
            "survivor_vs_reference": median_ratio(train, reference),
            "detection_s": describe([r["detection_s"] for r in runs if "detection_s" in r]),
            "past_stall_limit_s": describe([r["past_limit_s"] for r in runs if "past_limit_s" in r]),
            "neighbour_status": sorted({r["neighbour"] for r in runs}),
        }
    return out


def failure_isolation_section(result: dict[str, Any]) -> list[str]:
    fig = failure_isolation_figures(result)
    lines = [
        f"Method: each scenario is a real `orchestrator run` of two tiny BARTs on one CPU each, {result['steps']} "
        f"steps; the neighbour is healthy (reference), kills its own process at step 3 (crash) or hangs at step 3 "
        f"(hang; stall limit {result['stall_limit_s']:g} s). Detection: from the fault's own timestamp to the "
        "driver recording the outcome. Survivor: its training time on its own clock. "
        f"{result['repeats']} repeat(s), scenarios rotating; no warm-up. Median [min-max]; the ratio is of medians.",
        "",
    ]
    rows = []
    for kind, runs in result["scenarios"].items():
        f = fig[kind]
        detection = [r["detection_s"] for r in runs if "detection_s" in r]
        rows.append([kind, ", ".join(f["neighbour_status"]), fmt_spread([r["survivor_train_s"] for r in runs], 2),
                     _f(f["survivor_vs_reference"], 3, "x"), fmt_spread(detection, 2), str(len(runs))])
    lines += _table(["neighbour", "neighbour ended", "survivor train s", "vs reference", "detected after s", "n"], rows)
    past = [r["past_limit_s"] for r in result["scenarios"].get("hang", []) if "past_limit_s" in r]
    if past:
        lines += ["", f"The hang was detected {fmt_spread(past, 2)} s after its {result['stall_limit_s']:g} s stall "
                      "limit ran out (the limit itself is the setting `timeouts.stall`)."]
    return lines


# ---------------------------------------------------------------------------------------- 4. ensemble


TARGET_GAIN = 1.0  # issue 15: the chosen method at least this far above the best single member, interval above 0


def _seed_figures(run: dict[str, Any]) -> dict[str, Any]:
    """One seed's run: the chosen method's test score against the best single member's, with the
    interval, and the share of the oracle's gap it closes (summarization)."""
    if run["status"] != "ok":
        return {"seed": run.get("seed"), "status": run["status"], "reason": run.get("reason")}
    section, metric = run["ensemble"], run["metric"]
    scores = section["scores"]
    chosen = section.get("chosen", section["strategy"])
    mine, best = scores[chosen]["test"][metric], scores["best_single"]["test"][metric]
    gap = section.get("versus_best_single", {}).get(chosen, {}).get(metric, {})
    oracle = scores.get("oracle", {}).get("test", {}).get(metric)
    closed = (mine - best) / (oracle - best) if oracle is not None and oracle > best else None
    low = gap.get("low", 0.0 if chosen == "best_single" else None)
    return {"seed": run.get("seed"), "status": "ok", "metric": metric, "chosen": chosen,
            "best_member": section["best_member"], "ensemble": mine, "best_single": best, "gain": mine - best,
            "low": low, "high": gap.get("high", low), "verdict": gap.get("verdict", "not distinguishable"),
            "oracle": oracle, "gap_closed": closed,
            "met": mine - best >= TARGET_GAIN and low is not None and low > 0}


def ensemble_figures(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, entry in result["datasets"].items():
        if entry["status"] == "skipped" or "seeds" not in entry and entry["status"] != "ok":
            out[name] = {"status": entry["status"], "reason": entry.get("reason")}
            continue
        seeds = [_seed_figures(run) for run in entry.get("seeds", [{**entry, "seed": None}])]
        ok = [f for f in seeds if f["status"] == "ok"]
        out[name] = {"status": entry["status"], "metric": entry.get("metric"), "seeds": seeds,
                     "met": sum(f["met"] for f in ok), "of": len(seeds),
                     "gain": statistics.median(f["gain"] for f in ok) if ok else None,
                     "gap_closed": statistics.median(c) if (c := [f["gap_closed"] for f in ok
                                                                  if f["gap_closed"] is not None]) else None}
    return out


def ensemble_section(result: dict[str, Any]) -> list[str]:
    lines = [
        "Method: one real `orchestrator run` per data set and seed (optimize stage off; `defaults.seed` seeds the "
        "members, the ensemble's folds and its bootstrap). The ensemble's method is chosen on validation "
        "(cross-fitted, one-standard-error rule) and scored on test against the best single model (the member best on "
        "validation), with a 95 % paired-bootstrap interval over test examples. Gap closed: (chosen - best single) / "
        f"(oracle - best single). Target: chosen >= best single + {TARGET_GAIN:g} with the interval above 0 in every "
        "seed. A rerun with the same versions on the same machine gives the same scores. Points are on a 0-100 scale.",
    ]
    figures_ = ensemble_figures(result)
    for name, entry in result["datasets"].items():
        lines += ["", f"**{dataset_label(name)}**"]
        if name.startswith("dialogsum") and entry.get("seeds"):
            settings = result.get("dialogsum_settings", {})
            lines[-1] += " (" + ", ".join(f"{k.replace('_', ' ')} {settings[k]}" for k in DIALOGSUM_SETTINGS
                                           if settings.get(k) is not None)
            if settings.get("test_tail_training"):
                lines[-1] += f"; training also on the test dialogues past the first {settings['test_size']}, never scored"
            lines[-1] += f"; with `{' '.join(settings['overrides'])}`)" if settings.get("overrides") else ")"
        lines.append("")
        fig = figures_[name]
        if "seeds" not in fig:
            lines.append(f"{entry['status'].capitalize()}: {entry.get('reason')}")
            continue
        changed = [o for o in entry.get("overrides", []) if o not in HOUSEKEEPING and not o.startswith("defaults.seed")]
        crossfit = [o for o in changed if o.startswith("ensemble.cross_fit_members=")]
        if crossfit:
            lines += [f"The same members as above (each seed's run directory run again with `{crossfit[0]}`: "
                      "training kept, fold models added), so only the meta-learner's training pools differ.", ""]
        shown = [o for o in changed if o not in crossfit]
        if not name.startswith("dialogsum") and shown:
            lines += [f"Run with `{' '.join(shown)}` (not the shipped settings).", ""]
        metric = fig["metric"]
        rows = []
        for f in fig["seeds"]:
            if f["status"] != "ok":
                rows.append([str(f["seed"]), f["status"], "", "", "", "", "", str(f.get("reason"))])
                continue
            interval = f"{f['gain']:+.2f} ({f['low']:+.2f} to {f['high']:+.2f})" if f["low"] is not None else f"{f['gain']:+.2f}"
            closed = f"{100 * f['gap_closed']:.0f} %" if f["gap_closed"] is not None else "-"
            rows.append([str(f["seed"]), f["chosen"], f"{f['ensemble']:.2f}", f"{f['best_single']:.2f} ({f['best_member']})",
                         interval, f["verdict"], "-" if f["oracle"] is None else f"{f['oracle']:.2f}", closed])
        lines += _table(["seed", "chosen on validation", f"test {metric}", "best single", "difference (95 % interval)",
                         "verdict", "oracle", "gap closed"], rows)
        lines += ["", f"Target met in {fig['met']} of {fig['of']} seeds"
                  + (f"; median gain {fig['gain']:+.2f}" if fig["gain"] is not None else "")
                  + (f", median gap closed {100 * fig['gap_closed']:.0f} %" if fig["gap_closed"] is not None else "") + "."]
        lines += ["", *_methods_table(entry, metric)]
    return lines


def _methods_table(entry: dict[str, Any], metric: str) -> list[str]:
    """Every method's test score in every seed, the meta-learners side by side, then each member's
    own: how far apart the members are is what the ensemble has to work with."""
    runs = [r for r in entry.get("seeds", [entry]) if r["status"] == "ok"]
    methods: dict[str, None] = {}
    members: dict[str, None] = {}
    for run in runs:
        scores = run["ensemble"]["scores"]
        methods |= dict.fromkeys(m for m in ("best_single", "mbr", "average", *scores) if m in scores
                                 and m not in run["ensemble"]["members"])
        members |= dict.fromkeys(m for m in run["ensemble"]["members"] if m in scores)
    rows = []
    for label, key in [*((m, m) for m in methods), *((f"member {m}", m) for m in members)]:
        values = [r["ensemble"]["scores"].get(key, {}).get("test", {}).get(metric) for r in runs]
        rows.append([label, *("-" if v is None else f"{v:.2f}" for v in values)])
    lead = [next(iter(r.get("baselines", {}).values()), {}).get("test", {}).get(metric) for r in runs]
    if any(v is not None for v in lead):
        rows.append(["trivial baseline", *("-" if v is None else f"{v:.2f}" for v in lead)])
    return _table(["method", *(f"test {metric}, seed {r.get('seed')}" for r in runs)], rows)


HOUSEKEEPING = ("ray.dashboard=false", "optimize.enabled=false")
DATASET_LABELS = {"builtin": "Built-in Korean dialogues (configs/full.yaml)",
                  "dialogsum": "DialogSum (../shared/data/dialogsum/)",
                  "classification": "Built-in Korean intents (configs/classification.yaml)"}


def dataset_label(name: str) -> str:
    """`dialogsum, cross_fit_members 3` reads as DialogSum's label with the setting after it."""
    base, _, variant = name.partition(", ")
    return DATASET_LABELS.get(base, base) + (f", {variant}" if variant else "")


# ---------------------------------------------------------------------------------------- 5./6. quantization


def _points(variant: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {p["batch_size"]: p for p in variant.get("points", []) if p.get("status") == "ok"}


def _shown_sizes(result: dict[str, Any]) -> list[int]:
    sizes = sorted(result["batch_sizes"])
    return list(dict.fromkeys([sizes[0], *(s for s in sizes if s == 8), sizes[-1]]))


def point_spread(point: dict[str, Any]) -> float | None:
    """(max - min) / median of a point's timed repeats, as a fraction."""
    latencies = point.get("latencies_s") or []
    if len(latencies) < 2:
        return None
    return (max(latencies) - min(latencies)) / statistics.median(latencies)


def quantization_figures(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, model in result["optimize"].get("models", {}).items():
        if model.get("status") != "ok":
            out[name] = {"status": model.get("status"), "error": model.get("error")}
            continue
        fp32 = _points(model["variants"]["fp32"])
        variants = {}
        for vname, v in model["variants"].items():
            if v.get("status") != "ok":
                variants[vname] = {"status": v.get("status"), "reason": v.get("reason")}
                continue
            points = _points(v)
            variants[vname] = {
                "size_mb": v["size_bytes"] / 2**20,
                "smaller_x": v.get("size_ratio", 1.0), "layers_smaller_x": v.get("layer_ratio"),
                "quality": v.get("metric"), "quality_change": v.get("metric_change"), "accepted": v.get("accepted"),
                "samples_per_s": {bs: p["samples_per_s"] for bs, p in points.items()},
                "vs_fp32": {bs: p["samples_per_s"] / fp32[bs]["samples_per_s"] for bs, p in points.items() if bs in fp32},
                "sweep_s": v.get("sweep_s"),
            }
        out[name] = {"status": "ok", "variants": variants, "recommendation": model.get("recommendation"),
                     "wall_s": model.get("wall_s")}
    return out


def quantization_section(result: dict[str, Any]) -> list[str]:
    section, metric = result["optimize"], result["metric"]
    shown = _shown_sizes(result)
    lines = [
        f"Method: the optimize stage (`orchestrator optimize RUN_DIR`) on the survivors of {result['run_label']}, "
        f"backends {', '.join(result['backends'])}; one model at a time; per variant and batch size "
        f"{', '.join(map(str, result['batch_sizes']))}: {result['warmup']} warm-up call(s), then {result['repeats']} "
        "timed call(s) of greedy generation on validation inputs; statistic: the median call; spread: the largest "
        "(max-min)/median over the variant's points. Quality: "
        f"validation {metric} against fp32. Throughput ratios are of medians measured in the same stage.",
        "",
    ]
    if section.get("status") != "ok":
        return [*lines, f"The optimize stage {section.get('status')}: {section.get('reason') or section.get('error')}"]
    head = ["model", "variant", "MB", "smaller", "quantized layers smaller", f"val {metric} (change)",
            *(f"samples/s @bs{s} (vs fp32)" for s in shown), "spread", "accepted"]
    rows = []
    for name, model in section["models"].items():
        if model.get("status") != "ok":
            rows.append([name, f"{model.get('status')}: {model.get('error')}", *[""] * (len(head) - 2)])
            continue
        fp32 = _points(model["variants"]["fp32"])
        for vname, v in model["variants"].items():
            if v.get("status") != "ok":
                rows.append([name, vname, f"{v.get('status')}: {v.get('reason')}", *[""] * (len(head) - 3)])
                continue
            points = _points(v)
            rates = []
            for size in shown:
                p = points.get(size)
                ratio = p["samples_per_s"] / fp32[size]["samples_per_s"] if p and size in fp32 else None
                rates.append("-" if p is None else f"{p['samples_per_s']:.1f}"
                             + ("" if vname == "fp32" or ratio is None else f" ({ratio:.2f}x)"))
            spreads = [s for p in points.values() if (s := point_spread(p)) is not None]
            change = "" if vname == "fp32" else f" ({v.get('metric_change', 0):+.2f})"
            rows.append([name, vname, f"{v['size_bytes'] / 2**20:.1f}", f"{v.get('size_ratio', 1.0):.2f}x",
                         _f(v.get("layer_ratio"), suffix="x"), f"{v['metric']:.2f}{change}", *rates, _f(_pct(max(spreads)) if spreads else None, 0, " %"),
                         "yes" if v.get("accepted") else "**no**"])
    lines += _table(head, rows)
    recs = [f"{name}: {m['recommendation'].get('variant')} at batch {m['recommendation'].get('batch_size')}"
            + (f" ({m['recommendation']['speedup_vs_fp32']:.2f}x fp32 there)"
               if m["recommendation"].get("speedup_vs_fp32") else "")
            for name, m in section["models"].items() if m.get("status") == "ok" and m.get("recommendation")]
    if recs:
        lines += ["", "Recommended (highest samples/s among accepted variants): " + "; ".join(recs) + "."]
    return lines


def sweep_section(result: dict[str, Any]) -> list[str]:
    section = result["optimize"]
    sizes = result["batch_sizes"]
    lines = [
        f"Method: the duration of each variant's sweep over {len(sizes)} batch size(s) ({', '.join(map(str, sizes))}; "
        f"{result['warmup']} warm-up + {result['repeats']} timed call(s) each), from the same optimize stage; "
        "per model, its actor's whole time (quantizing, quality on validation, every sweep). One stage run, not "
        "repeated. For scale: the mission statement recalls a manual benchmark taking 18 minutes for one batch size.",
        "",
    ]
    if section.get("status") != "ok":
        return [*lines, f"The optimize stage {section.get('status')}: {section.get('reason') or section.get('error')}"]
    models = {n: m for n, m in section["models"].items() if m.get("status") == "ok"}
    variants = list(dict.fromkeys(v for m in models.values() for v in m["variants"]))
    rows = []
    for name, model in models.items():
        sweeps = [model["variants"].get(v, {}).get("sweep_s") for v in variants]
        rows.append([name, *(_f(s, 1) for s in sweeps), _f(sum(s for s in sweeps if s), 1), _f(model.get("wall_s"), 1)])
    lines += _table(["model", *(f"{v} sweep s" for v in variants), "all sweeps s", "model total s"], rows)
    lines += ["", f"The whole optimize stage ({len(models)} model(s) x {len(variants)} variant(s) x {len(sizes)} batch "
                  f"sizes, quantization and quality checks included) took {_minutes(section.get('wall_s'))}."]
    return lines


# ---------------------------------------------------------------------------------------- 7. simulated cluster


def simulated_cluster_figures(result: dict[str, Any]) -> dict[str, Any]:
    return {str(r["candidates"]): {"wall_s": r["wall_s"], "ideal_s": r["ideal_s"], "wall_vs_ideal": r["wall_s"] / r["ideal_s"],
                                   "driver_thread_cpu_ms_per_candidate": r["driver_thread_cpu_ms_per_candidate"]}
            for r in result["results"]}


def simulated_cluster_section(result: dict[str, Any]) -> list[str]:
    lines = [
        f"Method: a real multi-node Ray cluster on this machine (`ray.cluster_utils.Cluster`, {result['nodes']} nodes x "
        f"{result['gpus_per_node']} logical GPUs, up in {result['cluster_start_s']:.1f} s), stand-in candidates that "
        f"sleep {result['seconds']:g} s instead of training, through the real supervisor; one run per count (the "
        "cluster start dominates repeats). Ideal: waves of nodes x GPUs candidates. Driver CPU: its main thread / "
        f"the whole process. The machine has {result['cpus']} real cores, so actor start-up, not the driver, bounds it.",
        "",
    ]
    rows = [[str(r["candidates"]), f"{r['succeeded']}", f"{r['wall_s']:.1f}", f"{r['ideal_s']:.1f}",
             f"{r['wall_s'] / r['ideal_s']:.1f}x", f"{r['driver_thread_cpu_ms_per_candidate']:.1f} / "
             f"{r['driver_process_cpu_ms_per_candidate']:.1f}", str(r["gpu_shared_by_two"]),
             "yes" if r["launched_in_config_order"] else "**no**"] for r in result["results"]]
    return lines + _table(["candidates", "succeeded", "wall s", "ideal s", "wall / ideal", "driver CPU ms/candidate",
                           "GPU held by two", "launched in config order"], rows)


# ---------------------------------------------------------------------------------------- 9. resume


def resume_figures(result: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for setting, sides in result["results"].items():
        out[setting] = {
            "redone_share": describe([r["redone_share"] for r in sides["killed"]]),
            "resumed_from_step": describe([r["resumed_from_step"] or 0 for r in sides["killed"]]),
            "checkpoint_cost_share": describe([r["share"] for r in sides["uninterrupted"] if r["share"] is not None]),
            "saves": describe([r["saves"] for r in sides["uninterrupted"]]),
        }
    return out


def resume_section(result: dict[str, Any]) -> list[str]:
    lines = [
        f"Method: one tiny BART, {result['steps']} steps ({result['steps_per_epoch']} per epoch, an evaluation and a "
        f"save after each), one torch thread. Killed: the training runs in a child process, SIGKILLed when its "
        f"progress note shows {result['kill_at']:.0%} of the steps; the next attempt resumes from the newest sealed "
        "checkpoint, and the share redone is its `steps_redone` over all steps. Uninterrupted: the time spent in "
        "checkpoint saves (write, sha256 seal, rotation) over the training time. "
        f"{result['repeats']} repeat(s), settings rotating; no warm-up. Median [min-max].",
        "",
    ]
    rows = []
    for setting, sides in result["results"].items():
        killed, whole = sides["killed"], sides["uninterrupted"]
        rows.append([
            f"`checkpoint_every: {setting}`" + (" (the default)" if setting == "15m" else ""),
            fmt_spread([r["killed_at_step"] for r in killed], 0), fmt_spread([r["resumed_from_step"] or 0 for r in killed], 0),
            fmt_spread([100 * r["redone_share"] for r in killed], 1), fmt_spread([r["saves"] for r in whole], 0),
            fmt_spread([100 * r["share"] for r in whole if r["share"] is not None], 1), str(len(killed)),
        ])
    lines += _table(["setting", "killed at step", "resumed from step", "redone % of steps", "saves",
                     "saving % of training time", "n"], rows)
    return lines


# ---------------------------------------------------------------------------------------- data-parallel


def data_parallel_figures(result: dict[str, Any]) -> dict[str, Any]:
    runs, workers = result["runs"], result["workers"]
    single, ray_one = runs["one process, 1 thread"], runs["Ray Train, 1 worker"]
    ray_many, threads = runs[f"Ray Train, {workers} workers"], runs[f"one process, {workers} threads"]
    fixed = [r["wall_s"] - s["wall_s"] for r, s in zip(ray_one, single, strict=True)]
    speedup = median_ratio([s["train_s"] for s in single], [r["train_s"] for r in ray_many])
    out: dict[str, Any] = {
        "variants": {name: {"wall_s": describe([r["wall_s"] for r in records]),
                            "train_s": describe([r["train_s"] for r in records])} for name, records in runs.items()},
        "ray_train_fixed_s": describe(fixed),
        "training_speedup": speedup,
        "threads_training_speedup": median_ratio([s["train_s"] for s in single], [t["train_s"] for t in threads]),
        "end_to_end_speedup": median_ratio([s["wall_s"] for s in single], [r["wall_s"] for r in ray_many]),
    }
    out["pays_after_s"] = (out["ray_train_fixed_s"]["median"] / (1 - 1 / speedup)
                           if speedup and speedup > 1 else None)
    return out


def data_parallel_section(result: dict[str, Any]) -> list[str]:
    fig, workers = data_parallel_figures(result), result["workers"]
    lines = [
        f"Method: one tiny BART candidate (built-in Korean data, {result['steps']} optimizer steps of batch 16, then "
        "evaluation and predictions), trained through `train_candidate` as its actor would, in four variants rotated "
        f"within each of {result['repeats']} repeat(s) on a {result['cpus']}-core machine. `Ray Train, 1 worker` "
        "is the one-thread training inside a worker group of one: its difference from `one process, 1 thread` is "
        f"what Ray Train itself costs. `Ray Train, {workers} workers` splits every batch over {workers} one-thread "
        "gloo workers (the same effective batch). Seconds: median [min-max].",
        "",
    ]
    rows = [[name, fmt_spread([r["wall_s"] for r in records], 1), fmt_spread([r["train_s"] for r in records], 1),
             fmt_spread([r["train_loss"] for r in records], 4)] for name, records in result["runs"].items()]
    lines += _table(["variant", "end to end s", "training s", "training loss"], rows)
    pays = fig.get("pays_after_s")
    fixed = fig["ray_train_fixed_s"]
    lines += ["", f"Ray Train's fixed cost per training: {fixed['median']:.1f} s (median; {fixed['min']:.1f}-"
              f"{fixed['max']:.1f} s over {fixed['n']}). "
              f"{workers} workers train {_f(fig['training_speedup'], 2, 'x')} as fast as one process with one thread "
              f"({_f(fig['threads_training_speedup'], 2, 'x')} for one process with {workers} threads); end to end "
              f"{_f(fig['end_to_end_speedup'], 2, 'x')}. "
              + (f"Data-parallel pays for trainings longer than about {pays:.0f} s of one-process training time here."
                 if pays else "Here data-parallel training does not pay at any length: it trains no faster.")]
    return lines


def _served_samples(result: dict[str, Any], server: str, level: str) -> list[float]:
    """One server's samples/s at one concurrency level, one value per repeat."""
    return [r["samples_per_s"] for r in result["runs"].get(server, {}).get(level, []) if r["samples_per_s"]]


def serve_figures(result: dict[str, Any]) -> dict[str, Any]:
    """Per concurrency level: each server's samples/s and latency percentiles (medians over the
    repeats), batched over unbatched, batched over the optimize stage's offline figure; the goals."""
    rec = result["recommendation"]
    offline, batch, slo = rec.get("samples_per_s"), rec.get("batch_size") or 1, result.get("latency_slo_ms")
    levels: dict[str, Any] = {}
    for level in map(str, result["levels"]):
        row: dict[str, Any] = {}
        for server, runs in result["runs"].items():
            records = runs.get(level, [])
            row[server] = {"samples_per_s": describe(_served_samples(result, server, level)),
                           **{p: describe([r[p] for r in records if r.get(p) is not None])["median"]
                              for p in ("p50_ms", "p95_ms", "p99_ms", "mean_batch")},
                           "errors": sum(r["errors"] for r in records)}
        row["over_unbatched"] = median_ratio(_served_samples(result, "batched", level),
                                             _served_samples(result, "unbatched", level))
        batched = row.get("batched", {}).get("samples_per_s", {}).get("median")
        row["of_offline"] = batched / offline if batched and offline else None
        levels[level] = row
    of_offline = max((f["of_offline"] for c, f in levels.items() if int(c) >= batch and f["of_offline"] is not None),
                     default=None)
    at_16 = levels.get("16", {}).get("over_unbatched")
    p95_at_1 = levels.get("1", {}).get("batched", {}).get("p95_ms")
    return {
        "levels": levels, "offline_samples_per_s": offline, "batch_size": batch, "variant": rec.get("variant"),
        "latency_slo_ms": slo,
        "goals": {
            "of_offline": {"value": of_offline, "met": of_offline is not None and of_offline >= 0.70},
            "over_unbatched_at_16": {"value": at_16, "met": at_16 is not None and at_16 >= 2.0},
            "p95_at_1_within_slo": {"value": p95_at_1, "met": p95_at_1 is not None and (slo is None or p95_at_1 <= slo)},
        },
    }


def serve_section(result: dict[str, Any]) -> list[str]:
    fig = serve_figures(result)
    goals = fig["goals"]
    lines = [
        f"Method: `python -m orchestrator serve RUN_DIR --model {result['model']}` on a real run, driven over loopback "
        "by an asyncio httpx client keeping `concurrency` requests (one validation dialogue each) in flight, after a "
        f"warm-up, on a {result['cpus']}-core machine (server and client share it). The two servers alternate within "
        f"each of {result['repeats']} repeat(s): Serve's dynamic batching at the optimize stage's recommendation "
        f"({fig['variant']}, batch size {fig['batch_size']}, offline {_f(fig['offline_samples_per_s'], 1)} samples/s), "
        "and the same model with `--no-batching`. samples/s: median [min-max]; latencies: medians of each repeat's "
        "percentile; mean batch: how many inputs the model call that answered a request predicted, on average.",
        "",
    ]
    rows = []
    for level, row in fig["levels"].items():
        b, u = row.get("batched", {}), row.get("unbatched", {})
        rows.append([level, fmt_spread(_served_samples(result, "batched", level), 1), _f(b.get("mean_batch"), 1),
                     _f(b.get("p50_ms"), 0), _f(b.get("p95_ms"), 0), _f(b.get("p99_ms"), 0),
                     fmt_spread(_served_samples(result, "unbatched", level), 1), _f(u.get("p95_ms"), 0),
                     _f(row["over_unbatched"], 2, "x"), _f(row["of_offline"], 2),
                     str(b.get("errors", 0) + u.get("errors", 0))])
    lines += _table(["concurrency", "batched samples/s", "mean batch", "p50 ms", "p95 ms", "p99 ms", "unbatched samples/s",
                     "unbatched p95 ms", "batched / unbatched", "batched / offline", "errors"], rows)

    def verdict(goal: dict[str, Any]) -> str:
        return "met" if goal["met"] else "**not met**"

    lines += ["", f"Goals: throughput at concurrency >= {fig['batch_size']} at least 70 % of offline: "
                  f"{_f(goals['of_offline']['value'], 2)} ({verdict(goals['of_offline'])}); batching >= 2x batching-off "
                  f"at concurrency 16: {_f(goals['over_unbatched_at_16']['value'], 2, 'x')} "
                  f"({verdict(goals['over_unbatched_at_16'])}); p95 at concurrency 1 within the "
                  f"{_f(fig['latency_slo_ms'], 0)} ms SLO: {_f(goals['p95_at_1_within_slo']['value'], 0)} ms "
                  f"({verdict(goals['p95_at_1_within_slo'])})."]
    return lines


# ---------------------------------------------------------------------------------------- the whole file

FIGURES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "concurrency": concurrency_figures,
    "overhead": overhead_figures,
    "default_run": default_run_figures,
    "failure_isolation": failure_isolation_figures,
    "ensemble": ensemble_figures,
    "quantization": quantization_figures,
    "simulated_cluster": simulated_cluster_figures,
    "resume": resume_figures,
    "data_parallel": data_parallel_figures,
    "serve": serve_figures,
}

SECTIONS = [  # (title, benchmark it reads, renderer)
    ("1. Concurrent vs sequential training", "concurrency", concurrency_section),
    ("2. Orchestration overhead", "overhead", None),
    ("3. Crash and hang detection, and a failing neighbour's effect", "failure_isolation", failure_isolation_section),
    ("4. Ensemble gain over the best single model", "ensemble", ensemble_section),
    ("5. INT8 size, speed and quality", "quantization", quantization_section),
    ("6. Batch-size sweep duration", "quantization", sweep_section),
    ("7. Simulated cluster", "simulated_cluster", simulated_cluster_section),
    ("8. The default run", "default_run", default_run_section),
    ("9. What an interruption costs", "resume", resume_section),
    ("10. One candidate over several processes (Ray Train)", "data_parallel", data_parallel_section),
    ("11. Serving over HTTP (Ray Serve)", "serve", serve_section),
]


def figures(name: str, result: dict[str, Any]) -> dict[str, Any]:
    return FIGURES[name](result) if name in FIGURES else {}


def headline(name: str, entry: dict[str, Any]) -> str:
    """One line per benchmark for the overview table."""
    if entry["status"] != "ok":
        return entry.get("reason") or ""
    fig = entry.get("figures") or figures(name, entry["result"])
    if name == "concurrency":
        tuned = fig.get("speedup_tune")
        return (f"speed-up {_f(fig['speedup_end_to_end'], suffix='x')} end to end, "
                f"{_f(fig['speedup_training_stage'], suffix='x')} training stage (ideal {fig['ideal_speedup']:.2f}x)"
                + (f"; Ray Tune trials {_f(tuned, suffix='x')}" if tuned else ""))
    if name == "overhead":
        ray_start = fig["ray_start_s"].get("dashboard_off", {}).get("median")
        actor = fig["actor_start_s"].get("stage_worker", {}).get("median")
        cost = fig.get("fixed_cost_per_step_s") or {}
        return (f"Ray start {_f(ray_start, 1)} s (no dashboard); StageWorker start {_f(actor, 2)} s; fixed cost per "
                f"candidate and step {_f(cost.get('warm_worker'), 1)} s warm, {_f(cost.get('new_actor_every_step'), 1)} s "
                "with a new actor each")
    if name == "failure_isolation":
        return (f"crash detected in {_f(fig['crash']['detection_s']['median'], 2)} s, hang "
                f"{_f(fig['hang']['past_stall_limit_s']['median'], 2)} s past its limit; survivor "
                f"{_f(fig['crash']['survivor_vs_reference'], 2, 'x')} / {_f(fig['hang']['survivor_vs_reference'], 2, 'x')}"
                " of reference")
    if name == "ensemble":
        return "; ".join(f"{d}: target met in {f['met']}/{f['of']} seeds, median {f['gain']:+.2f} {f['metric']}"
                         if f.get("gain") is not None else f"{d}: {f['status']}" for d, f in fig.items())
    if name == "quantization":
        section = entry["result"]["optimize"]
        recs = [m["recommendation"] for m in fig.values() if m["status"] == "ok" and m.get("recommendation")]
        sweeps = [sum(v["sweep_s"] or 0 for v in m["variants"].values() if "sweep_s" in v)
                  for m in fig.values() if m["status"] == "ok"]
        chosen = ", ".join(f"{v} x{n}" for v, n in Counter(r.get("variant") for r in recs).items())
        speedups = [r["speedup_vs_fp32"] for r in recs if r.get("speedup_vs_fp32")]
        return (f"recommended {chosen or '-'}"
                + (f" ({min(speedups):.2f}-{max(speedups):.2f}x fp32 there)" if speedups else "")
                + (f"; all sweeps of a model {min(sweeps):.0f}-{max(sweeps):.0f} s" if sweeps else "")
                + f"; stage {section.get('status')} in {_minutes(section.get('wall_s'))}")
    if name == "default_run":
        parts = [f"{label} {fig[side]['end_to_end_s']['median']:.0f} s" for side, label
                 in (("baseline", "before"), ("current", "now")) if side in fig]
        return ", ".join(parts) + (f" ({fig['speedup']:.2f}x)" if fig.get("speedup") else "")
    if name == "data_parallel":
        pays = fig.get("pays_after_s")
        return (f"Ray Train fixed cost {fig['ray_train_fixed_s']['median']:.1f} s; {entry['result']['workers']} "
                f"workers train {_f(fig['training_speedup'], 2, 'x')} as fast as one process"
                + (f"; pays past about {pays:.0f} s of training" if pays else "; does not pay here"))
    if name == "serve":
        goals = fig["goals"]
        return (f"batched {_f(goals['of_offline']['value'], 2)} of offline samples/s, "
                f"{_f(goals['over_unbatched_at_16']['value'], 2, 'x')} batching-off at concurrency 16, "
                f"p95 {_f(goals['p95_at_1_within_slo']['value'], 0)} ms alone")
    if name == "resume":
        default = fig.get("15m", {})
        return (f"killed at 90 %: {_f((default.get('redone_share') or {}).get('median'), 3)} of the steps redone; "
                f"saving {_f((default.get('checkpoint_cost_share') or {}).get('median'), 3)} of training time "
                "(default interval)")
    if name == "simulated_cluster":
        return "; ".join(f"{n} candidates {f['wall_s']:.0f} s (ideal {f['ideal_s']:.0f} s)" for n, f in fig.items())
    return ""


def machine_lines(machine: dict[str, Any]) -> list[str]:
    git = machine.get("git", {})
    dirty = git.get("dirty_paths")
    versions = machine.get("versions", {})
    rows = [
        ["CPU", f"{machine.get('cpu_model')}: {machine.get('logical_cpus')} logical, {machine.get('usable_cpus')} usable"
                + (f", cgroup quota {machine['cgroup_cpu_quota']:g} CPUs" if machine.get("cgroup_cpu_quota") else "")],
        *([["parallel scaling", f"{scaling['processes']} one-thread processes at once do "
                                 f"{scaling['scaling']:.2f}x the work of one alone (ideal {scaling['processes']}x): "
                                 "the ceiling of any concurrency speed-up here"]]
          if (scaling := machine.get("parallel_scaling")) else []),
        ["RAM", _f(machine.get("ram_gib"), 1, " GiB")],
        ["OS / kernel", f"{machine.get('os')} / {machine.get('kernel')}"],
        ["Python", str(machine.get("python"))],
        ["packages", ", ".join(f"{k} {v}" for k, v in versions.items())],
        ["git", f"{git.get('commit', '?')[:12]}" + ("" if not dirty else f", dirty: {dirty} changed path(s) outside "
                                                    "benchmarks/results and RESULTS.md") + ("" if dirty else ", clean")],
        ["date", str(machine.get("date"))],
        ["load average (1 min)", f"{_f(machine.get('load_1min_start'))} at start, {_f(machine.get('load_1min_end'))} at "
                                 "end (near 0 means a quiet machine)"],
    ]
    return _table(["", ""], rows)


def render_markdown(results: dict[str, Any]) -> str:
    benchmarks = results["benchmarks"]
    failed = [n for n, e in benchmarks.items() if e["status"] == "failed"]
    earlier = {name: entry["invocation"] for name, entry in benchmarks.items() if entry.get("invocation")}
    lines = [
        "# Benchmark results",
        "",
        f"Regenerate with `{REGENERATE}` (full profile, about 2 h on 2 cores) or `{REGENERATE} --quick` "
        f"(a smaller check of the harness); `--only NAMES` runs some ({', '.join(dict.fromkeys(n for _, n, _ in SECTIONS))}), "
        "and `--only NAMES --merge` keeps the others' results. This file "
        f"and `results/results.json` were written by `{results.get('command', REGENERATE)}` "
        f"({results.get('profile')} profile) in {_minutes(results.get('wall_s'))} of wall time; every ratio below "
        + ("compares numbers from one invocation" if earlier else "compares numbers from this one invocation")
        + ". Other JSON files in `results/` come from running the scripts one by one.",
    ]
    if earlier:
        lines += ["", "> Merged (`--merge`): " + "; ".join(
            f"{name} was measured by an earlier invocation (`{how.get('command')}` at git {str(how.get('git'))[:12]}, "
            f"{how.get('started_at')})" for name, how in earlier.items())
            + ". Ratios within a benchmark come from one invocation; the machine table describes this one."]
    if results.get("profile") == "quick":
        lines += ["", "> Quick profile: one repeat and fewer sizes and candidates, to check the harness; "
                      "regenerate with the full profile on a quiet machine before quoting numbers."]
    if failed:
        lines += ["", f"**{len(failed)} benchmark(s) failed: {', '.join(failed)}** (reasons below)."]
    lines += ["", "## Machine", "", *machine_lines(results.get("machine", {})), "", "## Overview", ""]
    lines += _table(["benchmark", "status", "wall time", "result"], [
        [name + (f" (earlier, git {str(entry['invocation'].get('git'))[:12]})" if entry.get("invocation") else ""),
         entry["status"] if entry["status"] != "failed" else "**failed**", _minutes(entry.get("wall_s")),
         headline(name, entry)] for name, entry in benchmarks.items()
    ])
    for title, name, render in SECTIONS:
        lines += ["", f"## {title}", ""]
        entry = benchmarks.get(name)
        if name == "overhead":
            ok = entry is not None and entry["status"] == "ok"
            if entry is not None and not ok:
                lines += [_not_ok(entry), ""]
            lines += overhead_section(entry["result"] if ok else None, benchmarks)
        elif entry is None:
            lines.append(f"Not run in this invocation (`--only {name}` runs it).")
        elif entry["status"] != "ok":
            lines.append(_not_ok(entry))
        else:
            lines += render(entry["result"])
    return "\n".join(lines) + "\n"


def _not_ok(entry: dict[str, Any]) -> str:
    return f"**{entry['status'].capitalize()}** after {_minutes(entry.get('wall_s'))}: {entry.get('reason')}"


def _ok_result(benchmarks: dict[str, Any], name: str) -> dict[str, Any] | None:
    entry = benchmarks.get(name)
    return entry["result"] if entry and entry["status"] == "ok" else None


def _pct(value: float | None) -> float | None:
    return None if value is None else 100 * value


def _short(path: str) -> str:
    """A config's path relative to the repository, where it lies in configs/."""
    return "configs/" + path.split("/configs/", 1)[1] if "/configs/" in path else path
