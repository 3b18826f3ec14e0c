"""The name rules of the consent check in every script: a pupil named in Cyrillic, Arabic, Chinese,
Greek, accented Latin or Turkish is found in a filename or caption as surely as "Amy Khan" is, and
a name the check cannot read is a deny with its own reason, never an allow."""

from __future__ import annotations

import pytest

from tests.media_consent.conftest import record_consent
from tests.media_consent.test_checks import ALL_INDIVIDUAL, check, reasons
from tests.world import School

# (given, family): filenames naming the pupil, filenames that do not, captions naming them in full.
PUPILS = {
    "cyrillic": (
        ("Анна", "Иванова"),
        ["анна_2026.jpg", "АННА.JPG", "ИвановаАнна.png", "IMG-иванова-1.jpg", "annaIvanova_Анна.jpg"],
        ["IMG_0042.jpg", "спортивный_день.jpg", "ivan.jpg"],
        ["Анна Иванова wins the race", "Well done, Иванова Анна!", "АННА  ИВАНОВА"],
    ),
    "arabic": (
        ("محمد", "علي"),
        ["محمد_2026.jpg", "IMG-علي.png", "ومحمد.jpg"],
        ["IMG_0042.jpg", "يوم_رياضي.jpg"],
        ["مبروك محمد علي", "Well done مُحَمَّد عَلِي"],
    ),
    "chinese": (
        ("小明", "王"),
        ["IMG_王小明.png", "小明.jpg", "运动会王小明2026.jpg"],
        ["IMG_0042.jpg", "运动会.png"],
        ["王小明同学获奖", "恭喜 王 小明!", "Well done 王小明"],
    ),
    "greek": (
        ("Γιώργος", "Παπαδόπουλος"),
        ["ΓΙΏΡΓΟΣ.jpg", "γιωργος_1.jpg", "papadopoulos_Παπαδόπουλος.png"],
        ["IMG_0042.jpg", "αθλητική_μέρα.jpg"],
        ["Ο Γιώργος Παπαδόπουλος κέρδισε", "ΓΙΩΡΓΟΣ ΠΑΠΑΔΟΠΟΥΛΟΣ"],
    ),
    "accented latin": (
        ("Zoë", "Müller"),
        ["zoe_art.jpg", "ZOË.jpg", "MULLER_2.jpg", "Zoe\u0308.png"],
        ["IMG_0042.jpg", "art_day.jpg"],
        ["Zoe Muller's painting", "ZOË MÜLLER", "Müller, Zoë"],
    ),
    "spanish": (
        ("José", "García"),
        ["jose-1.jpg", "GARCIA.jpg", "JoséGarcía.png"],
        ["IMG_0042.jpg", "fiesta.jpg"],
        ["Jose Garcia won", "JOSÉ GARCÍA"],
    ),
    "turkish": (
        ("İrem", "Yıldız"),
        ["irem.jpg", "IREM.jpg", "yildiz.png", "İREM_YILDIZ.jpg", "Yıldız2026.jpg"],
        ["IMG_0042.jpg", "spor_günü.jpg"],
        ["Irem Yildiz kazandı", "İREM YILDIZ", "irem yıldız"],
    ),
}


@pytest.mark.parametrize("script", list(PUPILS))
async def test_a_name_in_any_script_in_the_filename_is_denied(client, school: School, script: str) -> None:
    (given, family), named, harmless, _ = PUPILS[script]
    pupil = await school.add_pupil(given, family)
    await record_consent(client, school, pupil, ALL_INDIVIDUAL)
    for filename in named:
        result = await check(client, school, [pupil], filename=filename)
        assert reasons(result) == {str(pupil): "name_in_filename"}, filename
    for filename in harmless:
        result = await check(client, school, [pupil], filename=filename)
        assert result["decision"] == "allow", (filename, result)


@pytest.mark.parametrize("script", list(PUPILS))
async def test_a_full_name_in_any_script_in_a_caption_is_denied(client, school: School, script: str) -> None:
    (given, family), _, _, captions = PUPILS[script]
    pupil = await school.add_pupil(given, family)
    await record_consent(client, school, pupil, ALL_INDIVIDUAL)
    for caption in captions:
        result = await check(client, school, [pupil], caption=caption)
        assert reasons(result) == {str(pupil): "full_name_in_caption"}, caption
        inside = await check(client, school, [pupil], caption=caption, purpose="mle")
        assert inside["decision"] == "allow", caption
    # The given name alone is not the full name.
    alone = await check(client, school, [pupil], caption=f"{given} painted this")
    assert alone["decision"] == "allow", alone


async def test_what_the_check_cannot_read_is_denied_with_its_reason(client, school: School) -> None:
    amy = await school.add_pupil("Amy", "Khan")
    await record_consent(client, school, amy, ALL_INDIVIDUAL)
    # A private-use or unassigned code point could be a letter of the name: no allow.
    for filename in ("IMG_\ue000\ue001.jpg", "A\u0378my.jpg"):
        result = await check(client, school, [amy], filename=filename)
        assert reasons(result) == {str(amy): "name_not_matchable"}, filename
    caption = await check(client, school, [amy], caption="Sports day \U000f0001")
    assert reasons(caption) == {str(amy): "name_not_matchable"}
    # An emoji newer than the check's Unicode is no letter.
    emoji = await check(client, school, [amy], caption="Sports day \U0001faef")
    assert emoji["decision"] == "allow"
    # ... but the name found is the reason given, and invisible characters hide nothing.
    found = await check(client, school, [amy], filename="IMG_\ue000_amy.jpg")
    assert reasons(found) == {str(amy): "name_in_filename"}
    hidden = await check(client, school, [amy], filename="A\u200bm\u200dy.jpg")
    assert reasons(hidden) == {str(amy): "name_in_filename"}
    # A pupil whose name is nothing the check reads as letters: never cleared.
    unreadable = await school.add_pupil("\ue000\ue001", "\ue002")
    await record_consent(client, school, unreadable, ALL_INDIVIDUAL)
    result = await check(client, school, [unreadable], filename="IMG_0042.jpg")
    assert reasons(result) == {str(unreadable): "name_not_matchable"}
    # Without a filename or caption there is nothing to match.
    assert (await check(client, school, [unreadable]))["decision"] == "allow"
