"""Generated test data that no file ships: a folder of images in ImageFolder layout."""

from __future__ import annotations


def shapes_folder(root, per_class: int = 40):
    """Three classes of generated images: a filled circle, square or triangle, in random colours."""
    import random

    from PIL import Image, ImageDraw

    rng = random.Random(0)
    for name in ("circle", "square", "triangle"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            im = Image.new("RGB", (40, 40), tuple(rng.randrange(0, 80) for _ in range(3)))
            d = ImageDraw.Draw(im)
            x, y, r = rng.randrange(12, 28), rng.randrange(12, 28), rng.randrange(7, 11)
            colour = tuple(rng.randrange(150, 256) for _ in range(3))
            if name == "circle":
                d.ellipse((x - r, y - r, x + r, y + r), fill=colour)
            elif name == "square":
                d.rectangle((x - r, y - r, x + r, y + r), fill=colour)
            else:
                d.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=colour)
            im.save(root / name / f"{i}.png")
    (root / "circle" / "broken.png").write_bytes(b"not a png")
    return root
