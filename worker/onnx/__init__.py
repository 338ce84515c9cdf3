"""Uploaded ONNX models: checked without running them (``parse``, torch-free), read into plain data
(``program``), interpreted as a trainable torch module (``graph``, ``build``), fitted to a job's data
(``fit``). No code from a file is ever generated, evaluated or imported."""
