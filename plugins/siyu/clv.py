"""Lifetime value with pymc-marketing: BG/NBD for repeat purchases and survival (Fader, Hardie & Lee 2005,
"Counting Your Customers the Easy Way", Marketing Science 24(2)), Gamma-Gamma for the spend per purchase
(Fader & Hardie 2013, "The Gamma-Gamma Model of Monetary Value"), and the calibration check of FHL 2005
figure 4 (expected vs actual repeat purchases in a holdout period, by calibration frequency).

siyu writes no likelihood or optimiser of its own: pymc_marketing.clv.BetaGeoModel and GammaGammaModel
are fitted by MAP. Every parameter gets a flat prior (HalfFlat: all are positive), so the MAP point is the
maximum-likelihood fit. pymc-marketing's BG/NBD defaults are informative priors set for a weekly scale; on
a day scale they pull the fit away from the likelihood (issue 16). With flat priors the fit does not
depend on the time unit (fitted in days, alpha is 7 x the weekly alpha; r, a and b are unchanged). The MAP
optimiser (pymc's L-BFGS-B on the log of the parameters, from 1) converges on the CDNOW sample in days to
the published weekly parameters within 0.2% (alpha_days / 7 = 4.4136 against 4.414) and to the published
log-likelihood within 0.05 (tests/test_clv.py), so the models fit in days directly, with no internal week
scale.

Scoring at a fitted point is the papers' closed forms, evaluated with numpy and scipy exactly as
pymc-marketing's own scoring methods evaluate them (BetaGeoModel.expected_purchases: FHL 2005 equation 10;
expected_probability_alive: Fader, Hardie & Lee 2008, "Computing P(alive) using the BG/NBD model";
GammaGammaModel.expected_customer_spend: Fader & Hardie 2013 equation 5). Those methods are plain scipy
arithmetic on the posterior, but reaching them means importing pymc and building the model, 10-25 s in a
fresh process, which a daily build paid every day just to score at stored parameters (issue 22). So a
build that does not fit never imports pymc; tests/test_clv_scoring.py checks that these functions equal
pymc-marketing's methods at the same parameters, and that scoring leaves pymc unimported.

The dbt models `customer_clv` and `clv_calibration` call these functions; tests/test_clv.py runs the same
models on the CDNOW transactions.

Inputs are the per-customer summaries of `prep_clv_inputs`: frequency (repeat purchase days), recency and
t (days from the first purchase day to the last one and to the as-of date), monetary_value (mean spend
per repeat purchase day).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

BUCKETS = ["0", "1", "2", "3", "4", "5", "6", "7+"]


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    customers: int
    model: Any = field(default=None, repr=False, compare=False)  # the fitted BetaGeoModel; None at stored parameters


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    v: float
    log_likelihood: float
    customers: int
    model: Any = field(default=None, repr=False, compare=False)  # the fitted GammaGammaModel; None at stored parameters


def _flat(names: list[str]) -> dict:
    from pymc_extras.prior import Prior

    return {name: Prior("HalfFlat") for name in names}


def _fit_map(model, data: pd.DataFrame, names: list[str]) -> tuple[dict[str, float], float]:
    """Fit by MAP (pymc.find_MAP via pymc-marketing) and return the parameters and the log-likelihood.

    The log-likelihood is the fitted model's own log-density at the MAP point, compiled by pymc without
    the log transforms' Jacobian: the HalfFlat priors' log-density is 0 on the positive reals, so what is
    left is the likelihood (BG/NBD's observed recency_frequency, Gamma-Gamma's likelihood Potential)."""
    from pymc.model.transform.conditioning import remove_value_transforms

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model.fit(data, method="map", progressbar=False)
    fitted = {name: float(np.asarray(model.fit_result[name]).squeeze()) for name in names}
    log_density = remove_value_transforms(model.model).compile_logp(jacobian=False)
    return fitted, float(log_density(fitted))


def _purchase_data(summary: pd.DataFrame) -> pd.DataFrame:
    """pymc-marketing's BG/NBD columns; customers are numbered by position, so results keep the row order."""
    return pd.DataFrame(
        {
            "customer_id": np.arange(len(summary)),
            "frequency": summary["frequency"].to_numpy(dtype=float),
            "recency": summary["recency"].to_numpy(dtype=float),
            "T": summary["t"].to_numpy(dtype=float),
        }
    )


