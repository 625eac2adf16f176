"""Errors raised by dataparallel: :class:`Error` and the :class:`Status` codes."""
import enum

from . import capi

#: The library's dp_status codes; member names are the C names (``Status.DP_ERR_SHAPE``).
Status = enum.IntEnum("Status", {capi.dp_status_str(code): code for code in range(capi.STATUS_COUNT)},
                      module=__name__)
Status.__doc__ = """The library's status codes (dp_status): ``Status.DP_OK`` (0) ... ``Status.DP_ERR_INTERNAL``.

An ``IntEnum``: compare with ints or members; ``.name`` is the C name, as dp_status_str() gives it.
:attr:`Error.status` is one of these."""


class Error(RuntimeError):
    """A libdataparallel call failed.

    Attributes:
        status: the :class:`Status` member (an ``int``; ``status.name`` is e.g. ``"DP_ERR_SHAPE"``).
        code: the status as a plain ``int``.
        message: the library's message (``dp_last_error()``), naming the file, tensor or argument.
    """

    def __init__(self, status, message=""):
        try:
            status = Status(status)
            name = status.name
        except ValueError:
            name = capi.dp_status_str(int(status))
        self.status = status
        self.code = int(status)
        self.message = message
        super().__init__(f"{name}: {message}" if message else name)

    def __reduce__(self):
        return (type(self), (self.code, self.message))
