"""siyu's test harness, kept out of the product package: the synthetic retail world with its ground truth
(`siyu_sim.world`), faithful local simulators of the WeCom customer-contact API, the Youzan trade API and
the store drops (`siyu_sim.server`, `siyu_sim.drops`), and the replay that lands a world through them
(`siyu_sim.replay`)."""
