"""The shortcut report: report.json (the issue's schema plus details), report.md and PNG plots.

Plots per trick: ``NAME-frontier.png`` (loss against scale for both arms: every run, per-scale
geometric means, the fitted law, the theory's curves dashed) and ``NAME-multiplier.png`` (M against
the baseline's scale: the theory's line, the measured M at each target with its 95% interval, lines
at 1×, 10× and 100×). Tricks sharing a group also get ``GROUP-frontiers.png``, their frontiers on
one plot (for the perceptron: no pruning, perfect and imperfect probes: the issue's figure).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np

SCHEMA = "shortcut-report/1"


def _fmt(x, digits: int = 3) -> str:
    if x is None:
        return "–"
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞"
    return f"{x:.{digits}g}"


def _ci(ci) -> str:
    if not ci:
        return ""
    return f"[{_fmt(ci[0])}, {_fmt(ci[1])}]"


def short_verdict(r) -> str:
    m = r.measurement
    if m is None:
        return "not measured"
    if m.status != "measured":
        return "beyond the runs' range"
    words = ["no effect" if m.no_effect else f"{m.trend}"]
    if m.reaches(100.0):
        words.append("≥100×")
    elif m.reaches(10.0):
        words.append("≥10×")
    if r.agrees is True:
        words.append("agrees with theory")
    elif r.agrees is False:
        words.append("disagrees with theory")
    else:
        words.append("no theory" if r.entry.theory is None else "theory not compared")
    st = r.shape_test
    if st is not None and st["passed"] is not None:
        claim = {"faster": "faster than a power law", "reverts": "reverts to a power law"}[st["expected"]]
        words.append(f"shape: {claim} {'shown' if st['passed'] else 'not shown'}"
                     + (", theory's shape inside" if st["matches_theory"] else ""))
    return ", ".join(words)


def table_rows(results) -> list[dict]:
    """One row per trick for the CLI table and the markdown headline table."""
    rows = []
    for r in results:
        j = r.as_json()
        th, me = j["theory"], j["measured"]
        theory = "none" if not th["available"] else f"{_fmt(th['multiplier'])} ({th['class']})"
        if me.get("multiplier") is not None:
            measured = f"{_fmt(me['multiplier'])} {_ci(me['ci95'])}"
            at = f"{_fmt(me.get('at_loss'))}"
        elif me.get("bound"):
            b = me["bound"]
            measured = f"{'>' if b['kind'] == 'lower' else '<'} {_fmt(b['value'])}"
            at = "–"
        else:
            measured, at = "–", "–"
        rows.append({
            "trick": r.entry.name, "kind": r.entry.kind, "axis": r.entry.scale_axis,
            "theory": theory, "crosses_10x": _fmt(th.get("crosses_10x_at")) if th["available"] else "–",
            "measured": measured, "at_loss": at, "trend": me.get("trend") or "–",
            "slope": f"{_fmt(me.get('slope'))} {_ci(me.get('slope_ci95'))}" if me.get("slope") is not None else "–",
            "verdict": short_verdict(r),
        })
    return rows


def report_json(results, summary: dict, meta: dict) -> dict:
    return {"schema": SCHEMA, **meta, "tricks": [r.as_json() for r in results], "summary": summary["text"],
            "summary_detail": summary}


# =================================================================================================
# Plots
# =================================================================================================

def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _geo_means(points) -> tuple[np.ndarray, np.ndarray]:
    from validate.multiplier import group_scales

    s = np.array([p[0] for p in points])
    l = np.array([p[1] for p in points])
    g, values = group_scales(s)
    return values, np.array([math.exp(np.mean(np.log(l[g == j]))) for j in range(values.size)])


def plot_frontier(r, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    colors = {"baseline": "C0", "trick": "C3"}
    fits = r.measurement.samples.get("fits") if r.measurement is not None else None
    lo_all, hi_all = math.inf, 0.0
    for k, arm_name in enumerate(("baseline", "trick")):
        a = r.arms[arm_name]
        arm = r.entry.protocol(r.mode).arms()[arm_name]
        if a.chosen:  # a frontier arm: every setting's means, faint
            for setting, pts in a.candidates.items():
                x, y = _geo_means(pts)
                ax.plot(x, y, "-", color=colors[arm_name], alpha=0.18, lw=1)
        if a.data is None:
            continue
        lo_all, hi_all = min(lo_all, a.data.scale.min()), max(hi_all, a.data.scale.max())
        ax.scatter(a.data.scale, a.data.loss, s=9, color=colors[arm_name], alpha=0.45, lw=0)
        x, y = _geo_means(list(zip(a.data.scale, a.data.loss)))
        ax.plot(x, y, "o", color=colors[arm_name], ms=5, label=f"{arm_name}: {arm.label}")
        if fits is not None:
            f = fits[k]
            from validate.multiplier import law_curve

            grid = np.geomspace(a.data.scale.min(), a.data.scale.max(), 100)
            ax.plot(grid, law_curve(f.law, f.params_row, grid)[0], "-", color=colors[arm_name], lw=1.5,
                    label=f"{arm_name}: fitted {f.law.name}")
    if r.theory is not None and hi_all > 0:
        t = r.theory
        keep = (t.scale >= lo_all / 4) & (t.scale <= hi_all * 4)
        ax.plot(t.scale[keep], t.baseline[keep], "--", color=colors["baseline"], lw=1.2, label="theory: baseline")
        ax.plot(t.scale[keep], t.trick[keep], "--", color=colors["trick"], lw=1.2, label="theory: trick")
    if r.measurement is not None:
        for tg in r.measurement.targets:
            ax.axhline(tg["loss"], color="0.6", lw=0.6, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"{r.entry.scale_axis}: {r.entry.scale_unit}")
    ax.set_ylabel("test error")
    ax.set_title(f"{r.entry.name}: loss against scale ({r.mode})", fontsize=10)
    ax.legend(fontsize=6.5, loc="best")
    ax.grid(True, which="both", alpha=0.2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_multiplier(r, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    m = r.measurement
    xs = []
    if r.theory is not None:
        prof = r.comparison.profile if r.comparison is not None else r.theory.profile()
        if prof["scale"]:
            ax.plot(prof["scale"], prof["multiplier"], "-", color="k", lw=1.3, label=f"theory ({prof['class']})")
    if m is not None and m.status == "measured":
        x = np.array([t["x_base"] for t in m.targets])
        y = np.array([t["multiplier"] for t in m.targets])
        lo = np.array([t["ci95"][0] for t in m.targets])
        hi = np.array([t["ci95"][1] for t in m.targets])
        lo = np.where(np.isfinite(lo), lo, y)
        hi = np.where(np.isfinite(hi), hi, y * 10)
        ax.errorbar(x, y, yerr=[np.maximum(y - lo, 0), np.maximum(hi - y, 0)], fmt="o", color="C3", capsize=3,
                    label=f"measured M, 95% CI (trend: {m.trend})")
        xs = list(x)
        if r.comparison is not None:
            tm = np.array(r.comparison.multiplier, dtype=float)
            ax.plot(x, tm, "x", color="k", ms=6, label="theory at the same losses")
    for level, style in ((1.0, "-"), (10.0, "--"), (100.0, ":")):
        ax.axhline(level, color="0.5", lw=0.8, ls=style)
    if xs and r.theory is not None:
        ax.set_xlim(min(xs) / 4, max(xs) * 8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"baseline {r.entry.scale_axis} at the same loss")
    ax.set_ylabel("multiplier M = x_base / x_trick")
    ax.set_title(f"{r.entry.name}: effective-{r.entry.scale_axis} multiplier ({r.mode})", fontsize=10)
    if ax.get_legend_handles_labels()[0]:  # a trick measured without overlap has nothing to label
        ax.legend(fontsize=7, loc="best")
    ax.grid(True, which="both", alpha=0.2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_group(group: str, results, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    first = results[0]
    b = first.arms["baseline"].data
    if b is not None:
        x, y = _geo_means(list(zip(b.scale, b.loss)))
        ax.plot(x, y, "o-", color="k", label=f"baseline: {first.entry.protocol(first.mode).baseline.label}")
    if first.theory is not None:
        ax.plot(first.theory.scale, first.theory.baseline, "--", color="k", lw=1)
    for i, r in enumerate(results):
        t = r.arms["trick"].data
        c = f"C{(i * 3 + 3) % 10}"
        if t is not None:
            x, y = _geo_means(list(zip(t.scale, t.loss)))
            sh = r.shapes.get("trick", {})
            desc = ""
            if sh.get("peak"):
                desc = f" (local exponent: peak {sh['peak']['exponent']:.2g}, last {sh['last']['exponent']:.2g})"
            ax.plot(x, y, "o-", color=c, label=f"{r.entry.name}: trick frontier{desc}")
        if r.theory is not None:
            ax.plot(r.theory.scale, r.theory.trick, "--", color=c, lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"{first.entry.scale_axis}: {first.entry.scale_unit}")
    ax.set_ylabel("test error")
    ax.set_title(f"{group}: frontiers (points: runs' geometric means; dashed: theory)", fontsize=9)
    ax.legend(fontsize=6.5, loc="best")
    ax.grid(True, which="both", alpha=0.2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# =================================================================================================
# Markdown
# =================================================================================================

def _md_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    head = "| " + " | ".join(title for _, title in columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(str(row.get(k, "")).replace("|", "/") for k, _ in columns) + " |" for row in rows]
    return "\n".join([head, sep, *body])


HEADLINE_COLUMNS = [("trick", "trick"), ("kind", "kind"), ("axis", "scale"), ("theory", "theory M (class)"),
                    ("crosses_10x", "theory 10× at"), ("measured", "measured M [95% CI]"), ("at_loss", "at loss"),
                    ("trend", "trend"), ("verdict", "verdict")]

METHOD = """\
## Method (the stated tests)

