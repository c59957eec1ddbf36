"""Predicted lifetime value per buyer (domain.md §3): BG/NBD for purchases and survival, Gamma-Gamma for
spend per purchase, fitted by siyu.clv on prep_clv_inputs (days) with pymc-marketing (BetaGeoModel and
GammaGammaModel, flat priors, MAP: the maximum-likelihood fit). The fit is clv_fits' latest (it fits again
every var clv_refit_days, when the buyers change by var clv_refit_change, and on a full refresh); every
build scores today's buyers at its parameters.

Columns: expected purchases and expected value over var clv_horizon_days, the probability of being alive
at the snapshot date, and the fitted parameters with each model's log-likelihood at full precision (the
same on every row, for traceability). The value is undiscounted: expected purchases x expected spend per
purchase. tests/test_clv.py runs this model on the CDNOW transactions and recovers the published fits;
clv_calibration shows how the same fit did on a holdout period of the brand's own data.
"""

import logging
import time

import pandas as pd

log = logging.getLogger("siyu.clv")

PARAMETERS = ["bgnbd_r", "bgnbd_alpha", "bgnbd_a", "bgnbd_b", "bgnbd_log_likelihood",
              "gg_p", "gg_q", "gg_v", "gg_log_likelihood"]


def model(dbt, session):
    dbt.config(materialized="table")
    from siyu import clv

    # A direct argument of float(): dbt finds config.get calls by parsing the code, and only those keys reach
    # the compiled model (inside `x or 365` the call went unseen and the horizon was always 365).
    horizon = float(dbt.config.get("clv_horizon_days", 365))
    inputs = dbt.ref("prep_clv_inputs").df()
    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in [
        ("customer_id", str), ("frequency", "int64"), ("recency", "int64"), ("t", "int64"),
        ("monetary_value", float), ("probability_alive", float), ("expected_purchases", float),
        ("expected_spend_per_purchase", float), ("expected_value", float), ("horizon_days", float),
        *[(name, float) for name in PARAMETERS]]})
    # BG/NBD needs some repeat buyers and some time observed; a tiny warehouse gets an empty table.
    # The least data a fit is trusted on (vars clv_min_buyers, clv_min_repeat_buyers, clv_min_observed_buyers,
    # through the yml config; each a direct argument of int(), where dbt's parser finds the config.get call).
    min_buyers = int(dbt.config.get("clv_min_buyers", 50))
    min_repeat_buyers = int(dbt.config.get("clv_min_repeat_buyers", 10))
    min_observed_buyers = int(dbt.config.get("clv_min_observed_buyers", 10))
    if clv.too_few_to_fit(inputs, min_buyers, min_repeat_buyers, min_observed_buyers):
        log.warning("customer_clv: %d buyers, too few to fit; the table is empty", len(inputs))
        return empty

    # The latest fit's parameters (clv_fits decides when to fit again), scored on today's buyers.
    fits = dbt.ref("clv_fits").df()
    if fits.empty:
        log.warning("customer_clv: no fit (clv_fits); the table is empty")
        return empty
    latest = fits.sort_values("fit_number").iloc[-1]
    started = time.perf_counter()
    purchases, spend = clv.at_parameters(inputs, latest.to_dict())
    result = pd.concat([inputs, clv.score(inputs, purchases, spend, horizon)], axis=1)
    result["horizon_days"] = horizon
    for name in PARAMETERS:
        result[name] = float(latest[name])
    log.info("customer_clv: scored %d buyers with the fit of %s in %.1fs", len(inputs),
             pd.Timestamp(latest["fitted_as_of"]).date(), time.perf_counter() - started)
    return result[list(empty.columns)]
