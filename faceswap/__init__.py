"""Face swapping: put the face from one picture onto faces of another, offline (a landmark
warp built in; insightface-style ONNX swappers when the user supplies one)."""
