"""The summarizer précis runs, as a Python user would write it on the same engines: MiniLM int8 on
ONNX Runtime, or the static token table (static256.safetensors) with numpy; HF tokenizers for
both. Run by bench/summarize-peer in bench/peer-venv's python.

    python bench/python_peers.py {int8|static} MODEL_DIR INPUT.jsonl [--processes N]

Per article: the first 20 sentences (a regex splitter), each scored by its cosine to their
normalized centroid plus 0.1 times its cosine to the title; the top 3, in article order. Everything
per article (splitting, tokenizing, embedding, picking) is timed; loading the model and ROUGE are
not. Prints one JSON line: rate, and ROUGE-1/2/L F1 (x100) against the references.
"""

import os

# One thread per process: the parallelism is the process pool's, as précis's is its workers'.
# These must be set before numpy, onnxruntime and tokenizers are imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse
import json
import multiprocessing
import re
import struct
import time

import numpy as np
from tokenizers import Tokenizer

SPLIT = re.compile(r"(?<=[.!?])[\"']?\s+(?=[A-Z\"'])")
LEAD, PICKS, TITLE_WEIGHT, MAX_TOKENS, SIF = 20, 3, 0.1, 128, 1e-4

_embed = None  # this process's encoder: list of texts -> unit vectors [n, dim]


def load_int8(model_dir):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(
        f"{model_dir}/model_int8.onnx", options, providers=["CPUExecutionProvider"]
    )
    tokenizer = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tokenizer.no_padding()  # tokenizer.json pads every text to 128 tokens: time spent on pads
    tokenizer.enable_truncation(MAX_TOKENS)

    def embed(texts):
        rows = []
        # One sentence per run: the graph quantizes activations per tensor, so a batch's padding
        # and neighbours would change each vector (précis runs int8 one sentence per call too).
        for encoding in tokenizer.encode_batch(texts):
            ids = np.array([encoding.ids], dtype=np.int64)
            feed = {
                "input_ids": ids,
                "attention_mask": np.ones_like(ids),
                "token_type_ids": np.zeros_like(ids),
            }
            rows.append(session.run(["sentence_embedding"], feed)[0][0])
        return np.array(rows)  # the graph mean-pools and normalizes already

    return embed


def read_safetensors(path):
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    dtypes = {"I8": np.int8, "F16": np.float16, "F32": np.float32}
    tensors = {}
    for name, t in header.items():
        if name != "__metadata__":
            start, end = t["data_offsets"]  # relative to the end of the header
            tensors[name] = np.frombuffer(data[start:end], dtype=dtypes[t["dtype"]]).reshape(t["shape"])
    return tensors


def load_static(model_dir):
    tensors = read_safetensors(f"{model_dir}/static256.safetensors")
    vocabulary = tensors["scales"].shape[0]
    # model2vec's smooth inverse frequency, a token's frequency estimated by Zipf's law from its
    # rank (WordPiece ids are ordered by frequency): frequent tokens weigh less.
    zipf = 1.0 / (np.arange(vocabulary, dtype=np.float64) + 2.0)
    weights = (SIF / (SIF + zipf / zipf.sum())).astype(np.float32)
    multipliers = tensors["scales"].astype(np.float32) * weights
    table = tensors["vectors"].astype(np.float32) * multipliers[:, None]
    tokenizer = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tokenizer.no_padding()  # pads would add [PAD]'s row to every sentence of a batch
    tokenizer.no_truncation()  # a table lookup per token costs little: précis reads them all

    def embed(texts):
        encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
        sums = np.array([table[e.ids].sum(axis=0) for e in encodings]).reshape(len(texts), -1)
        # The weighted mean points where the weighted sum does: normalizing the sum is enough.
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return sums / np.maximum(norms, 1e-12)  # a text with no token stays all zeros

    return embed


LOADERS = {"int8": load_int8, "static": load_static}


def summarize(article):
    title, content = article
    sentences = [s.strip() for s in SPLIT.split(content) if s.strip()][:LEAD]
    if len(sentences) <= PICKS:
        return " ".join(sentences)
    vectors = _embed(sentences + [title])
    sentences_v, title_v = vectors[:-1], vectors[-1]
    centroid = sentences_v.mean(axis=0)
    centroid /= max(np.linalg.norm(centroid), 1e-12)
    scores = sentences_v @ centroid + TITLE_WEIGHT * (sentences_v @ title_v)
    picked = sorted(np.argsort(-scores, kind="stable")[:PICKS])
    return " ".join(sentences[i] for i in picked)


def init(peer, model_dir, warmup, barrier=None):
    global _embed
    _embed = LOADERS[peer](model_dir)
    summarize(warmup)  # first runs allocate (ORT's arenas, numpy's buffers): not to be timed
    if barrier is not None:
        barrier.wait()  # no process takes work before every one is loaded and warm


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("peer", choices=sorted(LOADERS))
    parser.add_argument("model_dir")
    parser.add_argument("input")
    parser.add_argument("--processes", type=int, default=os.cpu_count())
    args = parser.parse_args()
    with open(args.input) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    rows = [r for r in rows if r.get("content") and r.get("reference")]
    articles = [(r.get("title") or "", r["content"]) for r in rows]
    n = max(1, args.processes)

    if n == 1:
        init(args.peer, args.model_dir, articles[0])
        start = time.perf_counter()
        summaries = [summarize(a) for a in articles]
        seconds = time.perf_counter() - start
    else:
        barrier = multiprocessing.Barrier(n)
        with multiprocessing.Pool(n, init, (args.peer, args.model_dir, articles[0], barrier)) as pool:
            pool.map(abs, range(n))  # returns once the workers are past the barrier
            start = time.perf_counter()
            # About 16 chunks per process: little IPC per article, and still balanced at the end.
            summaries = pool.map(summarize, articles, chunksize=max(1, len(articles) // (n * 16)))
            seconds = time.perf_counter() - start

    from rouge_score import rouge_scorer

    kinds = ["rouge1", "rouge2", "rougeL"]
    scorer = rouge_scorer.RougeScorer(kinds, use_stemmer=True)
    scores = [scorer.score(r["reference"], s) for r, s in zip(rows, summaries)]
    result = {
        "peer": args.peer,
        "processes": n,
        "articles": len(articles),
        "seconds": round(seconds, 4),
        "articles_per_second": len(articles) / seconds,
    }
    result.update({k: 100 * sum(s[k].fmeasure for s in scores) / len(scores) for k in kinds})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
