"""siyu.clv scores at stored parameters with the papers' closed forms and without pymc (issue 22).

A daily build scores today's buyers at the last fit's parameters. pymc-marketing's scoring methods are
plain scipy arithmetic, but reaching them costs importing pymc and building the model, 10-25 s in a fresh
process. siyu evaluates the same formulas itself; these tests hold them to pymc-marketing's own methods at
the same parameters (an implementation siyu's code no longer calls), over histories that reach the
formulas' edges, and check that scoring leaves pymc unimported.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from siyu import clv

# Points away from any fit: the comparison is of formulas, not of fits. b < 1 makes b + x - 1 negative for
# x = 0, which the formulas must not divide by.
POINTS = [
    ({"r": 0.243, "alpha": 30.9, "a": 0.793, "b": 2.426}, {"p": 6.25, "q": 3.74, "v": 15.44}),
    ({"r": 1.7, "alpha": 120.0, "a": 2.5, "b": 0.6}, {"p": 1.2, "q": 9.0, "v": 300.0}),
]


def histories(seed: int = 7) -> pd.DataFrame:
    """Repeat purchases 0-40, recency up to T, T from 0 to two years, with the edges: never bought again,
    bought again on the last day observed (t_x = T), observed for no time (T = 0)."""
    rng = np.random.default_rng(seed)
    n = 400
    big_t = rng.integers(0, 730, n)
    recency = (big_t * rng.random(n)).astype(int)
    frequency = np.where(recency > 0, rng.integers(1, 40, n), 0)
    frame = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": recency,
            "t": big_t,
            "monetary_value": np.where(frequency > 0, rng.gamma(2.0, 150.0, n), 0.0),
        }
    )
    edges = pd.DataFrame(
        {
            "frequency": [0, 0, 3, 5, 1],
            "recency": [0, 0, 200, 60, 30],
            "t": [0, 365, 200, 60, 400],
            "monetary_value": [0.0, 0.0, 99.5, 1200.0, 8.0],
        }
    )
    return pd.concat([frame, edges], ignore_index=True)


def pymc_marketing_scores(summary: pd.DataFrame, bg: dict, gg: dict, horizon: float) -> pd.DataFrame:
    """pymc-marketing's BetaGeoModel and GammaGammaModel with the given point as their posterior, scoring
    with their own methods."""
    import arviz as az
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    def at_point(model, data, point):
        model.build_model(data)
        model.idata = az.from_dict(posterior={name: np.array([[value]]) for name, value in point.items()})
        return model

    purchases_data = pd.DataFrame(
        {
            "customer_id": np.arange(len(summary)),
            "frequency": summary["frequency"].astype(float),
            "recency": summary["recency"].astype(float),
            "T": summary["t"].astype(float),
        }
    )
    spend_data = pd.DataFrame(
        {
            "customer_id": np.arange(len(summary)),
            "frequency": summary["frequency"].astype(float),
            "monetary_value": summary["monetary_value"].astype(float),
        }
    )
    repeat = spend_data[(spend_data["frequency"] > 0) & (spend_data["monetary_value"] > 0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bgnbd = at_point(BetaGeoModel(), purchases_data, bg)
        gamma_gamma = at_point(GammaGammaModel(), repeat, gg)

        def point(values) -> np.ndarray:
            return np.asarray(values.mean(("chain", "draw"))).astype(float)

        return pd.DataFrame(
            {
                "probability_alive": point(bgnbd.expected_probability_alive(data=purchases_data)),
                "expected_purchases": point(bgnbd.expected_purchases(data=purchases_data, future_t=horizon)),
                "expected_spend_per_purchase": point(gamma_gamma.expected_customer_spend(data=spend_data)),
            }
        )


@pytest.mark.parametrize("bg,gg", POINTS)
@pytest.mark.parametrize("horizon", [1.0, 30.0, 365.0])
def test_scoring_equals_pymc_marketing_at_the_same_parameters(bg, gg, horizon):
    summary = histories()
    stored = {
        **{f"bgnbd_{k}": v for k, v in bg.items()},
        **{f"gg_{k}": v for k, v in gg.items()},
        "bgnbd_log_likelihood": -1.0,
        "gg_log_likelihood": -1.0,
    }
    purchases, spend = clv.at_parameters(summary, stored)
    ours = clv.score(summary, purchases, spend, horizon)
    theirs = pymc_marketing_scores(summary, bg, gg, horizon)
    for column in theirs.columns:
        assert np.isfinite(ours[column]).all(), column
        assert ours[column].to_numpy() == pytest.approx(theirs[column].to_numpy(), rel=1e-10, abs=1e-12), column
    # The edges: no repeat purchase is alive for sure and gets the population's mean spend.
    never = summary["frequency"] == 0
    assert (ours.loc[never, "probability_alive"] == 1).all()
    assert ours.loc[never, "expected_spend_per_purchase"].nunique() == 1


def test_scoring_at_stored_parameters_does_not_import_pymc():
    """The daily build's path: at_parameters then score, in a fresh interpreter; pymc stays unimported."""
    code = """
import sys
import pandas as pd
from siyu import clv
summary = pd.DataFrame({"frequency": [0, 2], "recency": [0, 40], "t": [10, 90], "monetary_value": [0.0, 50.0]})
stored = {"bgnbd_r": 0.3, "bgnbd_alpha": 30.0, "bgnbd_a": 0.8, "bgnbd_b": 2.4, "bgnbd_log_likelihood": -1.0,
          "gg_p": 6.0, "gg_q": 3.7, "gg_v": 15.0, "gg_log_likelihood": -1.0}
scores = clv.score(summary, *clv.at_parameters(summary, stored), 365.0)
assert scores["expected_value"].gt(0).all(), scores
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("pymc", "pymc_marketing", "pytensor"))
print(",".join(loaded))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "", f"scoring imported {run.stdout.strip()[:200]}"
