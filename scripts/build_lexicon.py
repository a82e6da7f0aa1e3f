#!/usr/bin/env python3
"""Build data/lexicon/de_nl_not_en.txt, German and Dutch words that are not English, for the check that
an English text holds no untranslated words, and data/lexicon/en_common.txt, common English words, which
at the start of a sentence are capitalised without being names (src/pipeline/text/lexicon.rs), and data/lexicon/de_nl_vocab.txt,
German and Dutch vocabulary, which tells the translation checks a word from a name, and data/lexicon/en_words.txt,
English words of six letters or more, against which the fact check finds a summary's made-up words.

A word is listed when it is frequent in German or Dutch (Zipf frequency >= 3.0, i.e. at least once per
million words) and rare in English (Zipf < 1.5 and at least 1.5 below its German/Dutch frequency), per
wordfreq 3.1 (https://github.com/rspeer/wordfreq; its data is CC BY-SA 4.0, so is the derived list).
Measured choice: "Regierung" (de 5.23, en 1.09), "beurs" (nl 4.38, en 1.24) and "Tochter" (de 5.08,
en 1.19) are listed; names that are also used in English texts, such as "Handelsblatt" (en 1.60) and
"Seifert" (en 2.24), are not.

Usage: pip install wordfreq==3.1.1 && python3 scripts/build_lexicon.py
"""
import pathlib
from wordfreq import iter_wordlist, zipf_frequency

LEXICON = pathlib.Path(__file__).resolve().parent.parent / "data" / "lexicon"


def write_list(name, header, words):
    """One word a line, sorted, under its comment header."""
    path = LEXICON / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n".join(sorted(words)) + "\n", encoding="utf-8")
    print(f"{len(words)} words -> {path}")


out = set()
for lang in ("de", "nl"):
    for w in iter_wordlist(lang, "large"):
        z = zipf_frequency(w, lang)
        if z < 3.0:
            break
        if not w.isalpha():
            continue
        e = zipf_frequency(w, "en")
        if e < 1.5 and z - e >= 1.5:
            out.add(w)
write_list(
    "de_nl_not_en.txt",
    "# German and Dutch words that are not English (scripts/build_lexicon.py). Derived from wordfreq 3.1\n"
    "# (https://github.com/rspeer/wordfreq), CC BY-SA 4.0; this list is CC BY-SA 4.0 too.\n",
    out,
)

# German and Dutch vocabulary: words at least 30x more frequent in German or Dutch than in English
# (Zipf >= 2.5 there, 1.5 above English). The translation checks read a capitalised source word that is
# listed here as a word, not a name ("Firma", "Netz", "Welt"); "Seifert" (de 3.30, en 2.24), "Cloudflare"
# and "Google" are not listed, so they must come through a translation.
vocab = set()
for lang in ("de", "nl"):
    for w in iter_wordlist(lang, "large"):
        z = zipf_frequency(w, lang)
        if z < 2.5:
            break
        if w.isalpha() and z - zipf_frequency(w, "en") >= 1.5:
            vocab.add(w)
write_list(
    "de_nl_vocab.txt",
    "# German and Dutch words 30x more frequent there than in English, Zipf >= 2.5, from wordfreq 3.1\n"
    "# (https://github.com/rspeer/wordfreq), CC BY-SA 4.0 (scripts/build_lexicon.py).\n",
    vocab,
)


def english_words(min_zipf, min_len=1):
    """Alphabetic English words of at least `min_len` letters with a Zipf frequency of `min_zipf` or
    more, most frequent first."""
    out = []
    for w in iter_wordlist("en", "large"):
        if zipf_frequency(w, "en") < min_zipf:
            break
        if w.isalpha() and len(w) >= min_len:
            out.append(w)
    return out


common = english_words(4.0)
write_list(
    "en_common.txt",
    "# English words with a Zipf frequency of 4.0 or more (once per 10,000 words), from wordfreq 3.1\n"
    "# (https://github.com/rspeer/wordfreq), CC BY-SA 4.0 (scripts/build_lexicon.py).\n",
    common,
)

# English words of 6+ letters with a Zipf frequency of 1.5 or more (about once per 30 million words):
# a lowercase word of a summary that is neither here nor in its source is made up ("profitifies" for
# "profitiert"). 1.5 lists 116,129 words; 2.0 would drop "datacenters" (2.01 is kept) and words like it.
# Rarer real words pass through an inflection or prefix ("misconfigured", 1.42: mis + "configured") or
# when the source has them.
words = english_words(1.5, min_len=6)
write_list(
    "en_words.txt",
    "# English words of six letters or more with a Zipf frequency of 1.5 or more, from wordfreq 3.1\n"
    "# (https://github.com/rspeer/wordfreq), CC BY-SA 4.0 (scripts/build_lexicon.py).\n",
    words,
)
