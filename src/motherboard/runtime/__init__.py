"""The runtime layer: an inference server on the Open Inference Protocol (KServe v2, Triton's extensions).

``motherboard runtime serve --repository DIR`` serves a Triton-layout repository of compiled artifacts (or
plain ONNX files) over REST and gRPC with dynamic batching, versions, hot load/unload, ensembles and
Prometheus metrics. See docs/runtime.md.
"""
