"""``python -m tracer.testbed build``: build the laundering scenario on a local chain.

    python -m tracer.testbed build --scale small --seed 7 --out DIR [--rpc-url URL]
                                   [--dump-state FILE] [--serve]

With ``--rpc-url`` the scenario is built on that node (anvil started with
``--auto-impersonate``, not yet used for this seed): what tests, the demo and benchmarks do.
Without it, the command starts its own anvil, and the chain only outlives the command if you
ask: ``--dump-state FILE`` saves it for ``anvil --load-state FILE``, ``--serve`` keeps the node
answering on its URL until Ctrl-C. Either way DIR gets ``ground_truth.json`` and ``labels.csv``.
Progress goes to stderr, the summary to stdout.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tracer.atomic import atomic_write_bytes
from tracer.errors import TracerError
from tracer.testbed.anvil import AnvilNode
from tracer.testbed.build import BuiltScenario, build_scenario, node_options
from tracer.testbed.chain import Chain
from tracer.testbed.ground_truth import GROUND_TRUTH_FILE, LABELS_FILE
from tracer.testbed.scenario import SCALES


def dump_state(chain: Chain, path: Path) -> int:
    """Save the node's whole chain (blocks, receipts, traces) for ``anvil --load-state``."""
    raw = str(chain.request("anvil_dumpState"))
    # anvil answers with gzipped JSON in hex; --load-state reads plain JSON.
    data = gzip.decompress(bytes.fromhex(raw.removeprefix("0x")))
    atomic_write_bytes(path, data)
    return len(data)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tracer.testbed", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the laundering scenario on a local chain")
    build.add_argument("--scale", choices=sorted(SCALES), default="small")
    build.add_argument("--seed", type=int, default=1)
    build.add_argument("--out", type=Path, required=True, help="directory for the outputs")
    build.add_argument("--rpc-url", help="build on this anvil instead of starting one")
    build.add_argument("--dump-state", type=Path, help="save the chain for anvil --load-state")
    build.add_argument(
        "--serve", action="store_true", help="keep the started node running until Ctrl-C"
    )
    return parser


def _summary(built: BuiltScenario, out: Path, seconds: float) -> str:
    counts = built.ground_truth["scenario"]["counts"]
    execution = built.execution
    return (
        f"built {built.plan.scale} scenario, seed {built.plan.seed}: "
        f"{counts['transactions']} transactions, {counts['transfers']} transfers, "
        f"{counts['blocks']} blocks ({execution.first_block}-{execution.last_block}) "
        f"in {seconds:.1f} s; wrote {out / GROUND_TRUTH_FILE} and {out / LABELS_FILE}"
    )


def _build(args: argparse.Namespace) -> int:
    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.monotonic()
    if args.rpc_url:
        with Chain(args.rpc_url) as chain:
            built = build_scenario(
                chain, args.seed, args.scale, out_dir=args.out, progress=progress
            )
            if args.dump_state:
                dump_state(chain, args.dump_state)
        print(_summary(built, args.out, time.monotonic() - started))
        return 0
    with AnvilNode(node_options()) as node, Chain(node.url) as chain:
        progress(f"started anvil on {node.url}")
        built = build_scenario(chain, args.seed, args.scale, out_dir=args.out, progress=progress)
        if args.dump_state:
            size = dump_state(chain, args.dump_state)
            progress(f"saved the chain to {args.dump_state} ({size / 2**20:.0f} MiB)")
        print(_summary(built, args.out, time.monotonic() - started), flush=True)
        if args.serve:
            print(
                f"serving the chain on {node.url} (chain id {built.execution.chain_id}); "
                "Ctrl-C to stop",
                flush=True,
            )
            try:
                while node.is_running():
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _build(args)
    except TracerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
