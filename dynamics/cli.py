"""Command line: ``python -m dynamics simulate SCENARIO.json -o OUT.npz``,
``python -m dynamics check SCENARIO.json`` (theorem cards as JSON on stdout),
``python -m dynamics sweep SWEEP.json -o OUT.npz [--scheduler tcp://…]`` (phase diagram; see
dynamics.sweep: the Dask scheduler is ``--scheduler``, else $ADX_DASK_SCHEDULER, else a local one).

Every refusal (unreadable file, bad JSON, invalid scenario, over budget) ends with exit code 2 and
one line on stderr, never a traceback. A run that fails numerically exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import __version__
from .errors import ScenarioError
from .scenario import Scenario
from .solve import simulate
from .theorems import evaluate

MAX_SCENARIO_BYTES = 50_000_000


class _Refusal(Exception):
    pass


def _read_text(path: str) -> str:
    """The text of a JSON input file ('-' for stdin), size-capped; failures become refusals."""
    try:
        if path == "-":
            return sys.stdin.read(MAX_SCENARIO_BYTES + 1)
        p = Path(path)
        if p.stat().st_size > MAX_SCENARIO_BYTES:
            raise _Refusal(f"{path}: file larger than {MAX_SCENARIO_BYTES // 1_000_000} MB")
        return p.read_text(encoding="utf-8")
    except OSError as exc:
        raise _Refusal(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise _Refusal(f"{path}: not a UTF-8 text file") from None


def _parse(path: str, parse, what: str):
    """parse(text) with every validation failure as a one-line refusal naming the file."""
    text = _read_text(path)
    try:
        return parse(text)
    except ScenarioError as exc:
        raise _Refusal(f"{path}: {exc}") from None
    except (TypeError, ValueError, RecursionError) as exc:
        raise _Refusal(f"{path}: invalid {what} ({exc})") from None


def load_scenario(path: str) -> Scenario:
    """Read and validate a scenario JSON file ('-' for stdin)."""
    return _parse(path, Scenario.from_json, "scenario")


def _simulate(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)

    def progress(fraction: float) -> None:
        if not args.quiet and sys.stderr.isatty():
            print(f"\r{100 * fraction:5.1f} %", end="", file=sys.stderr, flush=True)

    try:
        result = simulate(scenario, progress=progress)
    except ScenarioError as exc:
        raise _Refusal(str(exc)) from None
    if not args.quiet and sys.stderr.isatty():
        print(file=sys.stderr)
    out = Path(args.output)
    try:
        with out.open("wb") as fh:
            np.savez_compressed(
                fh,
                t=result.t,
                x=result.x,
                scenario=np.array(scenario.to_json()),
                status=np.array(result.status),
                message=np.array(result.message),
                version=np.array(__version__),
            )
    except OSError as exc:
        raise _Refusal(f"{args.output}: {exc.strerror or exc}") from None
    print(
        json.dumps(
            {
                "status": result.status,
                "message": result.message,
                "frames": len(result.t),
                "wall_time_s": round(result.wall_time, 4),
                "output": str(out),
            }
        )
    )
    return 0 if result.success else 1


def _check(args: argparse.Namespace) -> int:
    """Evaluate every registered theorem on the scenario (and on its simulated trajectory)."""
    scenario = load_scenario(args.scenario)
    try:
        result = None if args.no_run else simulate(scenario)
        cards = evaluate(scenario, result)
    except ScenarioError as exc:
        raise _Refusal(str(exc)) from None
    try:
        print(json.dumps([card.to_json() for card in cards], indent=args.indent))
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly, as a SIGPIPE would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return 0 if result is None or result.success else 1


def load_sweep(path: str):
    """Read and validate a sweep JSON file ('-' for stdin)."""
    from .sweep import Sweep

    return _parse(path, Sweep.from_json, "sweep")


def _sweep(args: argparse.Namespace) -> int:
    """Run a phase-diagram sweep through Dask and save the statistics with the sweep JSON."""
    from .sweep import run_sweep

    sweep = load_sweep(args.sweep)
    client = "serial" if args.serial else (args.scheduler or None)

    def progress(fraction: float) -> None:
        if not args.quiet and sys.stderr.isatty():
            print(f"\r{100 * fraction:5.1f} %", end="", file=sys.stderr, flush=True)

    try:
        result = run_sweep(sweep, progress=progress, client=client)
    except ScenarioError as exc:
        raise _Refusal(str(exc)) from None
    if not args.quiet and sys.stderr.isatty():
        print(file=sys.stderr)
    try:
        with Path(args.output).open("wb") as fh:
            result.to_npz(fh)
    except OSError as exc:
        raise _Refusal(f"{args.output}: {exc.strerror or exc}") from None
    print(
        json.dumps(
            {
                "status": result.status,
                "message": result.message,
                "betas": len(result.betas),
                "checkpoints": len(result.t),
                "systems": sweep.total_systems(),
                "wall_time_s": round(result.wall_time, 4),
                "output": str(args.output),
            }
        )
    )
    return 0 if result.success else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dynamics", description="Attention dynamics on the sphere and ellipsoid."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="integrate a scenario and save t, x and the scenario")
    sim.add_argument("scenario", help="scenario JSON file ('-' for standard input)")
    sim.add_argument("-o", "--output", required=True, help="output .npz file")
    sim.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    sim.set_defaults(run=_simulate)
    chk = sub.add_parser(
        "check", help="simulate a scenario and print the theorem cards (JSON list) on stdout"
    )
    chk.add_argument("scenario", help="scenario JSON file ('-' for standard input)")
    chk.add_argument("--no-run", action="store_true", help="only evaluate the assumptions (observed is null)")
    chk.add_argument("--indent", type=int, default=None, help="indent the JSON output")
    chk.set_defaults(run=_check)
    swp = sub.add_parser("sweep", help="phase diagram: sweep β × seeds (Dask) and save the statistics")
    swp.add_argument("sweep", help="sweep JSON file ('-' for standard input)")
    swp.add_argument("-o", "--output", required=True, help="output .npz file")
    swp.add_argument(
        "--scheduler",
        default=None,
        help="Dask scheduler address (tcp://host:port); default $ADX_DASK_SCHEDULER or a local cluster",
    )
    swp.add_argument("--serial", action="store_true", help="no Dask: run the chunks in this process")
    swp.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    swp.set_defaults(run=_sweep)
    from .weights import add_parser as add_weights_parser  # the `weights` command lives there

    add_weights_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its one-line usage error
        return int(exc.code or 0)
    try:
        return int(args.run(args))
    except _Refusal as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory; reduce n, d, frames or T", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
