#!/usr/bin/python3
"""Writes examples/onnx/cnn.onnx, a small image classifier in the shape PyTorch exports them:
Conv+BatchNormalization+Relu blocks, a depthwise-separable block with a residual Add, pooling,
Flatten, Gemm and Softmax, with seeded random weights; and test_data_set_0/{input,output}_0.pb
in the ONNX test-data layout: an input and the expected output, computed below with numpy in
float64 (ONNX 1.12 has no reference evaluator), independently of the toolchain.

Regenerate (Debian: apt-get install python3-onnx):  /usr/bin/python3 examples/onnx/make_cnn.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(2026)
here = os.path.dirname(os.path.abspath(__file__))


def weights(*shape, scale=None):
    fan_in = np.prod(shape[1:]) if len(shape) > 1 else 1
    return (rng.standard_normal(shape) / np.sqrt(fan_in) if scale is None
            else rng.uniform(-scale, scale, shape)).astype(np.float32)


inits, nodes = {}, []


def init(name, array):
    inits[name] = array
    return name


def conv_bn_relu(x, name, cin, cout, k, stride=1, group=1, relu=True):
    w = init(f"{name}.w", weights(cout, cin // group, k, k))
    nodes.append(helper.make_node("Conv", [x, w], [f"{name}.conv"], name=f"{name}.conv",
                                  kernel_shape=[k, k], pads=[k // 2] * 4,
                                  strides=[stride, stride], group=group))
    bn = [init(f"{name}.{p}", v) for p, v in (
        ("scale", rng.uniform(0.5, 1.5, cout).astype(np.float32)),
        ("bias", rng.uniform(-0.2, 0.2, cout).astype(np.float32)),
        ("mean", rng.uniform(-0.1, 0.1, cout).astype(np.float32)),
        ("var", rng.uniform(0.5, 1.5, cout).astype(np.float32)))]
    out = f"{name}.bn"
    nodes.append(helper.make_node("BatchNormalization", [f"{name}.conv"] + bn, [out],
                                  name=f"{name}.bn", epsilon=1e-5))
    if relu:
        nodes.append(helper.make_node("Relu", [out], [f"{name}.relu"], name=f"{name}.relu"))
        return f"{name}.relu"
    return out


x = conv_bn_relu("input", "stem", 3, 16, 3, stride=2)            # 16 x 16 x 16
y = conv_bn_relu(x, "dw", 16, 16, 3, group=16)                    # depthwise
y = conv_bn_relu(y, "pw", 16, 16, 1, relu=False)                  # pointwise
nodes.append(helper.make_node("Add", [x, y], ["res"], name="residual"))
nodes.append(helper.make_node("Relu", ["res"], ["res.relu"], name="res.relu"))
nodes.append(helper.make_node("MaxPool", ["res.relu"], ["pool"], name="pool",
                              kernel_shape=[2, 2], strides=[2, 2]))  # 16 x 8 x 8
z = conv_bn_relu("pool", "head", 16, 32, 3)
nodes.append(helper.make_node("GlobalAveragePool", [z], ["gap"], name="gap"))
nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flatten", axis=1))
init("fc.w", weights(10, 32))
init("fc.b", weights(10, scale=0.1))
nodes.append(helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], name="fc", transB=1))
nodes.append(helper.make_node("Softmax", ["logits"], ["prob"], name="softmax", axis=1))

graph = helper.make_graph(
    nodes, "cnn",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])],
    [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", 10])],
    [numpy_helper.from_array(v, k) for k, v in inits.items()])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                          producer_name="examples/onnx/make_cnn.py")
onnx.checker.check_model(model)
onnx.save(model, os.path.join(here, "cnn.onnx"))


# The expected output, by numpy (NCHW, float64).
def conv(x, w, stride, group):
    n, c, h, wd = x.shape
    o, cg, k, _ = w.shape
    p = k // 2
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    oh, ow = (h + 2 * p - k) // stride + 1, (wd + 2 * p - k) // stride + 1
    out = np.zeros((n, o, oh, ow))
    og = o // group
    for oc in range(o):
        g = oc // og
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * cg:(g + 1) * cg, i * stride:i * stride + k, j * stride:j * stride + k]
                out[:, oc, i, j] = (patch * w[oc]).sum(axis=(1, 2, 3))
    return out


def block(x, name, stride=1, group=1, relu=True):
    y = conv(x, inits[f"{name}.w"].astype(np.float64), stride, group)
    s, b, m, v = (inits[f"{name}.{p}"].astype(np.float64)[None, :, None, None]
                  for p in ("scale", "bias", "mean", "var"))
    y = (y - m) / np.sqrt(v + 1e-5) * s + b
    return np.maximum(y, 0) if relu else y


inp = rng.uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32)
a = block(inp.astype(np.float64), "stem", stride=2)
r = np.maximum(a + block(block(a, "dw", group=16), "pw", relu=False), 0)
pooled = r.reshape(1, 16, 8, 2, 8, 2).max(axis=(3, 5))
h = block(pooled, "head").mean(axis=(2, 3))
logits = h @ inits["fc.w"].astype(np.float64).T + inits["fc.b"]
prob = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
data = os.path.join(here, "test_data_set_0")
os.makedirs(data, exist_ok=True)
onnx.save_tensor(numpy_helper.from_array(inp, "input"), os.path.join(data, "input_0.pb"))
onnx.save_tensor(numpy_helper.from_array(prob.astype(np.float32), "prob"),
                 os.path.join(data, "output_0.pb"))
