"""Ablation driver: several recipes trained on identical data and seeds, one table.

``python -m fp4train.ablate --suite NAME --steps N --out DIR`` trains every
recipe of a suite one after another with :func:`fp4train.train.run` (same
model, seed, data and hyperparameters; only the recipe differs), then writes
into DIR:

- ``results.md``: a header (suite, model, steps, tokens, seed, the exact
  command) and one table row per recipe: final validation loss, the gap to
  the baseline in %, the token cost and tokens/s;
- ``results.json``: every number, validation and training curves included;
- ``val_loss.png``: validation loss against tokens, one line per recipe, the
  baseline drawn bold.

Each recipe trains in ``DIR/runs/<label>`` (its ``log.jsonl``, checkpoints,
``summary.json``) and its recipe is saved as ``DIR/recipes/<label>.json``.
Runs are resumable: the same command again skips the finished runs, resumes
an interrupted one from its checkpoint and trains the rest, then rewrites the
three result files.

Token cost
----------
With L* the baseline's final validation loss and T its token count at that
evaluation, a run's validation curve (linear interpolation between its
evaluations) first reaches L* at t tokens; its token cost is
``100 * (t / T - 1)`` percent (negative: it got there sooner), or "not
reached". The gap is ``100 * (L - L*) / L*`` with L the run's final
validation loss. Both are the figures FP4 training papers report: the gap
says how much worse the end point is, the cost how much longer one would
have to train to make up for it.

Public
------
SUITES
    name -> (entries, baseline label); an entry is a preset name or a
    ``(label, Recipe)`` pair.
SUITE_DESCRIPTIONS
    name -> one line saying what the suite asks.
suite_entries(suite, recipes=None, baseline=None)
    The ``[(label, recipe)]`` list and baseline label a run would train.
tokens_to_reach(tokens, losses, target)
    First token count at which a piecewise-linear loss curve is <= target.
run(suite, steps, out, ...)
    Train (or resume) a suite and write the results; returns paths and rows.
format_table(rows)
    The markdown table of :func:`run`'s rows.
main(argv=None)
    The command line.
"""
import argparse
import json
import math
import numbers
import os
import re
import shlex
import shutil
import sys
import time
from collections import namedtuple
from pathlib import Path

from . import recipes as _recipes
from .hadamard import SIGN_POLICIES, HadamardSpec
from .recipes import GEMMS, Recipe

__all__ = ["SUITES", "SUITE_DESCRIPTIONS", "Suite", "format_table", "main", "run",
           "suite_entries", "tokens_to_reach"]

#: A suite: its entries (preset names or ``(label, Recipe)``) and the baseline's label.
Suite = namedtuple("Suite", ["entries", "baseline"])

#: Hadamard sizes of the ``hadamard`` suite (the wgrad transform along tokens).
HADAMARD_SIZES = (16, 32, 64, 128)

#: MX scale rules of the ``formats`` suite.
FORMAT_SCALE_RULES = ("floor", "rceil", "even")

#: Output file names inside ``out``.
MARKDOWN_NAME, JSON_NAME, PLOT_NAME = "results.md", "results.json", "val_loss.png"

#: Written by run() so that a rerun into the same folder can check its settings.
_CONFIG_NAME = "ablate_config.json"

#: The file whose presence means "this run folder has a checkpoint" (fp4train.checkpoint).
_CHECKPOINT_MANIFEST = "checkpoint.json"

_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")

#: summary.json statuses of runs that stopped before their last step on purpose
#: (a non-finite loss): rerunning would only repeat it, so they count as done.
_STOPPED_STATUSES = ("non_finite", "diverged")


# --------------------------------------------------------------------------
# suites
# --------------------------------------------------------------------------

def _wgrad_hadamard(size, signs):
    """mxfp4_all with a Hadamard of ``size`` and sign policy ``signs`` on wgrad.

    Seed 0 for 'fixed' (one vector drawn once) and 'per_step' (redrawn from
    (0, step)), as the presets use; 'none' is the plain Sylvester transform.
    """
    label = f"mxfp4_all_wgrad_h{size}_{signs}"
    recipe = _recipes.get("mxfp4_all").replace(wgrad__hadamard=HadamardSpec(size, signs, 0),
                                               name=label)
    return label, recipe


