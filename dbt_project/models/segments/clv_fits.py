"""When the lifetime-value models are fitted, and what they found (issue 22): one row per fit, appended.

A fit (siyu.clv: BG/NBD and Gamma-Gamma by MAP with flat priors, the maximum-likelihood fit) costs seconds
of compilation and optimisation whatever the number of buyers, while a day adds a few buyers and moves
nobody's parameters. So a build fits again only when it has to, and customer_clv scores every day with
the latest fit's parameters (milliseconds):
- the first build, and every full refresh (the table is rebuilt, so `siyu build` always fits);
- the summary is as of var clv_refit_days or more days after the last fit's day, or before it (a build of
  an earlier day);
- the number of buyers moved by more than var clv_refit_change (a share) since the last fit.
Too few buyers to trust a fit (vars clv_min_buyers, clv_min_repeat_buyers, clv_min_observed_buyers): no
fit, and customer_clv is empty.
"""

import logging
import time

import pandas as pd

log = logging.getLogger("siyu.clv")

PARAMETERS = [
    "bgnbd_r",
    "bgnbd_alpha",
    "bgnbd_a",
    "bgnbd_b",
    "bgnbd_log_likelihood",
    "gg_p",
    "gg_q",
    "gg_v",
    "gg_log_likelihood",
]


def _refit_reason(inputs: pd.DataFrame, last: dict | None, refit_days: float, refit_change: float) -> str | None:
    """Why the models must be fitted again, None when the last fit still stands."""
    if last is None:
        return "no fit yet"
    as_of = pd.Timestamp(inputs["as_of"].iloc[0])
    days = (as_of - pd.Timestamp(last["fitted_as_of"])).days
    if days < 0:
        return f"as of {as_of.date()}, before the last fit's day"
    if days >= refit_days:
        return f"{days} days since the last fit (var clv_refit_days {refit_days:g})"
    change = abs(len(inputs) - last["buyers"]) / max(last["buyers"], 1)
    if change > refit_change:
        return f"buyers {last['buyers']} -> {len(inputs)} (var clv_refit_change {refit_change:g})"
    return None


def model(dbt, session):
    dbt.config(materialized="incremental", incremental_strategy="append")
    from siyu import clv

    # Each a direct argument of int() or float(): dbt finds config.get calls by parsing the code.
    refit_days = float(dbt.config.get("clv_refit_days", 7))
    refit_change = float(dbt.config.get("clv_refit_change", 0.1))
    min_buyers = int(dbt.config.get("clv_min_buyers", 50))
    min_repeat_buyers = int(dbt.config.get("clv_min_repeat_buyers", 10))
    min_observed_buyers = int(dbt.config.get("clv_min_observed_buyers", 10))
    columns = [
        ("fit_number", "int64"),
        ("fitted_as_of", "datetime64[us]"),
        ("buyers", "int64"),
        ("repeat_buyers", "int64"),
        *[(name, float) for name in PARAMETERS],
        ("fit_seconds", float),
        ("refit_reason", str),
    ]
    empty = pd.DataFrame({name: pd.Series(dtype=kind) for name, kind in columns})

    inputs = dbt.ref("prep_clv_inputs").df()
    if clv.too_few_to_fit(inputs, min_buyers, min_repeat_buyers, min_observed_buyers):
        log.warning("clv_fits: %d buyers, too few to fit", len(inputs))
        return empty
    last = None
    if dbt.is_incremental:
        previous = session.sql(f"select * from {dbt.this} order by fit_number desc limit 1").df()
        last = previous.iloc[0].to_dict() if len(previous) else None
    reason = _refit_reason(inputs, last, refit_days, refit_change)
    if reason is None:
        log.info(
            "clv_fits: the fit of %s still stands (%d buyers then, %d now)",
            pd.Timestamp(last["fitted_as_of"]).date(),
            last["buyers"],
            len(inputs),
        )
        return empty

    started = time.perf_counter()
    purchases, spend = clv.fit(inputs)
    seconds = time.perf_counter() - started
    row = {
        "fit_number": (int(last["fit_number"]) + 1) if last else 1,
        "fitted_as_of": pd.Timestamp(inputs["as_of"].iloc[0]),
        "buyers": len(inputs),
        "repeat_buyers": spend.customers,
        **clv.parameters(purchases, spend),
        "fit_seconds": seconds,
        "refit_reason": reason,
    }
    log.info("clv_fits: fitted %d buyers (%d repeat) in %.1fs: %s", len(inputs), spend.customers, seconds, reason)
    return pd.DataFrame([row]).astype(dict(columns))
