# SPDX-License-Identifier: MIT
"""Log sinks: the rotating file with its own level, SIGHUP reopen, runtime level changes."""
import os
import re
import signal
import time


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_rotation_keeps_backup_count_files(imgd_factory, tmp):
    log = tmp / "logs" / "imgd.log"
    log.parent.mkdir()
    d = imgd_factory(args=["--log-file", str(log), "--log-max-bytes", "2000",
                           "--log-backup-count", "2"])
    for i in range(120):
        d.get("/api/v1/health", headers={"X-Request-Id": f"rot-{i:04d}"})
    assert wait_for(lambda: "rot-0119" in log.read_text())
    names = sorted(p.name for p in log.parent.iterdir())
    assert names == ["imgd.log", "imgd.log.1", "imgd.log.2"]
    total = ""
    for name in names:
        text = (log.parent / name).read_text()
        assert 0 < len(text.encode()) <= 2000, name
        assert text.endswith("\n")  # lines are never split across files
        total += text
    # the newest lines are in imgd.log, older ones in .1, oldest kept in .2
    ids = lambda name: [int(m) for m in re.findall(r"rot-(\d{4})", (log.parent / name).read_text())]
    assert max(ids("imgd.log.2")) < min(ids("imgd.log.1"))
    assert max(ids("imgd.log.1")) < min(ids("imgd.log"))
    assert "rot-0000" not in total  # rotated away beyond the backup count


def test_seed_config_log_settings(imgd_factory, tmp):
    cfg = {"app_config": {"log_file": "svc.log", "log_max_bytes": 1500, "log_backup_count": 1,
                          "file_handler_log_level": "INFO"}}
    d = imgd_factory(config=cfg)
    for _ in range(60):
        d.get("/api/v1/health")
    logdir = d.tmp
    assert wait_for(lambda: (logdir / "svc.log.1").exists())
    assert not (logdir / "svc.log.2").exists()
    assert len((logdir / "svc.log").read_bytes()) <= 1500


def test_file_and_stderr_levels_are_separate(imgd_factory, tmp):
    log = tmp / "a.log"
    d = imgd_factory(args=["--log-file", str(log), "--log-level", "WARNING",
                           "--log-file-level", "INFO"])
    d.get("/api/v1/health", headers={"X-Request-Id": "lvl-1"})
    assert wait_for(lambda: "[lvl-1] GET /api/v1/health 200" in log.read_text())
    assert "lvl-1" not in d.log()  # stderr is at WARNING

    log2 = tmp / "b.log"
    d2 = imgd_factory(args=["--log-file", str(log2), "--log-level", "INFO",
                            "--log-file-level", "ERROR"])
    d2.get("/api/v1/health", headers={"X-Request-Id": "lvl-2"})
    assert wait_for(lambda: "[lvl-2] GET" in d2.log())
    assert "lvl-2" not in log2.read_text()


def test_sighup_reopens_the_log_file(imgd_factory, tmp):
    log = tmp / "h.log"
    d = imgd_factory(args=["--log-file", str(log)])
    d.get("/api/v1/health", headers={"X-Request-Id": "before-hup"})
    assert wait_for(lambda: "before-hup" in log.read_text())
    os.rename(log, tmp / "h.log.old")  # what logrotate does
    d.proc.send_signal(signal.SIGHUP)
    assert wait_for(log.exists)
    d.get("/api/v1/health", headers={"X-Request-Id": "after-hup"})
    assert wait_for(lambda: "after-hup" in log.read_text())
    assert "after-hup" not in (tmp / "h.log.old").read_text()
    assert d.proc.poll() is None  # SIGHUP does not stop imgd


def test_log_level_changes_at_runtime(imgd):
    assert imgd.get("/api/v1/system/log-level").json() == {"log_level": "INFO"}
    r = imgd.request("PUT", "/api/v1/system/log-level", json={"log_level": "warning"})
    assert r.status_code == 200 and r.json() == {"log_level": "WARNING"}
    imgd.get("/api/v1/health", headers={"X-Request-Id": "quiet-now"})
    r = imgd.request("PUT", "/api/v1/system/log-level", json={"log_level": "LOUD"})
    assert r.status_code == 400
    assert "LOUD" in r.json()["error"]["message"]
    imgd.request("PUT", "/api/v1/system/log-level", json={"log_level": "INFO"})
    imgd.get("/api/v1/health", headers={"X-Request-Id": "loud-again"})
    log = imgd.log()
    assert "quiet-now" not in log
    assert wait_for(lambda: "loud-again" in imgd.log())
