"""Write a SYNTHETIC FEST M30 file of realistic size and shape, for load and performance tests.

Nothing in the output is clinical data: substance and brand names are invented words, every
manufacturer is "Syntetisk ...", every interaction text starts with "SYNTETISK TESTDATA", and
the file opens with a comment saying so. The shape follows a real FEST 2.5.1 file: the m30
namespace at the root and the forskrivning namespace redeclared on LegemiddelMerkevare,
Legemiddelpakning, Virkestoff, VirkestoffMedStyrke and Handelsvare kinds; interactions with
level-5 codes, level-3/4 group codes and substances known only by virkestoff id;
InteraksjonIkkeVurdert; Status U entries; Byttegruppe; filler catalogues a loader skips.
The file is written entry by entry, never held in memory. Same seed and scale, same bytes.

    python -m loaders.fest.synthetic OUT.xml [--seed N] [--scale F]
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from xml.sax.saxutils import escape, quoteattr

from loaders.fest.parser import FORSKRIVNING_NS, M30_NS

ATC_OID = "2.16.578.1.12.4.1.1.7180"
HENTET_DATO = "2030-01-01T00:00:00"
WITHDRAWN_SHARE = 0.02

_ANATOMICAL = "ABCDGHJLMNPRSV"
_SYLLABLES = ("ba", "ce", "do", "fa", "ge", "hi", "ka", "lo", "ma", "ne", "pi", "ra", "so", "ta", "vu",
              "xa", "ze", "ri", "mo", "lu", "na", "te", "zo", "fe", "pa", "qui", "dra", "tro", "ble",
              "sta")  # fmt: skip
_SUFFIXES = ("pril", "sartan", "statin", "olol", "azol", "mycin", "tidin", "prazol", "zepam", "triptan",
             "floxacin", "vir", "mab", "parin", "dipin", "gliptin", "lukast", "oxetin", "amin",
             "tropin")  # fmt: skip
_MAKERS = ("Syntetisk", "Syntetika", "Syntetisk Farma", "Syntetisk Generika")
_FORMS = (("53", "Tablett", "tab"), ("743", "Depotkapsel, hard", "depotkaps, hard"),
          ("842", "Mikstur, oppløsning", "mikst oppl"), ("97", "Injeksjonsvæske, oppløsning", "inj"),
          ("48", "Kapsel, hard", "kaps, hard"), ("711", "Depottablett", "depottab"))  # fmt: skip
_STRENGTHS = ("1", "2.5", "5", "10", "20", "25", "40", "50", "75", "100", "150", "200", "250", "400", "500",
              "850", "1000")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Sizes:
    """How many of each record kind to write at scale 1.0 (the full-size file)."""

    atc_codes: int = 2400
    products: int = 10_500
    packages: int = 16_000
    interactions: int = 11_300
    not_assessed: int = 250
    herbals: int = 150
    swap_groups: int = 2_500
    filler_code_lists: int = 400

    def scaled(self, scale: float) -> Sizes:
        def at_least_one(n: int) -> int:
            return max(1, round(n * scale))

        return Sizes(*(at_least_one(getattr(self, name)) for name in self.__dataclass_fields__))


@dataclass(slots=True)
class _Substance:
    id: str
    name: str
    atc: str | None
    salt_id: str | None = None


@dataclass(slots=True)
class _Product:
    id: str
    brand: str
    atc: str
    form: tuple[str, str, str]
    strength_ids: list[str]
    strength_text: str
    withdrawn: bool


@dataclass(slots=True)
class _World:
    """The invented catalogue, held as small specs while the XML is streamed out."""

    rng: random.Random
    atc_codes: list[str] = field(default_factory=list)
    substances: list[_Substance] = field(default_factory=list)
    substance_of_atc: dict[str, _Substance] = field(default_factory=dict)
    herbals: list[_Substance] = field(default_factory=list)
    strengths: dict[tuple[str, str], str] = field(default_factory=dict)
    products: list[_Product] = field(default_factory=list)
    swap_group_ids: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def new_id(self) -> str:
        bits = self.rng.getrandbits(128)
        text = f"{bits:032X}"
        return f"ID_{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

    def count(self, kind: str, n: int = 1) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + n


# -- inventing the catalogue -------------------------------------------------------------


def _pseudo_word(rng: random.Random, used: set[str]) -> str:
    while True:
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3))) + rng.choice(_SUFFIXES)
        if word not in used:
            used.add(word)
            return word.capitalize()


def _invent_atc_codes(rng: random.Random, n: int) -> list[str]:
    codes: set[str] = set()
    while len(codes) < n:
        group = f"{rng.choice(_ANATOMICAL)}{rng.randint(1, 12):02d}"
        level4 = f"{group}{rng.choice('ABCDEFGH')}{rng.choice('ABCDEFGHX')}"
        for number in range(1, rng.randint(3, 12)):
            codes.add(f"{level4}{number:02d}")
    return sorted(codes)[:n]


def _invent_world(seed: int, sizes: Sizes) -> _World:
    world = _World(random.Random(seed))  # noqa: S311 - synthetic data, not a secret
    used: set[str] = set()
    world.atc_codes = _invent_atc_codes(world.rng, sizes.atc_codes)
    for code in world.atc_codes:
        substance = _Substance(world.new_id(), _pseudo_word(world.rng, used), code)
        if world.rng.random() < 0.12:  # a salt form the base references, as FEST does
            substance.salt_id = world.new_id()
        world.substances.append(substance)
        world.substance_of_atc[code] = substance
    world.herbals = [
        _Substance(world.new_id(), f"{_pseudo_word(world.rng, used)} urt", None) for _ in range(sizes.herbals)
    ]
    world.swap_group_ids = [world.new_id() for _ in range(sizes.swap_groups)]
    world.products = [_invent_product(world, used) for _ in range(sizes.products)]
    return world


def _popular_code(world: _World) -> str:
    # A skewed pick: some substances have many generics, as in a real catalogue.
    position = int(len(world.atc_codes) * world.rng.random() ** 2)
    return world.atc_codes[position]


def _strength_id(world: _World, substance: _Substance, value: str) -> str:
    key = (substance.id, value)
    if key not in world.strengths:
        world.strengths[key] = world.new_id()
    return world.strengths[key]


def _invent_product(world: _World, used: set[str]) -> _Product:
    rng = world.rng
    code = _popular_code(world)
    substance = world.substance_of_atc[code]
    value = rng.choice(_STRENGTHS)
    strength_ids = [_strength_id(world, substance, value)]
    strength_text = f"{value.replace('.', ',')} mg"
    if rng.random() < 0.08:  # a combination product with a second substance
        other = world.substance_of_atc[rng.choice(world.atc_codes)]
        other_value = rng.choice(_STRENGTHS)
        strength_ids.append(_strength_id(world, other, other_value))
        strength_text += f"/{other_value.replace('.', ',')} mg"
    brand = _pseudo_word(rng, used) if rng.random() < 0.3 else f"{substance.name} {rng.choice(_MAKERS)}"
    withdrawn = rng.random() < WITHDRAWN_SHARE
    return _Product(world.new_id(), brand, code, rng.choice(_FORMS), strength_ids, strength_text, withdrawn)


# -- writing -------------------------------------------------------------------------------


def _status(withdrawn: bool) -> str:
    return '<Status V="U" DN="Utgått oppføring" />' if withdrawn else '<Status V="A" DN="Aktiv oppføring" />'


def _entry(world: _World, inner: str, withdrawn: bool = False) -> str:
    return (
        f"<Id>{world.new_id()}</Id><Tidspunkt>2029-06-01T03:00:00</Tidspunkt>{_status(withdrawn)}{inner}"
    )


def _atc(code: str, name: str) -> str:
    return f'<Atc V="{code}" S="{ATC_OID}" DN={quoteattr(name)} />'


def _product_xml(world: _World, p: _Product) -> str:
    name = world.substance_of_atc[p.atc].name
    form_code, form_name, form_short = p.form
    sorted_refs = "".join(
        f"<SortertVirkestoffMedStyrke><Sortering>{i}</Sortering><RefVirkestoffMedStyrke>{ref}</RefVirkestoffMedStyrke></SortertVirkestoffMedStyrke>"
        for i, ref in enumerate(p.strength_ids)
    )
    kortdoser = "".join(
        f'<Kortdose V="55{n:02d}" S="2.16.578.1.12.4.1.1.7478" DN="{n}+0+0+0" />' for n in range(1, 5)
    )
    inner = (
        f'<LegemiddelMerkevare xmlns="{FORSKRIVNING_NS}">{_atc(p.atc, name)}'
        f"<NavnFormStyrke>{escape(p.brand)} {form_short} {p.strength_text}</NavnFormStyrke>"
        '<Reseptgruppe V="C" DN="Reseptgruppe C" />'
        f'<LegemiddelformKort V="{form_code}" S="2.16.578.1.12.4.1.1.7448" DN="{form_name}" />'
        '<Preparattype V="7" DN="Legemiddel" />'
        '<AdministreringLegemiddel><Administrasjonsvei V="53" S="2.16.578.1.12.4.1.1.7477" DN="Oral bruk" />'
        f'<EnhetDosering V="13" S="2.16.578.1.12.4.1.1.7480" DN="tablett" />{kortdoser}'
        "</AdministreringLegemiddel>"
        f"<Id>{p.id}</Id><Varenavn>{escape(p.brand)}</Varenavn>"
        f"<LegemiddelformLang>{form_name}</LegemiddelformLang>{sorted_refs}"
        f"<ProduktInfo><Produsent>{world.rng.choice(_MAKERS)} AS</Produsent></ProduktInfo>"
        "<Reseptgyldighet><Varighet>P1Y</Varighet></Reseptgyldighet>"
        '<Preparatomtaleavsnitt><Avsnittoverskrift V="SPCHUMAN_00" DN="INNHOLDSFORTEGNELSE" />'
        f'<Lenke><Www V="https://example.invalid/syntetisk/{p.id}.pdf" /></Lenke></Preparatomtaleavsnitt>'
        "</LegemiddelMerkevare>"
    )
    return f"<OppfLegemiddelMerkevare>{_entry(world, inner, p.withdrawn)}</OppfLegemiddelMerkevare>\n"


def _package_xml(world: _World, p: _Product, varenr: int) -> str:
    rng = world.rng
    swap = ""
    if rng.random() < 0.6:
        swap = (
            f"<PakningByttegruppe><RefByttegruppe>{rng.choice(world.swap_group_ids)}</RefByttegruppe>"
            "<GyldigFraDato>2020-01-01</GyldigFraDato></PakningByttegruppe>"
        )
    prices = "".join(
        f'<PrisVare><Type V="{t}" S="2.16.578.1.12.4.1.1.7453" DN="{dn}" />'
        f'<Pris V="{rng.randint(20, 900)}.{rng.randint(0, 99)}" U="NOK" />'
        "<GyldigFraDato>2029-01-01</GyldigFraDato></PrisVare>"
        for t, dn in (("2", "Refusjonspris"), ("3", "AIP"), ("4", "AUP"))
    )
    inner = (
        f'<Legemiddelpakning xmlns="{FORSKRIVNING_NS}">{_atc(p.atc, world.substance_of_atc[p.atc].name)}'
        f"<NavnFormStyrke>{escape(p.brand)} {p.form[2]} {p.strength_text}</NavnFormStyrke>"
        f'<Reseptgruppe V="C" DN="Reseptgruppe C" /><Preparattype V="7" DN="Legemiddel" />{swap}'
        f"<Id>{world.new_id()}</Id><Varenr>{varenr:06d}</Varenr>"
        f"<Ean>70{rng.randint(10**10, 10**11 - 1)}</Ean>"
        '<Oppbevaring V="R" DN="Rom (15-25 grader)" />'
        f"<Pakningsinfo><RefLegemiddelMerkevare>{p.id}</RefLegemiddelMerkevare>"
        f"<Pakningsstr>{rng.choice((28, 30, 98, 100))}</Pakningsstr>"
        '<EnhetPakning V="stk" S="2.16.578.1.12.4.1.1.7452" DN="stykk" />'
        f'<Pakningstype V="169" S="2.16.578.1.12.4.1.1.7449" DN="Blisterpakning" /></Pakningsinfo>{prices}'
        "<Markedsforingsinfo><Markedsforingsdato>2029-01-15</Markedsforingsdato></Markedsforingsinfo></Legemiddelpakning>"
    )
    withdrawn = p.withdrawn or rng.random() < WITHDRAWN_SHARE
    return f"<OppfLegemiddelpakning>{_entry(world, inner, withdrawn)}</OppfLegemiddelpakning>\n"


def _substance_xml(world: _World, s: _Substance, withdrawn: bool = False) -> str:
    related = f"<RefVirkestoff>{s.salt_id}</RefVirkestoff>" if s.salt_id else ""
    inner = (
        f'<Virkestoff xmlns="{FORSKRIVNING_NS}"><Id>{s.id}</Id><Navn>{escape(s.name)}</Navn>'
        f"<NavnEngelsk>Synthetic {escape(s.name.lower())}</NavnEngelsk>{related}</Virkestoff>"
    )
    return f"<OppfVirkestoff>{_entry(world, inner, withdrawn)}</OppfVirkestoff>\n"


def _salt_xml(world: _World, s: _Substance) -> str:
    salt = _Substance(s.salt_id or "", f"{s.name}hydroklorid", None)
    return _substance_xml(world, salt)


def _strength_xml(world: _World, substance_id: str, value: str, strength_id: str) -> str:
    inner = (
        f'<VirkestoffMedStyrke xmlns="{FORSKRIVNING_NS}"><Id>{strength_id}</Id><Styrke V="{value}" U="mg" />'
        f"<RefVirkestoff>{substance_id}</RefVirkestoff>"
        '<Styrkeoperator V="L" S="2.16.578.1.12.4.1.1.7445" DN="Lik" /></VirkestoffMedStyrke>'
    )
    return f"<OppfVirkestoff>{_entry(world, inner)}</OppfVirkestoff>\n"


def _swap_group_xml(world: _World, group_id: str, number: int) -> str:
    inner = (
        f'<Byttegruppe><Id>{group_id}</Id><Kode V="{number:06d}" DN="SYNTETISK BYTTEGRUPPE {number}" />'
        "<MerknadTilByttbarhet>false</MerknadTilByttbarhet></Byttegruppe>"
    )
    return f"<OppfByttegruppe>{_entry(world, inner)}</OppfByttegruppe>\n"


def _member_xml(name: str, atc: str | None, substance_ids: Sequence[str] = ()) -> str:
    atc_xml = _atc(atc, name) if atc else ""
    refs = "".join(f"<RefVirkestoff>{ref}</RefVirkestoff>" for ref in substance_ids)
    return f"<Substans><Substans>{escape(name)}</Substans>{atc_xml}{refs}</Substans>"


def _side_xml(world: _World) -> str:
    """One Substansgruppe: plain codes, a level-4 class with members, a level-3 class, or herbals."""
    rng = world.rng
    roll = rng.random()
    if roll < 0.70:
        # Uniform picks: a real catalogue spreads interactions far more evenly than products.
        codes = {rng.choice(world.atc_codes) for _ in range(rng.randint(1, 2))}
        members = [_member_xml(world.substance_of_atc[c].name, c) for c in sorted(codes)]
    elif roll < 0.85:
        level4 = rng.choice(world.atc_codes)[:5]
        children = [c for c in world.atc_codes if c.startswith(level4)]
        members = [_member_xml(f"Syntetisk klasse {level4}", level4)]
        members += [_member_xml(world.substance_of_atc[c].name, c) for c in children]
    elif roll < 0.93:
        level3 = rng.choice(world.atc_codes)[:4]
        members = [_member_xml(f"Syntetisk gruppe {level3}", level3)]
    else:
        herbal = rng.choice(world.herbals)
        members = [_member_xml(herbal.name, None, [herbal.id])]
    name = f"<Navn>{escape(rng.choice(world.substances).name)}</Navn>" if rng.random() < 0.3 else ""
    return f"<Substansgruppe>{name}{''.join(members)}</Substansgruppe>"


def _interaction_xml(world: _World) -> str:
    rng = world.rng
    relevans = rng.choices((1, 2, 3), weights=(15, 60, 25))[0]
    situation = (
        "<Situasjonskriterium>SYNTETISK: gjelder ved høye doser.</Situasjonskriterium>"
        if rng.random() < 0.2
        else ""
    )
    handling = (
        "<Handtering>SYNTETISK: Dosetilpasning kan vurderes.\nSYNTETISK: Legemiddelalternativer finnes.\n"
        "</Handtering>"
    )
    rules = "".join(
        f'<Visningsregel V="{v}" S="2.16.578.1.12.4.1.1.7442" DN="Setting {v}" />' for v in (1, 4, 2, 3)
    )
    if relevans == 3:
        rules = ""
    elif rng.random() < 0.1:
        rules = '<Visningsregel V="3" S="2.16.578.1.12.4.1.1.7442" DN="Sykehus" />'
    references = "".join(
        f"<Referanse><Kilde>Syntetisk kilde {n}</Kilde>"
        f'<Lenke V="https://example.invalid/syntetisk/{n}" /></Referanse>'
        for n in range(rng.randint(1, 3))
    )
    inner = (
        f"<Interaksjon><Id>{world.new_id()}</Id>"
        f'<Relevans V="{relevans}" DN="Relevans {relevans}" />{situation}'
        "<KliniskKonsekvens>SYNTETISK TESTDATA - ikke klinisk informasjon. Økt konsentrasjon."
        "</KliniskKonsekvens>"
        "<Interaksjonsmekanisme>SYNTETISK: hemmet metabolisme.</Interaksjonsmekanisme>"
        f'<Kildegrunnlag V="{rng.randint(1, 4)}" DN="Kildegrunnlag" />{handling}{rules}{references}'
        f"{_side_xml(world)}{_side_xml(world)}</Interaksjon>"
    )
    return f"<OppfInteraksjon>{_entry(world, inner, rng.random() < WITHDRAWN_SHARE)}</OppfInteraksjon>\n"


def _not_assessed_xml(world: _World) -> str:
    code = world.rng.choice(world.atc_codes)
    inner = (
        f"<InteraksjonIkkeVurdert>{_atc(code, world.substance_of_atc[code].name)}</InteraksjonIkkeVurdert>"
    )
    return f"<OppfInteraksjon>{_entry(world, inner)}</OppfInteraksjon>\n"


def _code_list_xml(world: _World, number: int) -> str:
    elements = "".join(
        f"<Element><Kode>{n}</Kode><Term>Syntetisk term {number}.{n}</Term></Element>"
        for n in range(world.rng.randint(5, 60))
    )
    inner = (
        f"<Kodeverk><Info><Betegnelse>Syntetisk kodeverk {number}</Betegnelse>"
        f"<Kortnavn>S{number}</Kortnavn></Info>{elements}</Kodeverk>"
    )
    return f"<OppfKodeverk>{_entry(world, inner)}</OppfKodeverk>\n"


def _trade_goods_xml(world: _World, number: int) -> str:
    inner = (
        f'<MedForbMatr xmlns="{FORSKRIVNING_NS}"><Nr>{900000 + number}</Nr>'
        f"<Navn>Syntetisk forbruksmateriell {number}</Navn>"
        "<Leverandor><Navn>SYNTETISK LEVERANDØR AS</Navn></Leverandor></MedForbMatr>"
    )
    return f"<OppfHandelsvare>{_entry(world, inner)}</OppfHandelsvare>\n"


def _catalogue(out: IO[str], name: str, entries: Iterator[str]) -> None:
    out.write(f"<Kat{name}>\n")
    for entry in entries:
        out.write(entry)
    out.write(f"</Kat{name}>\n")


def _write(out: IO[str], world: _World, sizes: Sizes) -> None:
    out.write('<?xml version="1.0" encoding="utf-8"?>\n')
    out.write("<!-- SYNTETISK TESTFIL: oppdiktede data i FEST M30-format for last- og ytelsestester. "
              "Ikke klinisk informasjon; ikke fra DMP. "
              "SYNTHETIC TEST FILE: not clinical data. -->\n")  # fmt: skip
    out.write(f'<FEST xmlns="{M30_NS}">\n<HentetDato>{HENTET_DATO}</HentetDato>\n')
    _catalogue(out, "LegemiddelMerkevare", (_product_xml(world, p) for p in world.products))
    _catalogue(out, "Legemiddelpakning", _packages(world, sizes.packages))
    _catalogue(out, "Virkestoff", _substance_entries(world))
    _catalogue(out, "Handelsvare", (_trade_goods_xml(world, n) for n in range(sizes.filler_code_lists)))
    _catalogue(out, "Kodeverk", (_code_list_xml(world, n) for n in range(sizes.filler_code_lists)))
    _catalogue(out, "Byttegruppe", (_swap_group_xml(world, g, n) for n, g in enumerate(world.swap_group_ids)))
    _catalogue(out, "Interaksjon", _interaction_entries(world, sizes))
    out.write("</FEST>\n")


def _packages(world: _World, n: int) -> Iterator[str]:
    products = world.products
    for number in range(n):
        # Every product gets a package first; the rest go to random products.
        product = products[number] if number < len(products) else world.rng.choice(products)
        yield _package_xml(world, product, 100000 + number)


def _substance_entries(world: _World) -> Iterator[str]:
    for substance in world.substances:
        yield _substance_xml(world, substance, world.rng.random() < WITHDRAWN_SHARE / 2)
        if substance.salt_id:
            yield _salt_xml(world, substance)
    yield from (_substance_xml(world, herbal) for herbal in world.herbals)
    for (substance_id, value), strength_id in world.strengths.items():
        yield _strength_xml(world, substance_id, value, strength_id)


def _interaction_entries(world: _World, sizes: Sizes) -> Iterator[str]:
    for number in range(sizes.interactions):
        yield _interaction_xml(world)
        if number % max(1, sizes.interactions // sizes.not_assessed) == 0:
            yield _not_assessed_xml(world)


def write_synthetic_fest(path: str | Path, *, seed: int = 1, scale: float = 1.0) -> Sizes:
    """Write a synthetic FEST file; returns the sizes it was built with (the number of
    InteraksjonIkkeVurdert written is ceil(interactions / (interactions // not_assessed)))."""
    sizes = Sizes().scaled(scale)
    world = _invent_world(seed, sizes)
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        _write(out, world, sizes)
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a SYNTHETIC FEST M30 file (not clinical data).")
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = full size (>= 10,000 products)")
    args = parser.parse_args(argv)
    sizes = write_synthetic_fest(args.out, seed=args.seed, scale=args.scale)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB): {sizes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
