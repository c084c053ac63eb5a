#!/usr/bin/python3
"""Makes the small ONNX models of the RAW tests (Debian's python3-onnx, 1.12).

Run from this directory: /usr/bin/python3 make_models.py. Each model is a handful of nodes, so the
files are a few hundred bytes; they are committed, and this script says how they were made.
"""
from onnx import TensorProto, checker, helper, numpy_helper, save
import numpy as np


def model(graph, opset=13, ir=7):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = ir
    checker.check_model(m)
    return m


F = TensorProto.FLOAT

# No batch dimension: x[3,4,5] and y[5] broadcast together, times a scalar; one record per run.
save(model(helper.make_graph(
    [helper.make_node("Add", ["x", "y"], ["s"]), helper.make_node("Mul", ["s", "alpha"], ["z"])],
    "unbatched",
    [helper.make_tensor_value_info("x", F, [3, 4, 5]),
     helper.make_tensor_value_info("y", F, [5]),
     helper.make_tensor_value_info("alpha", F, [])],
    [helper.make_tensor_value_info("z", F, [3, 4, 5])])), "unbatched.onnx")

# A batch dimension fixed at N: sigmoid(x W + b) of x[N,3], W[3,2]; prob[N,2].
w = numpy_helper.from_array(np.array([[1, -1], [0.5, 2], [-2, 0.25]], dtype=np.float32), "W")
b = numpy_helper.from_array(np.array([0.1, -0.2], dtype=np.float32), "b")
for n in (1, 4):
    save(model(helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]),
         helper.make_node("Add", ["xw", "b"], ["logits"]),
         helper.make_node("Sigmoid", ["logits"], ["prob"])],
        "fixed%d" % n,
        [helper.make_tensor_value_info("x", F, [n, 3])],
        [helper.make_tensor_value_info("prob", F, [n, 2])],
        initializer=[w, b])), "fixed_batch%d.onnx" % n)

# Every tensor type ONNX Runtime's Java API takes, in and out, on a dynamic batch dimension.
TYPES = [("float", TensorProto.FLOAT), ("double", TensorProto.DOUBLE),
         ("float16", TensorProto.FLOAT16), ("bfloat16", TensorProto.BFLOAT16),
         ("int8", TensorProto.INT8), ("int16", TensorProto.INT16), ("int32", TensorProto.INT32),
         ("int64", TensorProto.INT64), ("uint8", TensorProto.UINT8), ("bool", TensorProto.BOOL),
         ("string", TensorProto.STRING)]
save(model(helper.make_graph(
    [helper.make_node("Identity", ["in_" + t], ["out_" + t]) for t, _ in TYPES],
    "all_types",
    [helper.make_tensor_value_info("in_" + t, p, ["batch", 2]) for t, p in TYPES],
    [helper.make_tensor_value_info("out_" + t, p, ["batch", 2]) for t, p in TYPES])),
    "all_types.onnx")

# An element type ONNX Runtime's Java API cannot hand over: uint16.
save(model(helper.make_graph(
    [helper.make_node("Identity", ["u"], ["v"])], "uint16",
    [helper.make_tensor_value_info("u", TensorProto.UINT16, ["batch", 2])],
    [helper.make_tensor_value_info("v", TensorProto.UINT16, ["batch", 2])])), "uint16.onnx")

# A sequence input: the length of a sequence of float tensors.
save(model(helper.make_graph(
    [helper.make_node("SequenceLength", ["seq"], ["length"])], "sequence",
    [helper.make_value_info("seq", helper.make_sequence_type_proto(
        helper.make_tensor_type_proto(F, ["n"])))],
    [helper.make_tensor_value_info("length", TensorProto.INT64, [])])), "sequence_input.onnx")

# An optional input: whether it holds a tensor.
save(model(helper.make_graph(
    [helper.make_node("OptionalHasElement", ["maybe"], ["has"])], "optional",
    [helper.make_value_info("maybe", helper.make_optional_type_proto(
        helper.make_tensor_type_proto(F, ["n"])))],
    [helper.make_tensor_value_info("has", TensorProto.BOOL, [])]), opset=18, ir=8),
    "optional_input.onnx")

# Declares a dynamic batch but reshapes every row to 4 columns: rows of any other length fail in
# ONNX Runtime at run time (the model's shape, not the record's).
shape = numpy_helper.from_array(np.array([-1, 4], dtype=np.int64), "shape")
save(model(helper.make_graph(
    [helper.make_node("Reshape", ["x", "shape"], ["y"])], "reshape4",
    [helper.make_tensor_value_info("x", F, ["batch", "n"])],
    [helper.make_tensor_value_info("y", F, ["batch", 4])],
    initializer=[shape])), "reshape4.onnx")
