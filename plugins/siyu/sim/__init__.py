"""Faithful local simulators of the WeCom customer-contact API, the Youzan trade API and the store drops."""
