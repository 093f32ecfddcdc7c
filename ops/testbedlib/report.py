"""What the testbed's runs say: measured against predicted per split, the goals, the overheads."""

import csv
import glob
import json
import math
import os
import statistics
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .load import QUIET_CORES
from .predict import rate_label

GOALS = {"median_abs_error": 0.10, "p90_abs_error": 0.20, "pick_within": 0.05, "pick_share": 0.90}


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear-interpolated percentile (``fraction`` in [0, 1])."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def device_compute(row: Dict[str, Any]) -> float:
    """Device forward, backward and step (slowdown included)."""
    return row["device_forward_compute"] + row["device_backward"] + row["device_step"]


def server_compute(row: Dict[str, Any]) -> float:
    """Server forward, loss and backward (what its profile prices, plus the loss)."""
    return row.get("server_forward", 0.0) + row.get("server_loss", 0.0) + row.get("server_backward", 0.0)


def overhead(row: Dict[str, Any]) -> float:
    """The iteration minus compute and the link: serialisation, sockets, checks, Python."""
    return (row["wall"] - device_compute(row) - server_compute(row) - row["uplink_link"]
            - row.get("server_downlink_link", 0.0))


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> Tuple[float, float]:
    """Least-squares intercept and slope."""
    if len(xs) < 2 or len(set(xs)) < 2:
        return (statistics.fmean(ys) if ys else 0.0), 0.0
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sum((x - mean_x) ** 2 for x in xs)
    return mean_y - slope * mean_x, slope


