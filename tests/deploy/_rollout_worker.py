"""A replica for the rollouts' multi-process test (a ``multiprocessing`` spawn target,
imported by name in each child): its own registry connection, runners and router,
stepping one shared canary in lock-step with the other replicas.

Each round: send ``requests`` keyed requests, step (the clock unchanged: the step
only adds this replica's counts to the rollout), then step again once the test
has moved the shared clock on (a look is due: one replica takes the transition).
"""

import traceback


def replica(url, rollout_id, wid, rounds, requests, clock_value, barrier, results):
    try:
        from fugue_ppl import ModelRunner
        from fugue_ppl.deploy import ModelRegistry, Router, resume
        from fugue_ppl.models import sensor
        from fugue_ppl.serving import ModelConfig, RunnerConfig

        reg = ModelRegistry(url=url, timeout_seconds=20.0)
        router = Router({v: ModelRunner(sensor, RunnerConfig(model=ModelConfig(version=v)),
                                        rng=10 * wid + k) for k, v in enumerate(("1", "2"))})
        strategy = resume(reg, rollout_id, router, clock=lambda: clock_value.value,
                          metrics=("errors",))
        sent = []
        for r in range(rounds):
            barrier.wait()
            for k in range(requests):
                router.infer(22.0, key=f"replica-{wid}-{r}-{k}")
            sent.append(requests)
            barrier.wait()
            strategy.step()             # (gathers this replica's counts)
            barrier.wait()              # (the test checks them and moves the clock on)
            barrier.wait()
            strategy.step()             # (the look: one replica moves the canary on)
            barrier.wait()
        strategy.close()
        reg.close()
        results.put({"wid": wid, "sent": sent})
    except BaseException:  # noqa: BLE001 - reported to the test, which fails on it
        results.put({"wid": wid, "error": traceback.format_exc()})
        barrier.abort()
