"""CPU time of a sample's window: the bookkeeping on a fake clock, and real process trees."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from bench.run import cpu_clock
from bench.run.cpu_clock import CpuClock, CpuReading, CpuWindow, window_fields

BURN = "import time\nend = time.process_time() + {s}\nwhile time.process_time() < end: pass\n"


def burn_thread(seconds: float) -> None:
    """Spend `seconds` of this thread's own CPU time."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def reading(tree, main, threads=None, service=None, main_id=1):
    return CpuReading(tree_s=tree, service_s=service, main_thread_s=main, threads_s=threads or {},
                      main_thread_id=main_id)


def test_window_fields_are_the_differences_with_the_harness_taken_out():
    start = reading(10.0, 2.0, {1: 2.0, 7: 5.0, 8: 1.0}, service=3.0)
    end = reading(11.5, 2.4, {1: 2.4, 7: 5.9, 9: 0.5}, service=3.25)  # 8 ended, 9 was born
    found = window_fields(start, end, read_s=0.002, harness_cpu_s=0.1)
    assert found["cpu_s"] == pytest.approx(1.4)  # 1.5 - the harness's 0.1
    assert found["main_thread_cpu_s"] == pytest.approx(0.3)  # 0.4 - 0.1
    assert found["busiest_thread_cpu_s"] == pytest.approx(0.9)  # thread 7; the born one counts from 0
    assert found["service_cpu_s"] == pytest.approx(0.25)
    assert found["cpu_read_s"] == 0.002


def test_the_main_thread_is_the_busiest_when_no_other_thread_worked_more():
    found = window_fields(reading(0.0, 0.0, {1: 0.0, 7: 0.0}), reading(1.0, 0.8, {1: 0.8, 7: 0.1}))
    assert found["busiest_thread_cpu_s"] == pytest.approx(0.8)
    assert found["service_cpu_s"] is None


def test_a_window_with_a_missing_end_has_no_fields():
    assert window_fields(None, reading(1.0, 1.0)) == {}
    assert window_fields(reading(1.0, 1.0), None) == {}


class FakeClock:
    """Counters that advance by a fixed step at each reading, and a log of which end was read."""

    def __init__(self):
        self.now, self.log = 0.0, []

    def read(self, ending: bool) -> CpuReading:
        self.log.append("end" if ending else "start")
        self.now += 0.5
        return reading(self.now, self.now / 2)


def test_cpu_window_reads_each_end_once_and_keeps_the_first_close():
    clock = FakeClock()
    window = CpuWindow(clock)
    window.close()  # not open yet: nothing read
    assert window.fields() == {} and clock.log == []
    window.open()
    window.close()
    window.close()  # an input that ran dry closes it again: ignored
    assert clock.log == ["start", "end"]
    assert window.fields()["cpu_s"] == pytest.approx(0.5)


def test_a_reading_keeps_its_own_cost_outside_the_window(monkeypatch):
    """Opening, the cheap own counters are read after the expensive walk; closing, before it."""
    order = []
    monkeypatch.setattr(cpu_clock, "own_cpu_s", lambda: order.append("own") or 0.0)
    monkeypatch.setattr(CpuClock, "_others", lambda self: order.append("walk") or (0.0, None, {}))
    clock = CpuClock()
    clock.read(ending=False)
    clock.read(ending=True)
    assert order == ["walk", "own", "own", "walk"]


GO_BURN_WAIT = ("import sys, time\nsys.stdin.readline()\n" + BURN.format(s="{s}")
                + "print('burnt', flush=True)\ntime.sleep(60)\n")


def test_a_child_process_is_counted_and_a_server_is_counted_apart():
    """Both children burn only after the first reading and report before the second: exact shares."""
    children = [subprocess.Popen([sys.executable, "-c", GO_BURN_WAIT.format(s=s)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True) for s in (0.4, 0.3)]
    worker, server = children
    try:
        clock = CpuClock(servers=lambda: [server.pid])
        time.sleep(0.5)  # let both finish starting Python, so that what follows is mostly the burn
        start = clock.read()
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        assert [child.stdout.readline().strip() for child in children] == ["burnt", "burnt"]
        found = window_fields(start, clock.read(ending=True))
    finally:
        for child in children:
            child.kill()
            child.wait()
    tick = 0.02  # /proc counts children's CPU time in clock ticks (10 ms), at both readings
    assert 0.4 - tick <= found["cpu_s"] < 0.4 + 0.3  # the worker's burn; the server is not in it
    assert 0.3 - tick <= found["service_cpu_s"] < 0.4 + 0.3


def test_a_reaped_child_still_counts():
    clock = CpuClock()
    start = clock.read()
    subprocess.run([sys.executable, "-c", BURN.format(s=0.3)], check=True)  # started, burnt and reaped
    found = window_fields(start, clock.read(ending=True))
    assert found["cpu_s"] >= 0.3 - 0.02  # reaped children's ticks


def test_a_busy_thread_is_the_busiest_and_not_the_main_thread():
    clock = CpuClock()
    start = clock.read()
    thread = threading.Thread(target=burn_thread, args=(0.3,))
    thread.start()
    thread.join()  # it ended inside the window: lost to the busiest-thread figure, kept in the tree's
    burnt, done = threading.Event(), threading.Event()
    burner = threading.Thread(target=lambda: (burn_thread(0.3), burnt.set(), done.wait(30)))
    burner.start()
    burnt.wait(30)
    found = window_fields(start, clock.read(ending=True))
    done.set()
    burner.join()
    assert found["cpu_s"] >= 0.55
    assert found["busiest_thread_cpu_s"] >= 0.25
    assert found["main_thread_cpu_s"] < 0.25  # the main thread mostly slept

