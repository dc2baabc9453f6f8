"""python -m voice_harness.reference_proxy --port N --upstream-url URL [--defect NAME] [--minimal | --variant minimal]
(`python -m reference_proxy` in a checkout)"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from voice_harness.reference_proxy.defects import DEFECTS, session_class
from voice_harness.reference_proxy.server import PATH, Proxy

VARIANTS = ("reference", "minimal")


def _package() -> str:
    """The name this module was run under, for the help: voice_harness.reference_proxy installed, or the checkout's."""
    return __spec__.name.removesuffix(".__main__") if __spec__ is not None else "voice_harness.reference_proxy"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {_package()}", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream-url", required=True, help="ws(s) URL of the Realtime upstream")
    parser.add_argument("--defect", choices=sorted(DEFECTS), help="switch on one known field defect")
    parser.add_argument("--variant", choices=VARIANTS, default="reference",
                        help="reference (default), or minimal: no greeting, context or function calls")
    parser.add_argument("--minimal", dest="variant", action="store_const", const="minimal",
                        help="the feature-minimal variant (same as --variant minimal)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass
    return 0


async def _serve(args) -> None:
    proxy = Proxy(args.upstream_url, session_class(args.defect, minimal=args.variant == "minimal"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        server = await proxy.serve(args.host, args.port)
    except OSError as exc:
        print(f"reference_proxy: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        raise SystemExit(2)
    defect = f" with defect {args.defect}" if args.defect else ""
    print(f"reference_proxy listening on ws://{args.host}:{args.port}{PATH} (variant {args.variant}){defect}",
          file=sys.stderr, flush=True)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    sys.exit(main())
