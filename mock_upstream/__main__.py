"""python -m voice_harness.mock_upstream serve [--scenario NAME|PATH] [--port N] [--require-key]: the mock for
manual use, or as a local stand-in for the real service (with --require-key it refuses a handshake without a bearer
key). `python -m mock_upstream` is the same in a checkout."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from voice_harness.mock_upstream import scenario as scenarios
from voice_harness.wire.recording import Recorder
from voice_harness.mock_upstream.server import MockUpstream


class _KeyedMock(MockUpstream):
    async def _process_request(self, connection, request):
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or len(auth) < len("Bearer ") + 6:
            return connection.respond(401, "Missing bearer authentication in header\n")
        return await super()._process_request(connection, request)


def _package() -> str:
    """The name this module was run under, for the help: voice_harness.mock_upstream installed, or the checkout's."""
    return __spec__.name.removesuffix(".__main__") if __spec__ is not None else "voice_harness.mock_upstream"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {_package()}", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the mock on 127.0.0.1")
    serve.add_argument("--scenario", default="default")
    serve.add_argument("--port", type=int, default=0)
    serve.add_argument("--require-key", action="store_true", help="refuse handshakes without Authorization: Bearer")
    args = parser.parse_args(argv)
    try:
        scenario = scenarios.load(args.scenario)
    except scenarios.ScenarioError as exc:
        print(f"mock_upstream: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(scenario, args.port, args.require_key))
    except KeyboardInterrupt:
        pass
    return 0


async def _serve(scenario: scenarios.Scenario, port: int, require_key: bool) -> None:
    mock = (_KeyedMock if require_key else MockUpstream)(Recorder(), port=port)
    mock.use(scenario)
    try:
        await mock.start()
    except OSError as exc:
        print(f"mock_upstream: cannot listen on port {port}: {exc.strerror}", file=sys.stderr)
        raise SystemExit(2)
    print(f"mock_upstream listening on {mock.url} (scenario {scenario.name})", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await mock.stop()


if __name__ == "__main__":
    sys.exit(main())
