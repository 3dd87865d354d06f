"""Multilingual free text for descriptions, comments, bios and reviews.

Text is composed from per-language phrase pools (opener × topic phrase × closer) that are
built once, then drawn by index into Arrow arrays: tens of millions of strings cost a ``take``
rather than a Python loop. Topic phrases carry the keywords researchers search for
(elections, climate, health, …) in each language, so ``LIKE '%klima%'`` finds something.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TOPICS = (
    "elections", "climate", "health", "sports", "music", "food",
    "education", "gaming", "fashion", "travel", "science", "comedy",
)  # fmt: skip

# Share of content per topic; STEM-ish topics drive is_stem_verified.
TOPIC_WEIGHTS = np.array([6, 7, 7, 12, 14, 11, 6, 10, 9, 8, 4, 6], dtype=float)
TOPIC_CDF = np.cumsum(TOPIC_WEIGHTS / TOPIC_WEIGHTS.sum())
STEM_TOPICS = frozenset({"education", "science", "health", "climate"})

_OPENERS = {
    "en": ["honestly", "ok so", "can't believe", "daily reminder:", "POV:", "wait for it,",
           "hot take:", "story time:"],
    "de": ["ehrlich gesagt", "also", "kaum zu glauben", "kleine Erinnerung:", "POV:",
           "wartet ab,", "unpopuläre Meinung:"],
    "fr": ["franchement", "bon alors", "j'y crois pas", "petit rappel :", "POV :",
           "attendez la fin,", "avis impopulaire :"],
    "es": ["la verdad", "a ver", "no me lo creo", "recordatorio:", "POV:", "esperad,",
           "opinión impopular:"],
    "it": ["sinceramente", "allora", "non ci credo", "promemoria:", "POV:", "aspettate,",
           "opinione impopolare:"],
    "pl": ["szczerze", "no więc", "nie wierzę", "przypominajka:", "POV:", "czekajcie,",
           "niepopularna opinia:"],
    "nl": ["eerlijk gezegd", "oké dus", "niet te geloven", "herinnering:", "POV:",
           "wacht maar,"],
    "pt": ["sinceramente", "então", "não acredito", "lembrete:", "POV:", "esperem,"],
    "ro": ["sincer", "deci", "nu-mi vine să cred", "reamintire:", "POV:"],
    "tr": ["açıkçası", "yani", "inanamıyorum", "hatırlatma:", "POV:"],
}  # fmt: skip

_TOPIC_PHRASES = {
    "elections": {
        "en": ["who are you voting for in the election", "the election debate last night",
               "polling stations open at 8, go vote"],
        "de": ["wen wählt ihr bei der Wahl", "das Wahlduell gestern", "Briefwahl nicht vergessen"],
        "fr": ["pour qui vous votez aux élections", "le débat des élections hier soir"],
        "es": ["a quién votáis en las elecciones", "el debate electoral de anoche"],
        "it": ["chi votate alle elezioni", "il dibattito elettorale di ieri"],
        "pl": ["na kogo głosujecie w wyborach", "debata przed wyborami"],
        "nl": ["op wie stem jij bij de verkiezingen", "het verkiezingsdebat"],
        "pt": ["em quem vocês votam nas eleições", "o debate das eleições"],
        "ro": ["cu cine votați la alegeri"], "tr": ["seçimlerde kime oy veriyorsunuz"],
    },
    "climate": {
        "en": ["climate change is real, look at this heatwave", "cutting my carbon footprint",
               "climate strike this friday"],
        "de": ["der Klimawandel ist real", "Klimastreik am Freitag", "Hitzewelle schon wieder"],
        "fr": ["le changement climatique est réel", "grève pour le climat vendredi"],
        "es": ["el cambio climático es real", "otra ola de calor"],
        "it": ["il cambiamento climatico è reale", "sciopero per il clima"],
        "pl": ["zmiany klimatu są realne", "strajk klimatyczny"],
        "nl": ["klimaatverandering is echt", "klimaatmars vrijdag"],
        "pt": ["as alterações climáticas são reais", "greve pelo clima"],
        "ro": ["schimbările climatice sunt reale"], "tr": ["iklim değişikliği gerçek"],
    },
    "health": {
        "en": ["my mental health routine", "what my doctor said about vaccines",
               "health tips nobody tells you"],
        "de": ["meine Routine für mentale Gesundheit", "Gesundheit geht vor", "Impfung heute"],
        "fr": ["ma routine santé mentale", "conseils santé"],
        "es": ["mi rutina de salud mental", "consejos de salud"],
        "it": ["la mia routine per la salute mentale", "consigli di salute"],
        "pl": ["moja rutyna dla zdrowia psychicznego", "porady zdrowotne"],
        "nl": ["mijn routine voor mentale gezondheid"], "pt": ["dicas de saúde mental"],
        "ro": ["sfaturi de sănătate"], "tr": ["sağlık önerileri"],
    },
    "sports": {
        "en": ["that goal in the last minute", "leg day at the gym", "match highlights"],
        "de": ["das Tor in der letzten Minute", "Beintag im Fitnessstudio"],
        "fr": ["ce but à la dernière minute", "résumé du match"],
        "es": ["ese gol en el último minuto", "resumen del partido"],
        "it": ["quel gol all'ultimo minuto", "gli highlights della partita"],
        "pl": ["ten gol w ostatniej minucie"], "nl": ["dat doelpunt in de laatste minuut"],
        "pt": ["aquele golo no último minuto"], "ro": ["golul din ultimul minut"],
        "tr": ["son dakika golü"],
    },
    "music": {
        "en": ["this song has been stuck in my head", "covering my favourite song",
               "new dance challenge"],
        "de": ["dieser Song geht nicht aus meinem Kopf", "neue Tanz-Challenge"],
        "fr": ["cette chanson tourne en boucle", "nouveau challenge de danse"],
        "es": ["no puedo dejar de escuchar esta canción", "nuevo reto de baile"],
        "it": ["questa canzone non mi esce dalla testa"], "pl": ["nowe wyzwanie taneczne"],
        "nl": ["dit liedje zit vast in mijn hoofd"], "pt": ["novo desafio de dança"],
        "ro": ["melodia asta nu-mi iese din cap"], "tr": ["yeni dans akımı"],
    },
    "food": {
        "en": ["easy pasta recipe in 10 minutes", "trying street food", "what I eat in a day"],
        "de": ["einfaches Rezept in 10 Minuten", "Streetfood testen"],
        "fr": ["recette facile en 10 minutes", "je goûte la street food"],
        "es": ["receta fácil en 10 minutos", "probando comida callejera"],
        "it": ["ricetta facile in 10 minuti", "la vera carbonara"],
        "pl": ["prosty przepis w 10 minut"], "nl": ["makkelijk recept in 10 minuten"],
        "pt": ["receita fácil em 10 minutos"], "ro": ["rețetă ușoară"], "tr": ["kolay tarif"],
    },
    "education": {
        "en": ["study with me for the exam", "math trick your teacher never showed you",
               "physics explained in 60 seconds"],
        "de": ["lernt mit mir für die Prüfung", "Mathe-Trick für die Schule"],
        "fr": ["révisez avec moi pour l'examen", "astuce de maths"],
        "es": ["estudia conmigo para el examen", "truco de matemáticas"],
        "it": ["studia con me per l'esame"], "pl": ["uczcie się ze mną do egzaminu"],
        "nl": ["studeer met mij voor het examen"], "pt": ["estudem comigo para o exame"],
        "ro": ["învățați cu mine pentru examen"], "tr": ["sınav için benimle çalışın"],
    },
    "gaming": {
        "en": ["new high score", "this boss fight took me 3 hours", "ranked grind tonight"],
        "de": ["neuer Highscore", "dieser Bosskampf hat 3 Stunden gedauert"],
        "fr": ["nouveau record", "ce boss m'a pris 3 heures"],
        "es": ["nuevo récord", "este jefe me llevó 3 horas"],
        "it": ["nuovo record"], "pl": ["nowy rekord"], "nl": ["nieuwe highscore"],
        "pt": ["novo recorde"], "ro": ["record nou"], "tr": ["yeni rekor"],
    },
    "fashion": {
        "en": ["outfit of the day", "thrift haul", "styling one jacket five ways"],
        "de": ["Outfit des Tages", "Second-Hand-Haul"], "fr": ["tenue du jour", "haul friperie"],
        "es": ["outfit del día"], "it": ["outfit del giorno"], "pl": ["stylizacja dnia"],
        "nl": ["outfit van de dag"], "pt": ["look do dia"], "ro": ["ținuta zilei"],
        "tr": ["günün kombini"],
    },
    "travel": {
        "en": ["hidden gems in this city", "budget travel tips", "sunset from the train"],
        "de": ["versteckte Orte in dieser Stadt", "Reisetipps mit kleinem Budget"],
        "fr": ["les pépites cachées de cette ville"], "es": ["rincones secretos de esta ciudad"],
        "it": ["posti nascosti in questa città"], "pl": ["ukryte miejsca w tym mieście"],
        "nl": ["verborgen plekjes in deze stad"], "pt": ["lugares escondidos nesta cidade"],
        "ro": ["locuri ascunse în acest oraș"], "tr": ["bu şehrin gizli yerleri"],
    },
    "science": {
        "en": ["science experiment you can do at home", "how vaccines work, explained",
               "space facts that blow my mind"],
        "de": ["Wissenschaftsexperiment für zu Hause", "Fakten über das Weltall"],
        "fr": ["expérience scientifique à faire chez soi"],
        "es": ["experimento de ciencia en casa"],
        "it": ["esperimento scientifico da fare a casa"], "pl": ["eksperyment naukowy w domu"],
        "nl": ["wetenschappelijk experiment voor thuis"], "pt": ["experiência de ciência em casa"],
        "ro": ["experiment științific acasă"], "tr": ["evde bilim deneyi"],
    },
    "comedy": {
        "en": ["when your mom calls you by your full name", "me pretending to understand",
               "nobody: absolutely nobody:"],
        "de": ["wenn Mama deinen vollen Namen ruft"], "fr": ["quand ta mère t'appelle par ton nom"],
        "es": ["cuando tu madre te llama por tu nombre completo"],
        "it": ["quando tua madre ti chiama col nome completo"], "pl": ["kiedy mama woła cię"],
        "nl": ["als je moeder je volledige naam roept"], "pt": ["quando a tua mãe te chama"],
        "ro": ["când mama te strigă"], "tr": ["annen tam adınla seslendiğinde"],
    },
}  # fmt: skip

_CLOSERS = ["", "", "!!", " 😂", " 🔥", " ❤️", " 😭", "...", " 🙏", " #fyp"]

LANGUAGES = tuple(_OPENERS)

# Language of content by region (falls back to English).
REGION_LANGUAGE = {
    "DE": "de", "AT": "de", "FR": "fr", "BE": "fr", "ES": "es", "IT": "it", "PL": "pl",
    "NL": "nl", "PT": "pt", "BR": "pt", "RO": "ro", "TR": "tr",
}  # fmt: skip

SYNTHETIC_MARK = "[synthetic] "


@dataclass(frozen=True)
class TextPool:
    """All composed texts of one kind, grouped by (language, topic) for drawing by index."""

    texts: pa.Array  # sorted by language, then topic
    starts: np.ndarray  # first text of each (language, topic) bucket
    counts: np.ndarray  # texts in each bucket

    def draw(self, rng: np.random.Generator, lang: np.ndarray, topic: np.ndarray) -> pa.Array:
        """One text per row, in the row's language and topic (any variant of it)."""
        key = lang.astype(np.int64) * len(TOPICS) + topic
        pick = self.starts[key] + (rng.random(len(key)) * self.counts[key]).astype(np.int64)
        return self.texts.take(pa.array(pick))


