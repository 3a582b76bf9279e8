"""The worker's events: typed on both sides of the line (bench.run.events)."""

from __future__ import annotations

import pytest

from bench.run import events

EXAMPLES = [
    events.Service(target="grpc://localhost:5000", worker_pids=[11, 12]),
    events.SetUp(framework={"keras_backend": "tensorflow"}, warmup_fit={"fit_s": 1.5}, equivalence=None,
                 accuracy_fits=[{"val_accuracy": [0.5]}], validation_resize="bilinear", cores=[0],
                 threads={"threads_by_name": {"python": 1}}),
    events.Ready(calibration={"min_sample_s": 0.3}, loops={"train_epochs": 2}),
    events.Trial(round=3, runs=[{"mode": "train", "round": 3}]),
    events.Finished(),
    events.Failed(error="boom"),
    events.Unavailable(error="no GPU"),
]


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: events.name_of(e))
def test_an_event_reads_back_as_the_record_it_was(event):
    line = events.encode(event)
    assert line.startswith(events.EVENT_PREFIX) and "\n" not in line
    assert events.decode(line + "\n") == event


def test_other_output_and_garbled_events_are_not_events():
    assert events.decode("Epoch 1/2 ... loss: 0.3") is None
    assert events.decode(events.EVENT_PREFIX + "{not json") is None
    assert events.decode(events.EVENT_PREFIX + '{"event": "no such event"}') is None
    assert events.decode(events.EVENT_PREFIX + '{"event": "trial"}') is None  # its round is missing


def test_both_stops_are_stops_with_their_own_names():
    assert all(isinstance(e, events.Stop) for e in (events.Failed("x"), events.Unavailable("y")))
    names = [events.name_of(e) for e in (events.Failed("x"), events.Unavailable("y"))]
    assert names == ["failed", "unavailable"]


def test_a_command_reads_back_as_the_command_it_was():
    for command in (events.Command("trial", 4), events.Command("calibrate"), events.Command("finish")):
        line = command.to_line()
        assert line.endswith("\n") and line.count("\n") == 1
        assert events.Command.from_line(line) == command