def _spend_data(summary: pd.DataFrame) -> pd.DataFrame:
    frequency = summary["frequency"].to_numpy(dtype=float)
    return pd.DataFrame(
        {
            "customer_id": np.arange(len(summary)),
            "frequency": frequency,
            "monetary_value": summary["monetary_value"].to_numpy(dtype=float),
        }
    )


def fit_bgnbd(summary: pd.DataFrame) -> BgNbd:
    """Maximum-likelihood BG/NBD on columns frequency, recency, t (any time unit)."""
    from pymc_marketing.clv import BetaGeoModel

    names = ["r", "alpha", "a", "b"]
    model = BetaGeoModel(model_config=_flat(names))
    params, log_likelihood = _fit_map(model, _purchase_data(summary), names)
    return BgNbd(**params, log_likelihood=log_likelihood, customers=len(summary), model=model)


def fit_gamma_gamma(summary: pd.DataFrame) -> GammaGamma:
    """Maximum-likelihood Gamma-Gamma on the repeat buyers' frequency and monetary_value (mean spend per
    repeat purchase); customers without a repeat purchase or with no positive spend carry no information."""
    from pymc_marketing.clv import GammaGammaModel

    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    names = ["p", "q", "v"]
    model = GammaGammaModel(model_config=_flat(names))
    params, log_likelihood = _fit_map(model, _spend_data(repeat), names)
    return GammaGamma(**params, log_likelihood=log_likelihood, customers=len(repeat), model=model)


def too_few_to_fit(summary: pd.DataFrame, min_buyers: int, min_repeat_buyers: int, min_observed_buyers: int) -> bool:
    """Too little data to trust a fit (vars clv_min_buyers, clv_min_repeat_buyers, clv_min_observed_buyers):
    BG/NBD needs some repeat buyers and some time observed."""
    return (
        len(summary) < min_buyers
        or int((summary["frequency"] > 0).sum()) < min_repeat_buyers
        or int((summary["t"] > 0).sum()) < min_observed_buyers
    )


def fit(summary: pd.DataFrame) -> tuple[BgNbd, GammaGamma]:
    return fit_bgnbd(summary), fit_gamma_gamma(summary)


def at_parameters(summary: pd.DataFrame, stored: dict[str, float]) -> tuple[BgNbd, GammaGamma]:
    """The BG/NBD and Gamma-Gamma models at parameters fitted earlier (named as `parameters` returns them),
    for scoring today's customers with them: no fit, and no pymc (module docstring)."""
    bg = {name: float(stored[f"bgnbd_{name}"]) for name in ["r", "alpha", "a", "b"]}
    gg = {name: float(stored[f"gg_{name}"]) for name in ["p", "q", "v"]}
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    return (
        BgNbd(**bg, log_likelihood=float(stored["bgnbd_log_likelihood"]), customers=len(summary)),
        GammaGamma(**gg, log_likelihood=float(stored["gg_log_likelihood"]), customers=len(repeat)),
    )


def _history(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x (repeat purchases), t_x (recency) and T (time observed) as floats."""
    return (
        summary["frequency"].to_numpy(dtype=float),
        summary["recency"].to_numpy(dtype=float),
        summary["t"].to_numpy(dtype=float),
    )


def probability_alive(model: BgNbd, summary: pd.DataFrame) -> np.ndarray:
    """P(alive | x, t_x, T) at the fitted point (Fader, Hardie & Lee 2008), as pymc-marketing's
    BetaGeoModel.expected_probability_alive computes it: 1 for a customer with no repeat purchase."""
    from scipy.special import expit

    x, t_x, big_t = _history(summary)
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    log_odds = (r + x) * np.log((alpha + big_t) / (alpha + t_x)) + np.log(a / (b + np.maximum(x, 1) - 1))
    return np.where(x == 0, 1.0, expit(-log_odds))


def expected_purchases(model: BgNbd, summary: pd.DataFrame, horizon: float) -> np.ndarray:
    """Expected purchases in the next `horizon` time units given the history (FHL 2005 equation 10), as
    pymc-marketing's BetaGeoModel.expected_purchases computes it."""
    from scipy.special import hyp2f1

    if horizon <= 0:
        return np.zeros(len(summary))
    x, t_x, big_t = _history(summary)
    r, alpha, a, b, t = model.r, model.alpha, model.a, model.b, float(horizon)
    numerator = 1 - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x) * hyp2f1(
        r + x, b + x, a + b + x - 1, t / (alpha + big_t + t)
    )
    numerator *= (a + b + x - 1) / (a - 1)
    # x = 0 adds nothing to the denominator; b + x - 1 is not divided by there (b may be below 1).
    with np.errstate(divide="ignore", invalid="ignore"):
        repeat_term = (a / (b + x - 1)) * ((alpha + big_t) / (alpha + t_x)) ** (r + x)
    return numerator / (1 + np.where(x > 0, repeat_term, 0.0))


