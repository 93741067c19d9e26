"""A stand-in for ComfyUI's HTTP API that serves the REAL ComfyUI frontend with this pack's web extension.

ComfyUI's core is not installable from PyPI, but its frontend is (`comfyui-frontend-package`). This server
answers the API calls the frontend makes, with /object_info built from the pack's real node classes plus
the few core nodes the example workflows use, and records every POST /prompt so a browser test can check
what the frontend sent. It runs no nodes: it is for testing the widget in the real frontend, not for
generating videos (tests/e2e/test_comfyui_server.py does that against a real ComfyUI).

    python tests/e2e/standin_server.py --port 0 --root DIR   # prints "listening on http://..."

DIR is filled like a ComfyUI base folder: input/ gets the demo image (example.png) and a wider copy
(example_wide.png), models/ gets empty placeholder files that only give the model combos their names.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import uuid
from pathlib import Path

from aiohttp import web
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
PACK = REPO.name

from support import add_comfy_api_to_path  # noqa: E402

add_comfy_api_to_path()  # the V3 nodes import ComfyUI's comfy_api

from nodes import NODES_BY_ID  # noqa: E402
from puppet_master.diagnostics.selfcheck import demo_image  # noqa: E402

MODEL_PLACEHOLDERS = ("puppet_master/model.safetensors", "diffusers/stable-video-diffusion-img2vid/vae/.keep",
                      "diffusers/stable-video-diffusion-img2vid/image_encoder/.keep")  # fmt: skip


def prepare_root(root: Path) -> Path:
    """Fill a base folder with the input images and model names the browser tests use; returns input/."""
    input_dir = root / "input"
    input_dir.mkdir(parents=True, exist_ok=True)
    image, mask = demo_image()
    painted = image.copy()
    painted.putalpha(mask.point(lambda value: 255 - value))  # as ComfyUI's mask editor saves a painted object
    painted.save(input_dir / "example.png")
    image.resize((image.width * 2, image.height)).save(input_dir / "example_wide.png")
    for name in MODEL_PLACEHOLDERS:
        (root / "models" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "models" / name).touch()
    os.environ["PUPPET_MASTER_MODELS"] = str(root / "models")
    return input_dir


def node_info(node_class: type) -> dict:
    """One /object_info entry for a V3 node class, made by ComfyUI's own code as its server makes it."""
    node_class.RELATIVE_PYTHON_MODULE = f"custom_nodes.{PACK}"
    return node_class.GET_NODE_INFO_V1()


def core_node(name: str, category: str, inputs: dict, outputs: list[str], output_node: bool = False) -> dict:
    """An /object_info entry for a ComfyUI core node the example workflows use."""
    return {
        "input": {"required": inputs},
        "input_order": {"required": list(inputs)},
        "output": outputs,
        "output_is_list": [False] * len(outputs),
        "output_name": outputs,
        "name": name,
        "display_name": name,
        "description": "",
        "python_module": "nodes",
        "category": category,
        "output_node": output_node,
    }


def object_info(input_dir: Path) -> dict:
    images = sorted(path.name for path in input_dir.iterdir() if path.is_file())
    info = {name: node_info(node_class) for name, node_class in NODES_BY_ID.items()}
    info["LoadImage"] = core_node("LoadImage", "image", {"image": [images, {"image_upload": True}]}, ["IMAGE", "MASK"])
    info["ImageOnlyCheckpointLoader"] = core_node(
        "ImageOnlyCheckpointLoader", "loaders", {"ckpt_name": [["svd.safetensors"]]}, ["MODEL", "CLIP_VISION", "VAE"]
    )
    info["SaveAnimatedWEBP"] = core_node(
        "SaveAnimatedWEBP",
        "image/animation",
        {
            "images": ["IMAGE"],
            "filename_prefix": ["STRING", {"default": "ComfyUI"}],
            "fps": ["FLOAT", {"default": 6.0, "min": 0.01, "max": 1000.0, "step": 0.01}],
            "lossless": ["BOOLEAN", {"default": True}],
            "quality": ["INT", {"default": 80, "min": 0, "max": 100}],
            "method": [["default", "fastest", "slowest"]],
        },
        [],
        output_node=True,
    )
    return info


