"""Editing (paper §4.4): make a copy-and-pasted or retouched region look natural.

Same mechanism as harmonization, with a wider dilation (20 px) so the seams
around the edit are re-rendered too. Choose a finer start scale to keep more
of the edit's own detail.
"""

from __future__ import annotations

from ._masked import masked_application

#: Paper-style defaults: dilation radius and Gaussian sigma in pixels at the model's resolution.
RADIUS = 20.0
SIGMA = 5.0

edit = masked_application(
    RADIUS,
    SIGMA,
    "edited image",
    """Blend the edited region ``mask`` of ``edited`` into the image.

    Returns ``edited``'s shape and dtype; outside the feathered mask the pixels are ``edited``'s own.
    Arguments: ``model, edited, mask, start_scale=1, *, radius=20, sigma=5, seed=0``.
    """,
)
