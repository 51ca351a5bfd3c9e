"""Whole nginx.conf files, as Test::Nginx and a Debian install write them.

What each test rests on: the nginx -t messages were read from the installed nginx 1.22.1
(Debian 12, ndk + lua 0.10.23 + echo) with the config in the test; the tests marked
``nginx`` run ``nginx -t`` again on them. The split into modelled / inert / not modelled is
ngxcoro's own decision (ngxcoro/nginx/conf/commands.py says why), so those tests state the
reasoning instead. The answers of whole configs to requests are in the differential
scenarios 200-239 (recorded on real nginx).
"""

from __future__ import annotations

import contextlib
import io
import os
import pathlib
import subprocess
import tempfile

import pytest

import ngxcoro
from ngxcoro import cli
from ngxcoro.nginx.conf import ConfigError, load
from ngxcoro.nginx.conf.commands import KNOWN, category
from ngxcoro.nginx.conf.slots import ARGS, nargs_ok, parse_time, slot_value_ok
from ngxcoro.oracle import MODULES, MODULES_DIR, NGINX, available, build_config

SCENARIOS = pathlib.Path(ngxcoro.__file__).parent / "oracle" / "scenarios"
TEST_NGINX = (SCENARIOS / "200-testnginx-hello.ngx").read_text(encoding="utf-8")
DEBIAN = (SCENARIOS / "220-debian-hello.ngx").read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    return next(k for k, line in enumerate(text.splitlines(), 1) if needle in line)


