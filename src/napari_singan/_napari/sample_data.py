"""Sample data: the micrographs bundled with scikit-image (nothing is downloaded)."""

from __future__ import annotations


def cell() -> list[tuple]:
    """Phase-contrast image of a cell (660x550, uint8)."""
    from skimage import data

    return [(data.cell(), {"name": "cell"}, "image")]


def immunohistochemistry() -> list[tuple]:
    """Immunohistochemistry (IHC) staining, RGB (512x512x3, uint8)."""
    from skimage import data

    return [(data.immunohistochemistry(), {"name": "immunohistochemistry", "rgb": True}, "image")]
