# Serves localstripe (PyPI) on 127.0.0.1 only, with its state in memory.
#
# The stock `localstripe` command listens on every interface and pickles its whole state to
# /tmp/localstripe.pickle after every write (and reloads it at start), which parallel runs
# would share. Used by the tests (tests/src/localstripe.rs) and by `switchyard local up`.
#
#     .venv/bin/python scripts/localstripe_serve.py PORT
import logging, sys
from aiohttp import web
from localstripe import resources
resources.Store.dump_to_disk = lambda self: None
from localstripe.server import app
log = logging.getLogger("aiohttp.access")
log.setLevel(logging.INFO)
log.addHandler(logging.StreamHandler())
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=log, print=None)
