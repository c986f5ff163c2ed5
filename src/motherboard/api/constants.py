"""Names shared by every component: API group, labels, annotations and extended resource names.

One place for every string that crosses a process boundary (a label the device plugin writes and the
scheduler reads, a resource name the operator requests and the kubelet advertises), so the two sides
cannot drift apart.
"""

from typing import Final

GROUP: Final = "motherboard.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"

SCHEDULER_NAME: Final = "motherboard-scheduler"

# --- labels on Nodes (topology and feature discovery) -------------------------------------------------
LABEL_SITE: Final = "motherboard.io/site"
"""Site of a node: ``central`` or the name of an edge site."""
LABEL_SITE_KIND: Final = "motherboard.io/site-kind"
"""``central`` or ``edge``."""
LABEL_ZONE: Final = "topology.kubernetes.io/zone"
LABEL_REGION: Final = "topology.kubernetes.io/region"
LABEL_RACK: Final = "motherboard.io/rack"
LABEL_NVLINK_DOMAIN: Final = "motherboard.io/nvlink-domain"
"""Identifier of the NVLink/HCCS domain (a node, or a multi-node NVL domain) the node's devices share."""
LABEL_HOSTNAME: Final = "kubernetes.io/hostname"
LABEL_ACCELERATOR_VENDOR: Final = "motherboard.io/accelerator-vendor"
LABEL_ACCELERATOR_MODEL: Final = "motherboard.io/accelerator-model"
LABEL_ACCELERATOR_COUNT: Final = "motherboard.io/accelerator-count"
LABEL_ACCELERATOR_MEMORY_MIB: Final = "motherboard.io/accelerator-memory-mib"
LABEL_DRIVER_VERSION: Final = "motherboard.io/driver-version"
# NVIDIA GPU feature discovery compatible labels (users and existing selectors rely on these)
LABEL_NVIDIA_PRODUCT: Final = "nvidia.com/gpu.product"
LABEL_NVIDIA_MEMORY: Final = "nvidia.com/gpu.memory"
LABEL_NVIDIA_COUNT: Final = "nvidia.com/gpu.count"
LABEL_NVIDIA_MIG_CAPABLE: Final = "nvidia.com/mig.capable"
LABEL_NVIDIA_MIG_STRATEGY: Final = "nvidia.com/mig.strategy"
LABEL_AMD_PARTITION: Final = "amd.com/compute-memory-partition"
"""On AMD nodes: the compute-memory partition mode of the partitioned GPUs (``cpx_nps1``), as ROCm's node
labeller names it."""

TAINT_EDGE: Final = "motherboard.io/edge"
"""Taint on edge-site nodes: only work placed at the edge on purpose lands there."""

# --- labels and annotations on pods ----------------------------------------------------------------------
LABEL_JOB_NAME: Final = "motherboard.io/job-name"
LABEL_TASK_NAME: Final = "motherboard.io/task-name"
LABEL_REPLICA_INDEX: Final = "motherboard.io/replica-index"
LABEL_QUEUE: Final = "motherboard.io/queue"
LABEL_POD_GROUP: Final = "motherboard.io/pod-group"
"""Pods with the same value form one gang (an AIJob's pods, or any labelled pod group)."""
LABEL_ATTEMPT: Final = "motherboard.io/attempt"
"""On pods: which gang restart of the job created the pod (``status.restarts`` at creation)."""
ANNOTATION_GANG_MIN_AVAILABLE: Final = "motherboard.io/gang-min-available"
ANNOTATION_DEVICE_REQUEST: Final = "motherboard.io/device-request"
"""On pods: the task's device request (vendor, model, pool, count, sharing) as JSON, so a pod says what it
needs without the scheduler reading its AIJob."""
ANNOTATION_PLACEMENT: Final = "motherboard.io/placement"
"""On pods: the job's ``spec.placement`` (sites, site kind, topology) as JSON, for the scheduler."""
ANNOTATION_TEMPLATE_HASH: Final = "motherboard.io/template-hash"
"""On pods: hash of the task template the pod was rendered from (rolling replacement of inference pods)."""
LABEL_MODEL: Final = "motherboard.io/model"
"""On serving pods: the Model they serve; on compile AIJobs: the Model they compile."""
LABEL_MODEL_VERSION: Final = "motherboard.io/model-version"
"""On serving pods: the Model version the pod serves; on compile AIJobs: the version compiled."""
LABEL_COMPILE_TARGET: Final = "motherboard.io/compile-target"
"""On compile AIJobs: the hardware target they compile for."""
ANNOTATION_SERVING_PLAN: Final = "motherboard.io/serving-plan"
"""On serving pods: per target, the artifacts the replica may load (digests, in preference order)."""
ANNOTATION_ARTIFACT_TARGET: Final = "motherboard.io/artifact-target"
"""On serving pods, written by the replica's fetch step: the target and artifact digest it loaded."""
ANNOTATION_DEVICE_ASSIGNMENT: Final = "motherboard.io/device-assignment"
"""The scheduler's exact device choice; see :mod:`motherboard.api.assignment`."""
ANNOTATION_DEVICE_INVENTORY: Final = "motherboard.io/device-inventory"
"""On Nodes: the node's devices as the device plugin discovered them; see :mod:`motherboard.devices.model`."""
ANNOTATION_DURATION: Final = "motherboard.io/simulated-duration"
"""On kwok nodes: how long a pod runs before it completes (e.g. ``30s``)."""
ANNOTATION_SIMULATED_EXIT: Final = "motherboard.io/simulated-exit"
"""On kwok nodes: ``Succeeded`` (default) or ``Failed``."""

