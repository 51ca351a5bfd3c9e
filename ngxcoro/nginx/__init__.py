"""nginx core, as far as the scheduler needs it.

Python stand-ins for parts of nginx 1.22.1's C source, laid out like it: ``conf`` reads
nginx.conf the way src/core/ngx_conf_file.c and the modules' directive handlers do, and
``http_parse`` reads a request line the way src/http/ngx_http_parse.c does. Each module's
docstring names the C files and functions it mirrors.
"""
