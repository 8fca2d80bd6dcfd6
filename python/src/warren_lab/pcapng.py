"""A small pcapng reader, standard library only: enough to count and look
at the frames of a capture (``Lab.capture``, or a file in the results).
Section headers in either byte order, interface descriptions, enhanced
and simple packet blocks; other blocks are skipped."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from .errors import WarrenError

_SHB = 0x0A0D0D0A
_IDB = 0x00000001
_SPB = 0x00000003
_EPB = 0x00000006
_MAGIC = 0x1A2B3C4D


class PcapngError(WarrenError):
    """The stream is not pcapng, or a block is cut or malformed."""


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes | None: ...


@dataclass(frozen=True)
class Packet:
    """One captured frame."""

    #: Index of its interface description in the section (one per captured point).
    interface: int
    #: Link type of that interface (1: Ethernet).
    linktype: int
    #: Timestamp in the interface's units (microseconds unless it says otherwise).
    timestamp: int
    #: The captured bytes.
    data: bytes
    #: Length of the frame on the wire.
    original_length: int


def _read_exact(stream: _Readable | BinaryIO, size: int) -> bytes:
    """``size`` bytes, or fewer only at the end of the stream."""
    out = bytearray()
    while len(out) < size:
        chunk = stream.read(size - len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def _block_header(order: str, head: bytes) -> tuple[int, int]:
    """A block's type and total length, checked."""
    btype, length = struct.unpack(order + "II", head)
    if length < 12 or length % 4:
        raise PcapngError(f"a block of impossible length {length}")
    return int(btype), int(length)


def packets(stream: _Readable | BinaryIO) -> Iterator[Packet]:
    """The frames of a pcapng stream, in order, until it ends. Errors of the
    stream (a live capture's read timeout) pass through."""
    order = ""
    linktypes: list[int] = []
    while True:
        head = _read_exact(stream, 8)
        if not head:
            return
        if len(head) < 8:
            raise PcapngError("the stream ends inside a block header")
        if struct.unpack("<I", head[:4])[0] == _SHB:
            # The byte-order magic after the header decides the section's order.
            magic = _read_exact(stream, 4)
            if len(magic) < 4:
                raise PcapngError("the stream ends inside a section header")
            order = "<" if struct.unpack("<I", magic)[0] == _MAGIC else ">"
            if struct.unpack(order + "I", magic)[0] != _MAGIC:
                raise PcapngError("a section header without the byte-order magic")
            btype, length = _block_header(order, head)
            body = magic + _read_exact(stream, length - 12)
            linktypes = []
        elif not order:
            raise PcapngError("the stream does not start with a section header")
        else:
            btype, length = _block_header(order, head)
            body = _read_exact(stream, length - 8)
        if len(body) < length - 8:
            raise PcapngError("the stream ends inside a block")
        payload = body[:-4]
        if btype == _IDB:
            linktypes.append(struct.unpack(order + "H", payload[:2])[0])
        elif btype == _EPB:
            iface, hi, lo, caplen, origlen = struct.unpack(order + "IIIII", payload[:20])
            yield Packet(
                interface=iface,
                linktype=linktypes[iface] if iface < len(linktypes) else -1,
                timestamp=(hi << 32) | lo,
                data=payload[20 : 20 + caplen],
                original_length=origlen,
            )
        elif btype == _SPB:
            (origlen,) = struct.unpack(order + "I", payload[:4])
            yield Packet(
                interface=0,
                linktype=linktypes[0] if linktypes else -1,
                timestamp=0,
                data=payload[4 : 4 + origlen],
                original_length=origlen,
            )


def icmp_type(frame: bytes) -> int | None:
    """The ICMP type of an Ethernet frame carrying IPv4 ICMP (8: echo
    request, 0: echo reply), ``None`` for any other frame."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[14 + 9] != 1:
        return None
    header = (frame[14] & 0x0F) * 4
    return frame[14 + header] if len(frame) > 14 + header else None
