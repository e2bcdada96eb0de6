"""Frames the gateway writes itself must be what a WebSocket library reads."""

from __future__ import annotations

import msgspec
import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from gateway.ws.client import json_tick_update
from gateway.ws.direct import frame_header
from gateway.ws.protocol import Channel, Update


def _parse(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False, max_size=None)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("the frame was not complete")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65_535, 65_536, 70_000])
@pytest.mark.parametrize("binary", [False, True])
def test_headers_at_every_length_boundary_parse_as_one_final_frame(size: int, binary: bool) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    if not binary:
        payload = b"x" * size  # text frames must be valid UTF-8
    frame = _parse(frame_header(len(payload), binary) + payload)
    assert frame.fin
    assert frame.opcode is (Opcode.BINARY if binary else Opcode.TEXT)
    assert bytes(frame.data) == payload
    assert not frame.rsv1  # never marked compressed


@pytest.mark.parametrize("count", [0, 1, 3])
def test_the_hand_built_tick_update_is_msgspecs_encoding_byte_for_byte(count: int) -> None:
    ticks = [
        msgspec.Raw(msgspec.json.encode({"symbol": f"rb{i}", "last_price": 3500.0 + i}))
        for i in range(count)
    ]
    expected = msgspec.json.encode(Update(channel=Channel.TICKS, seq=41, data=ticks))
    assert json_tick_update(41, ticks) == expected