def _mxfp4_scale_rule(rule):
    """mxfp4_all with every operand's E8M0 scales under ``rule``."""
    label = f"mxfp4_all_{rule}"
    changes = {f"{g}__{op}__scale_rule": rule for g in GEMMS for op in ("a", "b")}
    return label, _recipes.get("mxfp4_all").replace(name=label, **changes)


def _nvfp4_all():
    """NVFP4 (1-D blocks of 16, nearest) for both operands of all three GEMMs:
    the format alone, without the stochastic rounding, 2-D tiles and Hadamard
    of the published NVFP4 recipes."""
    op = _recipes.OperandConfig(format="nvfp4")
    g = _recipes.GemmConfig(a=op, b=op)
    return "nvfp4_all", Recipe(fprop=g, dgrad=g, wgrad=g, name="nvfp4_all")


SUITES = {
    "demo": Suite(["fp32", "mxfp4_all", "nvfp4_2d_rht16"], "fp32"),
    "staging": Suite(["fp32", "bf16", "fp8", "mxfp4_fprop", "mxfp4_fprop_dgrad", "mxfp4_all",
                      "mxfp4_all_h16", "mxfp4_all_rht16_per_step", "mxfp4_all_sr_wgrad"],
                     "fp32"),
    "papers": Suite(["bf16", "mxfp4_bwd_rht_sr", "mxfp4_all_h16", "nvfp4_rtn_fwd_sr_bwd",
                     "nvfp4_2d_rht16"], "bf16"),
    "hadamard": Suite(["bf16", "mxfp4_all"]
                      + [_wgrad_hadamard(s, p) for s in HADAMARD_SIZES for p in SIGN_POLICIES],
                      "bf16"),
    "formats": Suite(["bf16"] + [_mxfp4_scale_rule(r) for r in FORMAT_SCALE_RULES]
                     + [_nvfp4_all()], "bf16"),
}

SUITE_DESCRIPTIONS = {
    "demo": "fp32 against two FP4 recipes (the training demo)",
    "staging": "MXFP4 introduced GEMM by GEMM (fprop, dgrad, wgrad) and the wgrad stabilizers",
    "papers": "bf16 against the four published FP4 recipes",
    "hadamard": "mxfp4_all with a wgrad Hadamard of size 16/32/64/128 x signs "
                "none/fixed/per_step",
    "formats": "MXFP4 under the floor/rceil/even scale rules against NVFP4, all GEMMs, "
               "nearest rounding",
}


def _entry(e, where):
    """(label, recipe) of one suite entry; recipe is a preset name or a Recipe."""
    if isinstance(e, str):
        _recipes.get(e)  # raises for an unknown preset, listing the valid names
        return e, e
    if isinstance(e, Recipe):
        e = (e.name, e)
    if (isinstance(e, (tuple, list)) and len(e) == 2 and isinstance(e[0], str)
            and isinstance(e[1], Recipe)):
        if not _LABEL_RE.match(e[0]):
            raise ValueError(f"argument '{where}': expected labels of letters, digits and "
                             f"_.+- (they name folders), got {e[0]!r}")
        return e[0], e[1].with_name(e[0])
    raise TypeError(f"argument '{where}': expected a preset name, a Recipe or a "
                    f"(label, Recipe) pair, got {type(e).__name__}")


def _split(recipes):
    """'a,b' or an iterable of names -> list of names."""
    if isinstance(recipes, str):
        return [r.strip() for r in recipes.split(",") if r.strip()]
    try:
        names = list(recipes)
    except TypeError:
        raise TypeError(f"argument 'recipes': expected a comma-separated str or a list of "
                        f"labels, got {type(recipes).__name__}") from None
    for n in names:
        if not isinstance(n, str):
            raise TypeError(f"argument 'recipes': expected labels as str, got "
                            f"{type(n).__name__}")
    return names


