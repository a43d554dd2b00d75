"""Hand-made malicious archives are refused; a good one extracts."""

from __future__ import annotations

import io
import tarfile

import pytest

from tinkex.checkpoints import UnsafeArchiveError, safe_extract


def _archive(tmp_path, members):
    path = tmp_path / "a.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name, data=b"x", mode=0o644):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    return info, data


def _link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def _special(name, kind):
    info = tarfile.TarInfo(name)
    info.type = kind
    return info, None


def test_good_archive_extracts(tmp_path):
    path = _archive(tmp_path, [_file("weights/adapter.safetensors", b"abc"),
                               _file("meta.json", b"{}", mode=0o4777),
                               _link("weights/latest", "adapter.safetensors")])
    safe_extract(path, tmp_path / "out")
    assert (tmp_path / "out" / "weights" / "adapter.safetensors").read_bytes() == b"abc"
    assert (tmp_path / "out" / "meta.json").stat().st_mode & 0o7777 == 0o644  # no setuid


@pytest.mark.parametrize("member,why", [
    (_file("/etc/evil"), "absolute path"),
    (_file("../evil"), "'..'"),
    (_file("a/../../evil"), "'..'"),
    (_link("escape", "/etc/passwd"), "links outside"),
    (_link("escape", "../../etc/passwd"), "links outside"),
    (_link("hard", "../outside", tarfile.LNKTYPE), "links outside"),
    (_special("dev", tarfile.CHRTYPE), "device or special"),
    (_special("blk", tarfile.BLKTYPE), "device or special"),
    (_special("fifo", tarfile.FIFOTYPE), "device or special"),
])
def test_malicious_members_are_refused_before_anything_is_written(tmp_path, member, why):
    path = _archive(tmp_path, [_file("ok.txt"), member])
    with pytest.raises(UnsafeArchiveError, match=why):
        safe_extract(path, tmp_path / "out")
    assert not (tmp_path / "out" / "ok.txt").exists()
    assert not (tmp_path / "evil").exists()
