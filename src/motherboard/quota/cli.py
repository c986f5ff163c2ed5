"""``motherboard queue tree|set|pending`` and ``motherboard explain aijob`` (mounted by :mod:`motherboard.cli`).

Errors are one line on stderr and exit code 1 (a refused edit prints every field-level problem first).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from motherboard.kube import ApiError
from motherboard.kube.config import ConfigError
from motherboard.quota import fetch
from motherboard.quota.edit import QuotaEdit, validate_edit
from motherboard.quota.explain import explain_job, pending_jobs
from motherboard.quota.output import (
    Format,
    dump,
    print_explanation,
    print_pending,
    print_tree,
    tree_data,
)
from motherboard.quota.usage import build_tree

queue_app = typer.Typer(
    help="Tenant queues: the quota tree, quota edits, pending jobs.", no_args_is_help=True
)
explain_app = typer.Typer(help="Explain why an object is in its state.", no_args_is_help=True)

out = Console()
err = Console(stderr=True)

KubeconfigOpt = Annotated[
    Path | None, typer.Option("--kubeconfig", help="Kubeconfig; default $KUBECONFIG or ~/.kube/config.")
]
OutputOpt = Annotated[Format, typer.Option("--output", "-o", help="table, json or yaml.")]


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _call(kubeconfig: Path | None, work: Callable[[Any], Any]) -> Any:
    """Run API work; turn the expected failures into one line and exit 1."""
    try:
        return fetch.run(kubeconfig, work)
    except fetch.NotFound as exc:
        raise _fail(str(exc)) from exc
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    except ApiError as exc:
        raise _fail(f"the API server refused: {exc.message or exc}") from exc
    except OSError as exc:  # connection refused, DNS, TLS
        raise _fail(f"cannot reach the API server: {exc}") from exc


@queue_app.command("tree")
def tree_command(kubeconfig: KubeconfigOpt = None, output: OutputOpt = Format.TABLE) -> None:
    """The queue hierarchy with nominal, borrowing/lending limits and used, borrowed, lent per resource."""
    state: fetch.QueueState = _call(kubeconfig, fetch.queue_state)
    waiting = pending_jobs(state.jobs, set(state.queues))
    pending = {name: sum(1 for row in waiting if row["queue"] == name) for name in state.queues}
    nodes = build_tree(state.queues, state.pods, pending)
    if output is Format.TABLE:
        print_tree(nodes, state.invalid, out)
    else:
        dump({"queues": tree_data(nodes), "invalid": state.invalid}, output, out)


@queue_app.command("set")
def set_command(
    name: Annotated[str, typer.Argument(help="The Queue to change.")],
    resource: Annotated[str, typer.Option("--resource", "-r", help="e.g. nvidia.com/gpu, cpu, memory.")],
    nominal: Annotated[str, typer.Option("--nominal", help="Guaranteed quota, e.g. 8, 500m, 64Gi.")],
    borrowing_limit: Annotated[
        str | None, typer.Option("--borrowing-limit", help="How much more it may borrow (needs a parent).")
    ] = None,
    lending_limit: Annotated[
        str | None, typer.Option("--lending-limit", help="How much of its unused nominal it lends at most.")
    ] = None,
    pool: Annotated[str | None, typer.Option("--pool", help="The quota of one DevicePool only.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and show the result; write nothing.")
    ] = False,
    kubeconfig: KubeconfigOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Set one quota of a queue, validated as the admission webhook validates it, then write it."""
    edit = QuotaEdit(resource, nominal, borrowing_limit, lending_limit, pool)

    async def work(kube: Any) -> Any:
        body = await fetch.get_queue(kube, name)
        state = await fetch.queue_state(kube, with_pods=False)
        others = {n: q for n, q in state.queues.items() if n != name}
        result = validate_edit(body, edit, others)
        if result.ok and not dry_run:
            result.body = await fetch.write_quotas(kube, result.body)
        return result

    result = _call(kubeconfig, work)
    if not result.ok:
        for problem in result.problems:
            err.print(Text(problem, style="red"), highlight=False, soft_wrap=True)
        raise _fail(f"queue {name}: edit refused, nothing written")
    quota = next(
        q for q in result.body["spec"]["quotas"] if (q["resource"], q.get("pool")) == (resource, pool)
    )
    if output is not Format.TABLE:
        dump(result.body, output, out)
        return
    verb = "would set" if dry_run else "set"
    limits = ", ".join(f"{k} {quota[k]}" for k in ("borrowingLimit", "lendingLimit") if k in quota)
    where = f" in pool {pool}" if pool else ""
    out.print(
        Text(
            f"queue {name}: {verb} {resource}{where} nominal {quota['nominal']}{f' ({limits})' if limits else ''}"
        )
    )


@queue_app.command("pending")
def pending_command(
    name: Annotated[
        str | None, typer.Argument(help="The Queue (a parent lists its subtree); omit for every queue.")
    ] = None,
    kubeconfig: KubeconfigOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Waiting AIJobs, oldest first, with the reason each waits: of one queue, or of all."""
    state: fetch.QueueState = _call(kubeconfig, lambda kube: fetch.queue_state(kube, with_pods=False))
    if name is None:
        # Every waiting job, including those naming a queue that does not exist (they wait for it too).
        named = {str((job.get("spec") or {}).get("queue") or "") for job in state.jobs}
        rows = pending_jobs(state.jobs, set(state.queues) | named)
    else:
        if name not in state.queues:
            raise _fail(
                f"queue {name!r} does not exist (queues: {', '.join(sorted(state.queues)) or 'none'})"
            )
        subtree = {name}
        while True:  # add children until nothing new: a parent's jobs are its children's
            more = {n for n, q in state.queues.items() if q.spec.parent in subtree} - subtree
            if not more:
                break
            subtree |= more
        rows = pending_jobs(state.jobs, subtree)
    if output is Format.TABLE:
        print_pending(rows, name, out)
    else:
        dump({"queue": name, "pending": rows}, output, out)


@explain_app.command("aijob")
def explain_aijob(
    name: Annotated[str, typer.Argument(help="The AIJob.")],
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="Its namespace.")] = "default",
    kubeconfig: KubeconfigOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Why an AIJob is pending, or where each of its pods runs and on which devices."""
    objects: fetch.JobObjects = _call(kubeconfig, lambda kube: fetch.job_objects(kube, namespace, name))
    explanation = explain_job(objects.job, objects.pods, objects.nodes, objects.events)
    if output is Format.TABLE:
        print_explanation(explanation, out)
    else:
        dump(explanation.to_dict(), output, out)


__all__ = ["explain_app", "queue_app"]