def build_pool(*, synthetic: bool = False, with_opener: bool = True) -> TextPool:
    """Compose every opener × topic phrase × closer per language, English filling gaps.

    Synthetic pools prefix every text with :data:`SYNTHETIC_MARK`, so they can never equal a
    real text and researchers see at a glance that a row is synthetic.

    >>> pool = build_pool()
    >>> len(pool.texts) > 1000
    True
    >>> build_pool(synthetic=True).texts[0].as_py().startswith("[synthetic] ")
    True
    """
    texts: list[str] = []
    counts: list[int] = []
    prefix = SYNTHETIC_MARK if synthetic else ""
    for lang in LANGUAGES:
        openers = _OPENERS[lang] if with_opener else [""]
        for topic in TOPICS:
            phrases = _TOPIC_PHRASES[topic].get(lang) or _TOPIC_PHRASES[topic]["en"]
            bucket = [
                f"{prefix}{o} {p}{c}".strip() for o in openers for p in phrases for c in _CLOSERS
            ]
            texts.extend(bucket)
            counts.append(len(bucket))
    n = np.array(counts, np.int64)
    starts = np.concatenate([[0], np.cumsum(n)[:-1]])
    return TextPool(pa.array(texts, pa.string()), starts, n)


def join_space(*parts: pa.Array) -> pa.Array:
    """Concatenate string arrays element-wise with a space, skipping empty parts."""
    out = pc.binary_join_element_wise(*parts, " ", null_handling="replace", null_replacement="")
    return pc.utf8_trim_whitespace(out)


def hashtag_text(names: pa.ListArray) -> pa.Array:
    """``['fyp', 'climate']`` → ``'#fyp #climate'`` for each row."""
    flat = pc.binary_join_element_wise("#", names.flatten(), "")
    tagged = pa.ListArray.from_arrays(names.offsets, flat)
    return pc.binary_join(tagged, " ")