REASON_NEVER_FITS: Final = "NeverFits"
"""Reason of ``PodScheduled=False`` when the scheduler's verdict cannot change without a configuration
change (the job asks for more than its queue can ever hold); the operator then fails the AIJob with a
terminal ``Unschedulable`` condition instead of leaving it Queued forever."""

REASON_PREEMPTED_BY_SCHEDULER: Final = "PreemptionByScheduler"
"""Reason of the ``DisruptionTarget`` pod condition the scheduler sets before evicting a victim (as
kube-scheduler does); the operator reads it to mark the victim's AIJob Preempted."""

# --- extended resource names (what device plugins advertise, what pods request) -------------------------
RESOURCE_NVIDIA_GPU: Final = "nvidia.com/gpu"
RESOURCE_NVIDIA_GPU_SHARED: Final = "nvidia.com/gpu.shared"
"""Fractional GPU shares: each device is advertised as N replicas (N set per DevicePool)."""
RESOURCE_NVIDIA_MIG_PREFIX: Final = "nvidia.com/mig-"
"""MIG slices in NVIDIA's ``mixed`` strategy naming: ``nvidia.com/mig-1g.10gb``."""
RESOURCE_ASCEND_910: Final = "huawei.com/Ascend910"
RESOURCE_ASCEND_310P: Final = "huawei.com/Ascend310P"
RESOURCE_CAMBRICON_MLU: Final = "cambricon.com/mlu"
RESOURCE_AMD_GPU: Final = "amd.com/gpu"
"""AMD Instinct GPUs as ROCm's device plugin advertises them; compute partitions (its ``mixed`` strategy)
are ``amd.com/<compute>_<memory>``, e.g. ``amd.com/cpx_nps4`` (see :mod:`motherboard.api.partitions`)."""
RESOURCE_KUNLUNXIN_XPU: Final = "kunlunxin.com/xpu"
RESOURCE_METAX_GPU: Final = "metax-tech.com/gpu"


def mig_resource_name(profile: str) -> str:
    """The extended resource a MIG profile is advertised as (``1g.10gb`` → ``nvidia.com/mig-1g.10gb``)."""
    return f"{RESOURCE_NVIDIA_MIG_PREFIX}{profile}"


def device_taint_key(resource: str) -> str:
    """The taint key on nodes that have ``resource``; pods requesting it tolerate it.

    NVIDIA nodes carry one ``nvidia.com/gpu`` taint whether their GPUs are whole, MIG or shared; other
    vendors taint with the whole-device resource name.
    """
    if resource.startswith("amd.com/"):
        return RESOURCE_AMD_GPU  # whole GPUs and compute partitions alike
    return RESOURCE_NVIDIA_GPU if resource.startswith("nvidia.com/") else resource