def refusal(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(text)
    assert info.value.nginx_line is None, info.value.nginx_line
    return str(info.value)


# ------------------------------------------------------------------ accepted, inert listed

def test_test_nginx_config_is_accepted_and_its_inert_directives_listed():
    config = load(TEST_NGINX)
    assert config.kind == "main"
    names = [n for n, _ in config.inert]
    # (default_type is modelled: it is the Content-Type the header filter writes; so is
    # keepalive_timeout: a cosocket's connection to this server stays open by it)
    for name in ("worker_processes", "daemon", "master_process", "pid", "env", "access_log",
                 "client_body_temp_path",
                 "fastcgi_temp_path", "uwsgi_temp_path", "scgi_temp_path", "proxy_temp_path",
                 "lua_package_path", "index", "accept_mutex",
                 "worker_connections", "user"):
        assert name in names, name
    # in file order, each with the line nginx would name
    assert config.inert == sorted(config.inert, key=lambda x: x[1])
    assert ("fastcgi_temp_path", line_of(TEST_NGINX, "fastcgi_temp_path")) in config.inert
    # modelled directives are not listed
    assert not {"http", "server", "location", "listen", "error_log", "root",
                "content_by_lua_block", "server_name", "default_type"} & set(names)


def test_debian_config_is_accepted():
    config = load(DEBIAN)
    names = {n for n, _ in config.inert}
    assert {"user", "include", "sendfile", "tcp_nopush", "types_hash_max_size", "gzip",
            "ssl_protocols", "ssl_prefer_server_ciphers", "index"} <= names
    assert "default_type" not in names          # modelled: the Content-Type
    assert config.server.server_name == "_"


@pytest.mark.skipif(not os.path.isfile("/etc/nginx/nginx.conf"), reason="no Debian nginx.conf")
def test_the_installed_debian_nginx_conf_is_accepted():
    # the host's own files, read by the test (the model never reads them): nginx.conf with
    # a server of ours where sites-enabled would be read
    text = pathlib.Path("/etc/nginx/nginx.conf").read_text()
    site = "server { listen 80; location = /t { content_by_lua_block { ngx.say(1) } } }\n"
    text = text.replace("include /etc/nginx/sites-enabled/*;",
                        "include /etc/nginx/sites-enabled/*;\n" + site)
    config = load(text)
    assert config.server.find_location("/t").content_by_lua is not None


def test_run_returns_the_inert_list_and_json_has_it():
    res = ngxcoro.run(TEST_NGINX, "GET /t")
    assert res.status == 200
    assert ("daemon", line_of(TEST_NGINX, "daemon on")) in res.inert
    blob = res.to_json()["inert"]
    assert {"directive": "daemon", "line": line_of(TEST_NGINX, "daemon on")} in blob
    # a server-block text has no inert directive: an empty list
    assert ngxcoro.run_lua("ngx.say(1)").to_json()["inert"] == []


def test_cli_says_the_inert_directives_once_in_one_line(tmp_path):
    path = tmp_path / "nginx.conf"
    path.write_text(TEST_NGINX)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cli.main(["run", "--config", str(path), "--request", "GET /t"])
    assert rc == 0
    lines = out.getvalue().splitlines()
    inert = [l for l in lines if l.startswith("inert")]
    assert len(inert) == 1
    assert inert[0].startswith("inert (no effect on the model): worker_processes (line 3), "
                               "daemon (line 4), ")
    assert f"fastcgi_temp_path (line {line_of(TEST_NGINX, 'fastcgi_temp_path')})" in inert[0]
    assert "status: 200" in lines


# ------------------------------------------------------------------ refused

def head(http: str = "", server: str = "", loc: str = "", main: str = "") -> str:
    """A small whole config; the line numbers of what is added are counted in the tests."""
    return (f"{main}events {{}}\nhttp {{\n{http}server {{\n{server}"
            f"location = /t {{\n{loc}content_by_lua_block {{ ngx.say(1) }}\n}}\n}}\n}}\n")


@pytest.mark.parametrize("kw, name, line", [
    # reasoning: each changes what a request gets, and the model cannot simulate it
    (dict(loc="try_files $uri =404;\n"), "try_files", 5),
    (dict(loc="alias /tmp/;\n"), "alias", 5),
    (dict(loc="rewrite ^ /x last;\n"), "rewrite", 5),
    (dict(loc="if ($uri = /t) { return 404; }\n"), "if", 5),
    (dict(server="if ($uri = /t) { return 404; }\n"), "if", 4),
    (dict(server="return 404;\n"), "return", 4),         # server-level: not run by the model
    (dict(server="set $a 1;\n"), "set", 4),
    (dict(http="map $uri $x { default 1; }\n"), "map", 3),
    (dict(http="init_by_lua_file x.lua;\n"), "init_by_lua_file", 3),
    (dict(http="init_worker_by_lua_file x.lua;\n"), "init_worker_by_lua_file", 3),
    (dict(loc="log_by_lua_file x.lua;\n"), "log_by_lua_file", 5),
    (dict(loc="header_filter_by_lua_file x.lua;\n"), "header_filter_by_lua_file", 5),
    (dict(loc="body_filter_by_lua_file x.lua;\n"), "body_filter_by_lua_file", 5),
    (dict(loc="set_by_lua_block $x { return 1 }\n"), "set_by_lua_block", 5),
    (dict(loc="limit_req zone=one;\n"), "limit_req", 5),
    (dict(loc="auth_basic on;\n"), "auth_basic", 5),
    (dict(loc="fastcgi_pass 127.0.0.1:9000;\n"), "fastcgi_pass", 5),
    (dict(http="include /etc/nginx/my-locations.conf;\n"), "include", 3),
])
def test_what_the_model_cannot_simulate_is_refused_naming_it(kw, name, line):
    want = f'directive "{name}" is valid nginx but is not modelled by ngxcoro in nginx.conf:{line}'
    if name == "map":
        # reasoning: a map only matters to a request that reads its variable ($x here)
        assert load(head(**kw)).refused_vars == {"x": want}
        return
    if "loc" not in kw:
        assert refusal(head(**kw)) == want
        return
    # reasoning: a directive in a location only changes what the requests reaching it get:
    # the config loads, and the request to /t (the location holding it) is refused, naming it
    res = ngxcoro.run(head(**kw), "GET /t")
    assert res.refused and res.message == want + " (the location /t reached)"


@pytest.mark.parametrize("kw", [
    # reasoning: no effect on status, body, error log or the order of events
    dict(http="sendfile on;\ntcp_nopush on;\ntypes_hash_max_size 2048;\n"),
    dict(http="include mime.types;\ninclude /etc/nginx/mime.types;\n"),
    dict(main="include /etc/nginx/modules-enabled/*.conf;\n"),
    dict(http="include /etc/nginx/conf.d/*.conf;\ninclude /etc/nginx/sites-enabled/*;\n"),
    dict(loc="include fastcgi_params;\naccess_log off;\nexpires 1h;\nadd_header X 1;\n"),
    dict(http="lua_shared_dict d 1m;\nlua_code_cache off;\nlua_package_path '/x/?.lua;;';\n"),
    dict(http="limit_req_zone $binary_remote_addr zone=one:1m rate=1r/s;\n"),
])
def test_inert_settings_are_accepted(kw):
    assert load(head(**kw)).inert


@pytest.mark.parametrize("value", ["on", "off", "build", "OFF"])
def test_server_tokens_is_modelled(value):
    # reasoning: it only changes the tail of nginx's error pages and the Server header,
    # which the model writes (scenarios 240-242 record what nginx sends)
    config = load(head(http=f"server_tokens {value};\n"))
    assert "server_tokens" not in [n for n, _ in config.inert]


@pytest.mark.parametrize("value", ["1.2.3", "127.0.0.1/33", "abc"])
def test_allow_bad_address_is_nginx_s_error(value):
    # nginx -t: 'invalid parameter "1.2.3" in nginx.conf:5' (ngx_http_access_rule)
    with pytest.raises(ConfigError) as info:
        load(head(loc=f"allow {value};\n"))
    assert info.value.nginx_line == f'[emerg] invalid parameter "{value}" in nginx.conf:5'


def test_error_page_sends_only_the_status_it_names_to_its_page():
    # reasoning: error_page changes only a response with one of its statuses. Here the 404
    # goes to /x by an internal redirect; no location of this config matches /x, so the
    # static module answers 404 for it (one open() error line), and since an error page
    # was used already (recursive_error_pages off) the built-in 404 page goes out: status
    # 404, not refused. Real nginx does the same with error_page (scenario 1104).
    text = head(loc="error_page 404 /x;\n")
    assert ngxcoro.run(text, "GET /t").status == 200
    res = ngxcoro.run(text.replace("ngx.say(1)", "ngx.exit(404)"), "GET /t")
    assert not res.refused and res.status == 404
    assert [line for line in res.error_log if "[error]" in line] and "404 Not Found" in (
        res.body.decode() if isinstance(res.body, bytes) else res.body)


@pytest.mark.parametrize("args, error", [
    # nginx -t's words (ngx_http_core_error_page)
    ("200 /x", 'value "200" must be between 300 and 599'),
    ("600 /x", 'value "600" must be between 300 and 599'),
    ("abc /x", 'invalid value "abc"'),
    ("404 =abc /x", 'invalid value "=abc"'),
    ("=200 /x", 'invalid value "=200"'),
])
def test_error_page_bad_values_are_nginx_s_errors(args, error):
    with pytest.raises(ConfigError) as info:
        load(head(loc=f"error_page {args};\n"))
    assert info.value.nginx_line == f"[emerg] {error} in nginx.conf:5"


def test_an_upstream_block_is_inert_and_proxy_pass_to_it_is_refused():
    # reasoning: an upstream only matters to a proxy_pass naming it, which the model refuses
    text = head(http="upstream b { server 127.0.0.1:1; }\n")
    assert "upstream" in [n for n, _ in load(text).inert]
    res = ngxcoro.run(text.replace("content_by_lua_block { ngx.say(1) }",
                                   "proxy_pass http://b;"), "GET /t")
    assert res.refused and "proxy_pass to http://b" in res.message


@pytest.mark.parametrize("name", ["server_tokens", "chunked_transfer_encoding",
                                  "log_not_found"])
def test_settings_the_model_runs_are_not_inert(name):
    # reasoning: each changes bytes the model writes (scenarios 240-242, 298, 299)
    config = load(head(http=f"{name} off;\n"))
    assert name not in [n for n, _ in config.inert]


def test_server_tokens_bad_value_is_nginx_s_error():
    # nginx -t: 'invalid value "foo" in nginx.conf:3' (ngx_conf_set_enum_slot)
    with pytest.raises(ConfigError) as info:
        load(head(http="server_tokens foo;\n"))
    assert info.value.nginx_line == '[emerg] invalid value "foo" in nginx.conf:3'


def test_nginx_errors_further_on_come_before_a_refusal():
    # reasoning: nginx -t accepts try_files and goes on reading, so it reports the unknown
    # directive on line 6; the model's refusal of try_files (line 5) comes only when the
    # whole text passed nginx's checks
    text = head(loc="try_files $uri =404;\nfoo;\n")
    with pytest.raises(ConfigError) as info:
        load(text)
    assert info.value.nginx_line == '[emerg] unknown directive "foo" in nginx.conf:6'
    assert "events" in head()        # and a missing events block, found after the parse:
    with pytest.raises(ConfigError) as info:
        load(head(loc="try_files $uri =404;\n").replace("events {}\n", ""))
    assert info.value.nginx_line == '[emerg] no "events" section in configuration'


def test_unknown_directive_is_nginxs_message():
    text = TEST_NGINX.replace("fastcgi_temp_path", "fastcgi_tmp_path")
    with pytest.raises(ConfigError) as info:
        load(text)
    line = line_of(text, "fastcgi_tmp_path")
    assert info.value.nginx_line == f'[emerg] unknown directive "fastcgi_tmp_path" in nginx.conf:{line}'


# ------------------------------------------------------------------ nginx's checks

SLOT_ERRORS = [   # (http-level directives, what nginx -t printed; line 3 in every case)
    ("sendfile maybe;", '[emerg] invalid value "maybe" in "sendfile" directive, it must be "on" or "off"'),
    ("keepalive_requests 1k;", '[emerg] "keepalive_requests" directive invalid number'),
    ("client_body_buffer_size 1g;", '[emerg] "client_body_buffer_size" directive invalid value'),
    ("proxy_read_timeout 1y;", '[emerg] "proxy_read_timeout" directive invalid value'),
    ("ssl_session_timeout 10ms;", '[emerg] "ssl_session_timeout" directive invalid value'),
    ("resolver_timeout 5x;", '[emerg] "resolver_timeout" directive invalid value'),
    ("keepalive_requests 1; keepalive_requests 2;", '[emerg] "keepalive_requests" directive is duplicate'),
    ("gzip on; gzip on;", '[emerg] "gzip" directive is duplicate'),
    ("keepalive_timeout 1 2 3;", '[emerg] invalid number of arguments in "keepalive_timeout" directive'),
    ("proxy_temp_path /a 1 2 3 4;", '[emerg] invalid number of arguments in "proxy_temp_path" directive'),
    ("lua_shared_dict d;", '[emerg] invalid number of arguments in "lua_shared_dict" directive'),
    ("lua_shared_dict d 8191;", '[emerg] invalid lua shared dict size "8191"'),
    ("lua_shared_dict d 1g;", '[emerg] invalid lua shared dict size "1g"'),
    ("lua_shared_dict d -1m;", '[emerg] invalid lua shared dict size "-1m"'),
    ('lua_shared_dict "" 1m;', '[emerg] invalid lua shared dict name ""'),
    ("lua_shared_dict d 1m; lua_shared_dict d 1m;", '[emerg] lua_shared_dict "d" is already defined as "d"'),
    ("lua_shared_dict d 1m; lua_shared_dict d 1024k;", '[emerg] lua_shared_dict "d" is already defined as "d"'),
    ("lua_shared_dict d 1m; lua_shared_dict d 64k;",
     '[emerg] the size 65536 of shared memory zone "d" conflicts with already declared size 1048576'),
    ("lua_shared_dict d 12k; lua_shared_dict D 12288; lua_shared_dict e 1M;", "OK"),
    ("worker_connections 10;", '[emerg] "worker_connections" directive is not allowed here'),
    ("sendfile On; client_max_body_size 1g; proxy_read_timeout '1h 30m'; ssl_session_timeout 1y; "
     "lua_malloc_trim 1; lua_malloc_trim 2;", "OK"),
]


def says(text: str) -> str:
    try:
        load(text)
    except ConfigError as e:
        return (e.nginx_line or "").removesuffix(" in nginx.conf:3")
    return "OK"


@pytest.mark.parametrize("http, expected", SLOT_ERRORS)
def test_slot_values_and_counts(http, expected):
    assert says(head(http=http + "\n")) == expected


@pytest.mark.nginx
@pytest.mark.parametrize("http, expected", SLOT_ERRORS)
def test_slot_values_and_counts_on_real_nginx(http, expected):
    ok, why = available()
    if not ok:
        pytest.skip(why)
    loads = "".join(f"load_module {MODULES_DIR}/{m};" for m in MODULES)
    with tempfile.TemporaryDirectory() as prefix:
        os.makedirs(f"{prefix}/conf")
        os.makedirs(f"{prefix}/logs")
        with open(f"{prefix}/conf/nginx.conf", "w") as f:
            f.write(loads + head(http=http + "\n"))     # load_module lines on line 1
        p = subprocess.run([NGINX, "-t", "-q", "-p", prefix + "/", "-e", prefix + "/logs/e.log",
                            "-c", "conf/nginx.conf"], capture_output=True, text=True, timeout=10)
    first = p.stderr.strip().splitlines()[0] if p.stderr.strip() else "OK"
    assert first.removeprefix("nginx: ").split(" in /")[0] == expected


def test_every_known_directive_has_an_argument_count():
    assert set(KNOWN) <= set(ARGS)
    assert nargs_ok("echo", 0) and nargs_ok("echo", 7)             # ANY
    assert nargs_ok("location", 2) and not nargs_ok("location", 3)  # TAKE12
    assert nargs_ok("dav_access", 3) and not nargs_ok("dav_access", 4)
    assert category("fastcgi_temp_path") == "inert"
    assert category("content_by_lua_file") == "not modelled"


@pytest.mark.parametrize("value, is_sec, ok", [
    # reasoning: src/core/ngx_parse.c ngx_parse_time, unit by unit
    ("10", True, True), ("1h 30m", False, True), ("1h30m10s500ms", False, True),
    ("1y", True, True), ("1y", False, False), ("1M", False, False), ("10ms", True, False),
    ("30m1h", True, False), ("5 s", True, False), ("", True, False), ("s", True, False),
    ("1d 2", True, True), ("1x", True, False),
])
def test_parse_time(value, is_sec, ok):
    assert parse_time(value, is_sec) is ok


def test_size_and_offset_slots():
    # reasoning: ngx_parse_size takes k and m, ngx_parse_offset also g
    assert slot_value_ok("size", "8k") and not slot_value_ok("size", "1g")
    assert slot_value_ok("offset", "1G") and not slot_value_ok("offset", "1t")


# ------------------------------------------------------------------ the oracle's rendering

def test_oracle_keeps_a_whole_config_off_the_host():
    out = build_config(TEST_NGINX, 4321, "/p/")
    assert out.count("\n") == TEST_NGINX.count("\n")              # lines stay where they were
    body = out.split("\n", 1)[1]
    for gone in ("user root", "/tmp/t/servroot/logs/access.log", "/tmp/t/servroot/fastcgi_temp",
                 "daemon on", "listen          1984"):
        assert gone not in body, gone
    assert "fastcgi_temp_path /p/tmp/fastcgi;" in out and "access_log off;" in out
    deb = build_config(DEBIAN, 4321, "/p/")
    assert "modules-enabled" not in deb and "sites-enabled/*" not in deb
    assert "include /etc/nginx/mime.types;" in deb
    rel = build_config(TEST_NGINX.replace("lua_package_path", "include mime.types; #"), 1, "/p/")
    assert "include /etc/nginx/mime.types;" in rel
