"""The backfill job: stored summaries rows summarized again on Ray Data, committed once.

    python -m precis.backfill --stale [--actors N] [--ray-address ADDR] [--into NAME]

(`precis backfill` runs this with its own settings.) The driver pins the summaries table at a
version and lists the files that may hold selected rows; Ray Data reads them in tasks, maps their
rows through an actor pool (one summarizer per actor, the pipeline's own code through
`precis._core`), writes files of the table's target size in write tasks, and the driver commits
them in one Delta commit carrying the job's application transaction (docs/backfill.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import pyarrow as pa

import precis

# Reads and writes wait on S3 more than they compute: a quarter of a CPU each, so that an
# actor pool that takes the cores still leaves room for them (a pool holding every CPU stalls
# the job: no read task can be scheduled).
IO_CPUS = 0.25


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="precis backfill",
        description="Summarize stored articles again on Ray Data and commit them once.",
    )
    which = parser.add_argument_group("which rows (as precis reprocess; all given must hold)")
    which.add_argument("--all", action="store_true", help="every row")
    which.add_argument("--stale", action="store_true", help="rows of another summarizer")
    which.add_argument("--dt", metavar="YYYY-MM-DD", help="rows published on this day")
    which.add_argument("--from", dest="day_from", metavar="YYYY-MM-DD")
    which.add_argument("--to", dest="day_to", metavar="YYYY-MM-DD")
    which.add_argument("--split", metavar="NAME", help="train, validation or test")
    job = parser.add_argument_group("the job")
    job.add_argument("--into", metavar="NAME",
                     help="write to the candidate table lake/NAME instead of in place")
    job.add_argument("--actors", type=int, default=1, metavar="N",
                     help="summarizer actors, one model each (default 1)")
    job.add_argument("--cpus-per-actor", type=float, metavar="F",
                     help="CPUs each actor reserves (default: what the CPUs allow, at most 1)")
    job.add_argument("--gpus-per-actor", type=float, default=0.0, metavar="F",
                     help="GPU fraction each actor reserves (with --set summarizer.device=cuda)")
    job.add_argument("--batch-rows", type=int, default=256, metavar="N",
                     help="rows an actor summarizes per call (default 256)")
    job.add_argument("--ray-address", metavar="ADDR",
                     help="an existing Ray cluster (default: a local one in this process)")
    conf = parser.add_argument_group("settings (as precis run takes them)")
    conf.add_argument("--config", metavar="FILE")
    conf.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="a setting, e.g. summarizer.encoder=onnx (repeatable)")
    args = parser.parse_args(argv)
    if args.dt:
        if args.day_from or args.day_to:
            parser.error("--dt is --from DAY --to DAY: give one or the other")
        args.day_from = args.day_to = args.dt
    if args.actors < 1:
        parser.error("--actors must be at least 1")
    return args


def overrides(pairs: list[str]) -> list[tuple[str, str]]:
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"precis backfill: --set {pair}: write KEY=VALUE")
        out.append((key.strip(), value))
    return out


def _read(batch: pa.Table, plan: precis.Backfill) -> pa.Table:
    return pa.concat_tables([plan.read(path) for path in batch.column("path").to_pylist()])


class _Rewrite:
    """One summarizer per actor, loaded once: `workers` models of one thread each, one per CPU
    the actor reserved (the binary's default, cores / workers threads, counts the machine's
    cores, which the actors share)."""

    def __init__(self, plan: precis.Backfill, workers: int):
        os.environ.setdefault("RAYON_NUM_THREADS", "1")
        self.plan = plan
        self.summarizer = precis.Summarizer(plan.settings, workers=workers)

    def __call__(self, batch: pa.Table) -> pa.Table:
        table, _selected = self.plan.rewrite(batch, self.summarizer)
        return table


def _datasink(plan: precis.Backfill):
    from ray.data.block import BlockAccessor
    from ray.data.datasource import Datasink

    class DeltaFiles(Datasink):
        """Writes files of the target table in write tasks; the driver commits them once."""

        def __init__(self):
            self.written = None

        @property
        def min_bytes_per_write(self):
            return plan.target_file_bytes

        def write(self, blocks, ctx):
            tables = [BlockAccessor.for_block(b).to_arrow() for b in blocks]
            tables = [t for t in tables if t.num_rows]
            if not tables:
                return ([], 0)
            return plan.write(pa.concat_tables(tables))

        def on_write_complete(self, write_result):
            # Only gathered here: the commit runs in the driver after Ray is done, so that its
            # refusal reaches the caller as it is.
            self.written = write_result.write_returns

    return DeltaFiles()


def start_ray(address: str | None):
    import ray

    if address:
        ray.init(address=address, logging_level="WARNING")
    else:
        ray.init(include_dashboard=False, logging_level="WARNING")
    return ray


def plan_job(args: argparse.Namespace):
    """The job's plan (a `precis.Backfill`), or a dict that says why there is nothing to do."""
    settings = precis.load_settings(args.config, overrides(args.set))
    # The summarizer's id decides which rows are stale and names the job: loaded once here,
    # and once per actor.
    summarizer_id = precis.Summarizer(settings, workers=1).id
    return precis.Backfill.plan(
        settings,
        summarizer_id,
        day_from=args.day_from,
        day_to=args.day_to,
        split=args.split,
        stale=args.stale,
        all=args.all,
        into=args.into,
    )


