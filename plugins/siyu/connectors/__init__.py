"""Source connectors: WeCom customer contact, Youzan trades, store files and the session archive.
Each is plain Python, tested against the simulators without Airflow."""