- **Runs**: every number comes from the runs in the results store named above (one row per run, keyed
  by simulator and full configuration: `python cli.py runs list --store STORE`). Each trick has a baseline
  arm and a trick arm, each run over ≥ 4 scales spanning ≥ 16× with ≥ 3 seeds.
- **Frontier fits**: each arm's loss against scale is fitted with the project's fitter
  (`validate/fit.py`: summed Huber loss on log losses, δ = 1e-3, multi-start L-BFGS) using the law named
  per trick (default `power-law`, L = E + A·x^(−α)), and inverted to the scale x_arm(L) an arm needs.
- **Targets**: target losses are spaced evenly in log loss across the overlap of the losses both fitted
  arms reach inside their measured scale windows (times the stated extrapolation factor; 1 = none).
- **Multiplier**: M(L) = x_base(L) / x_trick(L) at each target. The headline value is at the lowest
  target loss (the largest scales both arms reached).
- **Intervals**: bootstrap (resampling runs within each scale, or whole seeds for learning-curve runs,
  within each arm; both arms refitted), 2.5–97.5 percentiles.
- **Trend**: the least-squares slope of log M against log x_base across the targets; its 95% interval
  containing 0 → *constant*, above 0 → *growing*, below → *shrinking*.
- **No effect**: M's 95% interval contains 1 at every target.
- **Reaches 10× (100×)**: the lower 95% bound of M is ≥ 10 (100) at some target.
- **Agrees with theory**: the theory's M at every target lies inside that target's 95% interval, and the
  theory's slope across the same targets lies inside the measured slope's 95% interval (stricter than a
  single 95% test). A trick without theory says so.
