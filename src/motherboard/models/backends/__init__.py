"""Compiler and runtime backends behind one interface (:class:`~motherboard.models.backends.base.Backend`).

One module per backend for compiling (``tvm``, ``onnxruntime``) and one per backend for loading in the
serving path (``tvm_runner``, ``ort_runner``), so a server imports runtime libraries only.
"""
