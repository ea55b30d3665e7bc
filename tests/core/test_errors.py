"""Out-of-memory recognition and the metadata of new models: defined once in the core."""

import pytest
import torch

from napari_singan.core import OUT_OF_MEMORY_HINT, is_out_of_memory, source_metadata


def test_out_of_memory_is_recognised_on_every_device():
    with pytest.raises(RuntimeError) as host:
        torch.empty(2**62, dtype=torch.uint8)  # the CPU allocator refuses
    assert is_out_of_memory(host.value)
    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"))
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_out_of_memory(ValueError("out of memory"))
    assert "ran out of memory" in OUT_OF_MEMORY_HINT


def test_source_metadata():
    assert source_metadata("in.tif") == {"source": "in.tif"}
    layer = {"source": "cells", "scale": [1.0, 1.0]}
    assert source_metadata("cells", note="slice 3", layer=layer) == {
        "source": "cells",
        "note": "slice 3",
        "layer": layer,
    }
