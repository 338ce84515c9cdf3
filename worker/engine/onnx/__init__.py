"""Uploaded ONNX models as trainable torch modules: the interpreted graph (``graph``), recurrent ops
(``recurrent``) and the module built for a job (``build``). The file was read by ``worker.data.onnx``."""
