"""Builds the ONNX graphs of all-MiniLM-L6-v2 from the weights the model store already holds,
checks them, and writes them next to the weights. Run by `scripts/fetch-models minilm` in its own
venv (onnx, onnxruntime, tokenizers, pinned there); not meant to be run by hand.

    python minilm_onnx.py MODEL_DIR FIXTURE.json

- model.onnx: BERT (embeddings, 6 layers) -> mean pooling over real tokens -> L2 normalization,
  written op by op from model.safetensors (no PyTorch needed), then passed through onnxruntime's
  transformer optimizer (it fuses bias + GELU; ONNX Runtime fuses more when it loads the graph);
- model_int8.onnx: the same graph with its weights quantized to int8, per output channel
  (onnxruntime.quantization.quantize_dynamic).

Both are checked against the sentence-transformers embeddings of the committed fixture, on this
machine's CPU, before they are kept: cosine >= 0.99 (fp32) on every sentence, else nothing is
written; >= 0.95 (int8: a margin below the worst sentence measured, since int8 kernels differ
between CPUs; its quality is judged by ROUGE in the tests), else only the fp32 graph is kept.
"""

import contextlib
import io
import json
import logging
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.transformers.optimizer import optimize_model
from tokenizers import Tokenizer

OPSET = 18
FP32_MIN_COSINE = 0.99
INT8_MIN_COSINE = 0.95


def read_safetensors(path):
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    dtypes = {"F32": np.float32, "I64": np.int64}
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        array = np.frombuffer(data[start:end], dtype=dtypes[info["dtype"]])
        tensors[name] = array.reshape(info["shape"]).copy()
    return tensors


class Graph:
    def __init__(self):
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, hint):
        self.count += 1
        return f"{hint}_{self.count}"

    def init(self, hint, array):
        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, hint=None, **attrs):
        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def linear(self, x, weight, bias, hint):
        # PyTorch stores (out, in); MatMul wants (in, out).
        product = self.op("MatMul", [x, self.init(hint + "_w", weight.T)], hint)
        return self.op("Add", [product, self.init(hint + "_b", bias)], hint)

    def layer_norm(self, x, prefix, w, eps):
        return self.op(
            "LayerNormalization",
            [x, self.init(prefix + "_g", w[prefix + ".weight"]), self.init(prefix + "_b", w[prefix + ".bias"])],
            "layernorm",
            axis=-1,
            epsilon=eps,
        )


def build(model_dir):
    config = json.loads((model_dir / "config.json").read_text())
    w = read_safetensors(model_dir / "model.safetensors")
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    head = hidden // heads
    eps = config["layer_norm_eps"]
    g = Graph()
    ids, mask, types = "input_ids", "attention_mask", "token_type_ids"

    seq_len = g.op("Gather", [g.op("Shape", [ids]), g.init("one", np.array(1, np.int64))], "seq_len")
    positions = g.op(
        "Range", [g.init("zero", np.array(0, np.int64)), seq_len, g.init("step", np.array(1, np.int64))], "positions"
    )
    x = g.op("Gather", [g.init("words", w["embeddings.word_embeddings.weight"]), ids], "words")
    x = g.op("Add", [x, g.op("Gather", [g.init("pos", w["embeddings.position_embeddings.weight"]), positions])])
    x = g.op("Add", [x, g.op("Gather", [g.init("types", w["embeddings.token_type_embeddings.weight"]), types])])
    x = g.layer_norm(x, "embeddings.LayerNorm", w, eps)

    mask_f = g.op("Cast", [mask], "mask_f", to=TensorProto.FLOAT)
    # 0 where a token is real, a large negative where it is padding: [batch, 1, 1, seq].
    blocked = g.op("Mul", [g.op("Sub", [g.init("onef", np.array(1.0, np.float32)), mask_f]), g.init("neg", np.array(-10000.0, np.float32))])
    blocked = g.op("Unsqueeze", [blocked, g.init("axes12", np.array([1, 2], np.int64))], "mask_bias")
    split_heads = g.init("split", np.array([0, 0, heads, head], np.int64))
    merge_heads = g.init("merge", np.array([0, 0, hidden], np.int64))
    scale = g.init("scale", np.array(1.0 / np.sqrt(head), np.float32))

    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def lin(name, inp):
            return g.linear(inp, w[p + name + ".weight"], w[p + name + ".bias"], f"l{i}_{name.split('.')[-1]}")

        q = g.op("Transpose", [g.op("Reshape", [lin("attention.self.query", x), split_heads])], perm=[0, 2, 1, 3])
        k = g.op("Transpose", [g.op("Reshape", [lin("attention.self.key", x), split_heads])], perm=[0, 2, 3, 1])
        v = g.op("Transpose", [g.op("Reshape", [lin("attention.self.value", x), split_heads])], perm=[0, 2, 1, 3])
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), scale]), blocked])
        probs = g.op("Softmax", [scores], axis=-1)
        context = g.op("Reshape", [g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3]), merge_heads])
        attended = g.op("Add", [lin("attention.output.dense", context), x])
        x = g.layer_norm(attended, p + "attention.output.LayerNorm", w, eps)
        up = lin("intermediate.dense", x)
        # GELU, erf form (BERT's).
        gelu = g.op(
            "Mul",
            [
                g.op("Mul", [up, g.init("half", np.array(0.5, np.float32))]),
                g.op("Add", [g.init("onef", np.array(1.0, np.float32)), g.op("Erf", [g.op("Div", [up, g.init("sqrt2", np.array(np.sqrt(2.0), np.float32))])])]),
            ],
        )
        x = g.layer_norm(g.op("Add", [lin("output.dense", gelu), x]), p + "output.LayerNorm", w, eps)

    # sentence-transformers' pooling: the mean over real tokens, then L2 normalization.
    weights = g.op("Unsqueeze", [mask_f, g.init("axis2", np.array([2], np.int64))])
    summed = g.op("ReduceSum", [g.op("Mul", [x, weights]), g.init("axis1", np.array([1], np.int64))], keepdims=0)
    counts = g.op("ReduceSum", [weights, g.init("axis1", np.array([1], np.int64))], keepdims=0)
    mean = g.op("Div", [summed, g.op("Max", [counts, g.init("tiny", np.array(1e-9, np.float32))])])
    norm = g.op("ReduceL2", [mean, g.init("axislast", np.array([-1], np.int64))], keepdims=1)
    embedding = g.op("Div", [mean, g.op("Max", [norm, g.init("tinier", np.array(1e-12, np.float32))])])
    g.nodes.append(helper.make_node("Identity", [embedding], ["sentence_embedding"]))

    batch_seq = ["batch", "sequence"]
    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [helper.make_tensor_value_info(n, TensorProto.INT64, batch_seq) for n in (ids, mask, types)],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", hidden])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="precis")
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model, heads, hidden


