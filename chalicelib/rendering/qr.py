"""QR codes (error correction M) as reportlab's `qrencoder` makes them, module for module, in a
fraction of its time.

reportlab's encoder picks the mask the way the QR standard suggests: it builds the whole symbol
eight times, once per mask, and scores each with four penalty rules, list by list; on a boleto's
Pix (version 7) that was ~80% of the boleto's rendering. Here the symbol's fixed patterns and each
mask's bits are built once per version and process, the data is laid out once, and each mask is
one XOR of integers; the four rules are scored with string and integer operations, exactly as
`QRUtil.getLostPoint` scores them (its quirks included: the finder-like pattern is looked for in
rows only, left to right, not at a row's last position, without overlaps; the format bits are
blank while scoring). The mask chosen is therefore reportlab's, and the final symbol is reportlab's own
`makeImpl` with it: tests/unit/test_qr.py compares both for many payloads.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import List, Tuple

# 11 modules 1:1:3:1:1 and four light ones, as `QRUtil.maskScoreRule3hor` looks for it.
FINDER_LIKE = "10111010000"
RUN = re.compile(r"0{5,}|1{5,}")


def _encoder():
    from reportlab.graphics.barcode import qrencoder

    return qrencoder


@lru_cache(maxsize=None)
def _layout(version: int) -> Tuple[int, int, Tuple[int, ...], Tuple[int, ...], list]:
    """For a version: its side, its fixed patterns as scored (format and version bits blank, as
    reportlab's test symbols have them), the data positions (row-major bit indexes) in placement
    order, per mask the integer of the mask's dark modules over the data positions, and the data
    positions as `QRCode.dataPosIterator` lists them (columns, rows)."""
    qrencoder = _encoder()
    code = qrencoder.QRCode(version, qrencoder.QRErrorCorrectLevel.M)
    size = version * 4 + 17
    code.moduleCount = size
    code.modules = [[False] * size for _ in range(size)]
    code.setupPositionProbePattern(0, 0)
    code.setupPositionProbePattern(size - 7, 0)
    code.setupPositionProbePattern(0, size - 7)
    code.setupPositionAdjustPattern()
    code.setupTimingPattern()
    code.setupTypeInfo(True, 0)
    if version >= 7:
        code.setupTypeNumber(True)
    fixed = _as_int(code.modules, size)
    positions = list(code.dataPosIterator())
    indexes = tuple(row * size + col for col, row in positions)
    masks = []
    for pattern in range(8):
        dark = qrencoder.QRUtil.getMask(pattern)
        masks.append(sum(1 << row * size + col for col, row in positions if dark(row, col)))
    return size, fixed, indexes, tuple(masks), positions


def _as_int(modules, size: int) -> int:
    """A symbol as one integer: bit row × size + column is that module (1 dark)."""
    return int("".join("1" if cell else "0" for row in modules for cell in row)[::-1], 2)


@lru_cache(maxsize=None)
def _block_masks(size: int) -> Tuple[int, int, int]:
    """Every module; every module but the last row's; every module but the last column's."""
    cells = size * size
    return ((1 << cells) - 1, (1 << (cells - size)) - 1,
            sum(((1 << (size - 1)) - 1) << start for start in range(0, cells, size)))


def lost_points(symbol: int, size: int) -> int:
    """`QRUtil.getLostPoint` of a symbol given as an integer (see `_as_int`)."""
    cells = size * size
    text = format(symbol, f"0{cells}b")[::-1]  # text[row * size + column]
    rows = [text[start:start + size] for start in range(0, cells, size)]
    columns = [text[column::size] for column in range(size)]
    # 1: a run of five or more modules of one colour, in a row or a column: 3 + (length - 5).
    score = sum(len(run) - 2 for run in RUN.findall("|".join(rows + columns)))
    # 2: each 2×2 block of one colour, 3.
    everything, not_last_row, not_last_column = _block_masks(size)
    same_below = ~(symbol ^ (symbol >> size)) & not_last_row
    same_right = ~(symbol ^ (symbol >> 1)) & not_last_column & everything
    score += 3 * (same_below & (same_below >> 1) & same_right).bit_count()
    # 3: 1:1:3:1:1 followed by four light modules, left to right in a row, 40. (reportlab looks
    # for it in the columns too, but compares a column's tuple with its list: never equal.)
    score += 40 * "|".join(row[:-1] for row in rows).count(FINDER_LIKE)
    # 4: the share of dark modules away from half, 10 per 5%.
    return score + 10 * (abs(100 * text.count("1") // cells - 50) // 5)


def _masked(code, version: int) -> List[int]:
    """The scored symbol for each of the eight masks."""
    size, fixed, indexes, masks, _ = _layout(version)
    data = bytes(code.dataCache)
    bits = format(int.from_bytes(data, "big"), f"0{8 * len(data)}b")
    placed = ["0"] * (size * size)
    for index, bit in zip(indexes, bits):
        placed[index] = bit
    unmasked = int("".join(placed)[::-1], 2)
    return [fixed | (unmasked ^ mask) for mask in masks]


def best_mask(code) -> int:
    """The mask `QRCode.getBestMaskPattern` picks (the first with the fewest lost points), for a
    code whose version and data are made."""
    size = _layout(code.version)[0]
    scores = [lost_points(symbol, size) for symbol in _masked(code, code.version)]
    return scores.index(min(scores))


@lru_cache(maxsize=None)
def _generator(ec_count: int) -> Tuple[int, ...]:
    """The Reed-Solomon generator polynomial's coefficients after the leading 1, as logarithms."""
    qrencoder = _encoder()
    coefficients = qrencoder.QRUtil.getErrorCorrectPolynomial(ec_count).num
    return tuple(qrencoder.LOG_TABLE[c] for c in coefficients[1:])


def _error_correction(data: List[int], ec_count: int) -> List[int]:
    """The remainder of data·x^ec by the generator: `QRPolynomial.mod`'s, by the usual division."""
    qrencoder = _encoder()
    exp, log, generator = qrencoder.EXP_TABLE, qrencoder.LOG_TABLE, _generator(ec_count)
    remainder = [0] * ec_count
    for value in data:
        factor = value ^ remainder[0]
        remainder = remainder[1:] + [0]
        if factor:
            shift = log[factor]
            remainder = [r ^ exp[(g + shift) % 255] for r, g in zip(remainder, generator)]
    return remainder


class _Bits:
    """`QRBitBuffer`'s interface (what the data segments write through), on one integer instead
    of a bit at a time."""

    def __init__(self):
        self.value, self.length = 0, 0

    def put(self, number: int, length: int) -> None:
        self.value = (self.value << length) | (number & ((1 << length) - 1))
        self.length += length

    def putBit(self, bit) -> None:  # noqa: N802 - reportlab's name
        self.put(1 if bit else 0, 1)

    def getLengthInBits(self) -> int:  # noqa: N802 - reportlab's name
        return self.length

    def bytes(self) -> List[int]:
        padding = -self.length % 8
        return list((self.value << padding).to_bytes((self.length + padding) // 8, "big"))


def _codewords(version: int, data_list) -> List[int]:
    """`QRCode.createData`: the data bits, terminated and padded, in blocks interleaved with their
    error correction (with the generator polynomials computed once per process)."""
    from itertools import chain, zip_longest

    qrencoder = _encoder()
    blocks = qrencoder.QRRSBlock.getRSBlocks(version, qrencoder.QRErrorCorrectLevel.M)
    buffer = _Bits()
    for data in data_list:
        data.write(buffer, version)
    capacity = 8 * sum(block.dataCount for block in blocks)
    if buffer.getLengthInBits() > capacity:
        raise ValueError(f"code length overflow. ({buffer.getLengthInBits()} > {capacity})")
    if buffer.getLengthInBits() + 4 <= capacity:
        buffer.put(0, 4)
    while buffer.getLengthInBits() % 8:
        buffer.putBit(False)
    pad = (qrencoder.QRCode.PAD0, qrencoder.QRCode.PAD1)
    count = 0
    while buffer.getLengthInBits() < capacity:
        buffer.put(pad[count % 2], 8)
        count += 1
    offset, data_blocks, ec_blocks, codes = 0, [], [], buffer.bytes()
    for block in blocks:
        data_blocks.append(codes[offset:offset + block.dataCount])
        offset += block.dataCount
        ec_blocks.append(_error_correction(data_blocks[-1], block.totalCount - block.dataCount))
    return [value for group in chain(zip_longest(*data_blocks), zip_longest(*ec_blocks)) for value in group
            if value is not None]


def qr_modules(payload: str) -> List[List[bool]]:
    """The QR code of `payload` (error correction M), the same modules as
    `qrencoder.QRCode(None, M).addData(payload); .make()` gives."""
    qrencoder = _encoder()
    code = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    code.addData(payload)
    code.version = code.calculate_version()
    code.dataCache = _codewords(code.version, code.dataList)
    code._dataPosList = _layout(code.version)[4]
    code.makeImpl(False, best_mask(code))
    return code.modules
