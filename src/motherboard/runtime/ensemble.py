"""Ensembles: a model that is a DAG of other models in the same server, tensors passed in memory.

A step runs as soon as every ensemble tensor it reads exists; independent steps run concurrently, and each
step goes through its model's own queue and batcher (so an ensemble's steps batch with direct requests to
the same models). No step crosses the network.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import numpy as np

from motherboard.models.tensors import TensorSpec
from motherboard.runtime.config import ConfigError, EnsembleStep
from motherboard.runtime.errors import invalid

Arrays = dict[str, np.ndarray[Any, Any]]
StepRunner = Callable[[str, int, Arrays], Awaitable[Arrays]]
"""Run one step: (model name, version or -1, feeds) → outputs."""


def plan(
    name: str,
    steps: tuple[EnsembleStep, ...],
    models: Mapping[str, tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]],
    declared_inputs: tuple[TensorSpec, ...],
    declared_outputs: tuple[TensorSpec, ...],
) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Check the DAG against the loaded step models and return the ensemble's inputs and outputs.

    ``models`` maps each loaded model to its (inputs, outputs). Undeclared ensemble inputs are the tensors
    some step reads and no step writes; undeclared outputs are those some step writes and none reads.
    """
    produced: dict[str, TensorSpec] = {}
    consumed: dict[str, TensorSpec] = {}
    for i, step in enumerate(steps):
        where = f"ensemble '{name}' step {i} ({step.model_name})"
        if step.model_name == name or step.model_name not in models:
            raise ConfigError(f"{where}: model '{step.model_name}' is not loaded in this server")
        ins, outs = ({t.name: t for t in specs} for specs in models[step.model_name])
        for model_input, tensor in step.input_map.items():
            if model_input not in ins:
                raise ConfigError(f"{where}: input_map names '{model_input}', not an input of the model")
            consumed.setdefault(tensor, ins[model_input])
        missing = sorted(set(ins) - set(step.input_map))
        if missing:
            raise ConfigError(f"{where}: input_map does not feed the model's inputs {missing}")
        for model_output, tensor in step.output_map.items():
            if model_output not in outs:
                raise ConfigError(f"{where}: output_map names '{model_output}', not an output of the model")
            if tensor in produced:
                raise ConfigError(f"{where}: tensor '{tensor}' is already produced by another step")
            produced[tensor] = outs[model_output]
    inputs = declared_inputs or tuple(
        TensorSpec(t, s.datatype, s.shape) for t, s in consumed.items() if t not in produced
    )
    outputs = declared_outputs or tuple(
        TensorSpec(t, s.datatype, s.shape) for t, s in produced.items() if t not in consumed
    )
    available = {t.name for t in inputs}
    pending = list(steps)
    while pending:  # a step whose inputs never become available means a cycle or a missing input
        ready = [s for s in pending if set(s.input_map.values()) <= available]
        if not ready:
            stuck = pending[0]
            raise ConfigError(
                f"ensemble '{name}': step {stuck.model_name} waits for "
                f"{sorted(set(stuck.input_map.values()) - available)} that no input or earlier step provides"
            )
        for step in ready:
            pending.remove(step)
            available.update(step.output_map.values())
    lost = sorted({t.name for t in outputs} - available)
    if lost:
        raise ConfigError(f"ensemble '{name}': outputs {lost} are produced by no step")
    return inputs, outputs


async def run(steps: tuple[EnsembleStep, ...], feeds: Arrays, run_step: StepRunner) -> Arrays:
    """Execute the DAG: every step whose inputs exist starts; returns every tensor produced or given."""
    tensors: Arrays = dict(feeds)
    pending = list(steps)
    while pending:
        ready = [s for s in pending if all(t in tensors for t in s.input_map.values())]
        if not ready:  # plan() rules this out; never spin on a DAG that cannot progress
            raise invalid(f"ensemble step {pending[0].model_name} is missing its inputs")
        for step in ready:
            pending.remove(step)
        results = await asyncio.gather(
            *(
                run_step(s.model_name, s.model_version, {m: tensors[t] for m, t in s.input_map.items()})
                for s in ready
            )
        )
        for step, outputs in zip(ready, results, strict=True):
            for model_output, tensor in step.output_map.items():
                tensors[tensor] = outputs[model_output]
    return tensors