- **Theory class and crossings**: from the theory's curves on its own grid (stated per trick): *constant*
  when log10 M stays within 0.01 of its first value, else growing/shrinking; the 10×/100× crossing is the
  least baseline scale on the grid where the theory's M reaches it.
- **Frontier shape**: local exponents −Δlog L̄/Δlog x between consecutive scales (L̄ the geometric mean)
  with 95% intervals (resampling runs within each scale).
- **Shape test** (tricks with a qualitative claim, e.g. perceptron pruning): the excess exponent κ =
  s_trick − s_baseline on each segment both arms ran (a trick that rescales or changes the exponent of the
  baseline's power law has constant κ). *Faster than a power law*: κ rises significantly between two
  segments (the interval of κ_j − κ_k above 0 for some k < j). *Reverts to a power law*: κ rises and then
  falls back significantly by the last segment (whether it is all the way back, κ's 95% interval on the
  last segment containing 0, is said apart). Pair comparisons use Bonferroni-widened intervals
  (1 − 0.05/pairs). *Matches the theory*: the theory's κ lies inside κ's 95% interval on every segment.
"""


def markdown(results, summary: dict, meta: dict, plots: dict) -> str:
    lines = [f"# Shortcut report ({meta['mode']} mode)", ""]
    lines.append(f"Does any trick beat plain scaling by 10–100×? Command: `{meta['command']}`.")
    lines.append("")
    lines.append(f"- Results store: `{meta['store']}` ({meta['runs']['planned']} runs planned; "
                 f"{meta['runs']['ran_now']} run now, {meta['runs']['already_in_store']} already in the store, "
                 f"{meta['runs']['failed']} failed)")
    lines.append(f"- Machine: {meta['machine']}; devices of the runs: {', '.join(meta['devices']) or '–'}")
    lines.append(f"- Code version: {meta['code_version']}; written {meta['created']}; "
                 f"wall time {meta['wall_time_s']:.0f} s (runs {meta['run_time_s']:.0f} s, measurement {meta['measure_time_s']:.0f} s)")
    if meta.get("skipped_modules"):
        lines.append(f"- Catalogue modules not available in this checkout: {', '.join(meta['skipped_modules'])}")
    lines += ["", "## Headline", "", _md_table(table_rows(results), HEADLINE_COLUMNS), "", "**Summary.** " + summary["text"], ""]
    groups = plots.get("groups", {})
    for g, path in groups.items():
        lines += [f"![{g} frontiers]({path})", ""]
    for r in results:
        j = r.as_json()
        e = r.entry
        proto = e.protocol(r.mode)
        lines += [f"## {e.name} ({e.kind})", ""]
        lines.append(f"*Setting*: {e.setting}. *Trick*: {e.description}.")
        lines.append("")
        lines.append(f"*Scale axis*: {e.scale_axis} = {e.scale_unit}; why: {e.scale_why}.")
        lines.append("")
        for arm_name, a in r.arms.items():
            arm = proto.arms()[arm_name]
            d = a.data.design() if a.data is not None else None
            where = (f"scales {', '.join(_fmt(s) for s in d['scales'])} ({_fmt(d['span'])}×), seeds {d['seeds']}"
                     if d else "no finished runs")
            lines.append(f"- **{arm_name}**: {arm.label}; {a.runs_ok}/{a.runs_planned} runs ok "
                         f"({a.runs_failed} failed, {a.runs_missing} missing); {where}")
            if a.chosen:
                lines.append("  - best setting per scale: " + "; ".join(
                    f"{_fmt(c['scale'])}: {', '.join(f'{k} = {v}' for k, v in c['setting'].items())}" for c in a.chosen))
        lines.append("")
        lines.append(f"**Verdict.** {r.verdict}")
        lines.append("")
        m = r.measurement
        if m is not None:
            lines.append(f"Fits ({m.law}): " + "; ".join(
                f"{k}: " + ", ".join(f"{p} = {_fmt(v, 4)}" for p, v in f["params"].items()) +
                f" (largest miss of a scale's geometric mean: {100 * (math.exp(f['max_scale_log_residual']) - 1):.0f}%)" +
                ("" if f["converged"] else " (not converged)") for k, f in m.fits.items()))
            lines.append("")
        if m is not None and m.status == "measured":
            trows = []
            th = r.comparison.multiplier if r.comparison is not None else [None] * len(m.targets)
            cov = r.comparison.covered if r.comparison is not None else [None] * len(m.targets)
            for t, tm, c in zip(m.targets, th, cov):
                trows.append({"loss": _fmt(t["loss"]), "xb": _fmt(t["x_base"]), "xt": _fmt(t["x_trick"]),
                              "m": _fmt(t["multiplier"]), "ci": _ci(t["ci95"]), "th": _fmt(tm),
                              "cov": "–" if c is None else ("yes" if c else "no")})
            lines.append(_md_table(trows, [("loss", "target loss"), ("xb", f"baseline {e.scale_axis}"),
                                           ("xt", f"trick {e.scale_axis}"), ("m", "M"), ("ci", "95% CI"),
                                           ("th", "theory M"), ("cov", "theory inside CI")]))
            lines.append("")
            slope_line = f"Slope of log M against log x_base: {_fmt(m.slope)} {_ci(m.slope_ci95)} → {m.trend}"
            if r.comparison is not None:
                slope_line += f"; theory's slope over the same targets: {_fmt(r.comparison.slope)}"
            lines.append(slope_line + f". Bootstrap: {m.n_valid}/{m.n_bootstrap} replicates ({m.resample} resampling).")
            lines.append("")
        elif m is not None:
            lines.append(f"Not measured inside the runs' range: {m.note}")
            lines.append("")
        if r.shapes:
            srows = []
            for arm_name, sh in r.shapes.items():
                th_ex = sh.get("theory") or [None] * len(sh["exponent"])
                for seg, ex, ci, te in zip(sh["segments"], sh["exponent"], sh["ci95"], th_ex):
                    srows.append({"arm": arm_name, "seg": f"{_fmt(seg[0])}–{_fmt(seg[1])}", "ex": _fmt(ex), "ci": _ci(ci),
                                  "th": _fmt(te)})
            lines.append("Frontier shape (local exponents −Δlog L̄/Δlog x between consecutive scales):")
            lines.append("")
            lines.append(_md_table(srows, [("arm", "arm"), ("seg", e.scale_axis), ("ex", "local exponent"),
                                           ("ci", "95% CI"), ("th", "theory")]))
            lines.append("")
            for arm_name, sh in r.shapes.items():
                lines.append(f"- {arm_name}: {sh['shape']}")
            lines.append("")
        st = r.shape_test
        if st is not None:
            words = {"faster": "falls faster than a power law", "reverts": "reverts to a power law"}
            lines.append(f"**Shape test** (claim: the frontier {words[st['expected']]}; "
                         f"{'shown' if st['passed'] else 'not shown' if st['passed'] is False else 'not tested'}): "
                         f"{st['statement']}. Excess exponent κ = s_trick − s_baseline per segment (0: parallel to the "
                         "baseline's power law; a significant rise of κ: faster than any power law):")
            lines.append("")
            th_k = st.get("theory_excess_exponent") or [None] * len(st["segments"])
            krows = [{"seg": f"{_fmt(sg[0])}–{_fmt(sg[1])}", "k": _fmt(k), "ci": _ci(ci), "th": _fmt(tk)}
                     for sg, k, ci, tk in zip(st["segments"], st["excess_exponent"], st["ci95"], th_k)]
            lines.append(_md_table(krows, [("seg", e.scale_axis), ("k", "κ"), ("ci", "95% CI"), ("th", "theory κ")]))
            lines.append("")
        th = j["theory"]
        if th["available"]:
            lines.append(f"Theory: {th['source']}. Class on its grid {_fmt(th['grid'][0]) if th.get('grid') else ''}–"
                         f"{_fmt(th['grid'][1]) if th.get('grid') else ''}: {th['class']}; reaches 10× at {e.scale_axis} = "
                         f"{_fmt(th['crosses_10x_at'])}, 100× at {_fmt(th['crosses_100x_at'])} (– = not on the grid). {e.theory_note}")
        else:
            lines.append(f"Theory: {th.get('error') or e.theory_source}.")
        lines.append("")
        for kind in ("frontier", "multiplier"):
            p = plots.get(e.name, {}).get(kind)
            if p:
                lines.append(f"![{e.name} {kind}]({p})")
        lines.append("")
    lines.append(METHOD)
    return "\n".join(lines) + "\n"


def write_report(results, summary: dict, meta: dict, out_dir: Path) -> dict:
    """Write plots, report.json and report.md into ``out_dir`` (which exists); returns the JSON."""
    out_dir = Path(out_dir)
    plots: dict = {"groups": {}}
    for r in results:
        plots[r.entry.name] = {}
        if r.measurement is None and all(a.data is None for a in r.arms.values()):
            continue
        f = f"{r.entry.name}-frontier.png"
        plot_frontier(r, out_dir / f)
        plots[r.entry.name]["frontier"] = f
        if r.measurement is not None or r.theory is not None:
            f = f"{r.entry.name}-multiplier.png"
            plot_multiplier(r, out_dir / f)
            plots[r.entry.name]["multiplier"] = f
    groups: dict = {}
    for r in results:
        if r.entry.group:
            groups.setdefault(r.entry.group, []).append(r)
    for g, rs in groups.items():
        same_baseline = len({json.dumps(r.entry.protocol(r.mode).baseline.describe(), sort_keys=True, default=str)
                             for r in rs}) == 1
        if len(rs) >= 2 and same_baseline and any(r.arms["trick"].data is not None for r in rs):
            f = f"{g}-frontiers.png"
            plot_group(g, rs, out_dir / f)
            plots["groups"][g] = f
    from validate.store import plain

    data = report_json(results, summary, meta)
    data["plots"] = plots
    text = json.dumps(plain(data), indent=1, allow_nan=False)  # non-finite numbers become null
    (out_dir / "report.json").write_text(text + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(markdown(results, summary, meta, plots), encoding="utf-8")
    return json.loads(text)
