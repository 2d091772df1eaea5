"""The serving ceilings benchmark: its CPU accounting, its arithmetic and its command line (the load
runs themselves need a pushed model, wrk and h2load, and print numbers)."""
import os
import threading
import time

from benchmarks import serving_ceilings
from benchmarks.serving_ceilings import Ceiling
from runs import exit_codes


def test_clock_ticks_reads_user_plus_system_time_past_a_command_name_with_spaces_and_parentheses():
    # /proc/<pid>/stat: pid (comm) state ppid ... utime(14th) stime(15th) ...
    line = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 37 5 0 0 20 0 3 0 100 0 0"
    assert serving_ceilings.clock_ticks(line) == 42


def test_thread_ticks_sees_this_process_threads_and_charges_the_busy_one():
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            pass

    before = serving_ceilings.thread_ticks(os.getpid())
    worker = threading.Thread(target=spin)
    worker.start()
    time.sleep(0.5)
    after = serving_ceilings.thread_ticks(os.getpid())
    stop.set()
    worker.join()
    assert (os.getpid(), os.getpid()) in after
    spinner = (os.getpid(), worker.native_id)
    assert spinner in after and spinner not in before
    assert after[spinner] >= 0.2 * os.sysconf("SC_CLK_TCK")  # it spun for most of half a second


def test_budget_compares_what_three_times_the_serial_rate_leaves_with_what_a_request_costs():
    measured = Ceiling("real server, REST :predict", 3000.0, 40.0, 0, server_us=400.0, busiest_us=200.0,
                       client_us=20.0)
    total, one_thread = serving_ceilings.budget_lines(serial=2000.0, cores=2, measured=measured)
    assert "6,000 req/s" in total  # 3 x 2,000
    assert "333 us of CPU per request on 2 cores" in total  # 2 cores / 6,000 req/s
    assert "= 420 us" in total and "4,762 req/s" in total  # 400 + 20 us; 2 / 420 us
    assert "167 us per request on any one thread" in one_thread  # 1 / 6,000 req/s
    assert "spends 200 us" in one_thread and "5,000 req/s" in one_thread


def test_an_output_dir_without_a_pushed_model_is_bad_input(tmp_path, capsys):
    assert serving_ceilings.main(["--output-dir", str(tmp_path)]) == exit_codes.BAD_INPUT
    assert "no models" in capsys.readouterr().err


def test_missing_load_generators_are_named_with_how_to_install_them(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(serving_ceilings.OutputLayout, "served_model", lambda self, name: ("/nowhere", "m"))
    monkeypatch.setattr(serving_ceilings.shutil, "which", lambda tool: None if tool == "h2load" else "/usr/bin/wrk")
    assert serving_ceilings.main(["--output-dir", str(tmp_path)]) == exit_codes.BAD_INPUT
    err = capsys.readouterr().err
    assert "h2load not installed" in err and "apt-get install wrk nghttp2-client" in err


def test_a_run_length_that_is_not_positive_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(serving_ceilings.OutputLayout, "served_model", lambda self, name: ("/nowhere", "m"))
    monkeypatch.setattr(serving_ceilings.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    assert serving_ceilings.main(["--output-dir", str(tmp_path), "--seconds", "0"]) == exit_codes.BAD_INPUT
    assert "--seconds must be > 0" in capsys.readouterr().err
