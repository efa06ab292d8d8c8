"""Small local LLM backends for the LiteLLM end-to-end test (test fixtures, not the real servers).

OpenAICompatible answers POST /v1/chat/completions like vLLM's and OpenAI's
OpenAI-compatible API; OllamaCompatible answers POST /api/generate and /api/chat
like Ollama. Each reply names the backend, so a test can tell who served it.
`hang=True` accepts requests and never answers (a stuck primary). An OpenAICompatible
backend with `served` set answers only those model ids and refuses any other with the 404
vLLM sends (vllm/entrypoints/openai/serving_engine.py, `_check_model`: "The model `X` does
not exist.", type NotFoundError), as vLLM does for `vllm-qwen` while it serves R1.
"""

from __future__ import annotations

import asyncio
import threading
import time

from aiohttp import web


class Backend:
    def __init__(self, name, hang=False, served=None):
        self.name = name
        self.hang = hang
        self.served = set(served) if served is not None else None
        self.delay = 0.0  # seconds each answer takes (requests in flight when the backend goes away)
        self.requests = 0
        self.port = None
        self._loop = None
        self._runner = None
        self._thread = None

    def routes(self):
        raise NotImplementedError

    async def _maybe_hang(self):
        self.requests += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        while self.hang:  # until the test lets go (stop() does), so no handler outlives its backend
            await asyncio.sleep(0.05)

    def start(self, port=0):
        ready = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            app = web.Application()
            app.add_routes(self.routes())
            self._runner = web.AppRunner(app)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", port)
            self._loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())

        self._thread = threading.Thread(target=run, daemon=True, name="backend-%s" % self.name)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self):
        """Close the port: connections are refused afterwards, as for a stopped pod."""
        self.hang = False
        if self._loop:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None


class OpenAICompatible(Backend):
    def routes(self):
        async def chat(request):
            body = await request.json()
            await self._maybe_hang()
            if self.served is not None and body.get("model") not in self.served:
                return web.json_response({"error": {
                    "message": "The model `%s` does not exist." % body.get("model"), "type": "NotFoundError",
                    "param": None, "code": 404}}, status=404)
            return web.json_response({
                "id": "chatcmpl-%s-%d" % (self.name, self.requests), "object": "chat.completion",
                "created": int(time.time()), "model": body.get("model", self.name),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "served by %s" % self.name}}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
            })

        async def models(request):
            ids = sorted(self.served) if self.served is not None else [self.name]
            return web.json_response({"object": "list", "data": [{"id": name, "object": "model"} for name in ids]})

        return [web.post("/v1/chat/completions", chat), web.get("/v1/models", models)]


class OllamaCompatible(Backend):
    def routes(self):
        def reply(body, chat):
            out = {"model": body.get("model", self.name), "created_at": "2026-11-23T10:00:00Z", "done": True,
                   "done_reason": "stop", "total_duration": 1000, "prompt_eval_count": 5, "eval_count": 3}
            if chat:
                out["message"] = {"role": "assistant", "content": "served by %s" % self.name}
            else:
                out["response"] = "served by %s" % self.name
            return out

        async def generate(request):
            body = await request.json()
            await self._maybe_hang()
            return web.json_response(reply(body, False))

        async def chat(request):
            body = await request.json()
            await self._maybe_hang()
            return web.json_response(reply(body, True))

        async def tags(request):
            return web.json_response({"models": [{"name": "qwen2.5:3b"}]})

        return [web.post("/api/generate", generate), web.post("/api/chat", chat), web.get("/api/tags", tags)]


# The models vLLM serves in each state gpu-mode leaves it in (roles/litellm defaults: vllm-qwen, vllm-r1).
QWEN = "Qwen/Qwen2.5-7B-Instruct-AWQ"
R1 = "casperhansen/deepseek-r1-distill-qwen-7b-awq"
SERVES = {"ml": {QWEN}, "r1": {R1}, "gaming": set(), "restarting": set(), "hung": set()}


class Gpu:
    """vLLM as each gpu-mode leaves it: serving Qwen (ml) or R1 (r1), gone (gaming, and while its pod is
    replaced between modes), or accepting and never answering (hung)."""

    def __init__(self):
        self.vllm = OpenAICompatible("vllm", served=SERVES["ml"]).start()
        self.port = self.vllm.port
        self.mode = "ml"
        self.delay = 0.0

    def switch(self, mode):
        if mode in ("gaming", "restarting"):
            self.vllm.stop()
        else:
            if self.mode in ("gaming", "restarting"):
                self.vllm = OpenAICompatible("vllm").start(port=self.port)
                self.vllm.delay = self.delay
            self.vllm.hang = mode == "hung"
            self.vllm.served = set(SERVES[mode]) if mode != "hung" else set(SERVES["ml"])
        self.mode = mode

    def stop(self):
        self.vllm.hang = False
        self.vllm.stop()
