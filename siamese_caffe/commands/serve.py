"""siamese-caffe serve --jobs-dir DIR [--host 127.0.0.1] [--port 5000] [--data-root DIR ...]"""

import logging
import signal
import sys

HELP = ("DIGITS for this workflow: its web pages (datasets, models, live loss chart, Test "
        "One / Test Many) and REST routes (jobs, status, infer_one.json, infer_many.json) "
        "for the jobs of a folder, training in a queue of child processes, on waitress")


def add_arguments(parser):
    from ..runtime import ranges
    from ..serve.settings import DEFAULT_MAX_NETS, DEFAULT_MAX_UPLOAD_MB

    parser.add_argument("--jobs-dir", "--jobs", dest="jobs_dir", default="jobs", metavar="DIR",
                        help="folder of job folders; a request's job_id names one of them "
                             "(--jobs: the same, as earlier versions spelled it)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (0.0.0.0 exposes the server to the network)")
    parser.add_argument("--port", type=ranges.option(ranges.PORT), default=5000,
                        help="port to listen on (0: any free port, printed at start)")
    parser.add_argument("--data-root", action="append", default=[], metavar="DIR",
                        help="folder whose images image_path / image_list / image_folder may "
                             "name (repeatable); without one only uploads are accepted")
    parser.add_argument("--gpu", default="cpu",
                        help="where inference runs: cpu, auto or a GPU number")
    parser.add_argument("--train-gpu", default="auto",
                        help="device of a new model whose form says 'next': auto, cpu or a "
                             "GPU number")
    parser.add_argument("--token",
                        help="the token a server bound beyond loopback requires (default: "
                             "one is generated and printed); ignored on loopback")
    parser.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                        help="another Host name to answer on loopback (e.g. a reverse "
                             "proxy's); repeatable")
    parser.add_argument("--threads", type=ranges.option(ranges.THREADS), default=4,
                        help="request threads: one takes requests in turn, another joins when "
                             "a request has run 20 ms while others wait (with --micro-batch "
                             "above 1, every idle thread takes one at once, so they can batch)")
    parser.add_argument("--micro-batch", type=ranges.option(ranges.MICRO_BATCH), default=1, metavar="N",
                        help="run up to N concurrent infer_one requests for one net as one "
                             "forward pass (1: each alone; batched features may differ from "
                             "unbatched ones in the last bit; every request thread then works "
                             "at once, and on 2 cores 8 clients got fewer answers per second "
                             "than with 1: docs/threads.md)")
    parser.add_argument("--max-upload-mb", type=ranges.option(ranges.UPLOAD_MB), default=DEFAULT_MAX_UPLOAD_MB,
                        help="largest request body accepted; bigger ones get 413")
    parser.add_argument("--max-nets", type=ranges.option(ranges.NETS), default=DEFAULT_MAX_NETS,
                        help="(job, snapshot) nets kept loaded")


def run(args):
    from ..runtime import caffe_env, devices
    from ..serve import netcache, server, web
    from ..errors import BadInputError

    for name in ("threads", "max_nets", "micro_batch"):
        if getattr(args, name) < 1:
            raise BadInputError("must be at least 1", where=f"--{name.replace('_', '-')}")
    if not 0 < args.max_upload_mb <= 4096:
        raise BadInputError("must be above 0 and at most 4096", where="--max-upload-mb")
    from ..serve import security

    caffe_env.import_caffe()
    cache = netcache.NetCache(devices.choose_device(args.gpu), max_nets=args.max_nets,
                              micro_batch=args.micro_batch)
    devices.choose_device(args.train_gpu)     # a bad value is refused now, not per job
    token = None
    if not security.is_loopback(args.host):
        token = args.token or security.new_token()
    guard = security.Guard(args.host, token, args.allowed_host)
    app = server.create_app(args.jobs_dir, args.data_root, cache,
                            max_upload_bytes=int(args.max_upload_mb * (1 << 20)), guard=guard,
                            default_gpu=args.train_gpu)
    service = app.extensions[web.EXTENSION]
    http_server = server.make_server(app, args.host, args.port, args.threads,
                                     one_at_a_time=args.micro_batch == 1)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    for host, port in server.addresses(http_server):
        print(f"serving on http://{host}:{port}/ (jobs: {args.jobs_dir}; data roots: "
              f"{', '.join(args.data_root) or 'none, uploads only'})", flush=True)
    if token:
        print(f"token (required beyond loopback): {token} - open "
              f"http://HOST:PORT/?token={token} once, or send 'Authorization: Bearer "
              f"{token}'", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        http_server.run()   # returns on Ctrl-C or SIGTERM (waitress catches the interrupt)
    except KeyboardInterrupt:
        pass
    finally:
        http_server.close()
        service.close()     # running trainings snapshot and stop, as on Ctrl-C
    print("stopped", flush=True)
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt
