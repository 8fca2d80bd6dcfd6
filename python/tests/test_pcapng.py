"""The stdlib pcapng reader on streams built here block by block: both
byte orders, interface link types, enhanced and simple packet blocks, and
streams that are not pcapng or are cut short."""

from __future__ import annotations

import io
import struct

import pytest

from warren_lab import PcapngError, icmp_type, packets


def block(order: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack(order + "II", btype, length) + body + struct.pack(order + "I", length)


def section(order: str, frames: list[bytes]) -> bytes:
    out = block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(order, 1, struct.pack(order + "HHI", 1, 0, 65535))
    for i, frame in enumerate(frames):
        epb = struct.pack(order + "IIIII", 0, 0, 1000 + i, len(frame), len(frame) + 4)
        out += block(order, 6, epb + frame)
    out += block(order, 3, struct.pack(order + "I", 3) + b"spb")
    return out


def echo(icmp: int) -> bytes:
    ip = bytes([0x45]) + bytes(8) + bytes([1]) + bytes(10)
    return bytes(12) + b"\x08\x00" + ip + bytes([icmp]) + bytes(7)


@pytest.mark.parametrize("order", ["<", ">"])
def test_frames_come_back_in_order_in_either_byte_order(order: str) -> None:
    frames = [echo(8), echo(0), b"\xff" * 61]
    # Two sections, as a capture file and a stream restarted could hold.
    got = list(packets(io.BytesIO(section(order, frames) + section("<", frames[:1]))))
    assert [p.data for p in got] == [*frames, b"spb", frames[0], b"spb"]
    assert [p.linktype for p in got] == [1] * 6
    assert [p.timestamp for p in got[:3]] == [1000, 1001, 1002]
    assert [p.original_length for p in got[:3]] == [len(f) + 4 for f in frames]
    assert [icmp_type(p.data) for p in got[:3]] == [8, 0, None]


def test_a_stream_that_is_not_pcapng_or_is_cut_is_an_error() -> None:
    with pytest.raises(PcapngError, match="section header"):
        list(packets(io.BytesIO(b"\xd4\xc3\xb2\xa1" + bytes(20))))
    whole = section("<", [echo(8)])
    with pytest.raises(PcapngError, match="ends inside"):
        list(packets(io.BytesIO(whole[:-6])))
    with pytest.raises(PcapngError, match="impossible length"):
        list(packets(io.BytesIO(whole[:28] + struct.pack("<II", 6, 13))))
    assert list(packets(io.BytesIO(b""))) == []
