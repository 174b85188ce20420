# The Aisle API image for infra/cdk (ECS Fargate). Not built in the development environment (it
# has no Docker daemon): build and push it from CI or a workstation, tag = the `aisle:image_tag`.
#   docker build -t <account>.dkr.ecr.<region>.amazonaws.com/aisle:<tag> . && docker push ...
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv/aisle

# torch first, CPU build: a bare `torch` requirement would pull the multi-GB CUDA build.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml README.md ./
COPY app ./app
COPY embeddings ./embeddings
COPY evals ./evals
COPY prompts ./prompts
COPY data/sample ./data/sample
# var/: the control-plane store (SQLite) when no AISLE_DATABASE_URL is set, writable by the app user.
RUN pip install . && useradd --system --uid 10001 aisle && install -d -o aisle -g aisle var
USER aisle

EXPOSE 8000
# HOST=0.0.0.0 and the rest come from the task definition (infra/cdk/aisle_infra/stack.py).
CMD ["aisle", "serve"]
