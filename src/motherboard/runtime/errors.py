"""The runtime's one error type: a protocol status plus a message that names the problem.

REST maps the kind to an HTTP status and gRPC to a status code, so both protocols report the same failure
the same way (a message naming the field, the input and what was expected against what came).
"""

from __future__ import annotations

from enum import Enum


class Status(Enum):
    """Failure kinds with their HTTP status and gRPC code name."""

    INVALID = (400, "INVALID_ARGUMENT")
    NOT_FOUND = (404, "NOT_FOUND")
    TOO_LARGE = (413, "RESOURCE_EXHAUSTED")
    UNAVAILABLE = (503, "UNAVAILABLE")
    INTERNAL = (500, "INTERNAL")

    @property
    def http(self) -> int:
        return self.value[0]

    @property
    def grpc_name(self) -> str:
        return self.value[1]


class InferError(Exception):
    """A request the server refuses or could not serve; ``status`` says which protocol status to send."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def invalid(message: str) -> InferError:
    return InferError(Status.INVALID, message)


def not_found(message: str) -> InferError:
    return InferError(Status.NOT_FOUND, message)


def unavailable(message: str) -> InferError:
    return InferError(Status.UNAVAILABLE, message)
