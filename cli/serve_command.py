"""`main.py serve` (the default command): start the HTTP/WebSocket server."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .frontends import add_frontend_flags
from .memory_flags import add_memory_flags, apply_memory_flags
from .ray_flags import add_ray_flags, ray_runners

DEFAULT_PORT = 8188
log = logging.getLogger("sd_studio.serve")


def add_serve_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen", nargs="?", const="0.0.0.0", default="127.0.0.1", metavar="ADDR",
        help="address(es) to listen on, comma separated (default 127.0.0.1; bare --listen: 0.0.0.0, every interface)",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    parser.add_argument(
        "--preview-method", choices=["none", "auto", "latent2rgb"], default="none",
        help="live previews of sampler steps for prompts that do not ask themselves (default none)",
    )
    parser.add_argument("--max-nodes", type=int, default=200_000, metavar="N",
                        help="the most nodes one queued prompt may have (default 200000)")
    parser.add_argument("--max-json-depth", type=int, default=100, metavar="N",
                        help="how deeply a request's JSON may nest (default 100)")
    parser.add_argument("--crash-retries", type=int, default=1, metavar="N",
                        help="how often a prompt the server died while running is run again at the next start "
                             "(default 1; 0: never)")
    add_frontend_flags(parser)
    add_memory_flags(parser)
    add_ray_flags(parser)


def serve_command(args: argparse.Namespace) -> int:
    import asyncio

    from aiohttp import web

    from comfy_compat.setup import load_into_server
    from server.app import create_app
    from server.config import ServerConfig

    from .app_paths import extra_model_configs
    from .frontends import frontend_dir

    apply_memory_flags(args)

    config = ServerConfig(
        base_dir=Path(args.base_dir),
        models_dir=Path(args.models_dir) if args.models_dir else None,
        hosts=args.listen,
        port=args.port,
        preview_method=args.preview_method,
        extra_model_paths=tuple(extra_model_configs(args)),
        frontend_dir=frontend_dir(args),
        multi_user=args.multi_user,
        crash_retries=args.crash_retries,
        max_prompt_nodes=args.max_nodes,
        max_json_depth=args.max_json_depth,
    )
    loop = asyncio.new_event_loop()  # packs may hold on to PromptServer.instance.loop from import time
    asyncio.set_event_loop(loop)
    runners = ray_runners(args, config.folders())
    app = create_app(config, prepare=lambda app: load_into_server(app, config.base_dir / "custom_nodes", loop),
                     runners=runners)
    shown = "127.0.0.1" if "0.0.0.0" in config.hosts else config.hosts[0]
    if not config.loopback_only:
        log.warning("listening on %s: anyone who can reach this machine can use the server", ", ".join(config.hosts))
    web.run_app(
        app,
        host=list(config.hosts),
        port=config.port,
        print=lambda _: print(f"SD Studio is running: http://{_url_host(shown)}:{config.port}/", flush=True),
        access_log=None,
        loop=loop,
    )
    return 0


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