def build_app(input_dir: Path) -> web.Application:
    """The stand-in: static frontend at /, the pack's web/ at /extensions/<pack>/, the API at /api/*."""
    import comfyui_frontend_package

    static = Path(comfyui_frontend_package.__file__).parent / "static"
    history: dict[str, dict] = {}
    settings: dict[str, object] = {}
    extensions = sorted(f"/extensions/{PACK}/{path.name}" for path in (REPO / "web").glob("*.js"))
    routes = web.RouteTableDef()

    @routes.get("/")
    async def index(_request):
        return web.FileResponse(static / "index.html")

    @routes.get("/ws")
    async def websocket(request):
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        status = {"status": {"exec_info": {"queue_remaining": 0}}, "sid": sid}
        await socket.send_json({"type": "status", "data": status})
        async for _message in socket:
            pass
        return socket

    api = web.RouteTableDef()

    @api.get("/object_info")
    async def get_object_info(_request):
        return web.json_response(object_info(input_dir))

    @api.get("/extensions")
    async def get_extensions(_request):
        return web.json_response(extensions)

    @api.get("/users")
    async def get_users(_request):
        return web.json_response({"storage": "server", "migrated": True})

    @api.get("/settings")
    async def get_settings(_request):
        return web.json_response(settings)

    @api.post("/settings")
    async def post_settings(request):
        settings.update(await request.json())
        return web.json_response({})

    @api.get("/settings/{key}")
    async def get_setting(request):
        return web.json_response(settings.get(request.match_info["key"]))

    @api.post("/settings/{key}")
    async def post_setting(request):
        settings[request.match_info["key"]] = await request.json()
        return web.json_response({})

    @api.get("/system_stats")
    async def get_system_stats(_request):
        system = {"os": sys.platform, "python_version": sys.version, "embedded_python": False,
                  "comfyui_version": "standin", "pytorch_version": "none", "argv": ["standin"],
                  "ram_total": 0, "ram_free": 0}  # fmt: skip
        return web.json_response({"system": system, "devices": []})

    @api.get("/prompt")
    async def get_prompt(_request):
        return web.json_response({"exec_info": {"queue_remaining": 0}})

    @api.post("/prompt")
    async def post_prompt(request):
        body = await request.json()
        prompt_id = body.get("prompt_id") or uuid.uuid4().hex
        number = len(history)
        history[prompt_id] = {"prompt": [number, prompt_id, body["prompt"], body.get("extra_data", {}), []]}
        return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": {}})

    @api.get("/history/{prompt_id}")
    async def get_history_item(request):
        prompt_id = request.match_info["prompt_id"]
        return web.json_response({prompt_id: history[prompt_id]} if prompt_id in history else {})

    @api.get("/view")
    async def view(request):
        path = (input_dir / request.query.get("subfolder", "") / request.query["filename"]).resolve()
        if not path.is_relative_to(input_dir.resolve()) or not path.is_file():
            raise web.HTTPNotFound()
        channel = request.query.get("channel", "rgba")
        if channel == "rgba":
            return web.FileResponse(path)
        with Image.open(path) as image:  # ComfyUI's /view: channel=rgb drops the alpha, channel=a keeps only it
            rgba = image.convert("RGBA")
        picture = rgba.convert("RGB") if channel == "rgb" else Image.new("RGBA", rgba.size, (0, 0, 0, 0))
        if channel == "a":
            picture.putalpha(rgba.getchannel("A"))
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        return web.Response(body=buffer.getvalue(), content_type="image/png")

    @api.get("/jobs")
    async def get_jobs(request):
        limit = int(request.query.get("limit", 200))
        pagination = {"total": 0, "offset": 0, "limit": limit, "has_more": False}
        return web.json_response({"jobs": [], "pagination": pagination})

    @api.get("/userdata")
    async def list_userdata(_request):
        return web.json_response([])

    for path, empty in {"/embeddings": [], "/features": {}, "/history": {}, "/i18n": {}, "/node_replacements": {},
                        "/experiment/models": [], "/workflow_templates": {}, "/global_subgraphs": {},
                        "/queue": {"queue_running": [], "queue_pending": []}}.items():  # fmt: skip
        api.get(path)(lambda _request, empty=empty: _json(empty))

    app = web.Application()
    app.add_routes(routes)
    app.router.add_get("/templates/index.json", lambda _request: _json([]))
    api_app = web.Application()
    api_app.add_routes(api)
    app.add_subapp("/api", api_app)
    app.router.add_static(f"/extensions/{PACK}", REPO / "web")
    app.router.add_static("/", static)
    return app


async def _json(value):
    return web.json_response(value)


async def serve(port: int, input_dir: Path) -> None:
    runner = web.AppRunner(build_app(input_dir))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]
    print(f"listening on http://127.0.0.1:{bound}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8188)
    parser.add_argument("--root", type=Path, required=True, help="an empty folder to use as the base folder")
    args = parser.parse_args()
    asyncio.run(serve(args.port, prepare_root(args.root)))


if __name__ == "__main__":
    main()
