"""Lifetime value by maximum likelihood: BG/NBD for repeat purchases and survival (Fader, Hardie & Lee 2005,
"Counting Your Customers the Easy Way", Marketing Science 24(2)), Gamma-Gamma for the spend per purchase
(Fader & Hardie 2013, "The Gamma-Gamma Model of Monetary Value"), and the calibration check of FHL 2005
figure 4 (expected vs actual repeat purchases in a holdout period, by calibration frequency).

The dbt models `customer_clv` and `clv_calibration` call these functions; tests/test_clv.py runs the same
functions on the CDNOW transactions. Flat priors: the fit is the likelihood's maximum, so it does not
depend on the time unit (fitted in days, alpha is 7 x the weekly alpha; r, a and b are unchanged), and a
large customer base is never pulled towards a prior chosen for another scale.

Inputs are the per-customer summaries of `int_clv_inputs`: frequency (repeat purchase days), recency and
t (days from the first purchase day to the last one and to the as-of date), monetary_value (mean spend
per repeat purchase day).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special

BUCKETS = ["0", "1", "2", "3", "4", "5", "6", "7+"]


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    customers: int


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    v: float
    log_likelihood: float
    customers: int


def _grouped(frame: pd.DataFrame, columns: list[str]) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct rows and how many customers share each: day-grained summaries repeat a lot, and the
    likelihood is a weighted sum over them."""
    counts = frame.groupby(columns, sort=False).size()
    values = [counts.index.get_level_values(i).to_numpy(dtype=float) for i in range(len(columns))]
    return values, counts.to_numpy(dtype=float)


def _bgnbd_log_likelihood(params, x, t_x, t, weights) -> float:
    r, alpha, a, b = params
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b) - special.gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + t)
    repeat = x > 0
    a4 = np.where(
        repeat,
        np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    return float(np.sum(weights * (a1 + a2 + np.logaddexp(a3, a4))))


def _gamma_gamma_log_likelihood(params, x, m, weights) -> float:
    p, q, v = params
    px = p * x
    terms = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(x * m + v)
    )
    return float(np.sum(weights * terms))


def _maximise(log_likelihood, start: np.ndarray) -> tuple[np.ndarray, float]:
    """Maximise over the log of the (positive) parameters: BFGS to get close, Nelder-Mead to polish to
    full precision (the likelihood is flat along some directions, where a gradient tolerance stops early)."""

    def negative(log_params):
        value = log_likelihood(np.exp(log_params))
        return -value if np.isfinite(value) else np.inf

    rough = optimize.minimize(negative, np.log(start), method="BFGS")
    polished = optimize.minimize(
        negative,
        rough.x,
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20_000, "maxfev": 40_000},
    )
    best = polished if polished.fun <= rough.fun else rough
    return np.exp(best.x), -float(best.fun)


def fit_bgnbd(summary: pd.DataFrame) -> BgNbd:
    """Maximum-likelihood BG/NBD on columns frequency, recency, t (any time unit)."""
    (x, t_x, t), weights = _grouped(summary, ["frequency", "recency", "t"])
    start = np.array([1.0, max(float(np.average(t, weights=weights)), 1e-3), 1.0, 1.0])
    params, log_likelihood = _maximise(lambda p: _bgnbd_log_likelihood(p, x, t_x, t, weights), start)
    return BgNbd(*map(float, params), log_likelihood=log_likelihood, customers=len(summary))


def fit_gamma_gamma(summary: pd.DataFrame) -> GammaGamma:
    """Maximum-likelihood Gamma-Gamma on the repeat buyers' frequency and monetary_value (mean spend per
    repeat purchase); customers without a repeat purchase or with no positive spend carry no information."""
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    (x, m), weights = _grouped(repeat, ["frequency", "monetary_value"])
    start = np.array([1.0, 1.0, max(float(np.average(m, weights=weights)), 1e-3)])
    params, log_likelihood = _maximise(lambda p: _gamma_gamma_log_likelihood(p, x, m, weights), start)
    return GammaGamma(*map(float, params), log_likelihood=log_likelihood, customers=len(repeat))


def fit(summary: pd.DataFrame) -> tuple[BgNbd, GammaGamma]:
    return fit_bgnbd(summary), fit_gamma_gamma(summary)


def probability_alive(model: BgNbd, summary: pd.DataFrame) -> np.ndarray:
    """P(alive | x, t_x, T), FHL 2005 equation (A10)'s denominator."""
    x, t_x, t = (summary[c].to_numpy(dtype=float) for c in ["frequency", "recency", "t"])
    return 1.0 / (1.0 + _dropout_odds(model, x, t_x, t))


def _dropout_odds(model: BgNbd, x, t_x, t) -> np.ndarray:
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    repeat = x > 0
    base = np.where(repeat, a / np.where(repeat, b + x - 1, 1.0), 0.0)
    return base * np.exp((r + x) * (np.log(alpha + t) - np.log(alpha + t_x)))


def expected_purchases(model: BgNbd, summary: pd.DataFrame, horizon: float) -> np.ndarray:
    """Expected purchases in the next `horizon` time units given the history, FHL 2005 equation (10)."""
    x, t_x, t = (summary[c].to_numpy(dtype=float) for c in ["frequency", "recency", "t"])
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    if horizon <= 0:
        return np.zeros(len(x))
    hypergeometric = special.hyp2f1(r + x, b + x, a + b + x - 1, horizon / (alpha + t + horizon))
    remaining = 1.0 - np.exp((r + x) * (np.log(alpha + t) - np.log(alpha + t + horizon))) * hypergeometric
    return (a + b + x - 1) / (a - 1) * remaining / (1.0 + _dropout_odds(model, x, t_x, t))


def expected_spend_per_purchase(model: GammaGamma, summary: pd.DataFrame) -> np.ndarray:
    """E[spend per purchase | x, m] (Fader & Hardie 2013): a weighted mean of the population mean
    p v / (q - 1) and the customer's own mean; a customer with no repeat purchase gets the population mean."""
    x = summary["frequency"].to_numpy(dtype=float)
    m = summary["monetary_value"].to_numpy(dtype=float)
    m = np.where(x > 0, m, 0.0)
    return model.p * (model.v + x * m) / (model.p * x + model.q - 1)


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
    bg = {f"bgnbd_{k}": v for k, v in asdict(purchases).items() if k != "customers"}
    gg = {f"gg_{k}": v for k, v in asdict(spend).items() if k != "customers"}
    return {**bg, **gg}
