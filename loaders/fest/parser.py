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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from lxml import etree

from interactions.model import (
    STATUS_ACTIVE,
    STATUS_WITHDRAWN,
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


_LISTENED_TAGS = _tags(
    tuple(f"Oppf{name}" for name in CATALOGUES) + tuple(f"Kat{name}" for name in CATALOGUES) + ("HentetDato",)
)
ENTRY_TAGS = _tags(tuple(f"Oppf{name}" for name in CATALOGUES))
_LISTENED_LOCAL_NAMES = {tag: tag.rsplit("}", 1)[-1] for tag in _LISTENED_TAGS}


def _local_name(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _namespace(tag: str) -> str:
    return tag[1 : tag.index("}")] if tag.startswith("{") else ""


class _Shape:
    """The children one kind of element is read by: `single` local names (the first such child counts) and
    `repeated` ones (every such child, in order), in the element's own namespace. `read` collects them in ONE
    pass over the children, matching full tags against a table built once per element tag: far cheaper than a
    find() per field or grouping every child (most children of a FEST record are never read)."""

    __slots__ = ("_names", "_repeated", "_tables")

    def __init__(self, single: str, repeated: str = "") -> None:
        self._names = (*single.split(), *repeated.split())
        self._repeated = frozenset(repeated.split())
        self._tables: dict[str, dict[str, str]] = {}

    def read(self, element: Any) -> dict[str, Any]:
        """Local name -> the first child (single names) or the list of children (repeated names)."""
        table = self._tables.get(element.tag) or self._table(element.tag)
        repeated = self._repeated
        found: dict[str, Any] = {}
        for child in element:
            name = table.get(child.tag)
            if name is None:
                continue
            if name not in found:
                found[name] = [child] if name in repeated else child
            elif name in repeated:
                found[name].append(child)
        return found

    def first(self, element: Any, name: str) -> Any:
        """The first child called `name` (one of this shape's names), or None."""
        table = self._tables.get(element.tag) or self._table(element.tag)
        for child in element:
            if table.get(child.tag) == name:
                return child
        return None

    def _table(self, tag: str) -> dict[str, str]:
        prefix = tag[: tag.index("}") + 1] if tag.startswith("{") else ""
        table = self._tables[tag] = {prefix + name: name for name in self._names}
        return table


def _text(element: Any) -> str | None:
    """An element's stripped text; None for no element, no text or only whitespace."""
    if element is None:
        return None
    value: str | None = element.text
    return value.strip() or None if value else None


def _texts(elements: Iterable[Any]) -> tuple[str, ...]:
    return tuple([text for element in elements if (text := _text(element)) is not None])


def _attr(element: Any, attribute: str = "V") -> str | None:
    return None if element is None else element.get(attribute)


def _attrs(elements: Iterable[Any], attribute: str = "V") -> tuple[str, ...]:
    return tuple([value for element in elements if (value := element.get(attribute)) is not None])


def _required(found: dict[str, Any], name: str, element: Any) -> str:
    value = _text(found.get(name))
    if value is None:
        raise FestFormatError(f"{_local_name(element.tag)} without {name}", element.sourceline)
    return value


def _nested(found: dict[str, Any], name: str, shape: _Shape, inner: str) -> Any:
    """The first `name`/`inner` grandchild, looking through every `name` child in turn."""
    for parent in found.get(name, ()):
        child = shape.first(parent, inner)
        if child is not None:
            return child
    return None


# -- record builders (one per FEST content element) ------------------------------------

_PRODUCT = _Shape(
    "Id Varenavn NavnFormStyrke Atc LegemiddelformKort LegemiddelformLang",
    "AdministreringLegemiddel SortertVirkestoffMedStyrke",
)
_ADMINISTRATION = _Shape("Administrasjonsvei")
_SORTED_STRENGTH = _Shape("Sortering RefVirkestoffMedStyrke")
_PACKAGE = _Shape("Id Varenr Ean Atc NavnFormStyrke", "Pakningsinfo PakningByttegruppe")
_PACKAGE_INFO = _Shape("RefLegemiddelMerkevare")
_PACKAGE_SWAP_GROUP = _Shape("RefByttegruppe")
_SUBSTANCE = _Shape("Id Navn NavnEngelsk Atc", "RefVirkestoff")
_STRENGTH = _Shape("Id RefVirkestoff Styrke StyrkeNevner AtcKombipreparat")
_SWAP_GROUP = _Shape("Id Kode")
_INTERACTION = _Shape(
    "Id Relevans KliniskKonsekvens Situasjonskriterium Interaksjonsmekanisme Kildegrunnlag Handtering",
    "Substansgruppe Visningsregel Referanse",
)
_GROUP = _Shape("Navn", "Substans")
_MEMBER = _Shape("Substans Atc", "RefVirkestoff")
_REFERENCE = _Shape("Kilde Lenke")
_NOT_ASSESSED = _Shape("Atc")
_ENTRY_HEADER_TABLES: dict[str, dict[str, str]] = {}


def _entry_parts(element: Any, tag: str) -> tuple[Any, Any, Any, str]:
    """An Oppf* entry's (tag `tag`) Id and Status, in its own namespace, and its content: the first child that
    is not a header element, in any namespace, with the content's local name. One pass over the children."""
    table = _ENTRY_HEADER_TABLES.get(tag)
    if table is None:
        prefix = tag[: tag.index("}") + 1] if tag.startswith("{") else ""
        table = _ENTRY_HEADER_TABLES[tag] = {prefix + name: name for name in _ENTRY_HEADER}
    entry_id = status = content = None
    content_name = ""
    for child in element:
        child_tag = child.tag
        name = table.get(child_tag)
        if name == "Id":
            entry_id = child if entry_id is None else entry_id
        elif name == "Status":
            status = child if status is None else status
        elif name is None and content is None:
            local = _local_name(child_tag)
            if local not in _ENTRY_HEADER:
                content, content_name = child, local
    return entry_id, status, content, content_name


def _strength_ids(entries: list[Any]) -> tuple[str, ...]:
    """RefVirkestoffMedStyrke in Sortering order (ties by id)."""
    ordered = []
    for entry in entries:
        found = _SORTED_STRENGTH.read(entry)
        ref = _text(found.get("RefVirkestoffMedStyrke"))
        if ref:
            ordered.append((int(_text(found.get("Sortering")) or 0), ref))
    ordered.sort()
    return tuple(ref for _order, ref in ordered)


def _product(content: Any, status: str) -> Product:
    f = _PRODUCT.read(content)
    strength_ids = _strength_ids(f.get("SortertVirkestoffMedStyrke", ()))
    form = f.get("LegemiddelformKort")
    return Product(
        id=_required(f, "Id", content),
        brand_name=_text(f.get("Varenavn")) or "",
        name_form_strength=_text(f.get("NavnFormStyrke")) or "",
        atc=_attr(f.get("Atc")),
        form=_attr(form, "DN"),
        form_code=_attr(form),
        form_long=_text(f.get("LegemiddelformLang")),
        route=_attr(_nested(f, "AdministreringLegemiddel", _ADMINISTRATION, "Administrasjonsvei"), "DN"),
        strength_ids=strength_ids,
        status=status,
    )


def _package(content: Any, status: str) -> Package:
    f = _PACKAGE.read(content)
    return Package(
        id=_required(f, "Id", content),
        varenr=_required(f, "Varenr", content),
        product_id=_text(_nested(f, "Pakningsinfo", _PACKAGE_INFO, "RefLegemiddelMerkevare")),
        ean=_text(f.get("Ean")),
        atc=_attr(f.get("Atc")),
        name_form_strength=_text(f.get("NavnFormStyrke")),
        swap_group_id=_text(_nested(f, "PakningByttegruppe", _PACKAGE_SWAP_GROUP, "RefByttegruppe")),
        status=status,
    )


def _substance(content: Any, status: str) -> Substance:
    f = _SUBSTANCE.read(content)
    return Substance(
        id=_required(f, "Id", content),
        name=_text(f.get("Navn")) or "",
        name_en=_text(f.get("NavnEngelsk")),
        atc=_attr(f.get("Atc")),
        related_ids=_texts(f.get("RefVirkestoff", ())),
        status=status,
    )


def _strength(content: Any, status: str) -> SubstanceWithStrength:
    f = _STRENGTH.read(content)
    strength, denominator = f.get("Styrke"), f.get("StyrkeNevner")
    return SubstanceWithStrength(
        id=_required(f, "Id", content),
        substance_id=_text(f.get("RefVirkestoff")),
        strength_value=_attr(strength),
        strength_unit=_attr(strength, "U"),
        denominator_value=_attr(denominator),
        denominator_unit=_attr(denominator, "U"),
        combination_atc=_attr(f.get("AtcKombipreparat")),
        status=status,
    )


def _swap_group(content: Any, status: str) -> SwapGroup:
    f = _SWAP_GROUP.read(content)
    code = f.get("Kode")
    return SwapGroup(
        id=_required(f, "Id", content), code=_attr(code) or "", name=_attr(code, "DN"), status=status
    )


def _member(element: Any) -> GroupMember:
    f = _MEMBER.read(element)
    # Positional arguments (name, atc, substance_ids): a full file has ~60,000 members; keywords cost more.
    return GroupMember(
        _text(f.get("Substans")) or "", _attr(f.get("Atc")), _texts(f.get("RefVirkestoff", ()))
    )


def _group(element: Any) -> SubstanceGroup:
    f = _GROUP.read(element)
    return SubstanceGroup(tuple([_member(m) for m in f.get("Substans", ())]), _text(f.get("Navn")))


def _reference(element: Any) -> Reference:
    f = _REFERENCE.read(element)
    return Reference(_text(f.get("Kilde")) or "", _attr(f.get("Lenke")))


def _int_code(f: dict[str, Any], name: str, element: Any) -> int:
    value = _attr(f.get(name))
    if value is None or not value.isdigit():
        raise FestFormatError(f"{name} is not a code: {value!r}", element.sourceline)
    return int(value)


def _interaction(content: Any, status: str, entry_id: str) -> InteractionRecord:
    f = _INTERACTION.read(content)
    groups = [_group(group) for group in f.get("Substansgruppe", ())]
    if len(groups) != 2:
        raise FestFormatError(
            f"Interaksjon with {len(groups)} Substansgruppe, expected 2", content.sourceline
        )
    return InteractionRecord(
        id=_required(f, "Id", content),
        entry_id=entry_id,
        relevans=_int_code(f, "Relevans", content),
        clinical_consequence=_text(f.get("KliniskKonsekvens")) or "",
        groups=(groups[0], groups[1]),
        situation_criterion=_text(f.get("Situasjonskriterium")),
        mechanism=_text(f.get("Interaksjonsmekanisme")),
        source_basis=_attr(f.get("Kildegrunnlag")),
        handling=_text(f.get("Handtering")),
        display_rules=tuple([int(code) for code in _attrs(f.get("Visningsregel", ())) if code.isdigit()]),
        references=tuple([_reference(r) for r in f.get("Referanse", ())]),
        status=status,
    )


def _not_assessed(content: Any, status: str, entry_id: str) -> NotAssessed:
    atc_element = _NOT_ASSESSED.read(content).get("Atc")
    atc = _attr(atc_element)
    if not atc:
        raise FestFormatError("InteraksjonIkkeVurdert without Atc", content.sourceline)
    return NotAssessed(entry_id=entry_id, atc=atc, name=_attr(atc_element, "DN"), status=status)


_SIMPLE_BUILDERS: dict[str, Callable[[Any, str], CatalogueRecord]] = {
    "LegemiddelMerkevare": _product,
    "Legemiddelpakning": _package,
    "Virkestoff": _substance,
    "VirkestoffMedStyrke": _strength,
    "Byttegruppe": _swap_group,
}
_ENTRY_BUILDERS: dict[str, Callable[[Any, str, str], CatalogueRecord]] = {
    "Interaksjon": _interaction,
    "InteraksjonIkkeVurdert": _not_assessed,
}


def _build(content: Any, name: str, status: str, entry_id: str) -> CatalogueRecord | None:
    """The record of a content element called `name` (its local name), or None for kinds PML does not use."""
    simple = _SIMPLE_BUILDERS.get(name)
    if simple is not None:
        return simple(content, status)
    with_entry = _ENTRY_BUILDERS.get(name)
    return None if with_entry is None else with_entry(content, status, entry_id)


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
        local_name = _LISTENED_LOCAL_NAMES.__getitem__  # every event's tag is one of the listened tags
        try:
            for _event, element in events:
                tag = element.tag
                name = local_name(tag)
                if name.startswith("Oppf"):
                    record = self._entry(element, tag, name)
                    _release_memory(element)
                    if record is not None:
                        yield record
                elif name == "HentetDato":
                    self._take_hentet_dato(element)
                else:  # a Kat* wrapper: its entries are handled; drop it and any unknown siblings
                    _release_memory(element)
        except etree.XMLSyntaxError as error:
            raise FestFormatError(f"malformed FEST XML: {error.msg}", error.lineno) from error
        self._refuse_doctype(events)

    def _take_hentet_dato(self, element: Any) -> None:
        root = element.getparent()
        if root is None or _local_name(root.tag) != "FEST" or _namespace(root.tag) != M30_NS:
            raise FestFormatError("HentetDato outside an m30 FEST root", element.sourceline)
        self.hentet_dato = (element.text or "").strip() or None

    def _entry(self, element: Any, tag: str, name: str) -> CatalogueRecord | None:
        if self.hentet_dato is None:
            raise FestFormatError(
                "catalogue entry before HentetDato: not a FEST M30 file", element.sourceline
            )
        entry_id, status_element, content, content_name = _entry_parts(element, tag)
        status = _attr(status_element) or STATUS_ACTIVE
        record = None if content is None else _build(content, content_name, status, _text(entry_id) or "")
        self._count(record, name, status)
        return record

    def _count(self, record: CatalogueRecord | None, entry_name: str, status: str) -> None:
        if record is None:
            self._tally.skipped[entry_name] += 1
            return
        self._tally.records[record.kind] += 1
        if status == STATUS_WITHDRAWN:  # the record's status: `record.active` is False
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
