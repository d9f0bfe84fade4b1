"""Distills all-MiniLM-L6-v2 into a table of static token vectors, from the weights the model
store already holds. Run by `scripts/fetch-models minilm` in its venv (numpy, tokenizers, pinned
there); not meant to be run by hand.

    python minilm_static.py MODEL_DIR OUT_FILE [FIXTURE.json]

The method is model2vec's (Tulkens & van Dongen, "Model2Vec: fast state-of-the-art static
embeddings", MinishLab, 2024); its discount of frequent tokens is applied where the table is read,
so that it can be tuned without distilling again:

1. every vocabulary token goes through MiniLM alone, as `[CLS] token [SEP]`, and the transformer's
   output at the token's own position is its vector;
2. PCA over the vocabulary's vectors (centred, not whitened) keeps the 256 main directions;
3. each row is stored as int8 with its own scale.

A sentence's vector is then a weighted mean of its tokens' rows (src/summarize/static_encoder.rs).

The forward pass runs in float64 with numpy, and the rows are rounded to int8 (and their scales
to float16) at the end: the last bits that differ between CPUs' float kernels sit far below what
the rounding keeps, so the same weights give the same bytes whatever kernels the CPU runs, and
`scripts/fetch-models` pins them by SHA-256.

The file is safetensors: `vectors` (I8, [vocab, 256]) and `scales` (F16, [vocab]); row i of
`vectors` times `scales[i]` is token i's vector.
"""

import json
import struct
import sys
from pathlib import Path

import numpy as np
from minilm_onnx import read_safetensors

DIMENSIONS = 256
# Tokens per forward batch: small enough that the activations stay in the CPU caches.
BATCH = 256


def layer_norm(x, w, prefix, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w[prefix + ".weight"] + w[prefix + ".bias"]


def erf(x):
    # numpy has no erf: Numerical Recipes' erfc (Chebyshev fit, fractional error < 1.2e-7), far
    # below what the int8 rows keep, and made of operations that round the same on every CPU.
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
        + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    erfc = t * np.exp(poly)
    return np.where(x >= 0, 1.0 - erfc, erfc - 1.0)


def gelu(x):
    # BERT's GELU, erf form.
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def encode(w, config, ids, mask):
    """BERT's last hidden state for a batch of token id rows (float64)."""
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    head = hidden // heads
    eps = config["layer_norm_eps"]
    batch, length = ids.shape
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][np.arange(length)][None, :, :]
        + w["embeddings.token_type_embeddings.weight"][0][None, None, :]
    )
    x = layer_norm(x, w, "embeddings.LayerNorm", eps)
    blocked = ((1.0 - mask) * -10000.0)[:, None, None, :]
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def lin(name, inp):
            # One 2-D product: a 3-D operand would make numpy run one small product per sequence.
            flat = inp.reshape(-1, inp.shape[-1]) @ w[p + name + ".weight"].T + w[p + name + ".bias"]
            return flat.reshape(batch, length, -1)

        def split(t):
            return t.reshape(batch, length, heads, head).transpose(0, 2, 1, 3)

        q = split(lin("attention.self.query", x))
        k = split(lin("attention.self.key", x))
        v = split(lin("attention.self.value", x))
        # Sequences are a few tokens long: broadcasting beats a matmul per (sequence, head).
        scores = (q[:, :, :, None, :] * k[:, :, None, :, :]).sum(axis=-1)
        scores = scores / np.sqrt(head) + blocked
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs = scores / scores.sum(axis=-1, keepdims=True)
        context = (probs[:, :, :, :, None] * v[:, :, None, :, :]).sum(axis=3)
        context = context.transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        x = layer_norm(lin("attention.output.dense", context) + x, w, p + "attention.output.LayerNorm", eps)
        x = layer_norm(lin("output.dense", gelu(lin("intermediate.dense", x))) + x, w, p + "output.LayerNorm", eps)
    return x


def check_encoder(w, config, model_dir, fixture_path):
    """The float64 forward pass is MiniLM: sentence-transformers' pooled vectors of the fixture."""
    from tokenizers import Tokenizer

    fixture = json.loads(Path(fixture_path).read_text())
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(256)
    worst = 1.0
    for sentence, want in zip(fixture["sentences"], fixture["vectors"]):
        ids = np.array([tokenizer.encode(sentence).ids])
        out = encode(w, config, ids, np.ones(ids.shape)).mean(axis=1)[0]
        want = np.array(want, np.float64)
        worst = min(worst, float(out @ want / np.linalg.norm(out) / np.linalg.norm(want)))
    if worst < 0.999:
        sys.exit(f"minilm-static: the float64 encoder strays from sentence-transformers (worst cosine {worst:.5f})")
    print(f"minilm-static: float64 encoder matches sentence-transformers (worst cosine {worst:.6f})")


def distill(w, config, vocab, cls, sep):
    out = np.empty((vocab, config["hidden_size"]), np.float64)
    for start in range(0, vocab, BATCH):
        tokens = np.arange(start, min(start + BATCH, vocab))
        ids = np.stack([np.full_like(tokens, cls), tokens, np.full_like(tokens, sep)], axis=1)
        out[start : start + len(tokens)] = encode(w, config, ids, np.ones(ids.shape))[:, 1, :]
    return out


def pca(vectors, dims):
    centred = vectors - vectors.mean(axis=0)
    values, vecs = np.linalg.eigh(centred.T @ centred)
    # eigh orders ascending; keep the largest. An eigenvector's sign is arbitrary: fix it so that
    # its largest component is positive, whatever the LAPACK build chose.
    order = np.argsort(values)[::-1][:dims]
    basis = vecs[:, order]
    signs = np.sign(basis[np.argmax(np.abs(basis), axis=0), np.arange(dims)])
    return centred @ (basis * signs)


def quantize(rows):
    scales = (np.abs(rows).max(axis=1) / 127.0).astype(np.float16)
    safe = np.where(scales == 0, 1.0, scales.astype(np.float64))
    q = np.clip(np.rint(rows / safe[:, None]), -127, 127).astype(np.int8)
    return q, scales


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, (dtype, array) in tensors.items():
        blob = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    header["__metadata__"] = {"method": "model2vec: [CLS] token [SEP] -> token output, PCA 256, int8 rows"}
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def main():
    model_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    config = json.loads((model_dir / "config.json").read_text())
    w = {name: t.astype(np.float64) for name, t in read_safetensors(model_dir / "model.safetensors").items()}
    if len(sys.argv) > 3:
        check_encoder(w, config, model_dir, sys.argv[3])
    special = json.loads((model_dir / "tokenizer.json").read_text())["added_tokens"]
    ids = {t["content"]: t["id"] for t in special}
    vocab = config["vocab_size"]
    print(f"minilm-static: {vocab} tokens through MiniLM (float64)", flush=True)
    rows = pca(distill(w, config, vocab, ids["[CLS]"], ids["[SEP]"]), DIMENSIONS)
    q, scales = quantize(rows)
    tmp = out.with_name(out.name + ".tmp")
    write_safetensors(tmp, {"scales": ("F16", scales), "vectors": ("I8", q)})
    tmp.replace(out)
    print(f"minilm-static: wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
