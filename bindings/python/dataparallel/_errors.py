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

    Parameters
    ----------
    status : int or Status
        The library's status code (``dp_status``).
    message : str, default ""
        The library's message (``dp_last_error()``), naming the file, tensor or argument.

    Attributes
    ----------
    status : Status
        The :class:`Status` member (an ``int``; ``status.name`` is e.g. ``"DP_ERR_SHAPE"``).
    code : int
        The status as a plain ``int``.
    message : str
        The library's message.

    Examples
    --------
    >>> try:
    ...     dp.Model("no-such-arch")
    ... except dp.Error as e:
    ...     print(e.status.name)
    DP_ERR_NOT_FOUND
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

    def __repr__(self):
        status = f"Status.{self.status.name}" if isinstance(self.status, Status) else str(self.code)
        return f"Error({status}, {self.message!r})"
