"""The library's options structs: defaults read from its ``*_opts_init()``, enum values by name.

Every keyword of Model, Runner, Source, Partitioner and ConsoleSink that mirrors a field of a C
options struct defaults to None, meaning "the library's default": the C side initialises the
struct with ``*_opts_init()`` and overwrites only the fields given. So the defaults live in one
place, the C library; :data:`DEFAULTS` and the docstrings show them as read from it.
"""
import string

from . import capi

KINDS = ("model", "runner", "source", "partitioner", "console", "dashboard", "calib", "split")

# C enumerations, names in the order of their values.
ENUMS = {
    ("model", "precision"): ("fp32", "bf16", "int8"),
    ("calib", "method"): ("minmax", "percentile"),
    ("model", "backend"): ("onednn", "reference"),
    ("runner", "overflow"): ("block", "drop-newest", "drop-oldest"),
    ("runner", "backend"): ("threads", "mpi"),
    ("source", "policy"): ("unlimited", "constant", "poisson", "trace"),
    ("split", "method"): ("optimal", "greedy"),
}

# Python keywords named differently from their C field.
PY_NAMES = {("model", "num_classes"): "classes", ("source", "policy"): "arrival"}


def enum_name(kind, field, value):
    """The name of a C enum value (e.g. ``enum_name("runner", "overflow", 0) == "block"``)."""
    return ENUMS[(kind, field)][value]


def named(kind, values):
    """A dict of C option values with the enum fields as names."""
    d = dict(values)
    for (k, field), names in ENUMS.items():
        if k == kind and field in d:
            d[field] = names[d[field]]
    return d


#: {kind: {C field: default}} as the library's ``*_opts_init()`` sets them (enums by name).
DEFAULTS = {kind: named(kind, capi.pydp_opts_defaults(kind)) for kind in KINDS}


def c_options(kind, **values):
    """The dict the C side applies over ``*_opts_init()``: None values left out, enums as ints.

    Type and range errors of the other fields are raised by the C side, naming the option."""
    out = {}
    for field, value in values.items():
        if value is None:
            continue
        names = ENUMS.get((kind, field))
        if names is not None:
            key = value.replace("_", "-") if isinstance(value, str) else value
            if key not in names:
                what = PY_NAMES.get((kind, field), field)
                raise ValueError(f"{what} must be one of {', '.join(map(repr, names))}, got {value!r}")
            value = names.index(key)
        out[field] = value
    return out


def document(kind):
    """Decorator of a class or function: write the C defaults of ``kind`` into its docstring where
    it says ``$field`` (the C field name), so help() shows the values the library uses."""
    values = {field: repr(v) for field, v in DEFAULTS[kind].items()}

    def apply(cls):
        cls.__doc__ = string.Template(cls.__doc__).safe_substitute(values)
        return cls

    return apply
