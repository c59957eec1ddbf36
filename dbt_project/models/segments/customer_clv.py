"""Predicted lifetime value per buyer (domain.md §3): BG/NBD for purchases and survival, Gamma-Gamma for
spend per purchase, fitted by MAP with pymc-marketing on int_clv_inputs (days).

Columns: expected purchases and expected value over var clv_horizon_days, the probability of being alive
at the snapshot date, and the fitted parameters (the same on every row, for traceability). The value
is undiscounted: expected purchases x expected spend per purchase. Priors are pymc-marketing's
defaults (informative, weak); tests/test_clv.py shows the same fit with flat priors reproduces the
published CDNOW parameters.
"""

import logging
import time
import warnings

import pandas as pd

log = logging.getLogger("siyu.clv")


def model(dbt, session):
    dbt.config(materialized="table")
    warnings.filterwarnings("ignore", category=FutureWarning)
    from pymc_marketing import clv

    # A direct argument of float(): dbt finds config.get calls by parsing the code, and only those keys reach
    # the compiled model (inside `x or 365` the call went unseen and the horizon was always 365).
    horizon = float(dbt.config.get("clv_horizon_days", 365))
    inputs = dbt.ref("int_clv_inputs").df()
    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in [
        ("customer_id", str), ("frequency", "int64"), ("recency", "int64"), ("t", "int64"),
        ("monetary_value", float), ("probability_alive", float), ("expected_purchases", float),
        ("expected_spend_per_purchase", float), ("expected_value", float), ("horizon_days", float),
        ("bgnbd_r", float), ("bgnbd_alpha", float), ("bgnbd_a", float), ("bgnbd_b", float),
        ("gg_p", float), ("gg_q", float), ("gg_v", float)]})
    # BG/NBD needs some repeat buyers and some time observed; a tiny warehouse gets an empty table.
    if len(inputs) < 50 or (inputs["frequency"] > 0).sum() < 10 or (inputs["t"] > 0).sum() < 10:
        log.warning("customer_clv: %d buyers, too few to fit; the table is empty", len(inputs))
        return empty

    started = time.perf_counter()
    data = pd.DataFrame({"customer_id": inputs["customer_id"], "frequency": inputs["frequency"],
                         "recency": inputs["recency"], "T": inputs["t"]}).astype({"T": float, "recency": float})
    purchases = clv.BetaGeoModel()
    purchases.fit(data, method="map", progressbar=False)
    repeat = inputs[inputs["frequency"] > 0]
    spend = clv.GammaGammaModel()
    spend.fit(pd.DataFrame({"customer_id": repeat["customer_id"], "frequency": repeat["frequency"],
                            "monetary_value": repeat["monetary_value"]}), method="map", progressbar=False)

    all_spend = pd.DataFrame({"customer_id": inputs["customer_id"], "frequency": inputs["frequency"],
                              "monetary_value": inputs["monetary_value"]})
    expected_purchases = purchases.expected_purchases(data=data, future_t=horizon).mean(("chain", "draw"))
    alive = purchases.expected_probability_alive(data=data).mean(("chain", "draw"))
    per_purchase = spend.expected_customer_spend(data=all_spend).mean(("chain", "draw"))
    bg = purchases.fit_summary()
    gg = spend.fit_summary()

    result = inputs.copy()
    result["probability_alive"] = alive.values
    result["expected_purchases"] = expected_purchases.values
    result["expected_spend_per_purchase"] = per_purchase.values
    result["expected_value"] = result["expected_purchases"] * result["expected_spend_per_purchase"]
    result["horizon_days"] = horizon
    for name in ["r", "alpha", "a", "b"]:
        result[f"bgnbd_{name}"] = float(bg[name])
    for name in ["p", "q", "v"]:
        result[f"gg_{name}"] = float(gg[name])
    log.info("customer_clv: fitted %d buyers (%d repeat) in %.1fs", len(inputs), len(repeat),
             time.perf_counter() - started)
    return result[list(empty.columns)]
