"""The report: loss agreement, ratios to PyTorch eager, and the tables
(Markdown) and JSON made from the records of a run.

A record is one (workload, mode) run: the result of `run_one.run` plus
"workload" and "mode".
"""

from __future__ import annotations

import json

from . import modes

DEFAULT_TOLERANCE = 1e-3  # relative, on the loss after the same steps


def _reference(rows: dict) -> dict | None:
    for mode in (modes.REFERENCE, modes.FALLBACK_REFERENCE):
        if rows.get(mode, {}).get("status") == "ok":
            return rows[mode]
    return None


def annotate(records: list, tolerances: dict) -> str | None:
    """Adds `ratio` (time / reference time) and `loss_agrees` to every ok
    record; returns the reference mode's name (None if none ran)."""
    by_workload: dict = {}
    for r in records:
        by_workload.setdefault(r["workload"], {})[r["mode"]] = r
    used = None
    for workload, rows in by_workload.items():
        ref = _reference(rows)
        if ref is None:
            continue
        used = ref["mode"]
        tol = tolerances.get(workload, DEFAULT_TOLERANCE)
        for r in rows.values():
            if r["status"] == "ok":
                r["ratio"] = r["ms_per_iter"] / ref["ms_per_iter"]
                r["loss_agrees"] = abs(r["loss"] - ref["loss"]) <= tol * max(1.0, abs(ref["loss"]))
    return used


def failures(records: list) -> list:
    """Records whose loss disagrees with the reference, or that crashed."""
    return [
        r
        for r in records
        if r["status"].startswith("error")
        or (r["status"] == "ok" and not r.get("loss_agrees", True))
    ]


def _cell(r: dict | None, value) -> str:
    if r is None:
        return ""
    if r["status"] == "ok":
        return value(r) + ("" if r.get("loss_agrees", True) else " ✗")
    if r["status"].startswith("not supported"):
        return "n/s"
    if r["status"].startswith("error"):
        return "error"
    if r["status"].startswith("timeout"):
        return "timeout"
    return "–"


def _matrix(records, run_modes, value) -> list:
    workloads = list(dict.fromkeys(r["workload"] for r in records))
    index = {(r["workload"], r["mode"]): r for r in records}
    lines = ["| workload | " + " | ".join(run_modes) + " |"]
    lines.append("| --- |" + " ---: |" * len(run_modes))
    for w in workloads:
        cells = [_cell(index.get((w, m)), value) for m in run_modes]
        lines.append(f"| {w} | " + " | ".join(cells) + " |")
    return lines


def markdown(records: list, reference: str | None, machine: str, command: str) -> str:
    ran = [m for m in modes.MODES if any(r["mode"] == m and r["status"] == "ok" for r in records)]
    shown = [m for m in modes.MODES if any(r["mode"] == m for r in records)]
    out = [f"Command: `{command}`", f"Machine: {machine}", ""]
    out.append(
        "Milliseconds per training iteration (median of the timed windows ± half their range):"
    )
    out.append("")
    out += _matrix(records, shown, lambda r: f"{r['ms_per_iter']:.2f} ±{r['spread']:.0%}")
    if reference:
        out += ["", f"Time relative to {reference} (lower is faster):", ""]
        out += _matrix(records, shown, lambda r: f"{r['ratio']:.2f}")
    out += [
        "",
        "Per run: first call and start-up cost (time to steady speed beyond the steady",
        "cost of those steps, i.e. compilation), peak memory, loss after the same steps:",
        "",
    ]
    out.append("| workload | mode | first call ms | start-up ms | peak MB | loss | agrees |")
    out.append("| --- | --- | ---: | ---: | ---: | ---: | :---: |")
    for r in records:
        if r["status"] != "ok":
            continue
        agrees = {True: "✓", False: "✗", None: "no reference"}[r.get("loss_agrees")]
        out.append(
            f"| {r['workload']} | {r['mode']} | {r['first_call_ms']:.0f} | {r['startup_ms']:.0f}"
            f" | {r['peak_memory_mb']:.0f} | {r['loss']:.5f} | {agrees} |"
        )
    notes = _notes(records, ran)
    if notes:
        out += [""] + notes
    return "\n".join(out)


def _notes(records: list, ran: list) -> list:
    """Why cells are empty (n/s, –, error, timeout; modes that ran nowhere), and
    which ops a janus graph still ran through eager kernels."""
    seen, notes = set(), []
    for r in records:
        if r["status"] == "ok":
            continue
        key = (r["mode"], r["status"]) if r["mode"] not in ran else (r["workload"], r["mode"])
        if key in seen:
            continue
        seen.add(key)
        where = r["mode"] if r["mode"] not in ran else f"{r['workload']} / {r['mode']}"
        notes.append(f"- {where}: {r['status']}")
    for r in records:
        jit = r.get("jit")
        if jit and r["status"] == "ok":
            line = f"- {r['workload']} / {r['mode']}: {jit['translations']} translation(s)"
            line += f", {jit['graphs']} graph(s) for {jit['functions']} step function(s)"
            if jit["first_reason"]:
                line += f"; first break: {jit['first_reason']}"
            if jit.get("hook_graphs"):
                line += "; the import-time hook also compiled " + ", ".join(jit["hook_graphs"])
            notes.append(line)
        if r.get("fallback_ops"):
            ops = ", ".join(r["fallback_ops"])
            notes.append(
                f"- {r['workload']} / {r['mode']}: eager kernels inside the graph for {ops}"
            )
    return notes


def write_json(path, records: list, machine: dict, settings: dict) -> None:
    with open(path, "w") as f:
        json.dump({"machine": machine, "settings": settings, "results": records}, f, indent=1)
