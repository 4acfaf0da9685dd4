"""The Python HTTP floor of the service's load test: uvicorn (uvloop, httptools) and
Starlette answering the sensor model's inference route with the same JSON body as
``fugue-ppl serve`` — the request parsed, a response of the same shape encoded —
without a model, authentication, limits, audit or metrics.

Run: ``python benches/_http_floor.py PORT``.
"""

import json
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route


def _tensor(name, datatype, value):
    return {"name": name, "datatype": datatype, "shape": [1], "data": [value]}


async def infer(request):
    doc = json.loads(await request.body())
    reading = doc["inputs"][0]["data"][0]
    body = {"model_name": "sensor", "model_version": "1", "id": "0" * 32,
            "parameters": {"status": "ok", "request_id": "0" * 32},
            "outputs": [_tensor("temperature", "FP64", reading - 0.5),
                        _tensor("valid", "BOOL", True), _tensor("status", "BYTES", "ok"),
                        _tensor("log_prior", "FP64", -2.98), _tensor("log_likelihood", "FP64",
                                                                     -22.06),
                        _tensor("log_factors", "FP64", 0.0),
                        _tensor("total_log_weight", "FP64", -25.05)]}
    return Response(json.dumps(body, separators=(",", ":")).encode(),
                    media_type="application/json")


async def ready(request):
    return Response(b'{"ready":true}', media_type="application/json")


app = Starlette(routes=[Route("/v2/models/sensor/infer", infer, methods=["POST"]),
                        Route("/v2/health/ready", ready, methods=["GET"])])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
                log_level="warning", access_log=False, lifespan="off")