def execute(plan: precis.Backfill, args: argparse.Namespace) -> dict:
    """Runs a plan on Ray Data and commits it. Returns the commit's dict (see
    `precis.Backfill.commit`) with `rewritten`, or `nothing`."""
    ray = start_ray(args.ray_address)
    cpus = ray.cluster_resources().get("CPU", os.cpu_count() or 1)
    per_actor = args.cpus_per_actor
    if per_actor is None:
        per_actor = max(IO_CPUS, min(1.0, (cpus - 2 * IO_CPUS) / args.actors))
    workers = max(1, round(per_actor))
    ds = ray.data.from_items(
        [{"path": p} for p in plan.files], override_num_blocks=len(plan.files)
    )
    ds = ds.map_batches(
        _read, fn_kwargs={"plan": plan}, batch_size=1, batch_format="pyarrow", num_cpus=IO_CPUS
    )
    ds = ds.map_batches(
        _Rewrite,
        fn_constructor_args=(plan, workers),
        batch_size=args.batch_rows,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=args.actors),
        num_cpus=per_actor,
        num_gpus=args.gpus_per_actor or None,
    )
    sink = _datasink(plan)
    ds.write_datasink(sink, ray_remote_args={"num_cpus": IO_CPUS})
    if sink.written is None:
        raise RuntimeError("Ray finished the job without its written files: nothing was committed")
    adds = [a for written, _ in sink.written for a in written]
    rewritten = sum(n for _, n in sink.written)
    if rewritten == 0:
        return {"nothing": plan.predicate}
    result = plan.commit(adds)
    result["rewritten"] = rewritten
    return result


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    plan = plan_job(args)
    if isinstance(plan, dict):
        if "nothing" in plan:
            print(f"backfill: no file holds rows where {plan['nothing']}: nothing to do")
        else:
            print(
                f"backfill: an earlier run of this job ({plan['already_committed']}, pinned at "
                f"version {plan['pinned']}) committed; nothing to do (run again to backfill "
                "rows added since)"
            )
        return 0
    print(
        f"backfill: {len(plan.files)} files ({plan.bytes_read / 2**20:.1f} MiB, "
        f"{plan.rows_read} rows) of version {plan.version} where {plan.predicate}, "
        f"summarizer {plan.summarizer}, into {plan.target}",
        file=sys.stderr,
        flush=True,
    )
    result = execute(plan, args)
    elapsed = time.monotonic() - started
    if "nothing" in result:
        print(f"backfill: no row matches {result['nothing']}: nothing was committed")
        return 0
    if "already_committed" in result:
        print(
            f"backfill: an earlier run of this job ({result['already_committed']}) committed "
            "meanwhile: nothing more was committed"
        )
        return 0
    rewritten = result["rewritten"]
    print(
        f"backfilled {rewritten} rows where {plan.predicate}: {result['files_replaced']} files "
        f"replaced by {result['files_written']} ({result['rows']} rows) in version "
        f"{result['version']} of {plan.target}, summarizer {plan.summarizer}, "
        f"{args.actors} actor(s), {elapsed:.1f} s, {rewritten / max(elapsed, 1e-9):.0f} "
        "articles/s"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except ImportError as err:
        print(
            f"precis backfill: {err}: this Python ({sys.executable}) needs Ray: "
            "pip install 'ray[data]' (scripts/local-aws installs it in the project venv)",
            file=sys.stderr,
        )
        return 1
    except (RuntimeError, ValueError) as err:
        # The library's errors are one line that says what to do.
        print(f"precis backfill: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
