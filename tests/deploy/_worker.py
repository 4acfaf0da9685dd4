"""Work for the registry's concurrency tests, run in threads of the test process and
in separate processes (``python _worker.py '<json>'`` prints a JSON result).

Each worker registers versions of the model ``shared``, increments a counter in
the parameters of ``shared base`` (read, write with the revision read, retry on
conflict), promotes each of its versions (retrying on conflict) and reads the
parameters through the cache, counting any torn document or a second live
version.
"""

import json
import sys
import time

MODEL = "fugue_ppl.models:sensor"


def hammer(reg, wid, rounds, start_at):
    from fugue_ppl.errors import RegistryConflict

    while time.time() < start_at:
        time.sleep(0.005)
    done = {"registered": 0, "increments": 0, "promoted": 0, "conflicts": 0, "torn": 0,
            "began": time.time()}
    for k in range(rounds):
        reg.register("shared", f"w{wid}-{k}", MODEL, actor=f"worker-{wid}",
                     params={"owner": wid, "round": k})
        done["registered"] += 1
        while True:
            base = reg.get("shared", "base", cached=False)
            count = base.params["count"] + 1
            time.sleep(0.005)       # (work between the read and the write: writers collide)
            try:
                reg.update_params("shared", "base", {"count": count, "check": 7 * count,
                                                     "last": wid},
                                  expected_revision=base.revision, actor=f"worker-{wid}")
                done["increments"] += 1
                break
            except RegistryConflict:
                done["conflicts"] += 1
        while True:
            mine = reg.get("shared", f"w{wid}-{k}", cached=False)
            try:
                reg.promote("shared", mine.version, expected_revision=mine.revision,
                            actor=f"worker-{wid}")
                done["promoted"] += 1
                break
            except RegistryConflict:
                done["conflicts"] += 1
        params = reg.params("shared", "base")
        if params["check"] != 7 * params["count"]:
            done["torn"] += 1
        if len(reg.list("shared", status="live")) != 1:
            done["torn"] += 1
    done["ended"] = time.time()
    return done


def migrate(url, start_at):
    from fugue_ppl.deploy import ModelRegistry

    while time.time() < start_at:
        time.sleep(0.001)
    with ModelRegistry(url=url, timeout_seconds=20.0) as reg:
        return {"applied": list(reg.applied_migrations), "schema": reg.schema_version()}


def main(argv):
    job = json.loads(argv[1])
    if job["task"] == "migrate":
        out = migrate(job["url"], job["start_at"])
    else:
        from fugue_ppl.deploy import ModelRegistry

        with ModelRegistry(url=job["url"], timeout_seconds=20.0) as reg:
            out = hammer(reg, job["wid"], job["rounds"], job["start_at"])
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
