# The SWIG module dataparallel.capi: the C API on opaque pointers, untyped on purpose (the typed
# API is the package's classes, __init__.pyi).
from typing import Any

def __getattr__(name: str) -> Any: ...
