"""Internal helpers: ownership of C handles, guarded Python callbacks, interruptible waits."""
import threading

from . import capi


class Handle:
    """Owns one C object and frees it once, on close() or when garbage-collected.

    ``keep`` holds whatever the C object borrows (other handles, pinned buffers, callables), so
    it is released only after the object that uses it.
    """

    __slots__ = ("ptr", "_free", "keep")

    def __init__(self, ptr, free, keep=()):
        self.ptr = ptr
        self._free = free
        self.keep = list(keep)

    def close(self):
        ptr, self.ptr = self.ptr, None
        if ptr is not None:
            self._free(ptr)
        self.keep = []

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: capi may already be gone
            pass


class CallbackState:
    """The first exception a guarded callback raised (None while all went well)."""

    __slots__ = ("error",)

    def __init__(self):
        self.error = None


class Callback:
    """A user callable as the C trampolines see it.

    The library calls it on its own threads, where an exception has nowhere to go: the guard
    keeps the first one in ``state.error`` and returns ``failure`` (which makes the C side fail
    that sample / routing decision); later calls return ``failure`` at once. Runners watch the
    state, stop the run and re-raise the exception in the caller.
    """

    def __init__(self, fn, failure=None):
        if not callable(fn):
            raise TypeError(f"expected a callable, got {type(fn).__name__}")
        self.state = state = CallbackState()

        # A closure over the state only (not self), so the C reference creates no cycle.
        def guarded(*args):
            if state.error is not None:
                return failure
            try:
                return fn(*args)
            except BaseException as exc:  # noqa: B902 - re-raised in the caller
                state.error = exc
                return failure

        self.handle = Handle(capi.pydp_fn_new(guarded), capi.pydp_fn_free)

    @property
    def ptr(self):
        return self.handle.ptr


def first_error(states):
    for s in states:
        if s.error is not None:
            return s.error
    return None


def wait_interruptibly(call, cancel, states, stop_requested=None, poll_s=0.05):
    """Run the blocking C ``call()`` (it releases the GIL) on a helper thread and wait for it.

    While waiting, a KeyboardInterrupt, an exception kept by one of the callback ``states`` or
    ``stop_requested()`` turning true calls ``cancel()`` once (which asks the library to stop),
    always from this thread, never from a library thread; the wait then continues until the call
    has returned, so nothing runs on after we return. Returns (call's result, interrupted).
    """
    box = {}
    done = threading.Event()

    def target():
        try:
            box["rc"] = call()
        except BaseException as exc:  # noqa: B902 - re-raised below
            box["exc"] = exc
        finally:
            done.set()

    # An Event, not Thread.join(): before Python 3.13 a join interrupted by KeyboardInterrupt
    # can mark the thread as stopped while it still runs.
    threading.Thread(target=target, name="dataparallel-wait", daemon=True).start()
    interrupted = cancelled = False
    # A KeyboardInterrupt can arrive at any bytecode, also a second one while handling the first:
    # every statement of the wait sits inside the try, and cancel() is marked done only after it
    # returned, so we never leave while the library may still call back into Python.
    while True:
        try:
            while not done.is_set():
                if not cancelled and (interrupted or first_error(states) is not None
                                      or (stop_requested is not None and stop_requested())):
                    cancel()
                    cancelled = True
                done.wait(poll_s)
            break
        except KeyboardInterrupt:
            interrupted = True
    if "exc" in box:
        raise box["exc"]
    return box["rc"], interrupted
