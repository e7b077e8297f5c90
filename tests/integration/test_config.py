# SPDX-License-Identifier: MIT
"""Config sources and precedence, the seed services' config.json layouts, --print-config,
validation messages, and the start-up refusals."""
import json
import subprocess

import pytest

from conftest import free_port, run_imgd

SEED_000 = {
    "ignore_file_path": "images_to_ignore.txt",
    "log_file": "crictl_api.log",
    "log_max_bytes": 10485760,
    "log_backup_count": 3,
    "app_host": "0.0.0.0",
    "app_port": 5000,
    "app_debug": False,
    "file_handler_log_level": "WARNING",
    "app_log_level": "WARNING",
    "jsonify_prettyprint_regular": True,
}

SEED_001 = {
    "crictl_config": {"ignore_file_path": "images_to_ignore.txt"},
    "harbor_config": {"url": "https://harbor.example.com", "username": "robot$reader",
                      "password": "Harbor12345-secret", "verify_ssl": False},
    "app_config": {"host": "127.0.0.1", "port": 5375, "debug": False,
                   "log_file": "image_api.log", "log_max_bytes": 1048576,
                   "log_backup_count": 5, "log_level": "INFO",
                   "file_handler_log_level": "ERROR"},
}


def print_config(tmp, config=None, args=(), env=None):
    argv = ["--print-config", "--state-dir", str(tmp / "s"), "--run-dir", str(tmp / "r")]
    if config is not None:
        path = tmp / "config.json"
        path.write_text(json.dumps(config) if not isinstance(config, str) else config)
        argv += ["--config", str(path)]
    else:
        argv += ["--config", "none"]
    p = run_imgd(argv + list(args), env=env)
    return p


def effective(tmp, **kw):
    p = print_config(tmp, **kw)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_defaults(tmp):
    c = effective(tmp)
    assert c["listen"] == ["127.0.0.1:5375"]
    assert c["socket"] == str(tmp / "r" / "imgd.sock")
    assert c["max_body_bytes"] == 1048576
    assert c["log_level"] == "INFO"
    assert c["max_workers"] >= 4 and c["max_workers"] % 4 == 0
    assert c["insecure_listen"] is False
    assert c["harbor_password"] is None


def test_precedence_file_env_flag(tmp):
    cfg = {"port": 1111, "request_timeout": 11, "max_workers": 2}
    c = effective(tmp, config=cfg)
    assert (c["port"], c["request_timeout"], c["max_workers"]) == (1111, 11, 2)
    assert c["listen"] == ["127.0.0.1:1111"]
    env = {"IMGD_PORT": "2222", "REQUEST_TIMEOUT": "22"}
    c = effective(tmp, config=cfg, env=env)
    assert (c["port"], c["request_timeout"], c["max_workers"]) == (2222, 22, 2)
    c = effective(tmp, config=cfg, env=env, args=["--port", "3333", "--request-timeout=33"])
    assert (c["port"], c["request_timeout"], c["max_workers"]) == (3333, 33, 2)
    assert c["listen"] == ["127.0.0.1:3333"]


def test_imgd_names_win_over_legacy_env(tmp):
    c = effective(tmp, env={"MAX_WORKERS": "3", "DEBUG": "true", "REQUEST_TIMEOUT": "60"})
    assert c["max_workers"] == 3 and c["debug"] is True and c["request_timeout"] == 60
    assert c["log_level"] == "DEBUG"  # debug implies DEBUG unless a level was set
    c = effective(tmp, env={"MAX_WORKERS": "3", "IMGD_MAX_WORKERS": "5", "DEBUG": "1",
                            "IMGD_LOG_LEVEL": "error"})
    assert c["max_workers"] == 5
    assert c["log_level"] == "ERROR"


def test_listen_flags_repeat_and_replace(tmp):
    c = effective(tmp, config={"listen": ["127.0.0.1:1000"]})
    assert c["listen"] == ["127.0.0.1:1000"]
    c = effective(tmp, config={"listen": ["127.0.0.1:1000"]},
                  args=["--listen", "127.0.0.1:2000", "--listen", "[::1]:3000"])
    assert c["listen"] == ["127.0.0.1:2000", "[::1]:3000"]
    c = effective(tmp, env={"IMGD_LISTEN": "127.0.0.1:4000, 127.0.0.2:4001"})
    assert c["listen"] == ["127.0.0.1:4000", "127.0.0.2:4001"]


