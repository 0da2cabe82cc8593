"""Stream-parse a FEST M30 file into `interactions.model` records.

The file is read once with `lxml.etree.iterparse`, listening only for the end of `Oppf*`
entries (plus the catalogue wrappers and `HentetDato`); each entry is turned into a record,
then cleared and unlinked from its parent, so memory stays flat however large the file.
The sha256 of the file is computed from the same bytes the parser reads.

FEST elements live in two namespaces: a real file redeclares the forskrivning namespace on
LegemiddelMerkevare, Legemiddelpakning, Virkestoff, VirkestoffMedStyrke and the Handelsvare
kinds, while DMP's extracts may be all-m30. Elements are matched by local name within those
two namespaces; a record's fields are read in the namespace of the record element itself.

Safety: a FEST file never needs a DTD, so any document type declaration (and with it every
entity trick: XXE, billion laughs) is refused before parsing starts with `UnsafeXmlError`.
The parser also runs with entity resolution, DTD loading and network access off and without
`huge_tree`. A malformed or truncated file raises `FestFormatError` (with the line number
where lxml gives one); the error surfaces when iteration reaches it, so a consumer of
`FestReader.records()` must treat everything it received as void when it is raised (load
inside a transaction). `parse_catalogue`/`parse_release` return only complete results.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from lxml import etree

from interactions.model import (
    STATUS_ACTIVE,
    Catalogue,
    CatalogueRecord,
    GroupMember,
    InteractionRecord,
    NotAssessed,
    Package,
    Product,
    Reference,
    Substance,
    SubstanceGroup,
    SubstanceWithStrength,
    SwapGroup,
)

M30_NS = "http://www.kith.no/xmlstds/eresept/m30/2014-12-01"
FORSKRIVNING_NS = "http://www.kith.no/xmlstds/eresept/forskrivning/2014-12-01"
FEST_NAMESPACES = (M30_NS, FORSKRIVNING_NS)

# The 15 catalogues of M30 2014-12-01 and the entry element each holds.
CATALOGUES = (
    "LegemiddelMerkevare", "Legemiddelpakning", "Virkestoff", "OrdineringVirkestoff",
    "LegemiddelVirkestoff", "Handelsvare", "Diagnose", "Refusjon", "Vilkar", "VarselSlv",
    "Kodeverk", "Byttegruppe", "Legemiddeldose", "Interaksjon", "StrDosering",
)  # fmt: skip
_ENTRY_HEADER = frozenset({"Id", "Tidspunkt", "Status"})
_PROLOG_LIMIT = 64 * 1024
_READ_CHUNK = 1024 * 1024


class FestFormatError(ValueError):
    """The file is not a well-formed FEST M30 document (malformed, truncated, wrong shape)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"{message} (line {line})" if line else message)


class UnsafeXmlError(FestFormatError):
    """The file declares a DTD or entities; FEST never does, so it is refused unparsed."""


def _tags(names: tuple[str, ...]) -> list[str]:
    return [f"{{{ns}}}{name}" for ns in FEST_NAMESPACES for name in names]


_LISTENED_TAGS = _tags(tuple(f"Oppf{name}" for name in CATALOGUES) + tuple(f"Kat{name}" for name in CATALOGUES) + ("HentetDato",))
ENTRY_TAGS = _tags(tuple(f"Oppf{name}" for name in CATALOGUES))


