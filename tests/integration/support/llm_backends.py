"""Small local LLM backends for the LiteLLM end-to-end test (test fixtures, not the real servers).

OpenAICompatible answers POST /v1/chat/completions like vLLM's and OpenAI's
OpenAI-compatible API; OllamaCompatible answers POST /api/generate and /api/chat
like Ollama. Each reply names the backend, so a test can tell who served it.
`hang=True` accepts requests and never answers (a stuck primary).
"""

from __future__ import annotations

import asyncio
import threading
import time

from aiohttp import web


class Backend:
    def __init__(self, name, hang=False):
        self.name = name
        self.hang = hang
        self.requests = 0
        self.port = None
        self._loop = None
        self._runner = None
        self._thread = None

    def routes(self):
        raise NotImplementedError

    async def _maybe_hang(self):
        self.requests += 1
        if self.hang:
            await asyncio.sleep(3600)

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
        if self._loop:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None


class OpenAICompatible(Backend):
    def routes(self):
        async def chat(request):
            await self._maybe_hang()
            body = await request.json()
            return web.json_response({
                "id": "chatcmpl-%s-%d" % (self.name, self.requests), "object": "chat.completion",
                "created": int(time.time()), "model": body.get("model", self.name),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "served by %s" % self.name}}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
            })

        async def models(request):
            return web.json_response({"object": "list", "data": [{"id": self.name, "object": "model"}]})

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
            await self._maybe_hang()
            return web.json_response(reply(await request.json(), False))

        async def chat(request):
            await self._maybe_hang()
            return web.json_response(reply(await request.json(), True))

        async def tags(request):
            return web.json_response({"models": [{"name": "qwen2.5:3b"}]})

        return [web.post("/api/generate", generate), web.post("/api/chat", chat), web.get("/api/tags", tags)]
