"""The contract: every message round-trips, and the generated code is not stale."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from callbot.v1 import callbot_pb2 as pb

ROOT = Path(__file__).resolve().parents[2]


def _cls(descriptor: Any) -> type[Message]:
    return GetMessageClass(descriptor)


def _sample(msg_cls: type[Message], depth: int = 0) -> Message:
    """A message with every scalar field set to a non-default value, recursively."""
    msg = msg_cls()
    for field in msg.DESCRIPTOR.fields:
        name = field.name
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            getattr(msg, name)["k"] = "v"
        elif field.message_type is not None:
            if depth < 3:
                child = _sample(_cls(field.message_type), depth + 1)
                if field.is_repeated:
                    getattr(msg, name).add().CopyFrom(child)
                elif field.containing_oneof is None or depth == 0:
                    getattr(msg, name).CopyFrom(child)
        elif field.enum_type is not None:
            value = field.enum_type.values[-1].number
            _set(msg, field, value)
        elif field.type == field.TYPE_STRING:
            _set(msg, field, f"{name}-x")
        elif field.type == field.TYPE_BYTES:
            _set(msg, field, b"\x00\xff" + name.encode())
        elif field.type == field.TYPE_BOOL:
            _set(msg, field, True)
        elif field.type in (field.TYPE_FLOAT, field.TYPE_DOUBLE):
            _set(msg, field, 0.5)
        else:
            _set(msg, field, 7)
    return msg


def _set(msg: Message, field: object, value: object) -> None:
    name = field.name  # type: ignore[attr-defined]
    if field.is_repeated:  # type: ignore[attr-defined]
        getattr(msg, name).append(value)
    else:
        setattr(msg, name, value)


MESSAGES = [_cls(descriptor) for descriptor in pb.DESCRIPTOR.message_types_by_name.values()]


@pytest.mark.parametrize("msg_cls", MESSAGES, ids=lambda c: c.__name__)
def test_every_message_round_trips(msg_cls: type[Message]) -> None:
    original = _sample(msg_cls)
    decoded = msg_cls.FromString(original.SerializeToString())
    assert decoded == original
    assert decoded.SerializeToString() == original.SerializeToString()


@pytest.mark.parametrize("oneof_owner", [pb.ClientMessage, pb.ServerMessage])
def test_every_oneof_member_round_trips(oneof_owner: type[Message]) -> None:
    for field in oneof_owner.DESCRIPTOR.oneofs_by_name["message"].fields:
        msg = oneof_owner()
        getattr(msg, field.name).CopyFrom(_sample(_cls(field.message_type)))
        decoded = oneof_owner.FromString(msg.SerializeToString())
        assert decoded.WhichOneof("message") == field.name
        assert decoded == msg


def test_every_enum_has_unspecified_zero() -> None:
    for enum in pb.DESCRIPTOR.enum_types_by_name.values():
        assert enum.values_by_number[0].name.endswith("_UNSPECIFIED"), enum.name


def test_every_server_message_carries_media_time() -> None:
    assert pb.ServerMessage.DESCRIPTOR.fields_by_name["media_time_ms"].number == 1


def test_generated_code_is_not_stale(tmp_path: Path) -> None:
    """`make proto` output must equal what is committed under callbot/v1."""
    plugin_dir = Path(sys.executable).parent
    if not (plugin_dir / "protoc-gen-mypy").exists():
        pytest.fail("mypy-protobuf is not installed (dev extra)")
    proto_root = ROOT / "protos"
    shutil.copytree(proto_root, tmp_path / "protos")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-Iprotos",
            "--python_out=.",
            "--grpc_python_out=.",
            "--mypy_out=.",
            "--mypy_grpc_out=.",
            "protos/callbot/v1/callbot.proto",
        ],
        cwd=tmp_path,
        check=True,
        env={"PATH": f"{plugin_dir}:/usr/bin:/bin"},
        capture_output=True,
    )
    for name in (
        "callbot_pb2.py",
        "callbot_pb2.pyi",
        "callbot_pb2_grpc.py",
        "callbot_pb2_grpc.pyi",
    ):
        fresh = tmp_path / "callbot" / "v1" / name
        committed = ROOT / "callbot" / "v1" / name
        assert filecmp.cmp(fresh, committed, shallow=False), f"{name} is stale: run `make proto`"
