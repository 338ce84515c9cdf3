"""Uploaded ONNX models read without torch: checked without running them (``parse``), read into plain
data (``program``) and fitted to a job's data (``fit``). No code from a file is ever generated, evaluated
or imported."""
