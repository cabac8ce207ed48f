"""Taking a design or a run elsewhere: an ONNX model, a PyTorch project for training on many
GPUs, and the weights that project trains brought back as a run.

The conventions that differ between this engine (NHWC, HWIO filters, FC rows in H, W, D
order) and ONNX / PyTorch (NCHW, OIHW filters, rows in C, H, W order) are translated in one
module, `layout`; the others only read its plan and arrays.
"""
