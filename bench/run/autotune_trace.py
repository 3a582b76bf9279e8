"""What tf.data's autotuner chose: parallelism and buffer sizes, read from TensorFlow's own trace.

tf.data has no public API that says which `num_parallel_calls` or prefetch depth AUTOTUNE
settled on (tensorflow/tensorflow issues 72369 and 62690 ask). Its iterators do record
them: every `GetNext` of a tf.data iterator is a TraceMe event whose metadata carry the
op's current `parallelism` (map, interleave), `buffer_limit` (prefetch) and whether it is
`autotune`d. `tf.profiler.experimental.start/stop` (public) writes those events to an
XSpace file (`*.xplane.pb`). Its schema (`xplane.proto`, TensorFlow's profiler) is
declared here, field for field, and the file is read with the protobuf library: no
private TensorFlow module is imported. Maps are read as their wire form, repeated
key/value entries.
"""

from __future__ import annotations

import glob
import statistics
import tempfile
from dataclasses import dataclass

SETTINGS = ("parallelism", "buffer_limit", "buffer_size", "cycle_length")  # what AUTOTUNE sets
SCALAR = {"int64": 3, "uint64": 4, "double": 1, "string": 9, "bytes": 12, "message": 11}


@dataclass(frozen=True)
class AutotuneChoice:
    """One autotuned op of a pipeline: the values its iterator reported, as a median over the
    traced `GetNext` calls and their range (AUTOTUNE moves them while it learns)."""

    op: str  # the iterator's name, e.g. "Iterator::Root::Prefetch::ParallelMapV2"
    setting: str  # parallelism, buffer_limit, ...
    median: float
    low: float
    high: float
    events: int

    def to_dict(self) -> dict:
        return {"op": self.op, "setting": self.setting, "median": self.median, "low": self.low,
                "high": self.high, "events": self.events}


def _field(message, name: str, number: int, kind: str, repeated: bool = False, type_name: str = "",
           oneof: int | None = None):
    f = message.field.add(name=name, number=number, type=SCALAR[kind], label=3 if repeated else 1)
    if type_name:
        f.type_name = type_name
    if oneof is not None:
        f.oneof_index = oneof


def xspace_class():
    """The XSpace message class, built from its schema at run time."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    file = descriptor_pb2.FileDescriptorProto(name="pipebench_xplane.proto", package="pipebench.xplane",
                                              syntax="proto3")
    stat = file.message_type.add(name="XStat")
    stat.oneof_decl.add(name="value")
    _field(stat, "metadata_id", 1, "int64")
    for name, number, kind in (("double_value", 2, "double"), ("uint64_value", 3, "uint64"),
                               ("int64_value", 4, "int64"), ("str_value", 5, "string"),
                               ("bytes_value", 6, "bytes"), ("ref_value", 7, "uint64")):
        _field(stat, name, number, kind, oneof=0)
    event = file.message_type.add(name="XEvent")
    for name, number, kind in (("metadata_id", 1, "int64"), ("offset_ps", 2, "int64"),
                               ("duration_ps", 3, "int64")):
        _field(event, name, number, kind)
    _field(event, "stats", 4, "message", True, ".pipebench.xplane.XStat")
    line = file.message_type.add(name="XLine")
    _field(line, "id", 1, "int64")
    _field(line, "name", 2, "string")
    _field(line, "events", 4, "message", True, ".pipebench.xplane.XEvent")
    event_meta = file.message_type.add(name="XEventMetadata")
    _field(event_meta, "id", 1, "int64")
    _field(event_meta, "name", 2, "string")
    _field(event_meta, "display_name", 4, "string")
    stat_meta = file.message_type.add(name="XStatMetadata")
    _field(stat_meta, "id", 1, "int64")
    _field(stat_meta, "name", 2, "string")
    for entry, value in (("EventMetadataEntry", "XEventMetadata"), ("StatMetadataEntry", "XStatMetadata")):
        message = file.message_type.add(name=entry)
        _field(message, "key", 1, "int64")
        _field(message, "value", 2, "message", type_name=f".pipebench.xplane.{value}")
    plane = file.message_type.add(name="XPlane")
    _field(plane, "id", 1, "int64")
    _field(plane, "name", 2, "string")
    _field(plane, "lines", 3, "message", True, ".pipebench.xplane.XLine")
    _field(plane, "event_metadata", 4, "message", True, ".pipebench.xplane.EventMetadataEntry")
    _field(plane, "stat_metadata", 5, "message", True, ".pipebench.xplane.StatMetadataEntry")
    _field(plane, "stats", 6, "message", True, ".pipebench.xplane.XStat")
    space = file.message_type.add(name="XSpace")
    _field(space, "planes", 1, "message", True, ".pipebench.xplane.XPlane")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("pipebench.xplane.XSpace"))


def stat_value(stat, names: dict[int, str]) -> float | str | None:
    """An XStat's value; a `ref_value` names a string held in the stat metadata."""
    which = stat.WhichOneof("value")
    if which == "ref_value":
        return names.get(stat.ref_value)
    readable = ("int64_value", "uint64_value", "double_value", "str_value")
    return getattr(stat, which) if which in readable else None


def number(value) -> float | None:
    """A stat's numeric value (TraceMe metadata arrive as numbers or as their text)."""
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value) if isinstance(value, str) else None
    except ValueError:
        return None


def read_settings(path: str) -> dict[tuple[str, str], list[float]]:
    """Every (iterator, setting) -> the values its traced events carried, from one xplane.pb."""
    space = xspace_class()()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    found: dict[tuple[str, str], list[float]] = {}
    for plane in space.planes:
        events = {e.key: e.value.name for e in plane.event_metadata}
        stats = {s.key: s.value.name for s in plane.stat_metadata}
        for line in plane.lines:
            for event in line.events:
                name = events.get(event.metadata_id, "")
                if not name.startswith("Iterator::"):
                    continue
                values = {stats.get(s.metadata_id): stat_value(s, stats) for s in event.stats}
                if str(values.get("autotune", "")).lower() not in ("true", "1"):
                    continue
                for setting in SETTINGS:
                    value = number(values.get(setting))
                    if value is not None:
                        found.setdefault((name, setting), []).append(value)
    return found


def summarise(found: dict[tuple[str, str], list[float]]) -> list[AutotuneChoice]:
    return [AutotuneChoice(op, setting, statistics.median(values), min(values), max(values), len(values))
            for (op, setting), values in sorted(found.items()) if values]


def traced_choices(dataset, epochs: int = 1, warm_epochs: int = 1) -> list[AutotuneChoice]:
    """Iterate `dataset` for `warm_epochs` (AUTOTUNE learns), then `epochs` under the profiler, and
    return what its autotuned iterators reported."""
    import tensorflow as tf

    for _ in range(warm_epochs):
        for _ in dataset:
            pass
    logdir = tempfile.mkdtemp(prefix="pipebench-trace-")
    tf.profiler.experimental.start(logdir)
    try:
        for _ in range(epochs):
            for _ in dataset:
                pass
    finally:
        tf.profiler.experimental.stop()
    found: dict[tuple[str, str], list[float]] = {}
    for path in glob.glob(f"{logdir}/plugins/profile/*/*.xplane.pb"):
        for key, values in read_settings(path).items():
            found.setdefault(key, []).extend(values)
    return summarise(found)
