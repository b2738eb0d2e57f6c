"""Input handling: formats, orientation, pixel types, limits and broken files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageFile, ImageOps

from inference import Options, analyse_image
from inference.decode import decode_bytes, frame_from_array
from inference.errors import CorruptImage, ImageTooLarge, InferenceError, UnsupportedImage


def pil_bytes(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def rgb_image(astronaut: npt.NDArray[np.uint8]) -> Image.Image:
    return Image.fromarray(cv2.cvtColor(astronaut, cv2.COLOR_BGR2RGB))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_it_decodes_jpeg_png_and_webp_to_bgr_and_gray(astronaut: npt.NDArray[np.uint8], fmt: str) -> None:
    frame = decode_bytes(pil_bytes(rgb_image(astronaut), fmt))
    assert frame.bgr.shape == (512, 512, 3) and frame.bgr.dtype == np.uint8
    assert frame.gray.shape == (512, 512) and frame.gray.dtype == np.uint8
    # Channel order is BGR: the astronaut's flag area is strongly red/blue; compare with the source.
    assert np.abs(frame.bgr.astype(int) - astronaut.astype(int)).mean() < 6


def test_it_applies_the_exif_orientation(astronaut: npt.NDArray[np.uint8]) -> None:
    image = rgb_image(astronaut).crop((0, 0, 512, 300))  # landscape 512x300
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    frame = decode_bytes(pil_bytes(image, "JPEG", exif=exif.tobytes()))
    assert frame.bgr.shape[:2] == (512, 300)


def test_it_accepts_grayscale_rgba_palette_and_16_bit_pngs(astronaut: npt.NDArray[np.uint8]) -> None:
    gray = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    rgba = cv2.cvtColor(astronaut, cv2.COLOR_BGR2BGRA)
    sixteen = gray.astype(np.uint16) * 257
    for array in (gray, rgba, sixteen, cv2.cvtColor(sixteen, cv2.COLOR_GRAY2BGR)):
        frame = decode_bytes(bytes(cv2.imencode(".png", array)[1]))
        assert frame.bgr.shape == (512, 512, 3)
        assert np.abs(frame.gray.astype(int) - gray.astype(int)).max() <= 2
    palette = decode_bytes(pil_bytes(rgb_image(astronaut).convert("P"), "PNG"))
    assert palette.gray.shape == (512, 512)


def test_it_refuses_other_formats_with_a_typed_error(astronaut: npt.NDArray[np.uint8]) -> None:
    with pytest.raises(UnsupportedImage, match="GIF images are not supported"):
        decode_bytes(pil_bytes(rgb_image(astronaut), "GIF"))
    with pytest.raises(UnsupportedImage, match="not a recognised image"):
        decode_bytes(b"%PDF-1.7 definitely not a picture" * 10)


def test_it_reports_empty_truncated_and_corrupt_files(astronaut_jpeg: bytes, astronaut_png: bytes) -> None:
    with pytest.raises(CorruptImage, match="empty"):
        decode_bytes(b"")
    with pytest.raises(CorruptImage, match="corrupt or truncated"):
        decode_bytes(astronaut_jpeg[: len(astronaut_jpeg) // 2])
    with pytest.raises(CorruptImage):
        decode_bytes(astronaut_png[: len(astronaut_png) // 2])
    garbled = bytearray(astronaut_png)
    garbled[200:4000] = b"\x00" * 3800
    with pytest.raises(CorruptImage):
        decode_bytes(bytes(garbled))


def scan_start(jpeg: bytes) -> int:
    """Offset of the first byte of entropy-coded data (just after the SOS segment)."""
    sos = jpeg.index(b"\xff\xda")
    return sos + 2 + int.from_bytes(jpeg[sos + 2 : sos + 4], "big")


def damaged_jpegs(jpeg: bytes) -> dict[str, bytes]:
    """JPEGs with an intact header and end marker whose scan data is garbled or cut short.

    OpenCV and Pillow decode every one of them into a picture (the lost part grey).
    """
    start, end = scan_start(jpeg), len(jpeg) - 2
    middle = (start + end) // 2
    while jpeg[middle - 1] == 0xFF:  # do not split a stuffed 0xFF00: that would make a marker
        middle += 1
    noise = bytes(np.random.default_rng(7).integers(0, 255, 3000, dtype=np.uint8))  # no 0xFF: no markers
    return {
        "cut in half, end marker added": jpeg[:middle] + b"\xff\xd9",
        "random bytes in the scan": jpeg[:middle] + noise + jpeg[middle + 3000 :],
        "zeros in the scan": jpeg[:middle] + b"\x00" * 3000 + jpeg[middle + 3000 :],
        "header only, end marker added": jpeg[: start + 16] + b"\xff\xd9",
    }


def test_opencv_and_pillow_silently_decode_the_damaged_jpegs_we_refuse(astronaut_jpeg: bytes) -> None:
    """The reason for the strict decoder: the others hand back a half-grey picture."""
    for data in damaged_jpegs(astronaut_jpeg).values():
        assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None
        with Image.open(io.BytesIO(data)) as image:
            image.load()


@pytest.mark.parametrize(
    "damage",
    ["cut in half, end marker added", "random bytes in the scan", "zeros in the scan", "header only, end marker added"],
)
def test_it_refuses_a_jpeg_with_corrupt_scan_data_as_corrupt(astronaut_jpeg: bytes, damage: str) -> None:
    with pytest.raises(
        CorruptImage, match="the JPEG image is corrupt or truncated: .*(Corrupt JPEG data|Premature end)"
    ):
        decode_bytes(damaged_jpegs(astronaut_jpeg)[damage])


def test_analysing_a_corrupt_jpeg_raises_instead_of_finding_no_face(model_root: Path, astronaut_jpeg: bytes) -> None:
    for data in damaged_jpegs(astronaut_jpeg).values():
        with pytest.raises(CorruptImage):
            analyse_image(data, Options(faces="primary"))


def test_it_refuses_truncated_files_even_when_pillow_is_told_to_load_them(
    monkeypatch: pytest.MonkeyPatch, astronaut_jpeg: bytes, astronaut_png: bytes, astronaut: npt.NDArray[np.uint8]
) -> None:
    """WeasyPrint sets this process-wide flag on import (frontend/pdf.py puts it back); we never rely on it."""
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    webp = pil_bytes(rgb_image(astronaut), "WEBP")
    for data in (astronaut_jpeg, astronaut_png, webp):
        with pytest.raises(CorruptImage):
            decode_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(CorruptImage):
        decode_bytes(damaged_jpegs(astronaut_jpeg)["zeros in the scan"])
    assert decode_bytes(astronaut_png).bgr.shape == (512, 512, 3)


def test_a_png_with_bytes_after_its_end_chunk_is_still_accepted(astronaut_png: bytes) -> None:
    assert decode_bytes(astronaut_png + b"appended by some tool").bgr.shape == (512, 512, 3)


def test_a_jpeg_with_stray_bytes_before_its_end_marker_is_still_accepted(astronaut_jpeg: bytes) -> None:
    """Some encoders pad the end of the scan; every pixel is there, so it is not corrupt."""
    padded = astronaut_jpeg[:-2] + b"\x00\x11\x22" + astronaut_jpeg[-2:]
    np.testing.assert_array_equal(decode_bytes(padded).bgr, decode_bytes(astronaut_jpeg).bgr)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_it_applies_every_exif_orientation_as_pillow_does(astronaut: npt.NDArray[np.uint8], orientation: int) -> None:
    image = rgb_image(astronaut).crop((0, 0, 512, 300))
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = pil_bytes(image, "JPEG", exif=exif.tobytes(), quality=95)
    with Image.open(io.BytesIO(data)) as opened:
        expected = cv2.cvtColor(np.asarray(ImageOps.exif_transpose(opened).convert("RGB")), cv2.COLOR_RGB2BGR)
    frame = decode_bytes(data)
    assert frame.bgr.shape == expected.shape
    assert np.abs(frame.bgr.astype(int) - expected.astype(int)).mean() < 1.0


def test_a_grayscale_jpeg_decodes_to_gray_and_bgr(astronaut: npt.NDArray[np.uint8]) -> None:
    gray = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    frame = decode_bytes(bytes(cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, 95])[1]))
    assert frame.bgr.shape == (512, 512, 3) and frame.gray.shape == (512, 512)
    assert np.abs(frame.gray.astype(int) - gray.astype(int)).mean() < 2


def test_a_cmyk_jpeg_is_checked_strictly_and_decoded_by_pillow(astronaut: npt.NDArray[np.uint8]) -> None:
    data = pil_bytes(rgb_image(astronaut).convert("CMYK"), "JPEG", quality=95)
    assert decode_bytes(data).bgr.shape == (512, 512, 3)
    with pytest.raises(CorruptImage):
        decode_bytes(damaged_jpegs(data)["zeros in the scan"])


def png_header_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header announces ``width`` x ``height`` pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    data = zlib.compress(b"\x00" * 1000)
    idat = struct.pack(">I", len(data)) + b"IDAT" + data + struct.pack(">I", zlib.crc32(b"IDAT" + data))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + chunk + idat + end


def test_it_checks_the_pixel_limit_before_decoding(astronaut_png: bytes) -> None:
    with pytest.raises(ImageTooLarge, match="the limit is 100,000"):
        decode_bytes(astronaut_png, max_pixels=100_000)
    with pytest.raises(ImageTooLarge, match="12000x12000"):
        decode_bytes(png_header_bomb(12_000, 12_000))  # 144 M pixels; would need 432 MB if decoded
    with pytest.raises(ImageTooLarge):
        decode_bytes(png_header_bomb(100_000, 100_000))  # beyond Pillow's own bomb limit too


def test_it_normalises_arrays_of_every_supported_kind(astronaut: npt.NDArray[np.uint8]) -> None:
    gray = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    for array in (
        astronaut,
        gray,
        gray[..., None],
        cv2.cvtColor(astronaut, cv2.COLOR_BGR2BGRA),
        astronaut.astype(np.uint16) * 257,
        astronaut.astype(np.float32),
    ):
        frame = frame_from_array(array)
        assert frame.bgr.shape == (512, 512, 3) and frame.bgr.dtype == np.uint8
        assert np.abs(frame.gray.astype(int) - gray.astype(int)).max() <= 1


def test_it_rejects_bad_arrays_with_typed_errors() -> None:
    with pytest.raises(UnsupportedImage, match="shape"):
        frame_from_array(np.zeros((10, 10, 2), np.uint8))
    with pytest.raises(UnsupportedImage, match="shape"):
        frame_from_array(np.zeros((10,), np.uint8))
    with pytest.raises(UnsupportedImage, match="no pixels"):
        frame_from_array(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(ImageTooLarge):
        frame_from_array(np.zeros((100, 100), np.uint8), max_pixels=50)
    with pytest.raises(UnsupportedImage):
        frame_from_array([[1, 2], [3, 4]])  # type: ignore[arg-type]
    assert issubclass(UnsupportedImage, InferenceError)
