"""Where the model keeps a request body (memory or a temp file), and the body API's
effect on the request.

What real nginx answers is in the recorded scenarios 870-894 (test_differential.py,
test_error_log.py).  Here: the placement rule of ngx_http_read_client_request_body and
ngx_http_request_body_save_filter (nginx 1.22.1) on its own, with the edges the
recordings pin (891 and 892: a body sent with the headers, 1071 bytes go to a file and
1070 stay in memory when client_body_buffer_size is 100)."""
from __future__ import annotations

import ngxcoro

CONF = """location /t {
    client_body_buffer_size %s;
    content_by_lua_block {
        ngx.req.read_body()
        local data = ngx.req.get_body_data()
        ngx.say(tostring(data and #data), " ", tostring(ngx.req.get_body_file()))
    }
}
"""
FILE = "/usr/share/nginx/tmp/client/0000000001"


def _where(size, body):
    res = ngxcoro.run(CONF % size, "POST /t", body=body)
    assert res.status == 200, res.message
    return res.body.strip()


def test_body_with_the_headers_edge():
    """The request head is 78 bytes ("POST /t HTTP/1.1", Host, Connection,
    Content-Length: NNNN, each with CRLF, and the blank line), so 946 bytes of the body
    fit the 1k header buffer (the preread).  The rest meets a buffer of the rest's size
    while it is below 1.25 * 100 = 125 bytes: 1070 - 946 = 124 stays in memory, 125
    does not (scenarios 892 and 891)."""
    assert _where(100, "x" * 1070) == "1070 nil"
    assert _where(100, "x" * 1071) == "nil " + FILE


def test_body_in_pieces():
    """Pieces sent after the headers: nothing is preread, so the whole body meets the
    buffer: below 1.25 * 16 = 20 bytes it is read into one buffer of its size; from 20
    on, a 16-byte buffer fills while more is to come and goes to the file (870, 871)."""
    assert _where(16, [(0.05, "x" * 10), (0.05, "y" * 9)]) == "19 nil"
    assert _where(16, [(0.05, "x" * 10), (0.05, "y" * 10)]) == "nil " + FILE


def test_init_append_finish_spill():
    """ngx.req.init_body(4): the buffer takes 4 bytes; the fifth append finds it full
    and writes it to a file (ngx_http_lua_write_request_body), so the new body is in
    the file and get_body_data is nil; Content-Length counts every byte (877)."""
    conf = """location /t { content_by_lua_block {
        ngx.req.read_body()
        ngx.req.init_body(4)
        ngx.req.append_body("hell")
        ngx.say(tostring(ngx.req.get_body_file()))
        ngx.req.append_body("o")
        ngx.req.finish_body()
        ngx.say(tostring(ngx.req.get_body_data()), " ", ngx.req.get_body_file(), " ",
                ngx.var.http_content_length)
    } }
"""
    res = ngxcoro.run(conf, "POST /t", body="old", log_level="warn")
    assert res.body == f"nil\nnil {FILE} 5\n"
    warned = [l for l in res.error_log if "temporary file" in l]
    assert len(warned) == 1
    assert "[warn]" in warned[0] and "buffered to a temporary file " + FILE in warned[0]
