"""ComfyUI node adapters over the `puppet_master` library (the nodes land with the node-pack issue).

Nothing here imports ComfyUI at import time; `comfy_env.py` will be the only module that touches it.
"""

NODE_CLASS_MAPPINGS: dict[str, type] = {}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