def embed(path, tokenizer, sentences):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = []
    for sentence in sentences:
        enc = tokenizer.encode(sentence)
        feed = {
            "input_ids": np.array([enc.ids], np.int64),
            "attention_mask": np.array([enc.attention_mask], np.int64),
            "token_type_ids": np.array([enc.type_ids], np.int64),
        }
        out.append(session.run(["sentence_embedding"], feed)[0][0])
    return np.array(out)


def worst_cosine(got, want):
    got = got / np.linalg.norm(got, axis=1, keepdims=True)
    want = want / np.linalg.norm(want, axis=1, keepdims=True)
    return float(np.min(np.sum(got * want, axis=1)))


def main():
    # The optimizer and the quantizer log every tensor whose type ONNX cannot infer (the fused
    # ops are onnxruntime's own); what matters is checked below.
    logging.disable(logging.WARNING)
    model_dir, fixture = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(256)
    want = np.array(fixture["vectors"], np.float32)
    # Next to the model, so that the finished graphs are renamed into place on one filesystem.
    with tempfile.TemporaryDirectory(dir=model_dir, prefix=".onnx-") as work:
        work = Path(work)
        model, heads, hidden = build(model_dir)
        raw = work / "raw.onnx"
        onnx.save(model, raw)
        # The optimizer tries symbolic shape inference, which cannot type this graph, prints
        # "failed in shape inference <class 'TypeError'>" and fuses without it: expected, and
        # read as a failure by whoever watches the build, so its printing is kept for errors.
        chatter = io.StringIO()
        with contextlib.redirect_stdout(chatter):
            fused = optimize_model(str(raw), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=0)
        for line in chatter.getvalue().splitlines():
            if "failed in shape inference" not in line:
                print(line)
        fp32 = work / "model.onnx"
        fused.save_model_to_file(str(fp32))
        int8 = work / "model_int8.onnx"
        print(f"minilm-onnx: fused {fused.get_fused_operator_statistics()}")
        quantize_dynamic(
            str(fp32),
            str(int8),
            per_channel=True,
            weight_type=QuantType.QInt8,
            # The fused ops are onnxruntime's own (com.microsoft), which ONNX's shape inference
            # does not type; their tensors are float.
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
        keep = []
        for path, floor in ((fp32, FP32_MIN_COSINE), (int8, INT8_MIN_COSINE)):
            cosine = worst_cosine(embed(path, tokenizer, fixture["sentences"]), want)
            print(f"minilm-onnx: {path.name}: worst cosine to sentence-transformers {cosine:.4f} (floor {floor})")
            if cosine >= floor:
                keep.append(path)
            elif path == fp32:
                sys.exit(f"minilm-onnx: {path.name} is not the model (worst cosine {cosine:.4f} < {floor}); nothing written")
            else:
                print(f"minilm-onnx: {path.name} not kept: on this CPU it strays too far; the fp32 graph is the default here")
        for path in keep:
            path.replace(model_dir / path.name)


if __name__ == "__main__":
    main()
