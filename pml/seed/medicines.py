"""A formulary of common medicines in Norwegian primary care, for synthetic demo lists.

ATC codes, strengths and dose texts are realistic; the lists built from them are synthetic, not clinical data.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Medicine:
    name: str
    atc: str
    strength: str
    form: str
    unit: str
    dose_text: str
    morning: Decimal = Decimal(0)
    midday: Decimal = Decimal(0)
    evening: Decimal = Decimal(0)
    night: Decimal = Decimal(0)
    as_needed_max: Decimal | None = None
    indication: str | None = None


def _m(*args: object, **kwargs: object) -> Medicine:
    converted = {k: Decimal(str(v)) if isinstance(v, int | float) else v for k, v in kwargs.items()}
    return Medicine(*args, **converted)  # type: ignore[arg-type]


FORMULARY: tuple[Medicine, ...] = (
    _m("Paracet", "N02BE01", "500 mg", "tablett", "tablett", "2 tabletter ved behov, maks 8 per døgn",
       as_needed_max=8, indication="smerter"),
    _m("Albyl-E", "B01AC06", "75 mg", "enterotablett", "tablett", "1 tablett om morgenen", morning=1,
       indication="forebygging av blodpropp"),
    _m("Metformin", "A10BA02", "500 mg", "tablett", "tablett", "1 tablett morgen og kveld", morning=1,
       evening=1, indication="diabetes type 2"),
    _m("Selo-Zok", "C07AB02", "50 mg", "depottablett", "tablett", "1 tablett om morgenen", morning=1,
       indication="høyt blodtrykk"),
    _m("Atorvastatin", "C10AA05", "20 mg", "tablett", "tablett", "1 tablett om kvelden", evening=1,
       indication="høyt kolesterol"),
    _m("Simvastatin", "C10AA01", "20 mg", "tablett", "tablett", "1 tablett om kvelden", evening=1,
       indication="høyt kolesterol"),
    _m("Amlodipin", "C08CA01", "5 mg", "tablett", "tablett", "1 tablett daglig", morning=1,
       indication="høyt blodtrykk"),
    _m("Ramipril", "C09AA05", "5 mg", "kapsel", "kapsel", "1 kapsel om morgenen", morning=1,
       indication="høyt blodtrykk"),
    _m("Losartan", "C09CA01", "50 mg", "tablett", "tablett", "1 tablett daglig", morning=1,
       indication="høyt blodtrykk"),
    _m("Furix", "C03CA01", "40 mg", "tablett", "tablett", "1 tablett om morgenen", morning=1,
       indication="hjertesvikt"),
    _m("Marevan", "B01AA03", "2,5 mg", "tablett", "tablett", "etter INR-skjema", evening=1,
       indication="atrieflimmer"),
    _m("Eliquis", "B01AF02", "5 mg", "tablett", "tablett", "1 tablett morgen og kveld", morning=1,
       evening=1, indication="atrieflimmer"),
    _m("Levaxin", "H03AA01", "100 mikrog", "tablett", "tablett", "1 tablett om morgenen før frokost",
       morning=1, indication="lavt stoffskifte"),
    _m("Somac", "A02BC02", "40 mg", "enterotablett", "tablett", "1 tablett om morgenen", morning=1,
       indication="refluks"),
    _m("Sertralin", "N06AB06", "50 mg", "tablett", "tablett", "1 tablett om morgenen", morning=1,
       indication="depresjon"),
    _m("Amitriptylin", "N06AA09", "25 mg", "tablett", "tablett", "1 tablett om kvelden", night=1,
       indication="smerter"),
    _m("Imovane", "N05CF01", "7,5 mg", "tablett", "tablett", "1 tablett ved behov til natten",
       as_needed_max=1, indication="søvnvansker"),
    _m("Sobril", "N05BA04", "10 mg", "tablett", "tablett", "1 tablett ved behov, maks 3 per døgn",
       as_needed_max=3, indication="uro"),
    _m("OxyNorm", "N02AA05", "5 mg", "kapsel", "kapsel", "1 kapsel ved behov, maks 6 per døgn",
       as_needed_max=6, indication="gjennombruddssmerter"),
    _m("Laxoberal", "A06AB08", "7,5 mg/ml", "dråper", "dråpe", "10 dråper om kvelden", evening=10,
       indication="forstoppelse"),
    _m("Movicol", "A06AD65", "13,7 g", "pulver", "dosepose", "1 dosepose daglig", morning=1,
       indication="forstoppelse"),
    _m("Prednisolon", "H02AB06", "5 mg", "tablett", "tablett", "2 tabletter om morgenen", morning=2,
       indication="revmatisme"),
    _m("Allopurinol", "M04AA01", "100 mg", "tablett", "tablett", "1 tablett daglig", morning=1,
       indication="urinsyregikt"),
    _m("Donepezil", "N06DA02", "5 mg", "tablett", "tablett", "1 tablett om kvelden", evening=1,
       indication="demens"),
    _m("Madopar", "N04BA02", "100 mg/25 mg", "kapsel", "kapsel", "1 kapsel 3 ganger daglig", morning=1,
       midday=1, evening=1, indication="Parkinsons sykdom"),
    _m("Calcigran Forte", "A12AX", "1000 mg/800 IE", "tyggetablett", "tablett", "1 tablett daglig",
       morning=1, indication="beinskjørhet"),
    _m("Alendronat", "M05BA04", "70 mg", "tablett", "tablett", "1 tablett en gang i uken", morning=1,
       indication="beinskjørhet"),
    _m("Spiriva", "R03BB04", "18 mikrog", "inhalasjonspulver", "inhalasjon", "1 inhalasjon daglig",
       morning=1, indication="KOLS"),
    _m("Ventoline", "R03AC02", "0,1 mg/dose", "inhalasjonsspray", "inhalasjon",
       "1-2 inhalasjoner ved behov", as_needed_max=8, indication="tung pust"),
    _m("Insulatard", "A10AC01", "100 IE/ml", "injeksjonsvæske", "IE", "16 IE om kvelden", evening=16,
       indication="diabetes"),
)