def _local_name(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _namespace(tag: str) -> str:
    return tag[1 : tag.index("}")] if tag.startswith("{") else ""


class _Fields:
    """Reads an element's descendants by local-name path ("A/B") in the element's own
    namespace. Children are grouped by tag in one pass on first use: far cheaper than an
    lxml find() per field."""

    __slots__ = ("element", "_prefix", "_by_tag")

    def __init__(self, element: Any) -> None:
        self.element = element
        tag = element.tag
        self._prefix = tag[: tag.index("}") + 1] if tag.startswith("{") else ""
        self._by_tag: dict[str, list[Any]] | None = None

    def _named(self, name: str) -> list[Any]:
        if self._by_tag is None:
            self._by_tag = {}
            for child in self.element:
                self._by_tag.setdefault(child.tag, []).append(child)
        return self._by_tag.get(self._prefix + name, [])

    def nodes(self, path: str) -> list[Any]:
        first, _, rest = path.partition("/")
        found = self._named(first)
        return [node for parent in found for node in _Fields(parent).nodes(rest)] if rest else found

    def raw_text(self, path: str) -> str | None:
        found = self.nodes(path)
        return found[0].text if found else None

    def text(self, path: str) -> str | None:
        value = self.raw_text(path)
        return value.strip() or None if value else None

    def required(self, path: str) -> str:
        value = self.text(path)
        if value is None:
            raise FestFormatError(f"{_local_name(self.element.tag)} without {path}", self.element.sourceline)
        return value

    def attr(self, path: str, attribute: str = "V") -> str | None:
        found = self.nodes(path)
        return found[0].get(attribute) if found else None

    def texts(self, path: str) -> tuple[str, ...]:
        return tuple(node.text.strip() for node in self.nodes(path) if node.text and node.text.strip())

    def attrs(self, path: str, attribute: str = "V") -> tuple[str, ...]:
        return tuple(value for node in self.nodes(path) if (value := node.get(attribute)) is not None)

    def children(self, path: str) -> list[_Fields]:
        return [_Fields(node) for node in self.nodes(path)]


# -- record builders (one per FEST content element) ------------------------------------


def _product(f: _Fields, status: str) -> Product:
    sorted_refs = sorted(
        (int(entry.text("Sortering") or 0), ref)
        for entry in f.children("SortertVirkestoffMedStyrke")
        if (ref := entry.text("RefVirkestoffMedStyrke"))
    )
    return Product(
        id=f.required("Id"),
        brand_name=f.text("Varenavn") or "",
        name_form_strength=f.text("NavnFormStyrke") or "",
        atc=f.attr("Atc"),
        form=f.attr("LegemiddelformKort", "DN"),
        form_code=f.attr("LegemiddelformKort"),
        form_long=f.text("LegemiddelformLang"),
        route=f.attr("AdministreringLegemiddel/Administrasjonsvei", "DN"),
        strength_ids=tuple(ref for _order, ref in sorted_refs),
        status=status,
    )


def _package(f: _Fields, status: str) -> Package:
    return Package(
        id=f.required("Id"),
        varenr=f.required("Varenr"),
        product_id=f.text("Pakningsinfo/RefLegemiddelMerkevare"),
        ean=f.text("Ean"),
        atc=f.attr("Atc"),
        name_form_strength=f.text("NavnFormStyrke"),
        swap_group_id=f.text("PakningByttegruppe/RefByttegruppe"),
        status=status,
    )


def _substance(f: _Fields, status: str) -> Substance:
    return Substance(
        id=f.required("Id"),
        name=f.text("Navn") or "",
        name_en=f.text("NavnEngelsk"),
        atc=f.attr("Atc"),
        related_ids=f.texts("RefVirkestoff"),
        status=status,
    )


def _strength(f: _Fields, status: str) -> SubstanceWithStrength:
    return SubstanceWithStrength(
        id=f.required("Id"),
        substance_id=f.text("RefVirkestoff"),
        strength_value=f.attr("Styrke"),
        strength_unit=f.attr("Styrke", "U"),
        denominator_value=f.attr("StyrkeNevner"),
        denominator_unit=f.attr("StyrkeNevner", "U"),
        combination_atc=f.attr("AtcKombipreparat"),
        status=status,
    )


def _swap_group(f: _Fields, status: str) -> SwapGroup:
    return SwapGroup(id=f.required("Id"), code=f.attr("Kode") or "", name=f.attr("Kode", "DN"), status=status)


def _group(f: _Fields) -> SubstanceGroup:
    members = tuple(
        GroupMember(name=m.text("Substans") or "", atc=m.attr("Atc"), substance_ids=m.texts("RefVirkestoff"))
        for m in f.children("Substans")
    )
    return SubstanceGroup(members=members, name=f.text("Navn"))


def _int_code(f: _Fields, path: str) -> int:
    value = f.attr(path)
    if value is None or not value.isdigit():
        raise FestFormatError(f"{path} is not a code: {value!r}", f.element.sourceline)
    return int(value)


def _interaction(f: _Fields, status: str, entry_id: str) -> InteractionRecord:
    groups = [_group(group) for group in f.children("Substansgruppe")]
    if len(groups) != 2:
        raise FestFormatError(f"Interaksjon with {len(groups)} Substansgruppe, expected 2", f.element.sourceline)
    handling = f.raw_text("Handtering")
    return InteractionRecord(
        id=f.required("Id"),
        entry_id=entry_id,
        relevans=_int_code(f, "Relevans"),
        clinical_consequence=f.text("KliniskKonsekvens") or "",
        groups=(groups[0], groups[1]),
        situation_criterion=f.text("Situasjonskriterium"),
        mechanism=f.text("Interaksjonsmekanisme"),
        source_basis=f.attr("Kildegrunnlag"),
        handling=handling.strip() if handling and handling.strip() else None,
        display_rules=tuple(int(code) for code in f.attrs("Visningsregel") if code.isdigit()),
        references=tuple(Reference(r.text("Kilde") or "", r.attr("Lenke")) for r in f.children("Referanse")),
        status=status,
    )


def _not_assessed(f: _Fields, status: str, entry_id: str) -> NotAssessed:
    atc = f.attr("Atc")
    if not atc:
        raise FestFormatError("InteraksjonIkkeVurdert without Atc", f.element.sourceline)
    return NotAssessed(entry_id=entry_id, atc=atc, name=f.attr("Atc", "DN"), status=status)


_SIMPLE_BUILDERS = {
    "LegemiddelMerkevare": _product,
    "Legemiddelpakning": _package,
    "Virkestoff": _substance,
    "VirkestoffMedStyrke": _strength,
    "Byttegruppe": _swap_group,
}
_ENTRY_BUILDERS = {"Interaksjon": _interaction, "InteraksjonIkkeVurdert": _not_assessed}


def _build(content: Any, status: str, entry_id: str) -> CatalogueRecord | None:
    name = _local_name(content.tag)
    if name in _SIMPLE_BUILDERS:
        return _SIMPLE_BUILDERS[name](_Fields(content), status)
    if name in _ENTRY_BUILDERS:
        return _ENTRY_BUILDERS[name](_Fields(content), status, entry_id)
    return None


# -- safety and I/O --------------------------------------------------------------------

_ROOT_START = re.compile(rb"<[A-Za-z_]")


def _decoded_head(head: bytes) -> bytes:
    """The head as ASCII-compatible bytes, so markup can be searched whatever the encoding."""
    for bom, codec in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return head[len(bom) :].decode(codec, errors="replace").encode("utf-8")
    if head[:4] in (b"<\x00?\x00", b"\x00<\x00?"):
        return head.decode("utf-16-le" if head[0] == 0x3C else "utf-16-be", errors="replace").encode()
    return head


def refuse_unsafe_prolog(head: bytes) -> None:
    """Raise UnsafeXmlError if the document prolog declares a DTD or entities."""
    text = _decoded_head(head)
    root = _ROOT_START.search(text)
    if root is None and len(head) >= _PROLOG_LIMIT:
        raise UnsafeXmlError(f"no root element within the first {_PROLOG_LIMIT} bytes; refusing the file")
    prolog = text if root is None else text[: root.start()]
    if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
        raise UnsafeXmlError("document type declaration (DTD/entities) refused: a FEST file never has one")


class _HashingReader:
    """A file wrapper that feeds every byte lxml reads into sha256."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.digest = hashlib.sha256()
        self.size = 0
        self.exhausted = False

    def read(self, size: int = _READ_CHUNK) -> bytes:
        chunk = self._stream.read(size if size and size > 0 else _READ_CHUNK)
        self.digest.update(chunk)
        self.size += len(chunk)
        self.exhausted = self.exhausted or not chunk
        return chunk


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, read in chunks (for callers that do not parse it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _iterparse(source: _HashingReader, tags: list[str]) -> Any:
    return etree.iterparse(
        source,
        events=("end",),
        tag=tags,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _release_memory(element: Any) -> None:
    """Clear a handled element and unlink its already-handled earlier siblings."""
    element.clear(keep_tail=False)
    parent = element.getparent()
    while element.getprevious() is not None:
        del parent[0]


# -- the reader ------------------------------------------------------------------------


@dataclass(slots=True)
class _Tally:
    records: Counter[str] = field(default_factory=Counter)
    withdrawn: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)


class FestReader:
    """One pass over one FEST file. Iterate `records()` once; afterwards `hentet_dato`,
    `counts`, `withdrawn`, `skipped`, `sha256` and `size` describe the file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.hentet_dato: str | None = None
        self._tally = _Tally()
        self._sha256: str | None = None
        self.size = 0

    @property
    def counts(self) -> dict[str, int]:
        """Records produced per kind (model `kind` names)."""
        return dict(self._tally.records)

    @property
    def withdrawn(self) -> dict[str, int]:
        """Records per kind whose Status is U (kept, marked inactive)."""
        return dict(self._tally.withdrawn)

    @property
    def skipped(self) -> dict[str, int]:
        """Entries of catalogues PML does not use, per entry element name."""
        return dict(self._tally.skipped)

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            raise RuntimeError("sha256 is known only after records() has run to the end")
        return self._sha256

    def records(self) -> Iterator[CatalogueRecord]:
        """Yield every record in file order. Raises FestFormatError/UnsafeXmlError; see the
        module docstring for what a consumer must do with records received before that."""
        with open(self.path, "rb") as stream:
            refuse_unsafe_prolog(stream.read(_PROLOG_LIMIT))
            stream.seek(0)
            reader = _HashingReader(stream)
            yield from self._parse(reader)
            self._finish(reader)

    def _parse(self, reader: _HashingReader) -> Iterator[CatalogueRecord]:
        events = _iterparse(reader, _LISTENED_TAGS)
        try:
            for _event, element in events:
                yield from self._handle(element)
        except etree.XMLSyntaxError as error:
            raise FestFormatError(f"malformed FEST XML: {error.msg}", error.lineno) from error
        self._refuse_doctype(events)

    def _handle(self, element: Any) -> Iterator[CatalogueRecord]:
        name = _local_name(element.tag)
        if name == "HentetDato":
            self._take_hentet_dato(element)
        elif name.startswith("Oppf"):
            record = self._entry(element, name)
            if record is not None:
                yield record
            _release_memory(element)
        else:  # a Kat* wrapper: its entries are handled; drop it and any unknown siblings
            _release_memory(element)

    def _take_hentet_dato(self, element: Any) -> None:
        root = element.getparent()
        if root is None or _local_name(root.tag) != "FEST" or _namespace(root.tag) != M30_NS:
            raise FestFormatError("HentetDato outside an m30 FEST root", element.sourceline)
        self.hentet_dato = (element.text or "").strip() or None

    def _entry(self, element: Any, name: str) -> CatalogueRecord | None:
        if self.hentet_dato is None:
            raise FestFormatError("catalogue entry before HentetDato: not a FEST M30 file", element.sourceline)
        header = _Fields(element)
        content = next((child for child in element if _local_name(child.tag) not in _ENTRY_HEADER), None)
        status = header.attr("Status") or STATUS_ACTIVE
        record = None if content is None else _build(content, status, header.text("Id") or "")
        self._count(record, name, status)
        return record

    def _count(self, record: CatalogueRecord | None, entry_name: str, status: str) -> None:
        if record is None:
            self._tally.skipped[entry_name] += 1
            return
        self._tally.records[record.kind] += 1
        if not record.active:
            self._tally.withdrawn[record.kind] += 1

    @staticmethod
    def _refuse_doctype(events: Any) -> None:
        # Second line of defence behind refuse_unsafe_prolog (e.g. an exotic encoding).
        root = getattr(events, "root", None)
        if root is not None and root.getroottree().docinfo.doctype:
            raise UnsafeXmlError("document type declaration refused: a FEST file never has one")

    def _finish(self, reader: _HashingReader) -> None:
        if self.hentet_dato is None:
            raise FestFormatError("no HentetDato: not a FEST M30 file")
        while reader.read():  # lxml may stop before EOF; hash every byte of the file
            pass
        self._sha256 = reader.digest.hexdigest()
        self.size = reader.size


@dataclass(frozen=True, slots=True)
class FestRelease:
    """A fully parsed FEST file with what a catalogue release records about it."""

    catalogue: Catalogue
    source_name: str
    sha256: str
    size: int
    counts: dict[str, int]
    withdrawn: dict[str, int]
    skipped: dict[str, int]

    @property
    def hentet_dato(self) -> str:
        return self.catalogue.hentet_dato


def parse_release(path: str | Path) -> FestRelease:
    """Parse a whole file into a release; raises rather than return anything partial."""
    reader = FestReader(path)
    records = list(reader.records())
    catalogue = Catalogue(hentet_dato=reader.hentet_dato or "")
    for record in records:
        catalogue.add(record)
    return FestRelease(
        catalogue=catalogue,
        source_name=reader.path.name,
        sha256=reader.sha256,
        size=reader.size,
        counts=reader.counts,
        withdrawn=reader.withdrawn,
        skipped=reader.skipped,
    )


def parse_catalogue(path: str | Path) -> Catalogue:
    """Parse a whole file into a Catalogue (HentetDato included)."""
    return parse_release(path).catalogue