def fit_through_origin(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of y = slope * x."""
    denominator = sum(x * x for x in xs)
    return sum(x * y for x, y in zip(xs, ys)) / denominator if denominator else 0.0


def parameter_bytes(graph_path: str) -> Dict[str, float]:
    """Layer -> parameter bytes, from the graph."""
    with open(graph_path) as file:
        return {layer["name"]: float(layer.get("param_bytes", 0)) for layer in json.load(file)["layers"]}


def summarize(results: Dict[str, Any]) -> Dict[str, Any]:
    """Per (model, rate, split): prediction, measured medians and spread, error; per (model, rate):
    the planner's pick against the measured fastest; the goals; fitted overhead terms."""
    cases: List[Dict[str, Any]] = []
    picks: List[Dict[str, Any]] = []
    warm_effects: List[float] = []
    for model in results["models"]:
        weights = parameter_bytes(model["files"]["graph"])
        splits = {split["id"]: split for split in model["splits"]}
        by_phase: Dict[Tuple[float, str], List[Dict[str, Any]]] = {}
        for row in model["rows"]:
            by_phase.setdefault((row["rate"], row["split_id"]), []).append(row)
        for (rate, split_id), rows in sorted(by_phase.items()):
            measured = [row for row in rows if not row["warmup"]]
            warm = [row for row in rows if row["warmup"]]
            if not measured:
                continue
            # Iterations other processes disturbed (more than 0.1 core beside ours over the
            # iteration) are left out when at least two undisturbed ones remain.
            quiet = [row for row in measured if row.get("foreign_load", 0.0) <= QUIET_CORES]
            disturbed = len(quiet) < 2
            measured = measured if disturbed else quiet
            totals = [row["wall"] for row in measured]
            prediction = model["predictions"][f"{rate_label(rate)}/{split_id}"]
            median = statistics.median(totals)
            if warm:
                # Warm-up runs on the unshaped link: compare everything but the link.
                def off_link(row: Dict[str, Any]) -> float:
                    return row["wall"] - row["uplink_link"] - row.get("server_downlink_link", 0.0)
                warm_effects.append(off_link(warm[0]) / statistics.median(off_link(row) for row in measured) - 1)
            breakdown = prediction["breakdown"]
            case = {
                "model": model["model"], "rate": rate, "rate_label": rate_label(rate), "split": split_id,
                "cut": ",".join(splits[split_id]["cut_layers"]), "device_layers": len(splits[split_id]["device_layers"]),
                "device_parameter_bytes": sum(weights.get(name, 0.0) for name in splits[split_id]["device_layers"]),
                "transfer_bytes": prediction["transfer_bytes"], "predicted": prediction["delay_seconds"],
                "measured": median, "measured_min": min(totals), "measured_max": max(totals), "iterations": len(totals),
                "first_warmup": warm[0]["wall"] if warm else None,
                "error": prediction["delay_seconds"] / median - 1,
                "predicted_device": breakdown["device_compute_seconds"], "predicted_server": breakdown["server_compute_seconds"],
                "predicted_link": breakdown["uplink_seconds"] + breakdown["downlink_seconds"] + breakdown["rtt_seconds"],
                "measured_device": statistics.median(device_compute(row) for row in measured),
                "measured_device_step": statistics.median(row["device_step"] for row in measured),
                "measured_server": statistics.median(server_compute(row) for row in measured),
                "measured_server_prefix": statistics.median(row.get("server_prefix", 0.0) for row in measured),
                "measured_link": statistics.median(row["uplink_link"] + row.get("server_downlink_link", 0.0) for row in measured),
                "measured_overhead": statistics.median(overhead(row) for row in measured),
                "measured_uplink_bytes": statistics.median(row["uplink_bytes"] for row in measured),
                "foreign_load": statistics.median(row.get("foreign_load", 0.0) for row in measured),
                "disturbed": disturbed, "undisturbed_iterations": len(quiet),
            }
            cases.append(case)
    for model in results["models"]:
        for rate_text, pick_layers in model["picks"].items():
            mine = [case for case in cases if case["model"] == model["model"] and case["rate_label"] == rate_text]
            if not mine:
                continue
            pick_id = next((split["id"] for split in model["splits"] if set(split["device_layers"]) == set(pick_layers)), None)
            best = min(mine, key=lambda case: case["measured"])
            chosen = next((case for case in mine if case["split"] == pick_id), None)
            predicted_best = min(mine, key=lambda case: case["predicted"])
            picks.append({"model": model["model"], "rate_label": rate_text, "pick": pick_id,
                          "pick_cut": chosen["cut"] if chosen else None, "pick_measured": chosen["measured"] if chosen else None,
                          "best": best["split"], "best_cut": best["cut"], "best_measured": best["measured"],
                          "ratio": (chosen["measured"] / best["measured"]) if chosen else math.nan,
                          "predicted_best": predicted_best["split"]})
    summary = {"cases": cases, "picks": picks, "warmup_first_iteration_excess": warm_effects}
    summary["goals"] = goals(cases, picks, "predicted")
    if all("predictions_before" in model for model in results["models"]):
        # The same measurements against the profiles taken before the run, in processes of
        # their own (what the plan table and the picks come from).
        before = dict(results, models=[{**{key: value for key, value in model.items() if key != "predictions_before"},
                                        "predictions": model["predictions_before"]} for model in results["models"]])
        summary["goals_before"] = summarize(before)["goals"]
    summary["terms"] = fit_terms(cases)
    apply_terms(cases, summary["terms"])
    summary["goals_with_terms"] = goals(cases, picks_with(cases, picks, "predicted_with_terms"), "predicted_with_terms")
    return summary


def goals(cases: List[Dict[str, Any]], picks: List[Dict[str, Any]], key: str) -> Dict[str, Any]:
    """The issue's goals over the cases, predictions taken from ``key``."""
    errors = [abs(case[key] / case["measured"] - 1) for case in cases]
    within = [pick for pick in picks if pick["ratio"] <= 1 + GOALS["pick_within"]]
    result = {"cases": len(cases), "median_abs_error": percentile(errors, 0.5), "p90_abs_error": percentile(errors, 0.9),
              "max_abs_error": max(errors) if errors else math.nan,
              "mean_signed_error": statistics.fmean(case[key] / case["measured"] - 1 for case in cases) if cases else math.nan,
              "model_rate_cases": len(picks), "pick_within_5_percent": len(within),
              "pick_share": len(within) / len(picks) if picks else math.nan}
    result["met"] = {"median": result["median_abs_error"] <= GOALS["median_abs_error"],
                     "p90": result["p90_abs_error"] <= GOALS["p90_abs_error"],
                     "pick": result["pick_share"] >= GOALS["pick_share"]}
    return result


def fit_terms(cases: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Per-iteration terms the cost model lacks, fitted on the medians: the framework's overhead
    as fixed seconds plus seconds per transferred byte; the device's optimizer step as seconds
    per device parameter byte."""
    fixed, per_byte = fit_line([case["transfer_bytes"] for case in cases], [case["measured_overhead"] for case in cases])
    step = fit_through_origin([case["device_parameter_bytes"] for case in cases], [case["measured_device_step"] for case in cases])
    return {"overhead_fixed_seconds": fixed, "overhead_seconds_per_transfer_byte": per_byte,
            "device_step_seconds_per_parameter_byte": step,
            "overhead_median_seconds": statistics.median(case["measured_overhead"] for case in cases) if cases else math.nan}


def apply_terms(cases: List[Dict[str, Any]], terms: Dict[str, Any]) -> None:
    """Adds ``predicted_with_terms`` to every case."""
    for case in cases:
        case["predicted_with_terms"] = (case["predicted"] + terms["overhead_fixed_seconds"]
                                        + terms["overhead_seconds_per_transfer_byte"] * case["transfer_bytes"]
                                        + terms["device_step_seconds_per_parameter_byte"] * case["device_parameter_bytes"])


def picks_with(cases: List[Dict[str, Any]], picks: List[Dict[str, Any]], key: str) -> List[Dict[str, Any]]:
    """The picks again, the planner choosing by ``key`` (a cost model with the extra terms)."""
    result = []
    for pick in picks:
        mine = [case for case in cases if case["model"] == pick["model"] and case["rate_label"] == pick["rate_label"]]
        chosen = min(mine, key=lambda case: case[key])
        best = min(mine, key=lambda case: case["measured"])
        result.append(dict(pick, pick=chosen["split"], pick_cut=chosen["cut"], pick_measured=chosen["measured"],
                           ratio=chosen["measured"] / best["measured"]))
    return result


def write_csv(summary: Dict[str, Any], path: str) -> None:
    """One line per (model, rate, split)."""
    fields = ["model", "rate_label", "split", "cut", "device_layers", "transfer_bytes", "predicted", "measured", "measured_min",
              "measured_max", "iterations", "error", "predicted_device", "measured_device", "predicted_server", "measured_server",
              "predicted_link", "measured_link", "measured_overhead", "measured_device_step", "predicted_with_terms"]
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for case in summary["cases"]:
            writer.writerow(case)


def seconds(value: Optional[float]) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def percent(value: float) -> str:
    return f"{value * 100:+.1f}%"


def markdown(out: str) -> str:
    """The Markdown tables of a results directory (runs and traces)."""
    parts = []
    path = os.path.join(out, "results.json")
    if os.path.exists(path):
        with open(path) as file:
            results = json.load(file)
        parts.append(run_markdown(results, summarize(results)))
    for trace_path in sorted(glob.glob(os.path.join(out, "trace-*.json"))):
        with open(trace_path) as file:
            parts.append(trace_markdown(json.load(file)))
    return "\n\n".join(parts) if parts else f"no results in {out}"


def run_markdown(results: Dict[str, Any], summary: Dict[str, Any]) -> str:
    """The sweep's tables."""
    settings, lines = results["settings"], []
    lines.append(f"Machine: {results['machine']['cpu']}, {results['machine']['cores']} cores, torch {results['machine']['torch']}; "
                 f"batch {settings['batch']}, input {settings['size']}x{settings['size']}, device slowdown {settings['slowdown']:g}x, "
                 f"rtt {settings['rtt_seconds']:g} s; {settings.get('rounds', 1)} rounds, each with up to {settings['iterations']} "
                 f"measured iterations per split and rate, {settings['warmup']} warm-up after every change of split; "
                 f"run took {results.get('seconds', 0) / 60:.1f} min.")
    lines.append("")
    lines.append("| model | rate | split | cut | device layers | transfer | predicted | measured (min–max) | error | "
                 "device pred/meas | server pred/meas | link pred/meas | overhead | with terms |")
    lines.append("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for case in summary["cases"]:
        lines.append(f"| {case['model']} | {case['rate_label']} | {case['split']} | {case['cut'][:40]} | {case['device_layers']} | "
                     f"{case['transfer_bytes'] / 1e6:.2f} MB | {seconds(case['predicted'])} | {seconds(case['measured'])} "
                     f"({seconds(case['measured_min'])}–{seconds(case['measured_max'])}) | {percent(case['error'])} | "
                     f"{seconds(case['predicted_device'])}/{seconds(case['measured_device'])} | "
                     f"{seconds(case['predicted_server'])}/{seconds(case['measured_server'])} | "
                     f"{seconds(case['predicted_link'])}/{seconds(case['measured_link'])} | {seconds(case['measured_overhead'])} | "
                     f"{percent(case['predicted_with_terms'] / case['measured'] - 1)} |")
    lines.append("")
    lines.append("| model | rate | planner's split | measured | measured fastest | measured | pick / fastest | within 5% |")
    lines.append("|---|---:|---|---:|---|---:|---:|---|")
    for pick in summary["picks"]:
        lines.append(f"| {pick['model']} | {pick['rate_label']} | {pick['pick']} ({(pick['pick_cut'] or '')[:30]}) | "
                     f"{seconds(pick['pick_measured'])} | {pick['best']} ({pick['best_cut'][:30]}) | {seconds(pick['best_measured'])} | "
                     f"{pick['ratio']:.3f} | {'yes' if pick['ratio'] <= 1.05 else 'no'} |")
    lines.append("")
    for title, key in (("cost model as splitctl has it, each round's own profiles", "goals"),
                       ("with the profiles taken before the run instead", "goals_before"),
                       ("with the fitted terms below", "goals_with_terms")):
        goal = summary.get(key)
        if goal is None:
            continue
        lines.append(f"Goals, {title}: median |error| {goal['median_abs_error'] * 100:.1f}% (goal ≤ 10%: "
                     f"{'met' if goal['met']['median'] else 'missed'}), p90 {goal['p90_abs_error'] * 100:.1f}% (≤ 20%: "
                     f"{'met' if goal['met']['p90'] else 'missed'}), max {goal['max_abs_error'] * 100:.1f}%, mean signed "
                     f"{goal['mean_signed_error'] * 100:+.1f}%; planner's split within 5% of the measured fastest in "
                     f"{goal['pick_within_5_percent']}/{goal['model_rate_cases']} (model, rate) cases (goal ≥ 90%: "
                     f"{'met' if goal['met']['pick'] else 'missed'}).")
        lines.append("")
    terms = summary["terms"]
    lines.append(f"Fitted terms: overhead {terms['overhead_fixed_seconds'] * 1000:.1f} ms per iteration + "
                 f"{terms['overhead_seconds_per_transfer_byte'] * 1e9:.2f} ns per transferred byte (one direction; median "
                 f"overhead {terms['overhead_median_seconds'] * 1000:.1f} ms); device optimizer step "
                 f"{terms['device_step_seconds_per_parameter_byte'] * 1e9:.3f} ns per device parameter byte.")
    excess = summary["warmup_first_iteration_excess"]
    if excess:
        lines.append(f"First iteration at a split or rate (discarded), its time off the link against the measured "
                     f"median's: median {statistics.median(excess) * 100:+.1f}%, max {max(excess) * 100:+.1f}%.")
    return "\n".join(lines)


def split_parts(files: Dict[str, str], device_layers: Sequence[str]) -> Dict[str, float]:
    """Predicted device forward, device backward and server seconds of a split, from the profiles."""
    with open(files["device_profile"]) as file:
        device = json.load(file)["layers"]
    with open(files["server_profile"]) as file:
        server = json.load(file)["layers"]
    on_device = set(device_layers)
    return {"device_forward": sum(device[name]["forward_ms"] for name in on_device if name in device) / 1000,
            "device_backward": sum(device[name]["backward_ms"] for name in on_device if name in device) / 1000,
            "server": sum(times["forward_ms"] + times["backward_ms"] for name, times in server.items() if name not in on_device) / 1000}


def trace_predictions(result: Dict[str, Any], mode: str) -> List[Dict[str, float]]:
    """Per realised iteration of a trace run: the cost model at the rates when it started (the
    simulator's physics) and with each transfer integrated over the trace as it happens."""
    from splitd.torch.plan import split_layers
    from .link import schedule_from_spec
    segments = {split_layers(segment).fingerprint(): segment for segment in result["table"]["segments"]}
    initial = result["initial_split"]
    segments[split_layers(initial).fingerprint()] = next(
        segment for segment in result["table"]["segments"] if set(segment["device_layers"]) == set(initial["device_layers"]))
    parts = {key: split_parts(result["files"], segment["device_layers"]) for key, segment in segments.items()}
    uplink, downlink = schedule_from_spec(result["link"]["uplink"]), schedule_from_spec(result["link"]["downlink"])
    run = result["runs"][mode]
    migrations = {m["phase"]["index"]: m for m in run["migrations"] if isinstance(m.get("phase"), dict)}
    predictions = []
    for row in run["rows"]:
        segment, part = segments[row["split"]], parts[row["split"]]
        moved = migrations.get(row["index"])
        migration = moved["predicted_seconds"] if moved else 0.0
        start = row["at"] - row["migration"]
        at_start = segment["fixed_seconds"] + 8 * segment["transfer_bytes"] * (1 / row["uplink_bps"] + 1 / row["downlink_bps"]) + migration
        moment = start + migration + part["device_forward"]
        delay = result["link"].get("one_way_delay", 0.0)
        moment = uplink.finish(moment, 8 * segment["transfer_bytes"]) + delay + part["server"]
        moment = downlink.finish(moment, 8 * segment["transfer_bytes"]) + delay + part["device_backward"]
        predictions.append({"realised": row["total"], "at_start": at_start, "integrated": moment - start})
    return predictions


def trace_markdown(result: Dict[str, Any]) -> str:
    """The trace run against the simulator."""
    trace, lines = result["trace"], []
    lines.append(f"Trace run: {result['model']} over {trace['name']} ({trace['seconds']:.0f} s from {trace['start']:g} s, "
                 f"rates x {trace['scale']:g}: mean uplink {trace['mean_uplink_bps'] / 1e6:.1f} Mbit/s, downlink "
                 f"{trace['mean_downlink_bps'] / 1e6:.1f} Mbit/s; {len(result['table']['segments'])} table segments).")
    lines.append("")
    lines.append("| policy | iterations (real) | mean delay real | iterations (simulated) | mean delay simulated | "
                 "difference | switches real / simulated | migration s real / simulated |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    simulated = {policy["policy"]: policy for policy in result["simulated"].get("policies", [])}
    for mode, run in result["runs"].items():
        rows = run["rows"]
        realised = realised_mean(rows, trace["seconds"])
        policy = simulated.get(mode, {})
        mean_sim = policy.get("mean_delay_seconds", math.nan)
        lines.append(f"| {mode} | {realised['iterations']:.2f} | {seconds(realised['mean'])} | "
                     f"{policy.get('iterations', math.nan):.2f} | {seconds(mean_sim)} | {percent(realised['mean'] / mean_sim - 1)} | "
                     f"{len(run['migrations'])} / {policy.get('plan_changes', '?')} | "
                     f"{sum(m['seconds'] for m in run['migrations']):.2f} / {seconds(policy.get('migration_seconds'))} |")
    lines.append("")
    lines.append("| policy | iterations | realised total | predicted at start rates (simulator) | integrated over the trace | "
                 "median / p90 |error| per iteration, at start rates | integrated |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for mode in result["runs"]:
        predictions = trace_predictions(result, mode)
        if not predictions:
            continue
        realised = sum(p["realised"] for p in predictions)
        start_errors = [abs(p["at_start"] / p["realised"] - 1) for p in predictions]
        integrated_errors = [abs(p["integrated"] / p["realised"] - 1) for p in predictions]
        lines.append(f"| {mode} | {len(predictions)} | {realised:.1f} s | {sum(p['at_start'] for p in predictions):.1f} s | "
                     f"{sum(p['integrated'] for p in predictions):.1f} s | {percentile(start_errors, 0.5) * 100:.1f}% / "
                     f"{percentile(start_errors, 0.9) * 100:.1f}% | {percentile(integrated_errors, 0.5) * 100:.1f}% / "
                     f"{percentile(integrated_errors, 0.9) * 100:.1f}% |")
    return "\n".join(lines)


def realised_mean(rows: List[Dict[str, Any]], duration: float) -> Dict[str, float]:
    """Iterations completed within ``duration`` (the unfinished last one by its fraction) and the
    mean delay, as the simulator counts them."""
    count = 0.0
    for row in rows:
        start, length = row["at"] - row["migration"], row["total"]
        if start + length <= duration:
            count += 1
        elif start < duration:
            count += (duration - start) / length
    return {"iterations": count, "mean": duration / count if count else math.nan}
