"""Stage 6, the trained twin at work: verifying two images against the calibrated threshold
(threshold, verify), galleries of embedded references searched with FAISS (gallery,
gallery_index), the shared branch exported to ONNX (onnx_export, onnx_layers), DIGITS'
model download (bundle); the digits these read (digits)."""
