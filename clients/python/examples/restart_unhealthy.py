#!/usr/bin/env python3
"""Watches berthd's containers and restarts the ones whose health check says unhealthy.

    PYTHONPATH=clients/python python3 clients/python/examples/restart_unhealthy.py \
        [--host unix:///run/berth/berthd.sock] [--interval 5] [--backoff 60] [--label KEY=VALUE] \
        [--once]

Today it polls ``container.list`` every ``--interval`` seconds: berthd has no event stream yet.
Once ``system.events`` exists (issue 12), this will follow its ``health_status`` events instead
(and read the missed ones with ``--since`` after a reconnect) rather than poll.

A restart starts a container's health check over from ``starting``, so one that is unhealthy
again later has failed anew and is restarted again, at most once per ``--backoff`` seconds.
``--label`` limits it to containers carrying that label (``berth run --label autoheal=true``).
"""

import argparse
import sys
import time

import berth
from berth import errors


def unhealthy(info: dict, label: str | None) -> bool:
    if label:
        key, _, value = label.partition("=")
        if info.get("labels", {}).get(key) != value:
            return False
    return info.get("state") == "running" and \
        info.get("health", {}).get("status") == "unhealthy"


def sweep(client: berth.Client, label: str | None, restarted: dict[str, float],
          backoff: float) -> list[str]:
    """One look at the running containers; restarts the unhealthy ones. A restart starts the
    health check over from ``starting``, so a container unhealthy again afterwards has failed
    anew; ``backoff`` seconds between two restarts of one container keep a container that
    never gets healthy from being restarted in a loop. Returns the names restarted."""
    done = []
    now = time.monotonic()
    for info in client.containers.list():
        cid, name = info["id"], info["name"]
        if not unhealthy(info, label):
            continue
        if cid in restarted and now - restarted[cid] < backoff:
            continue
        streak = info.get("health", {}).get("failing_streak", 0)
        print(f"{name}: unhealthy ({streak} failures in a row), restarting", flush=True)
        try:
            client.containers.restart(cid)
            restarted[cid] = time.monotonic()
            done.append(name)
        except (errors.NotFound, errors.Conflict) as e:  # removed or stopped meanwhile
            print(f"{name}: {e}", file=sys.stderr)
    return done


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default=None, help="berthd (default: BERTH_HOST or the socket)")
    ap.add_argument("--interval", type=float, default=5.0)
    ap.add_argument("--label", default=None, help="only containers with this KEY=VALUE label")
    ap.add_argument("--backoff", type=float, default=60.0,
                    help="seconds between two restarts of one container")
    ap.add_argument("--once", action="store_true", help="one sweep, then exit")
    args = ap.parse_args()
    restarted: dict[str, float] = {}
    while True:
        try:
            with berth.Client(args.host) as client:
                while True:
                    sweep(client, args.label, restarted, args.backoff)
                    if args.once:
                        return 0
                    time.sleep(args.interval)
        except errors.Unavailable as e:
            if args.once:
                print(e, file=sys.stderr)
                return 1
            print(f"{e}; reconnecting in {args.interval} s", file=sys.stderr)
            time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
