"""QR codes (error correction M) as reportlab's `qrencoder` makes them, module for module, in a
fraction of its time.

reportlab's encoder picks the mask the way the QR standard suggests: it builds the whole symbol
eight times, once per mask, and scores each with four penalty rules, list by list; on a boleto's
Pix (version 7) that was ~80% of the boleto's rendering. Here the symbol's fixed patterns and each
mask's bits are built once per version and process, the data is laid out once, and each mask is
one XOR of integers; the four rules are scored with a few operations on those integers, exactly as
`QRUtil.getLostPoint` scores them (its quirks included: the finder-like pattern is looked for in
rows only, left to right, not at a row's last position, without overlaps; the format bits are
blank while scoring). The mask chosen is therefore reportlab's, and the final symbol is reportlab's own
`makeImpl` with it: tests/unit/test_qr.py compares both for many payloads.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Dict, List, Tuple

# 11 modules 1:1:3:1:1 and four light ones, as `QRUtil.maskScoreRule3hor` looks for it.
FINDER_LIKE = "10111010000"


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


def _columns_up_to(size: int, last: int) -> int:
    """The modules of columns 0..`last` of every row."""
    return sum(((1 << (last + 1)) - 1) << start for start in range(0, size * size, size))


@lru_cache(maxsize=None)
def _masks(size: int) -> Dict[str, int]:
    """The modules where each comparison below is defined, for a symbol of `size`."""
    cells = size * size
    return {"all": (1 << cells) - 1,
            "right": _columns_up_to(size, size - 2),  # a module with one to its right
            "below": (1 << (cells - size)) - 1,  # a module with one below it
            "row run": _columns_up_to(size, size - 5),  # where five modules of a row start
            "column run": (1 << (cells - 4 * size)) - 1,  # where five modules of a column start
            "finder": _columns_up_to(size, size - 12)}  # where reportlab looks for the pattern


def lost_points(symbol: int, size: int) -> int:
    """`QRUtil.getLostPoint` of a symbol given as an integer (see `_as_int`): bit row × size +
    column is that module, so a row's neighbour is one bit away and a column's `size` bits."""
    masks = _masks(size)
    same_right = ~(symbol ^ (symbol >> 1)) & masks["right"]
    same_below = ~(symbol ^ (symbol >> size)) & masks["below"]
    # 1: a run of five or more modules of one colour, in a row or a column: 3 + (length - 5),
    # that is one per five-module window inside the run, and 2 per run.
    score = 0
    for same, step, where in ((same_right, 1, masks["row run"]), (same_below, size, masks["column run"])):
        windows = same & (same >> step) & (same >> 2 * step) & (same >> 3 * step) & where
        score += windows.bit_count() + 2 * (windows & ~(windows << step)).bit_count()
    # 2: each 2×2 block of one colour, 3.
    score += 3 * (same_below & (same_below >> 1) & same_right).bit_count()
    # 3: 1:1:3:1:1 followed by four light modules, left to right in a row and not at its last
    # module, 40 (the pattern cannot overlap itself, so reportlab's skipping past a match counts
    # the same). reportlab looks for it in the columns too, but compares a column's tuple with
    # its list: never equal.
    found = masks["finder"]
    for offset, module in enumerate(FINDER_LIKE):
        found &= symbol >> offset if module == "1" else ~(symbol >> offset)
    score += 40 * found.bit_count()
    # 4: the share of dark modules away from half, 10 per 5%.
    return score + 10 * (abs(100 * symbol.bit_count() // (size * size) - 50) // 5)


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
