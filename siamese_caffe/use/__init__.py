"""Using a trained twin: the DIGITS download bundle (and, beside it, verify, gallery, ONNX export)."""