def expected_spend_per_purchase(model: GammaGamma, summary: pd.DataFrame) -> np.ndarray:
    """E[spend per purchase | x, m] (Fader & Hardie 2013 equation 5), as pymc-marketing's
    GammaGammaModel.expected_customer_spend computes it: a weighted mean of the population mean
    p v / (q - 1) and the customer's own mean; a customer with no repeat purchase (weight 0) gets the
    population mean."""
    x = summary["frequency"].to_numpy(dtype=float)
    own_mean = np.where(x > 0, summary["monetary_value"].to_numpy(dtype=float), 0.0)
    p, q, v = model.p, model.q, model.v
    weight = p * x / (p * x + q - 1)
    return (1 - weight) * (v * p / (q - 1)) + weight * own_mean


def score(summary: pd.DataFrame, purchases: BgNbd, spend: GammaGamma, horizon: float) -> pd.DataFrame:
    """Per customer: probability alive, expected purchases and spend per purchase over the horizon, and
    their product, the undiscounted expected value."""
    result = pd.DataFrame(index=summary.index)
    result["probability_alive"] = probability_alive(purchases, summary)
    result["expected_purchases"] = expected_purchases(purchases, summary, horizon)
    result["expected_spend_per_purchase"] = expected_spend_per_purchase(spend, summary)
    result["expected_value"] = result["expected_purchases"] * result["expected_spend_per_purchase"]
    return result


def frequency_bucket(frequency: pd.Series) -> pd.Series:
    return frequency.clip(upper=7).astype(int).map(lambda n: BUCKETS[n])


def calibration(calibration_summary: pd.DataFrame, holdout_purchases: pd.Series, holdout_length: float) -> pd.DataFrame:
    """FHL 2005 figure 4: fit BG/NBD on the calibration period's summaries, then per calibration frequency
    (0..6, 7+) and overall, the mean repeat purchases customers made in the holdout period (actual) beside
    the mean the model expected for them over the holdout's length. holdout_purchases is aligned with the
    summary's rows."""
    purchases = fit_bgnbd(calibration_summary)
    expected = expected_purchases(purchases, calibration_summary, holdout_length)
    frame = pd.DataFrame(
        {
            "frequency_bucket": frequency_bucket(calibration_summary["frequency"]).to_numpy(),
            "actual": holdout_purchases.to_numpy(dtype=float),
            "expected": expected,
        }
    )
    rows = []
    for order, bucket in enumerate(BUCKETS):
        part = frame[frame["frequency_bucket"] == bucket]
        if len(part):
            rows.append((bucket, order, len(part), part["actual"].mean(), part["expected"].mean()))
    rows.append(("all", 99, len(frame), frame["actual"].mean(), frame["expected"].mean()))
    return pd.DataFrame(
        rows,
        columns=[
            "frequency_bucket",
            "bucket_order",
            "customers",
            "actual_repeat_purchases",
            "expected_repeat_purchases",
        ],
    ).astype({"bucket_order": "int32", "customers": "int64"})


def parameters(purchases: BgNbd, spend: GammaGamma) -> dict[str, float]:
    """The fitted parameters and log-likelihoods at full precision, named as customer_clv's columns."""
    bg = {f"bgnbd_{k}": getattr(purchases, k) for k in ["r", "alpha", "a", "b", "log_likelihood"]}
    gg = {f"gg_{k}": getattr(spend, k) for k in ["p", "q", "v", "log_likelihood"]}
    return {**bg, **gg}