def test_seed_000_layout_loads_unchanged(tmp):
    p = print_config(tmp, config=SEED_000)
    # app_host 0.0.0.0 is refused without auth, and the reason is given
    assert p.returncode == 2
    assert "refusing to listen on 0.0.0.0:5000" in p.stderr
    assert "tokens_file" in p.stderr and "insecure_listen" in p.stderr
    c = effective(tmp, config=SEED_000, env={"IMGD_INSECURE_LISTEN": "yes"})
    assert c["listen"] == ["0.0.0.0:5000"]
    assert c["host"] == "0.0.0.0" and c["port"] == 5000
    assert c["ignore_file"] == str(tmp / "images_to_ignore.txt")  # relative to the config file
    assert c["log_file"] == str(tmp / "crictl_api.log")
    assert c["log_max_bytes"] == 10485760 and c["log_backup_count"] == 3
    assert c["debug"] is False
    assert c["log_file_level"] == "WARNING" and c["log_level"] == "WARNING"
    assert c["json_pretty"] is True


def test_seed_001_layout_loads_unchanged(tmp):
    p = print_config(tmp, config=SEED_001)
    assert p.returncode == 0, p.stderr
    assert "Harbor12345-secret" not in p.stdout + p.stderr
    c = json.loads(p.stdout)
    assert c["ignore_file"] == str(tmp / "images_to_ignore.txt")
    assert c["harbor_url"] == "https://harbor.example.com"
    assert c["harbor_username"] == "robot$reader"
    assert c["harbor_password"] == "<redacted>"
    assert c["harbor_verify_tls"] is False
    assert c["listen"] == ["127.0.0.1:5375"]
    assert c["log_file"] == str(tmp / "image_api.log")
    assert c["log_max_bytes"] == 1048576 and c["log_backup_count"] == 5
    assert c["log_level"] == "INFO" and c["log_file_level"] == "ERROR"


def test_secret_from_env_is_redacted_too(tmp):
    p = print_config(tmp, env={"IMGD_HARBOR_PASSWORD": "from-env-s3cret"})
    assert p.returncode == 0
    assert "from-env-s3cret" not in p.stdout + p.stderr
    assert json.loads(p.stdout)["harbor_password"] == "<redacted>"


def test_secret_is_not_echoed_in_errors(tmp):
    p = print_config(tmp, config={"harbor_config": {"password": ["hunter2-list"]}})
    assert p.returncode == 2
    assert "config key 'harbor_config.password'" in p.stderr
    assert "'<redacted>'" in p.stderr
    assert "hunter2" not in p.stderr
    p = print_config(tmp, args=["--harbor-password"])  # no value: the message names the flag
    assert p.returncode == 2 and "needs a value" in p.stderr


def test_unknown_key_is_a_warning(tmp):
    p = print_config(tmp, config={"no_such_setting": 1, "app_config": {"colour": "blue"},
                                  "port": 4444})
    assert p.returncode == 0
    assert "unknown config key 'no_such_setting' ignored" in p.stderr
    assert "unknown config key 'app_config.colour' ignored" in p.stderr
    assert json.loads(p.stdout)["port"] == 4444


@pytest.mark.parametrize("kw,needles", [
    ({"args": ["--port", "abc"]},
     ["'abc'", "'port'", "option --port", "an integer from 0 to 65535"]),
    ({"args": ["--max-workers", "5000"]}, ["'5000'", "'max_workers'", "from 0 to 1024"]),
    ({"config": {"app_port": "x"}}, ["'x'", "'port'", "config key 'app_port'"]),
    ({"config": {"app_debug": "maybe"}}, ["'maybe'", "'debug'", "true or false"]),
    ({"config": {"app_log_level": "LOUD"}},
     ["'LOUD'", "'log_level'", "DEBUG, INFO, WARNING, ERROR, CRITICAL"]),
    ({"env": {"MAX_WORKERS": "lots"}}, ["'lots'", "environment MAX_WORKERS"]),
    ({"env": {"IMGD_INSECURE_LISTEN": "perhaps"}}, ["environment IMGD_INSECURE_LISTEN"]),
    ({"args": ["--listen", "nowhere"]}, ["'nowhere'", "ADDR:PORT"]),
    ({"args": ["--no-such-flag", "1"]}, ["unknown option '--no-such-flag'"]),
    ({"args": ["--port"]}, ["needs a value"]),
    ({"config": "{ not json"}, ["config.json", "line 1"]),
    ({"config": "[1, 2]"}, ["must be a JSON object"]),
    ({"args": ["--tls-cert", "/x.pem"]}, ["tls_cert and tls_key must be set together"]),
])
def test_bad_values_exit_2_and_say_why(tmp, kw, needles):
    p = print_config(tmp, **kw)
    assert p.returncode == 2, p.stdout
    assert p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    for n in needles:
        assert n in p.stderr, (n, p.stderr)


