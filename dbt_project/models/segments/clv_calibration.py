"""Is the lifetime-value forecast right on this brand's data? Fader, Hardie & Lee (2005) figure 4: BG/NBD
fitted by siyu.clv with pymc-marketing (as customer_clv) on purchases up to calibration_end (the snapshot
date less var clv_holdout_days), then, per calibration frequency (0..6, 7+ repeat purchase days) and
overall, the mean repeat purchase days customers made in the holdout (calibration_end, holdout_end] beside
the mean the model expected for them over the holdout's length.

One row per frequency bucket with customers, plus one row 'all'. Empty when too few buyers (as customer_clv).
Computed again when clv_fits fits again (the same schedule: var clv_refit_days, clv_refit_change, a full
refresh); otherwise the previous table stands (fit_number says which fit's day it follows).
"""

import logging

import pandas as pd

log = logging.getLogger("siyu.clv")
# The mart's contract (report and demo read it): dates as dates, counts as integers.
TYPED = ("cast(frequency_bucket as varchar) as frequency_bucket, cast(bucket_order as integer) as bucket_order, "
         "cast(customers as bigint) as customers, cast(actual_repeat_purchases as double) as actual_repeat_purchases, "
         "cast(expected_repeat_purchases as double) as expected_repeat_purchases, "
         "cast(calibration_end as date) as calibration_end, cast(holdout_end as date) as holdout_end, "
         "cast(fit_number as bigint) as fit_number")


def _previous(session, relation: str) -> pd.DataFrame | None:
    """The table as the last build left it, None when there is none (or it predates fit_number)."""
    try:
        previous = session.sql(f"select * from {relation}").df()
    except Exception:  # first build: the relation does not exist yet
        return None
    return previous if "fit_number" in previous.columns else None  # a table from before fit_number


def model(dbt, session):
    dbt.config(materialized="table")
    from siyu import clv

    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in [
        ("frequency_bucket", str), ("bucket_order", "int32"), ("customers", "int64"),
        ("actual_repeat_purchases", float), ("expected_repeat_purchases", float),
        ("calibration_end", "datetime64[us]"), ("holdout_end", "datetime64[us]"), ("fit_number", "int64")]})
    fits = dbt.ref("clv_fits").df()
    fit_number = int(fits["fit_number"].max()) if len(fits) else 0
    previous = _previous(session, str(dbt.this))
    if fit_number and previous is not None and len(previous) and set(previous["fit_number"]) == {fit_number}:
        log.info("clv_calibration: follows fit %d, as before: kept", fit_number)
        return session.from_df(previous[list(empty.columns)]).project(TYPED)
    inputs = dbt.ref("prep_clv_calibration_inputs").df()
    # The least data a fit is trusted on (vars clv_min_buyers, clv_min_repeat_buyers, clv_min_observed_buyers,
    # through the yml config; each a direct argument of int(), where dbt's parser finds the config.get call).
    min_buyers = int(dbt.config.get("clv_min_buyers", 50))
    min_repeat_buyers = int(dbt.config.get("clv_min_repeat_buyers", 10))
    min_observed_buyers = int(dbt.config.get("clv_min_observed_buyers", 10))
    if clv.too_few_to_fit(inputs, min_buyers, min_repeat_buyers, min_observed_buyers):
        log.warning("clv_calibration: %d buyers before the cut-off, too few to fit; the table is empty",
                    len(inputs))
        return session.from_df(empty).project(TYPED)

    calibration_end = pd.Timestamp(inputs["calibration_end"].iloc[0])
    holdout_end = pd.Timestamp(inputs["holdout_end"].iloc[0])
    result = clv.calibration(inputs, inputs["holdout_purchases"], float((holdout_end - calibration_end).days))
    result["calibration_end"] = calibration_end
    result["holdout_end"] = holdout_end
    result["fit_number"] = fit_number
    log.info("clv_calibration: %d buyers up to %s, holdout to %s", len(inputs), calibration_end.date(),
             holdout_end.date())
    calibrated = session.from_df(result[list(empty.columns)])
    return calibrated.project(TYPED)
