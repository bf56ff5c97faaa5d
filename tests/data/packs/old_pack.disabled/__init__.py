raise RuntimeError("a disabled pack must not be imported")
