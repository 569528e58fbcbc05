"""Fine-tuned all-MiniLM-L6-v2 classifier: the packaged base weights + a small committed subset.

Only the top ``train_layers`` transformer layers and the classification head are trained; the
embeddings and the lower layers stay exactly as packaged. The artefact
(:data:`FINETUNED_FILE`, safetensors, float16) therefore holds only those top layers and the
head (about 3.5 MB per layer) and is loaded *on top of* the packaged base weights, whose sha256
is recorded in the artefact and checked at load time.

Input: the utterance as segment A and, when the model was trained with context, the previous
utterances of the dialogue (joined, end kept) as segment B. Pooling: mean over the tokens of
segment A (which attend to the context), then dropout (training only) and a linear layer.

Heavy imports (torch, transformers, safetensors) happen here; :mod:`multimodal_fer.text.emotion`
imports this module lazily.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from multimodal_fer.digest import file_sha256
from multimodal_fer.labels import N_EMOTIONS

FINETUNED_FILE = "finetuned.safetensors"
FORMAT_VERSION = "1"


def base_sha256(encoder_dir: str | Path) -> str:
    """sha256 of the base ``model.safetensors`` (checked before a subset is applied to it)."""
    return file_sha256(Path(encoder_dir) / "model.safetensors")


class FineTunedClassifier(torch.nn.Module):
    """BERT-style encoder + masked mean pooling over segment A + linear head (7 emotions)."""

    def __init__(
        self,
        encoder_dir: str | Path,
        *,
        train_layers: int,
        use_context: bool,
        max_len: int,
        context_tokens: int,
        dropout: float = 0.1,
    ):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        self.encoder_dir = str(encoder_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(self.encoder_dir, local_files_only=True)
        self.bert = AutoModel.from_pretrained(self.encoder_dir, local_files_only=True)
        n_layers = int(self.bert.config.num_hidden_layers)
        if not 0 <= train_layers <= n_layers:
            raise ValueError(f"train_layers={train_layers} not in [0, {n_layers}]")
        self.train_layers = int(train_layers)
        self.use_context = bool(use_context)
        self.max_len = int(max_len)
        self.context_tokens = int(context_tokens)
        self.dropout = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(int(self.bert.config.hidden_size), N_EMOTIONS)
        for p in self.bert.parameters():
            p.requires_grad_(False)
        for name, p in self.bert.named_parameters():
            if self._is_trained(name):
                p.requires_grad_(True)

    # ----------------------------------------------------------------- parameters
    def _is_trained(self, bert_param_name: str) -> bool:
        n_layers = int(self.bert.config.num_hidden_layers)
        parts = bert_param_name.split(".")
        if len(parts) > 2 and parts[0] == "encoder" and parts[1] == "layer":
            return int(parts[2]) >= n_layers - self.train_layers
        return False

    def trained_state(self) -> dict[str, torch.Tensor]:
        """The parameters that differ from the packaged base: top layers + head."""
        out = {f"bert.{k}": v for k, v in self.bert.state_dict().items() if self._is_trained(k)}
        out.update({f"head.{k}": v for k, v in self.head.state_dict().items()})
        return out

    def save(self, path: Path, meta: dict) -> None:
        from safetensors.torch import save_file

        tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in self.trained_state().items()}
        header = {
            "format": FORMAT_VERSION,
            "train_layers": str(self.train_layers),
            "use_context": str(self.use_context),
            "max_len": str(self.max_len),
            "context_tokens": str(self.context_tokens),
            "base_sha256": base_sha256(self.encoder_dir),
            "meta": json.dumps(meta, sort_keys=True),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file(tensors, str(tmp), metadata=header)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, encoder_dir: str | Path) -> FineTunedClassifier:
        """Packaged base weights + the float16 subset in ``path`` (checked against the base)."""
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - a safetensors file, not a dict
        if header.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path}: unknown fine-tuned format {header.get('format')!r}")
        want = header.get("base_sha256")
        have = base_sha256(encoder_dir)
        if want != have:
            raise ValueError(f"{path} was trained on a base encoder with sha256 {want}, but {encoder_dir} has {have}")
        model = cls(
            encoder_dir,
            train_layers=int(header["train_layers"]),
            use_context=header["use_context"] == "True",
            max_len=int(header["max_len"]),
            context_tokens=int(header["context_tokens"]),
        )
        expected = set(model.trained_state())
        if set(tensors) != expected:
            raise ValueError(f"{path}: tensors {sorted(set(tensors) ^ expected)[:5]}... do not match the model")
        own = model.state_dict()
        with torch.no_grad():
            for k, v in tensors.items():
                own[k].copy_(v.to(own[k].dtype))
        model.meta = json.loads(header.get("meta", "{}"))
        model.eval()
        return model

    # ----------------------------------------------------------------- forward
    def tokenize(self, texts: Sequence[str], contexts: Sequence[str] | None):
        tok = self.tokenizer
        if self.use_context and contexts is not None:
            # segment B = the context, truncated from the LEFT (latest turns kept) to context_tokens
            ctx_ids = []
            for c in contexts:
                ids = tok(c or "", add_special_tokens=False)["input_ids"] if c else []
                ctx_ids.append(ids[-self.context_tokens :])
            batch_ids, batch_types = [], []
            a_max = self.max_len - 3
            for t, cid in zip(texts, ctx_ids, strict=True):
                a = tok(t, add_special_tokens=False)["input_ids"][:a_max]
                b = cid[: max(0, self.max_len - 3 - len(a))]
                ids = [tok.cls_token_id, *a, tok.sep_token_id] + ([*b, tok.sep_token_id] if b else [])
                batch_ids.append(ids)
                batch_types.append([0] * (len(a) + 2) + [1] * (len(ids) - len(a) - 2))
            n = max(len(x) for x in batch_ids)
            input_ids = torch.full((len(texts), n), tok.pad_token_id, dtype=torch.long)
            types = torch.zeros((len(texts), n), dtype=torch.long)
            mask = torch.zeros((len(texts), n), dtype=torch.long)
            for i, (ids, ty) in enumerate(zip(batch_ids, batch_types, strict=True)):
                input_ids[i, : len(ids)] = torch.tensor(ids)
                types[i, : len(ty)] = torch.tensor(ty)
                mask[i, : len(ids)] = 1
            return {"input_ids": input_ids, "token_type_ids": types, "attention_mask": mask}
        enc = tok(list(texts), padding=True, truncation=True, max_length=self.max_len, return_tensors="pt")
        return {k: enc[k] for k in ("input_ids", "token_type_ids", "attention_mask")}

    def forward(self, batch: dict) -> torch.Tensor:
        hidden = self.bert(**batch).last_hidden_state
        seg_a = (batch["attention_mask"] * (batch["token_type_ids"] == 0)).unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * seg_a).sum(1) / seg_a.sum(1).clamp(min=1e-9)
        return self.head(self.dropout(pooled))

    @torch.inference_mode()
    def predict_logits(
        self, texts: Sequence[str], contexts: Sequence[str] | None = None, batch_size: int = 64
    ) -> np.ndarray:
        """Logits (N, 7) in EMOTIONS order; texts sorted by length internally, order kept."""
        self.eval()
        out = np.zeros((len(texts), N_EMOTIONS), dtype=np.float64)
        if not len(texts):
            return out
        lengths = [
            len(t) + (len(contexts[i] or "") if (self.use_context and contexts is not None) else 0)
            for i, t in enumerate(texts)
        ]
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            ctx = [contexts[i] for i in idx] if contexts is not None else None
            batch = self.tokenize([texts[i] for i in idx], ctx)
            out[idx] = self(batch).double().numpy()
        return out
