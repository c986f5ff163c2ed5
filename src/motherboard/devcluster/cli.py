"""``motherboard dev-cluster``: up, down, status, kubeconfig."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from motherboard.devcluster.build import BuildError
from motherboard.devcluster.cluster import ClusterError, DevCluster, default_profile
from motherboard.devcluster.images import ImageError
from motherboard.devcluster.peers import PeerError, parse_peers
from motherboard.devcluster.pki import PKIError
from motherboard.devcluster.profile import ClusterProfile
from motherboard.devcluster.realnode import RealNodeError

app = typer.Typer(
    help="A local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager, kwok) with "
    "simulated accelerator nodes from a cluster profile.",
    no_args_is_help=True,
)
console = Console()
err_console = Console(stderr=True)

StateOption = Annotated[
    Path | None,
    typer.Option("--state-dir", help="Cluster state directory [default: $MOTHERBOARD_STATE/dev-cluster]."),
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _load_profile(path: Path) -> ClusterProfile:
    try:
        return ClusterProfile.load(path)
    except FileNotFoundError:
        raise _fail(f"profile {path} does not exist") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise _fail(f"profile {path}: {where}: {first['msg']} ({exc.error_count()} error(s))") from None


@app.command()
def up(
    profile: Annotated[
        Path | None,
        typer.Option("--profile", "-p", help="Cluster profile YAML [default: profiles/demo.yaml]."),
    ] = None,
    reuse: Annotated[
        bool, typer.Option("--reuse", help="Keep a healthy running cluster instead of failing.")
    ] = False,
    kube_scheduler: Annotated[
        bool, typer.Option("--kube-scheduler", help="Also run the default kube-scheduler.")
    ] = False,
    real_nodes: Annotated[
        int | None,
        typer.Option(
            "--real-nodes",
            min=0,
            help="Real kubelet nodes (containerd + runc; needs root; at most 1 per machine) beside the kwok "
            "ones [default: the profile's realNodes.count, 0].",
        ),
    ] = None,
    with_prometheus: Annotated[
        bool,
        typer.Option(
            "--with-prometheus",
            help="Also run Prometheus (Debian's prometheus package) scraping the API server and the "
            "processes registered next to the cluster, with the chart's alert rules (docs/observability.md).",
        ),
    ] = False,
    peers: Annotated[
        str | None,
        typer.Option(
            "--peers",
            help="Also run the systems Motherboard is benchmarked against, built from their pinned Go "
            "modules: kueue, volcano, or kueue,volcano (docs/benchmarks.md, bench/peers.py).",
        ),
    ] = None,
    state_dir: StateOption = None,
) -> None:
    """Build the binaries if needed, start the control plane and create the profile's kwok nodes."""
    prof = _load_profile(profile or default_profile())
    cluster = DevCluster(state_dir)
    try:
        peer_names = parse_peers(peers)
        result = cluster.up(
            prof,
            reuse=reuse,
            kube_scheduler=kube_scheduler,
            progress=console.print,
            real_nodes=real_nodes,
            prometheus=with_prometheus,
            peers=peer_names,
        )
    except (ClusterError, BuildError, PKIError, RealNodeError, ImageError, PeerError, TimeoutError) as exc:
        raise _fail(str(exc)) from None
    times = ", ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items())
    rss = sum(result.rss_mib.values())
    real = f" + real {', '.join(result.real_nodes)}" if result.real_nodes else ""
    console.print(f"[green]dev cluster up[/]: {result.nodes} kwok nodes{real} ({times}); RSS {rss:.0f} MiB")
    console.print(f"export KUBECONFIG={cluster.kubeconfig}")
    if with_prometheus:
        console.print(f"prometheus: {cluster.prometheus_url()}")


@app.command()
def down(state_dir: StateOption = None) -> None:
    """Stop every component (also after a crash, from the recorded PIDs)."""
    try:
        stopped = DevCluster(state_dir).down(progress=console.print)
    except (ClusterError, RealNodeError) as exc:
        raise _fail(str(exc)) from None
    console.print("dev cluster stopped" if stopped else "no dev cluster was running")


@app.command()
def status(state_dir: StateOption = None) -> None:
    """Show each component's process and health; exit 1 unless all are healthy."""
    cluster = DevCluster(state_dir)
    try:
        components = cluster.status()
    except ClusterError as exc:
        raise _fail(str(exc)) from None
    if not components:
        raise _fail(f"no dev cluster in {cluster.dir}; run `motherboard dev-cluster up`")
    table = Table("component", "pid", "state", "RSS MiB", "detail")
    for c in components:
        state = (
            "[green]healthy[/]" if c.healthy else ("[yellow]unhealthy[/]" if c.running else "[red]stopped[/]")
        )
        rss = f"{c.rss_mib:.0f}" if c.rss_mib is not None else "-"
        table.add_row(
            c.name, str(c.pid or "-"), state, rss, c.detail.splitlines()[0][:60] if c.detail else ""
        )
    console.print(table)
    if not all(c.healthy for c in components):
        raise typer.Exit(1)


@app.command()
def images(state_dir: StateOption = None) -> None:
    """Build the real node's images (pause, python, the project's) and import them into its containerd.

    Built once into the cache (keyed by their inputs); imported only where a real node runs and lacks them.
    The project image is what the device-plugin DaemonSets and the chart's operator and scheduler run.
    """
    from motherboard.devcluster import images as imagesmod
    from motherboard.devcluster import realnode

    cluster = DevCluster(state_dir)
    try:
        built = [imagesmod.pause_image(console.print), imagesmod.python_image(console.print)]
        built.append(imagesmod.project_image(console.print))
        state = cluster.load_state()
        running = (
            state is not None and state.real_nodes and realnode.socket_answers(realnode.containerd_address())
        )
        for image in built:
            if running:
                imagesmod.import_image(image, realnode.ctr(), console.print)
            console.print(f"{', '.join(image.refs)}  {image.manifest_digest()[:19]}  {image.layout}")
    except (ImageError, ClusterError) as exc:
        raise _fail(str(exc)) from None
    if not running:
        console.print(
            "no real node runs in this cluster: built only; run this again after `up --real-nodes 1`"
        )


@app.command()
def kubeconfig(
    export: Annotated[bool, typer.Option("--export", help="Print `export KUBECONFIG=...` for eval.")] = False,
    state_dir: StateOption = None,
) -> None:
    """Print the admin kubeconfig's path."""
    path = DevCluster(state_dir).kubeconfig
    if not path.is_file():
        raise _fail(f"no kubeconfig at {path}; run `motherboard dev-cluster up`")
    # Plain print: rich would wrap a long path and break `eval "$(... --export)"`.
    print(f"export KUBECONFIG={path}" if export else path)