def suite_entries(suite, recipes=None, baseline=None):
    """The recipes a run of ``suite`` trains, in order, and the baseline's label.

    Parameters
    ----------
    suite : str or sequence
        A name of :data:`SUITES`, or a list of entries (preset names,
        Recipes, or ``(label, Recipe)`` pairs) for an ad-hoc suite.
    recipes : str or list of str, optional
        Train only these labels (``"bf16,mxfp4_all"`` or a list). The
        baseline is always kept (and trained first): every other row is
        measured against it.
    baseline : str, optional
        The baseline's label. Default: the suite's own, or the first entry
        of an ad-hoc list.

    Returns
    -------
    entries : list of (label, recipe)
        ``recipe`` is a preset name (str) or a :class:`Recipe`.
    baseline : str
    """
    if isinstance(suite, str):
        if suite not in SUITES:
            raise ValueError(f"argument 'suite': expected one of {', '.join(SUITES)}, "
                             f"got {suite!r}")
        raw, default_baseline = SUITES[suite]
    elif isinstance(suite, (list, tuple)):
        if not suite:
            raise ValueError("argument 'suite': expected at least one recipe, got an empty list")
        raw, default_baseline = suite, None
    else:
        raise TypeError(f"argument 'suite': expected a suite name ({', '.join(SUITES)}) or a "
                        f"list of recipes, got {type(suite).__name__}")
    entries = [_entry(e, "suite") for e in raw]
    labels = [label for label, _ in entries]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ValueError(f"argument 'suite': expected distinct labels, got {', '.join(dup)} "
                         "more than once")
    if baseline is None:
        baseline = default_baseline if default_baseline is not None else labels[0]
    if baseline not in labels:
        raise ValueError(f"argument 'baseline': expected one of the suite's labels "
                         f"({', '.join(labels)}), got {baseline!r}")
    if recipes is not None:
        wanted = _split(recipes)
        unknown = [w for w in wanted if w not in labels]
        if unknown:
            raise ValueError(f"argument 'recipes': unknown label(s) {', '.join(unknown)} "
                             f"(this suite has: {', '.join(labels)})")
        keep = set(wanted) | {baseline}
        entries = [e for e in entries if e[0] in keep]
    # The baseline trains first: its curve is what every other run is compared to,
    # and an interrupted ablation then already has the reference.
    entries.sort(key=lambda e: e[0] != baseline)
    return entries, baseline


# --------------------------------------------------------------------------
# curves and token cost
# --------------------------------------------------------------------------

def tokens_to_reach(tokens, losses, target):
    """The first token count at which a loss curve reaches ``target`` or less.

    The curve is the piecewise-linear interpolation of the points
    ``(tokens[i], losses[i])`` (evaluations, in training order). Points with
    a non-finite loss break the curve: a crossing is only interpolated
    between two finite neighbours, else the later point's tokens count.

    Returns
    -------
    float or None
        None if no point (and no segment) reaches ``target``.
    """
    prev = None
    for t, v in zip(tokens, losses):
        t, v = float(t), float(v)
        if math.isfinite(v) and v <= target:
            if prev is None or not math.isfinite(prev[1]) or prev[1] <= target:
                return t
            t0, v0 = prev
            return t0 + (v0 - target) / (v0 - v) * (t - t0)
        prev = (t, v)
    return None


def _read_jsonl(path):
    """The JSON objects of a log.jsonl, ignoring a torn last line (a run
    killed mid-write) and keeping the last record of every step (a resumed
    run may log steps again from its checkpoint)."""
    by_step, order = {}, []
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break
            raise ValueError(f"{path}: line {i + 1} is not JSON") from None
        key = (rec.get("step"), "val_loss" in rec)
        if key not in by_step:
            order.append(key)
        by_step[key] = rec
    recs = [by_step[k] for k in order]
    recs.sort(key=lambda r: (r.get("step") if isinstance(r.get("step"), numbers.Real) else -1))
    return recs


