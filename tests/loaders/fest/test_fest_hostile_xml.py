"""Hostile and broken files are refused with a clear error, never half-parsed into success."""

from pathlib import Path

import pytest

from loaders.fest.parser import FestFormatError, FestReader, UnsafeXmlError, parse_release

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "fest"
M30 = "http://www.kith.no/xmlstds/eresept/m30/2014-12-01"
BODY = f'<FEST xmlns="{M30}"><HentetDato>&x;</HentetDato></FEST>'

HOSTILE = {
    "xxe-file": f'<?xml version="1.0"?>\n<!DOCTYPE FEST [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n{BODY}',
    "xxe-http": f'<?xml version="1.0"?>\n<!DOCTYPE FEST [<!ENTITY x SYSTEM "http://127.0.0.1:9/fest.dtd">]>\n{BODY}',
    "external-dtd": (
        '<?xml version="1.0"?>\n<!DOCTYPE FEST SYSTEM "http://127.0.0.1:9/fest.dtd">\n'
        + BODY.replace("&x;", "2026")
    ),
    "parameter-entity": (
        f'<?xml version="1.0"?>\n<!DOCTYPE FEST [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>\n{BODY}'
    ),
    "internal-entity": f'<?xml version="1.0"?>\n<!DOCTYPE FEST [<!ENTITY x "2026-01-01T00:00:00">]>\n{BODY}',
    "billion-laughs": (
        '<?xml version="1.0"?>\n<!DOCTYPE FEST [<!ENTITY x0 "ha">'
        + "".join(f'<!ENTITY x{n} "{f"&x{n - 1};" * 10}">' for n in range(1, 10))
        + f'<!ENTITY x "&x9;">]>\n{BODY}'
    ),
    "doctype-after-comment": (
        f'<?xml version="1.0"?>\n<!-- harmless? -->\n<!DOCTYPE FEST [<!ENTITY x "y">]>\n{BODY}'
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_dtd_and_entity_tricks_are_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.xml"
    path.write_text(HOSTILE[name], encoding="utf-8")
    with pytest.raises(UnsafeXmlError, match="document type declaration"):
        parse_release(path)


def test_utf16_doctype_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "utf16.xml"
    path.write_bytes(
        HOSTILE["xxe-file"].replace('version="1.0"', 'version="1.0" encoding="utf-16"').encode("utf-16")
    )
    with pytest.raises(UnsafeXmlError):
        parse_release(path)


def test_unsafe_file_yields_no_record_at_all(tmp_path: Path) -> None:
    path = tmp_path / "x.xml"
    path.write_text(HOSTILE["internal-entity"], encoding="utf-8")
    reader = FestReader(path)
    with pytest.raises(UnsafeXmlError):
        next(iter(reader.records()))


def test_unsafe_error_is_a_format_error() -> None:
    assert issubclass(UnsafeXmlError, FestFormatError)


def _truncated_extract(tmp_path: Path, fraction: float) -> Path:
    data = (FIXTURES / "fest-utdrag-2026-09-08.xml").read_bytes()
    path = tmp_path / "truncated.xml"
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.99])
def test_truncated_file_raises_with_a_line_number(tmp_path: Path, fraction: float) -> None:
    with pytest.raises(FestFormatError) as caught:
        parse_release(_truncated_extract(tmp_path, fraction))
    assert caught.value.line is not None
    assert caught.value.line > 1
    assert "line" in str(caught.value)


def test_truncated_file_fails_after_yielding_records(tmp_path: Path) -> None:
    # A streaming consumer sees records first and the error last: it must load in a
    # transaction and roll back, which is what parse_release's all-or-nothing does.
    received = []
    with pytest.raises(FestFormatError):  # noqa: PT012 - what the loop collected before the error is the point
        for record in FestReader(_truncated_extract(tmp_path, 0.9)).records():
            received.append(record)
    assert received


@pytest.mark.parametrize(
    ("name", "content"),
    [
        (
            "mismatched-tag",
            f'<FEST xmlns="{M30}"><HentetDato>2026</HentetDato><KatInteraksjon></KatVirkestoff></FEST>',
        ),
        ("not-xml", "this is not a FEST file"),
        ("empty", ""),
        ("undefined-entity", f'<FEST xmlns="{M30}"><HentetDato>&nbsp;</HentetDato></FEST>'),
        ("wrong-root", '<Other xmlns="urn:x"><HentetDato>2026</HentetDato></Other>'),
        ("no-hentetdato", f'<FEST xmlns="{M30}"><KatKodeverk/></FEST>'),
        (
            "three-substance-groups",
            f'<FEST xmlns="{M30}"><HentetDato>2026</HentetDato><KatInteraksjon><OppfInteraksjon><Id>E</Id>'
            '<Tidspunkt>2026-01-01T00:00:00</Tidspunkt><Status V="A"/>'
            '<Interaksjon><Id>I</Id><Relevans V="1"/>'
            "<Substansgruppe/><Substansgruppe/><Substansgruppe/></Interaksjon>"
            "</OppfInteraksjon></KatInteraksjon></FEST>",
        ),
        (
            "package-without-varenr",
            f'<FEST xmlns="{M30}"><HentetDato>2026</HentetDato>'
            "<KatLegemiddelpakning><OppfLegemiddelpakning><Id>E</Id>"
            '<Tidspunkt>2026-01-01T00:00:00</Tidspunkt><Status V="A"/>'
            "<Legemiddelpakning><Id>P</Id></Legemiddelpakning>"
            "</OppfLegemiddelpakning></KatLegemiddelpakning></FEST>",
        ),
    ],
)
def test_malformed_files_raise_format_errors(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / f"{name}.xml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(FestFormatError):
        parse_release(path)
