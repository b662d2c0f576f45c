"""Image grids and PNG files for samples that people look at."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from synthset.io import write_atomically


def image_grid(images: np.ndarray, columns: int, pad: int = 2) -> np.ndarray:
    """Tile uint8 images (N, H, W, C) into one image, ``columns`` wide, with a dark gutter."""
    count, height, width, channels = images.shape
    rows = -(-count // columns)
    padded = np.pad(images, ((0, rows * columns - count), (pad, 0), (pad, 0), (0, 0)))
    grid = padded.reshape(rows, columns, height + pad, width + pad, channels).swapaxes(1, 2)
    grid = grid.reshape(rows * (height + pad), columns * (width + pad), channels)
    return np.pad(grid, ((0, pad), (0, pad), (0, 0)))


def heatmap_overlay(images: np.ndarray, maps: np.ndarray, colorscale: str = "Jet", opacity: float = 0.5) -> np.ndarray:
    """uint8 RGB images (N, H, W, 3): each image in grey under its [0, 1] map in ``colorscale`` colours."""
    import plotly.colors

    lookup = np.array([plotly.colors.unlabel_rgb(colour)
                       for colour in plotly.colors.sample_colorscale(colorscale, np.linspace(0, 1, 256))])
    grey = images.astype(np.float64)
    grey = np.repeat(grey, 3, axis=-1) if grey.shape[-1] == 1 else grey
    heat = lookup[np.clip(np.round(maps * 255), 0, 255).astype(int)]
    return np.round((1 - opacity) * grey + opacity * heat).astype(np.uint8)


def save_png(image: np.ndarray, path: Path) -> None:
    array = image[..., 0] if image.shape[-1] == 1 else image
    with write_atomically(Path(path)) as partial:
        Image.fromarray(array).save(partial, format="PNG")
