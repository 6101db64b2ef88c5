"""Hot loops with one Python face each: the C++/CUDA extension underneath when built, PyTorch otherwise."""