def test_missing_config_file(tmp):
    p = run_imgd(["--config", str(tmp / "absent.json"), "--print-config"])
    assert p.returncode == 2
    assert "absent.json" in p.stderr and "No such file" in p.stderr


def test_config_from_imgd_config_env(tmp):
    path = tmp / "c.json"
    path.write_text(json.dumps({"port": 6543}))
    p = run_imgd(["--print-config", "--state-dir", str(tmp)], env={"IMGD_CONFIG": str(path)})
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["port"] == 6543


def test_help_lists_every_setting(tmp):
    p = run_imgd(["--help"])
    assert p.returncode == 0
    c = effective(tmp)
    for name in c:
        assert "--" + name.replace("_", "-") in p.stdout, name
    for flag in ("--config", "--print-config", "--version", "--help"):
        assert flag in p.stdout


def test_refuses_non_loopback_without_auth(imgd_factory, tmp):
    port = free_port()
    p = run_imgd(["--config", "none", "--state-dir", str(tmp / "s"), "--run-dir",
                  str(tmp / "r"), "--listen", f"0.0.0.0:{port}"])
    assert p.returncode == 2
    assert f"refusing to listen on 0.0.0.0:{port}" in p.stderr
    assert not (tmp / "s").exists()  # nothing was created before the refusal


def test_non_loopback_with_tokens_or_insecure(imgd_factory, tmp):
    tokens = tmp / "tokens"
    tokens.write_text("secret-token-1\n")
    port = free_port()
    d = imgd_factory(args=["--listen", f"0.0.0.0:{port}", "--tokens-file", str(tokens)],
                     listen=False)
    line = f"listening on http://0.0.0.0:{port}"
    assert line in d.wait_log(line)
    port = free_port()
    d = imgd_factory(args=["--listen", f"0.0.0.0:{port}", "--insecure-listen", "true"],
                     listen=False)
    line = f"listening on http://0.0.0.0:{port}"
    assert line in d.wait_log(line)


def test_max_workers_from_legacy_env_reaches_the_server(imgd_factory):
    d = imgd_factory(env={"MAX_WORKERS": "3"})
    assert d.get("/api/v1/metrics").json()["max_workers"] == 3


def test_state_dir_not_a_directory_exits_1(tmp):
    blocker = tmp / "file"
    blocker.write_text("x")
    p = run_imgd(["--config", "none", "--state-dir", str(blocker / "state"), "--run-dir",
                  str(tmp / "r"), "--listen", f"127.0.0.1:{free_port()}"])
    assert p.returncode == 1
    assert "state directory" in p.stderr and "not a directory" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_state_dir_read_only_exits_1(tmp):
    ro = tmp / "ro"
    ro.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)]).returncode:
        pytest.skip("needs root and mount(8) to make a read-only tmpfs")
    try:
        p = run_imgd(["--config", "none", "--state-dir", str(ro), "--run-dir", str(tmp / "r"),
                      "--listen", f"127.0.0.1:{free_port()}"])
        assert p.returncode == 1
        assert f"state directory '{ro}' is not usable" in p.stderr
        assert "Read-only file system" in p.stderr
    finally:
        subprocess.run(["umount", str(ro)], check=False)


def test_port_in_use_exits_1(imgd_factory, tmp):
    d = imgd_factory()
    p = run_imgd(["--config", "none", "--state-dir", str(tmp / "s2"), "--run-dir",
                  str(tmp / "r2"), "--listen", f"127.0.0.1:{d.port}"])
    assert p.returncode == 1
    assert f"listen on 127.0.0.1:{d.port}" in p.stderr and "in use" in p.stderr


def test_packaged_example_config_loads_cleanly(tmp):
    example = __import__("conftest").ROOT / "packaging" / "config.example.json"
    p = run_imgd(["--config", str(example), "--print-config", "--state-dir", str(tmp)])
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    c = json.loads(p.stdout)
    assert c["tokens_file"] == "/etc/imgd/tokens" and c["listen"] == ["127.0.0.1:5375"]