def _curve(records, key):
    pts = [(r["tokens"], r[key]) for r in records
           if key in r and isinstance(r.get("tokens"), numbers.Real) and r[key] is not None]
    return {"tokens": [float(t) for t, _ in pts], key: [float(v) for _, v in pts]}


def read_run(run_dir):
    """The validation and training curves and the summary of one run folder.

    Returns ``{"val": {"tokens", "val_loss"}, "train": {"tokens", "train_loss"},
    "summary": dict or None}``.
    """
    run_dir = Path(run_dir)
    log = run_dir / "log.jsonl"
    records = _read_jsonl(log) if log.exists() else []
    summary = None
    if (run_dir / "summary.json").exists():
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    return {"val": _curve(records, "val_loss"), "train": _curve(records, "train_loss"),
            "summary": summary}


def _finite(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _row(label, recipe, data, error, baseline_ref):
    """One result row: final losses, gap and token cost against ``baseline_ref``
    (``(L*, T)`` or None when the baseline has no finite final loss)."""
    s = data["summary"] or {}
    val = data["val"]
    # The trainer's summary is the definitive end point (a run stopped on a NaN
    # train loss has no final evaluation in its log); the curve is the fallback.
    final_val = s["final_val_loss"] if "final_val_loss" in s else (
        val["val_loss"][-1] if val["val_loss"] else None)
    tokens = val["tokens"][-1] if val["tokens"] else None
    status = "error" if error else s.get("status", "missing")
    row = {
        "label": label,
        "recipe": recipe if isinstance(recipe, str) else recipe.to_dict(),
        "status": status,
        "error": error,
        "steps": s.get("steps"),
        "tokens": s.get("tokens", tokens),
        "final_val_loss": final_val if final_val is None else float(final_val),
        "final_train_loss": s.get("final_train_loss"),
        "tokens_per_s": s.get("tokens_per_s"),
        "wall_s": s.get("wall_s"),
        "gap_pct": None,
        "tokens_to_baseline": None,
        "token_cost_pct": None,
        "reached_baseline": False,
        "curve": val,
        "train_curve": data["train"],
        "summary": data["summary"],
    }
    row["stopped_early"] = bool(error) or not _finite(row["final_val_loss"]) or \
        status in _STOPPED_STATUSES
    if baseline_ref is not None and not row["stopped_early"]:
        target, total = baseline_ref
        row["gap_pct"] = 100.0 * (row["final_val_loss"] - target) / target
        t = tokens_to_reach(val["tokens"], val["val_loss"], target)
        if t is not None and total > 0:
            row["tokens_to_baseline"] = t
            row["token_cost_pct"] = 100.0 * (t / total - 1.0)
            row["reached_baseline"] = True
    return row


def _baseline_ref(data):
    """(L*, T) of the baseline run: its final validation loss and the tokens
    it had trained on then (summary.json, else the last evaluation logged);
    None if the baseline has no finite final loss."""
    val, s = data["val"], data["summary"] or {}
    loss = s["final_val_loss"] if "final_val_loss" in s else (
        val["val_loss"][-1] if val["val_loss"] else None)
    tokens = s["tokens"] if "tokens" in s else (val["tokens"][-1] if val["tokens"] else None)
    if s.get("status") in _STOPPED_STATUSES or not (_finite(loss) and _finite(tokens)):
        return None
    return float(loss), float(tokens)


# --------------------------------------------------------------------------
# output files
# --------------------------------------------------------------------------

def _fmt_pct(x):
    return "—" if x is None else f"{x:+.2f}%"


def _fmt_num(x, spec):
    return "—" if not _finite(x) else format(x, spec)


def format_table(rows):
    """Markdown table of :func:`run`'s rows (the baseline row is marked)."""
    lines = ["| recipe | final val loss | gap vs baseline | token cost | tokens/s |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        if r.get("baseline"):
            gap = cost = "baseline"
        else:
            gap = _fmt_pct(r["gap_pct"])
            if r["token_cost_pct"] is not None:
                cost = _fmt_pct(r["token_cost_pct"])
            elif r["gap_pct"] is not None:
                cost = "not reached"
            else:  # stopped early, failed, or no baseline to compare with
                cost = "—"
        loss = _fmt_num(r["final_val_loss"], ".4f")
        if isinstance(r["final_val_loss"], float) and not _finite(r["final_val_loss"]):
            loss = str(r["final_val_loss"])
        if r["error"]:
            loss += " (failed)"
        elif r["stopped_early"]:
            loss += " (stopped early)"
        lines.append(f"| {r['label']} | {loss} | {gap} | {cost} | "
                     f"{_fmt_num(r['tokens_per_s'], ',.0f')} |")
    return "\n".join(lines)


def _early_stop_notes(rows):
    notes = []
    for r in rows:
        if not r["stopped_early"]:
            continue
        if r["error"]:
            notes.append(f"- {r['label']}: failed: {r['error']}")
            continue
        s = r["summary"] or {}
        last = r["curve"]["val_loss"][-1] if r["curve"]["val_loss"] else None
        why = f": {s['message']}" if s.get("message") else ""
        notes.append(f"- {r['label']}: stopped early (status {r['status']!r}, "
                     f"{s.get('steps', '?')} steps, last validation loss "
                     f"{_fmt_num(last, '.4f')}){why}")
    return notes


def _markdown(result):
    meta = result["meta"]
    head = [f"# Ablation: suite `{meta['suite']}`", "",
            f"- model: {meta['model']}; steps: {meta['steps']}; tokens per run: "
            f"{_fmt_num(meta['baseline_tokens'], ',.0f')}; seed: {meta['seed']}",
            f"- baseline: {meta['baseline']} (final validation loss "
            f"{_fmt_num(meta['baseline_final_val_loss'], '.4f')})",
            f"- command: `{meta['command']}`",
            "- gap = 100 (L - L*) / L*; token cost = 100 (t / T - 1) with t the tokens at which "
            "the run's validation curve (linear between evaluations) first reaches the "
            "baseline's final loss L* after T tokens", ""]
    body = [format_table(result["rows"]), ""]
    notes = _early_stop_notes(result["rows"])
    if notes:
        body += ["Runs that stopped early or failed:", ""] + notes + [""]
    body += [f"Plot: `{PLOT_NAME}`; every number: `{JSON_NAME}`; runs: `runs/<label>/`.", ""]
    return "\n".join(head + body)


def _json_safe(x):
    """Non-finite floats -> None (strict JSON), tuples -> lists, other objects -> str."""
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, numbers.Integral):
        return int(x)
    if isinstance(x, numbers.Real):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, os.PathLike):
        return os.fspath(x)
    if isinstance(x, Recipe):
        return x.to_dict()
    return f"<{type(x).__name__}>"


