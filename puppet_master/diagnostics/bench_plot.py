"""The bench's scaling plot, drawn with Pillow: how step time, memory and FLOPs grow with frames and resolution."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

if TYPE_CHECKING:
    from .bench_report import BenchReport, ScalingPoint

WIDTH, HEIGHT = 1200, 560
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 20, 70, 110
SERIES = (
    ("step time", "step_seconds", (214, 39, 40)),
    ("peak memory", "peak_memory_bytes", (31, 119, 180)),
    ("FLOPs (full size)", "full_size_flops_per_step", (44, 160, 44)),
)
LINEAR_COLOUR = (150, 150, 150)


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def draw_scaling(report: BenchReport) -> Image.Image:
    """Two panels (frames at the base resolution; resolution at the base frame count), each series divided by
    its value at the first point, with the linear growth (frames x pixels) dashed for reference."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    setup = report.setup
    first = report.scaling[0]
    title = (
        f"Cost of one CFG-pair UNet step against the {first.frames}-frame {first.pixels} px step "
        f"({setup['scaling_size']} model, {setup['device']} {setup['dtype']}; FLOPs of the full-size model)"
    )
    draw.text((MARGIN_LEFT, 18), title, fill="black", font=_font(17))
    panel_width = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT - 60) // 2
    panels = (
        ("frames", [p for p in report.scaling if p.latent == first.latent], lambda p: p.frames),
        ("resolution, px", [p for p in report.scaling if p.frames == first.frames], lambda p: p.pixels),
    )
    for index, (label, points, x_of) in enumerate(panels):
        left = MARGIN_LEFT + index * (panel_width + 60)
        _panel(draw, (left, MARGIN_TOP, left + panel_width, HEIGHT - MARGIN_BOTTOM), label, points, x_of, first)
    legend_x = MARGIN_LEFT
    for name, _, colour in (*SERIES, ("linear (frames x pixels)", None, LINEAR_COLOUR)):
        draw.line((legend_x, HEIGHT - 30, legend_x + 30, HEIGHT - 30), fill=colour, width=4)
        draw.text((legend_x + 38, HEIGHT - 40), name, fill="black", font=_font(16))
        legend_x += 60 + int(draw.textlength(name, font=_font(16)))
    return image


def _panel(
    draw: ImageDraw.ImageDraw,
    box: tuple[int, int, int, int],
    label: str,
    points: list[ScalingPoint],
    x_of,
    first: ScalingPoint,
) -> None:
    left, top, right, bottom = box
    xs = [x_of(p) for p in points]
    work = [p.frames * p.latent**2 / (first.frames * first.latent**2) for p in points]
    series = [[getattr(p, attr) / max(getattr(first, attr), 1) for p in points] for _, attr, _ in SERIES]
    y_max = max(max(work), *(max(s) for s in series)) * 1.1
    x_min, x_max = min(xs), max(xs)

    def at(x: float, y: float) -> tuple[float, float]:
        span = (x_max - x_min) or 1
        return left + (x - x_min) / span * (right - left), bottom - y / y_max * (bottom - top)

    draw.rectangle(box, outline="black")
    font = _font(14)
    for tick in range(int(y_max) + 1):
        y = at(x_min, tick)[1]
        draw.line((left, y, right, y), fill=(230, 230, 230))
        draw.text((left - 30, y - 8), f"{tick}x", fill="black", font=font)
    for x in xs:
        px = at(x, 0)[0]
        draw.line((px, bottom, px, bottom + 5), fill="black")
        draw.text((px - 12, bottom + 8), str(x), fill="black", font=font)
    draw.text(((left + right) / 2 - 30, bottom + 30), label, fill="black", font=_font(16))
    linear = [at(x, y) for x, y in zip(xs, work, strict=True)]
    for start, end in zip(linear[:-1], linear[1:], strict=True):
        _dashed(draw, start, end, LINEAR_COLOUR)
    for values, (_, _, colour) in zip(series, SERIES, strict=True):
        line = [at(x, y) for x, y in zip(xs, values, strict=True)]
        draw.line(line, fill=colour, width=3)
        for px, py in line:
            draw.ellipse((px - 4, py - 4, px + 4, py + 4), fill=colour)


def _dashed(draw: ImageDraw.ImageDraw, start: tuple[float, float], end: tuple[float, float], colour) -> None:
    (x0, y0), (x1, y1) = start, end
    pieces = 24
    for i in range(0, pieces, 2):
        a, b = i / pieces, (i + 1) / pieces
        draw.line(
            (x0 + (x1 - x0) * a, y0 + (y1 - y0) * a, x0 + (x1 - x0) * b, y0 + (y1 - y0) * b), fill=colour, width=2
        )
