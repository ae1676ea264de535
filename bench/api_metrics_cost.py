"""What counting one API request costs in ``/metrics``: the counter alone, and the counter with
the request-duration histogram (``vestnik_api_request_duration_seconds``), per request.

    .venv/bin/python bench/api_metrics_cost.py [--requests N]
"""

from __future__ import annotations

import argparse
import timeit

from vestnik import metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500_000)
    n = parser.parse_args().requests

    def counted() -> None:
        metrics.observe_api_request("start.informer_call", None)

    def timed() -> None:
        metrics.observe_api_request("start.informer_call", None, 0.0012)

    best = {name: min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6
            for name, fn in (("counter", counted), ("counter+histogram", timed))}  # fmt: skip
    for name, micros in best.items():
        print(f"{name:18s} {micros:6.2f} us per request (best of 5 x {n})")
    added = best["counter+histogram"] - best["counter"]
    print(f"{'histogram adds':18s} {added:6.2f} us per request")


if __name__ == "__main__":
    main()
