"""`OnnxEmbedder`: the same all-MiniLM-L6-v2, exported once to ONNX, weights quantised to int8
per channel (onnxruntime dynamic quantisation), run by onnxruntime with the model's own fast
tokenizer. Mean pooling and L2 normalisation as sentence-transformers does them.

The export runs on first use (torch + onnx, a few seconds) into `<cache_dir>/<name>/model.onnx`
and is reused afterwards; the file name carries an export version so a change here re-exports.
A model directory that ships its own export (`<model_dir>/onnx/model-int8-<version>.onnx`, as
`aisle embeddings adapt --onnx` writes) is used as it is.
docs/embeddings.md has the measured speed and quality against the torch embedder.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.domain.errors import EmbedderUnavailable

EXPORT_VERSION = "v1"
ONNX_FILE = Path("onnx") / f"model-int8-{EXPORT_VERSION}.onnx"  # an export shipped inside a model dir
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def export_int8(model_dir: Path, target: Path) -> None:
    """fp32 ONNX export of the transformer, then per-channel dynamic int8 quantisation."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    bert: Any = AutoModel.from_pretrained(str(model_dir), local_files_only=True)
    bert.eval()

    class Encoder(torch.nn.Module):
        """Keyword call into the transformer: its positional signature changes between versions."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    model = Encoder().eval()
    sample = {
        "input_ids": torch.ones((1, 8), dtype=torch.long),
        "attention_mask": torch.ones((1, 8), dtype=torch.long),
        "token_type_ids": torch.zeros((1, 8), dtype=torch.long),
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        fp32 = Path(tmp) / "model-fp32.onnx"
        with torch.no_grad():
            torch.onnx.export(
                model,
                (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
                str(fp32),
                input_names=list(_INPUTS),
                output_names=["last_hidden_state"],
                dynamic_axes={name: {0: "batch", 1: "sequence"} for name in (*_INPUTS, "last_hidden_state")},
                opset_version=17,
                dynamo=False,
            )
        partial = Path(tmp) / "model-int8.onnx"
        quantize_dynamic(str(fp32), str(partial), per_channel=True, weight_type=QuantType.QInt8)
        shutil.move(str(partial), target)  # atomic enough: a crash leaves no half-written model.onnx


class OnnxEmbedder:
    def __init__(
        self,
        model_dir: Path,
        cache_dir: Path,
        *,
        threads: int = 1,
        batch_size: int = 64,
        max_seq_length: int = 256,
        name: str = "all-MiniLM-L6-v2",
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        shipped = model_dir / ONNX_FILE  # `aisle embeddings adapt --onnx` writes it there
        path = (
            shipped if shipped.is_file() else cache_dir / f"{name}-onnx-int8-{EXPORT_VERSION}" / "model.onnx"
        )
        try:
            if not path.is_file():
                export_int8(model_dir, path)
            options = ort.SessionOptions()
            options.intra_op_num_threads = max(1, threads)
            options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        except Exception as e:
            raise EmbedderUnavailable(f"cannot prepare the ONNX embedder from {model_dir}: {e}") from e
        tokenizer.enable_truncation(max_length=max_seq_length)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tokenizer = tokenizer
        self._batch_size = batch_size
        config = json.loads((model_dir / "config.json").read_text())
        self._dimension = int(config["hidden_size"])
        self.model_name = name

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        # Sorting by length pads each batch less; results go back in input order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[list[float]] = [[] for _ in texts]
        try:
            for start in range(0, len(order), self._batch_size):
                chunk = order[start : start + self._batch_size]
                for i, vector in zip(chunk, self._encode([texts[i] for i in chunk]), strict=True):
                    out[i] = vector
        except Exception as e:
            raise EmbedderUnavailable(f"embedding failed: {e}") from e
        return out

    def _encode(self, texts: list[str]) -> list[list[float]]:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        (hidden,) = self._session.run(
            ["last_hidden_state"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        )
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        rows: list[list[float]] = pooled.tolist()
        return rows