def plot_curves(rows, path, baseline, title=None, log_x=False):
    """Validation loss against tokens, one line per run, the baseline bold.

    Uses matplotlib's object API with the Agg canvas (no pyplot), so it never
    changes the backend of an interactive session.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    # tab10 has 10 colours; larger suites (hadamard: 14 rows) take tab20 and two dash styles.
    cmap = matplotlib.colormaps["tab10" if len(rows) <= 11 else "tab20"]
    tail = []
    others = [r for r in rows if r["label"] != baseline]
    for r in rows:
        pts = [(t, v) for t, v in zip(r["curve"]["tokens"], r["curve"]["val_loss"])
               if math.isfinite(v) and (t > 0 or not log_x)]
        if not pts:
            continue
        is_base = r["label"] == baseline
        i = others.index(r) if not is_base else 0
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=r["label"],
                linewidth=2.8 if is_base else 1.3, color="black" if is_base else cmap(i % cmap.N),
                linestyle="-" if is_base or i < cmap.N else "--",
                zorder=3 if is_base else 2, marker="o" if len(pts) < 12 else None,
                markersize=3)
        t_end = pts[-1][0]
        tail += [v for t, v in pts if t >= 0.1 * t_end]
    ref = next((r["final_val_loss"] for r in rows if r["label"] == baseline), None)
    if _finite(ref):
        ax.axhline(ref, color="black", linestyle=":", linewidth=0.8)
    if len(tail) > 1 and max(tail) > min(tail):
        # The first evaluations (~ln(vocab)) would flatten the part where recipes differ.
        pad = 0.05 * (max(tail) - min(tail))
        ax.set_ylim(min(tail) - pad, max(tail) + pad)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("training tokens")
    ax.set_ylabel("validation loss (nats/token)")
    ax.set_title(title or "validation loss")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.fspath(path))
    return Path(path)


# --------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------

def _train_run(**kwargs):
    """fp4train.train.run, imported on first use (it pulls in the model and
    data stack); the tests replace this function with a fake trainer."""
    from . import train
    return train.run(**kwargs)


def _check_steps(steps):
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
        raise TypeError(f"argument 'steps': expected an int, got {type(steps).__name__}")
    if steps < 1:
        raise ValueError(f"argument 'steps': expected an int >= 1, got {steps}")
    return int(steps)


def _holds_run(run_dir):
    """True if ``run_dir`` holds a checkpoint to resume from (train.run's manifest).

    A folder with a log but no checkpoint (killed before its first one) is
    trained from scratch: train.run then rewrites the log.
    """
    return (run_dir / _CHECKPOINT_MANIFEST).is_file()


def _is_finished(run_dir, steps):
    """True if the run in ``run_dir`` needs no more training for ``steps``:
    it reached them, or it stopped early on a non-finite loss."""
    path = run_dir / "summary.json"
    if not path.exists():
        return False
    try:
        s = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    if s.get("status") in _STOPPED_STATUSES:
        return True
    done = s.get("steps")
    return _finite(done) and done >= steps and s.get("status") not in ("interrupted", "running")


def _check_config(out, config):
    """Refuse to mix runs made with different settings in one folder."""
    path = out / _CONFIG_NAME
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        diff = sorted(k for k in set(old) | set(config)
                      if k != "steps" and old.get(k) != config.get(k))
        if diff:
            raise ValueError(
                f"argument 'out': {out} holds runs made with other settings ("
                + "; ".join(f"{k}: {old.get(k)!r} there, {config.get(k)!r} now" for k in diff)
                + "); use another folder or resume=False (--fresh) to start over")
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _python_command(suite, steps, out, seed, model, recipes, train_kwargs):
    args = [repr(suite if isinstance(suite, str) else "<custom>"), f"steps={steps}",
            f"out={os.fspath(out)!r}", f"seed={seed}", f"model={model!r}"]
    if recipes is not None:
        args.append(f"recipes={recipes!r}")
    args += [f"{k}={v!r}" for k, v in sorted(train_kwargs.items())]
    return f"fp4train.ablate.run({', '.join(args)})"


def run(suite, steps, out, seed=0, model="small", resume=True, progress=True, recipes=None,
        baseline=None, log_x=False, command=None, **train_kwargs):
    """Train every recipe of a suite on identical data and seeds and tabulate them.

    Parameters
    ----------
    suite : str or list
        A name of :data:`SUITES` or an ad-hoc list of entries (see
        :func:`suite_entries`).
    steps : int
        Optimizer steps per run (>= 1).
    out : str or os.PathLike
        Output folder: ``results.md``, ``results.json``, ``val_loss.png``,
        ``runs/<label>/`` and ``recipes/<label>.json``.
    seed : int
        The one seed of every run (initialization, batches, stochastic
        rounding): runs differ by recipe only.
    model : str or dict or ModelConfig
        Passed to :func:`fp4train.train.run`.
    resume : bool
        True: skip finished runs, resume interrupted ones. False: delete
        ``out/runs`` and ``out/recipes`` first and train everything again.
    progress : bool
        Print one line per run and let the trainer show its progress bar.
    recipes : str or list of str, optional
        A subset of the suite's labels (the baseline is always included).
    baseline : str, optional
        Overrides the suite's baseline label.
    log_x : bool
        Logarithmic token axis in the plot.
    command : str, optional
        The command recorded in results.md (the CLI passes its own); default
        a Python call equivalent to this one.
    **train_kwargs
        Passed unchanged to every :func:`fp4train.train.run` call
        (``batch_size``, ``seq_len``, ``lr``, ``eval_interval``, ``data`` ...).

    Returns
    -------
    dict
        ``out``, ``markdown``, ``json``, ``plot`` (paths), ``table`` (the
        markdown table), ``rows`` (one dict per run, as in results.json),
        ``baseline`` and ``failed`` (labels of runs that raised).
    """
    steps = _check_steps(steps)
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"argument 'out': expected a str or os.PathLike, got "
                        f"{type(out).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"argument 'seed': expected an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"argument 'seed': expected an int >= 0, got {seed}")
    entries, baseline = suite_entries(suite, recipes, baseline)
    out = Path(out)
    if command is None:
        command = _python_command(suite, steps, out, seed, model, recipes, train_kwargs)
    runs_dir, recipes_dir = out / "runs", out / "recipes"
    if not resume:
        for d in (runs_dir, recipes_dir):
            if d.exists():
                shutil.rmtree(d)
        (out / _CONFIG_NAME).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    runs_dir.mkdir(exist_ok=True)
    recipes_dir.mkdir(exist_ok=True)
    _check_config(out, _json_safe({
        "suite": suite if isinstance(suite, str) else [label for label, _ in entries],
        "seed": seed, "model": model if not hasattr(model, "to_dict") else model.to_dict(),
        "train_kwargs": train_kwargs}))

    errors = {}
    for i, (label, recipe) in enumerate(entries):
        run_dir = runs_dir / label
        r = _recipes.get(recipe) if isinstance(recipe, str) else recipe
        r.save(recipes_dir / f"{label}.json")
        if _is_finished(run_dir, steps):
            if progress:
                print(f"[{i + 1}/{len(entries)}] {label}: finished earlier, skipped", flush=True)
            continue
        resuming = _holds_run(run_dir)
        if progress:
            print(f"[{i + 1}/{len(entries)}] {label}: {'resuming' if resuming else 'training'} "
                  f"({r.describe()})", flush=True)
        t0 = time.perf_counter()
        try:
            _train_run(recipe=recipe, steps=steps, seed=seed, out=str(run_dir),
                       resume=str(run_dir) if resuming else None, model=model,
                       progress=progress, **train_kwargs)
        except (KeyboardInterrupt, TypeError):
            # Ctrl-C: the checkpoints make the next run resume; TypeError: a bad
            # keyword for train.run, which every other run would repeat.
            raise
        except Exception as e:  # one failing recipe must not lose the others
            errors[label] = f"{type(e).__name__}: {e}"
            if progress:
                print(f"    {label} failed: {errors[label]}", flush=True)
            continue
        if progress:
            print(f"    {label}: {time.perf_counter() - t0:.1f} s", flush=True)

    return _collect(out, entries, baseline, errors, dict(
        suite=suite if isinstance(suite, str) else "custom", steps=steps, seed=seed,
        model=model, command=command, train_kwargs=train_kwargs), log_x)


def _collect(out, entries, baseline, errors, meta, log_x):
    """Read every run folder and write results.md, results.json and the plot."""
    data = {label: read_run(out / "runs" / label) for label, _ in entries}
    ref = _baseline_ref(data[baseline]) if baseline not in errors else None
    rows = []
    for label, recipe in entries:
        row = _row(label, recipe, data[label], errors.get(label), ref)
        row["baseline"] = label == baseline
        if row["baseline"] and ref is not None:
            row["gap_pct"], row["token_cost_pct"] = 0.0, 0.0
            row["tokens_to_baseline"], row["reached_baseline"] = ref[1], True
        rows.append(row)
    meta = dict(meta, baseline=baseline,
                baseline_final_val_loss=None if ref is None else ref[0],
                baseline_tokens=None if ref is None else ref[1])
    paths = {"markdown": out / MARKDOWN_NAME, "json": out / JSON_NAME, "plot": out / PLOT_NAME}
    result = {"meta": meta, "rows": rows}
    paths["markdown"].write_text(_markdown(result), encoding="utf-8")
    doc = dict(_json_safe(meta), rows=_json_safe(rows),
               files={k: v.name for k, v in paths.items()})
    paths["json"].write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n",
                             encoding="utf-8")
    plot_curves(rows, paths["plot"], baseline, log_x=log_x,
                title=f"suite {meta['suite']}: validation loss (model {meta['model']}, "
                      f"{meta['steps']} steps, seed {meta['seed']})")
    return dict(paths, out=out, table=format_table(rows), rows=rows, baseline=baseline,
                failed=sorted(errors))


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------

def _parser():
    p = argparse.ArgumentParser(
        prog="python -m fp4train.ablate",
        description="Train several recipes on identical data and seeds and compare them: "
                    "writes results.md, results.json and val_loss.png into --out. A rerun "
                    "of the same command skips finished runs and resumes interrupted ones.",
        epilog="suites: " + "; ".join(f"{k} ({v})" for k, v in SUITE_DESCRIPTIONS.items()))
    p.add_argument("--suite", help=f"one of {', '.join(SUITES)}")
    p.add_argument("--steps", type=int, help="optimizer steps per run")
    p.add_argument("--out", help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default="small", help="model size (tiny, small, medium)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--seq-len", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--eval-interval", type=int, default=None)
    p.add_argument("--data", default=None, help="a text file to train on (default: the "
                                                "built-in generated corpus)")
    p.add_argument("--recipes", default=None,
                   help="comma-separated subset of the suite's labels (the baseline is "
                        "always run)")
    p.add_argument("--fresh", action="store_true",
                   help="delete earlier runs in --out and train everything again")
    p.add_argument("--log-x", action="store_true", help="logarithmic token axis in the plot")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--list", action="store_true", help="list the suites and their recipes")
    return p


def _list_suites():
    lines = []
    for name, (raw, base) in SUITES.items():
        labels = [label for label, _ in (_entry(e, "suite") for e in raw)]
        lines.append(f"{name}: {SUITE_DESCRIPTIONS[name]}\n  baseline {base}; "
                     f"{', '.join(labels)}")
    return "\n".join(lines)


def main(argv=None):
    """Entry point of ``python -m fp4train.ablate``; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    p = _parser()
    a = p.parse_args(argv)
    if a.list:
        print(_list_suites())
        return 0
    for opt in ("suite", "steps", "out"):
        if getattr(a, opt) is None:
            p.error(f"--{opt} is required (suites: {', '.join(SUITES)})")
    train_kwargs = {k: v for k, v in (("batch_size", a.batch_size), ("seq_len", a.seq_len),
                                      ("lr", a.lr), ("eval_interval", a.eval_interval),
                                      ("data", a.data)) if v is not None}
    command = "python -m fp4train.ablate " + shlex.join(argv)
    try:  # argument errors as usage errors; errors while training keep their traceback
        suite_entries(a.suite, a.recipes)
        _check_steps(a.steps)
    except (TypeError, ValueError) as e:
        p.error(str(e))
    try:
        res = run(a.suite, a.steps, a.out, seed=a.seed, model=a.model, resume=not a.fresh,
                  progress=not a.quiet, recipes=a.recipes, log_x=a.log_x, command=command,
                  **train_kwargs)
    except (TypeError, ValueError) as e:
        if not str(e).startswith("argument '"):  # not about an argument: keep the traceback
            raise
        p.error(str(e))
    print()
    print(res["table"])
    notes = _early_stop_notes(res["rows"])
    if notes:
        print("\n".join(["", "Runs that stopped early or failed:"] + notes))
    print(f"\nresults: {res['markdown']}\n         {res['json']}\nplot:    {res['plot']}")
    return 1 if res["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
