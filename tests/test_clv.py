"""The lifetime-value models reproduce published maximum-likelihood fits on real data.

Data: the CDNOW sample (2,357 customers who made a first purchase at CDNOW in the first quarter of 1997,
39-week calibration period), as shipped inside the `lifetimes` package on PyPI
(lifetimes/datasets/cdnow_customers_summary_with_transactions.csv: x, t_x, T in weeks, zbar = mean
repeat-transaction value). Published parameters:
- BG/NBD: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426 (Fader, Hardie & Lee 2005, "Counting Your
  Customers the Easy Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2)).
- Gamma-Gamma: p = 6.25, q = 3.74, gamma = 15.44 (Fader & Hardie 2013, "The Gamma-Gamma Model of Monetary
  Value", note on brucehardie.com).
With flat priors the MAP fit is the maximum-likelihood fit.
"""

from __future__ import annotations

import importlib.metadata
import warnings

import pandas as pd
import pytest

pytestmark = pytest.mark.integration

BG_NBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    dist = importlib.metadata.distribution("lifetimes")
    path = next(f for f in dist.files if str(f).endswith("datasets/cdnow_customers_summary_with_transactions.csv"))
    return pd.read_csv(dist.locate_file(path))


def flat(names):
    from pymc_extras.prior import Prior

    return {name: Prior("HalfFlat") for name in names}


def test_bg_nbd_reproduces_fader_hardie_lee_2005(cdnow):
    warnings.filterwarnings("ignore", category=FutureWarning)
    from pymc_marketing import clv

    assert len(cdnow) == 2357
    data = pd.DataFrame({"customer_id": cdnow["ID"], "frequency": cdnow["x"], "recency": cdnow["t_x"], "T": cdnow["T"]})
    model = clv.BetaGeoModel(model_config=flat(BG_NBD))
    model.fit(data, method="map", progressbar=False)
    fitted = model.fit_summary()
    for name, published in BG_NBD.items():
        assert float(fitted[name]) == pytest.approx(published, rel=0.01), name


def test_gamma_gamma_reproduces_fader_hardie_2013(cdnow):
    warnings.filterwarnings("ignore", category=FutureWarning)
    from pymc_marketing import clv

    repeat = cdnow[cdnow["x"] > 0]
    assert len(repeat) == 946
    data = pd.DataFrame({"customer_id": repeat["ID"], "frequency": repeat["x"], "monetary_value": repeat["zbar"]})
    model = clv.GammaGammaModel(model_config=flat(GAMMA_GAMMA))
    model.fit(data, method="map", progressbar=False)
    fitted = model.fit_summary()
    for name, published in GAMMA_GAMMA.items():
        assert float(fitted[name]) == pytest.approx(published, rel=0.01), name
