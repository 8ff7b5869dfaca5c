"""Rule recognisers: the identifiers a pattern finds better than a model (numbers, addresses, facilities).

Each is a Presidio :class:`~presidio_analyzer.PatternRecognizer` for Japanese (``ja``). Labelled numbers use
variable-length look-behinds (the ``regex`` module Presidio matches with), so only the value is replaced and
the label (``保険者番号``) stays for the model to read.
"""

from __future__ import annotations

import regex
from presidio_analyzer import Pattern, PatternRecognizer

from workbench.summary.redaction.dates import AGE_OVER_89_RE, BIRTH_DATE_PATTERN
from workbench.summary.redaction.kinds import IdentifierKind

D = "[0-9０-９]"
"""A digit, ASCII or full-width."""
H = "[-‐‑–—―−－ーｰ]"
"""A hyphen as Japanese text writes it (including the long-vowel mark typed for one)."""
S = "[ 　]"
"""A space, ASCII or ideographic."""
_SEP = f"(?:{S}?{H}{S}?|{S})?"
_PREFECTURES = (
    "北海道|東京都|京都府|大阪府|(?:青森|岩手|宮城|秋田|山形|福島|茨城|栃木|群馬|埼玉|千葉|神奈川|新潟|富山|石川|福井|"
    "山梨|長野|岐阜|静岡|愛知|三重|滋賀|兵庫|奈良|和歌山|鳥取|島根|岡山|広島|山口|徳島|香川|愛媛|高知|福岡|佐賀|長崎|熊本|"
    "大分|宮崎|鹿児島|沖縄)県"
)
_MUNICIPALITY = "[一-龥々ヶ]{1,6}?(?:市|区|町|村|郡)"
_MUNICIPALITY_KANA = "[一-龥々ヶぁ-んァ-ヶー]{1,6}?(?:市|区|町|村|郡)"
_NAME_CHARS = "[一-龥々ぁ-んァ-ヶーA-Za-zＡ-Ｚａ-ｚ]"
_TOWN = (
    f"(?:[一-龥々ぁ-んァ-ヶー]{{0,8}}?{D}+(?:丁目|番地|番|号|条|線|地割|{H}))*"
    f"[一-龥々ぁ-んァ-ヶー]{{0,8}}?{D}+(?:番地|番|号)?"
)
_BUILDING = (
    f"(?:{S}*{_NAME_CHARS}{{0,20}}?"
    "(?:マンション|ハイツ|コーポ|アパート|ビル|荘|レジデンス|タワー|団地|メゾン|ハウス|コート|パレス|ヒルズ|住宅|寮)"
    f"{_NAME_CHARS}{{0,12}}{S}*(?:[A-Za-zＡ-Ｚ]?{H}?{D}{{1,4}}{S}?(?:号室|号|室)?)?"
    f"|{S}*{D}{{1,4}}{S}?(?:号室|室))?"
)
_FACILITY_PREFIXES = (
    "(?:紹介元|紹介先|転院先|前医|近医|かかりつけ医|かかりつけ|当院|同院|他院|元|昨日|本日|今日|明日|毎日|週|月)"
)
_GENERIC_FACILITY = (
    "(?!(?:当|同|前|他|近医|近|かかりつけ|救急|総合|大学|専門|市中|地域|紹介元|一般|急性期|療養型|回復期|"
    "精神科|転院先|関連|提携|連携|地元|各|別の|総合)(?:病院|医院|クリニック|診療所))"
    "(?!回復期|療養型|急性期|リハビリ|リハ|慢性期|精神科病院|介護老人)"
)
_LABEL_GAP = f"[.．]?{S}*(?:[:：=＝]|は)?{S}*(?:No\\.?|NO\\.?|№|#|＃)?{S}*"
_VALUE = (
    f"[A-Za-zＡ-Ｚａ-ｚ0-9０-９](?:[A-Za-zＡ-Ｚａ-ｚ0-9０-９]|{H}(?={D}|[A-Za-z])|{S}(?={D}{{4}})){{1,29}}"
)
_END = "(?![A-Za-zＡ-Ｚａ-ｚ0-9０-９])"

_LABELS: dict[IdentifierKind, str] = {
    IdentifierKind.ID: (
        "患者ID|患者番号|患者No|カルテ番号|カルテNo|カルテID|診察券番号|病歴番号|病歴ID|受付番号|整理番号|"
        "マイナンバー|個人番号|MRN|PID|(?<![A-Za-z])ID"
    ),
    IdentifierKind.INSURANCE: (
        "保険者番号|被保険者番号|被保険者証番号|保険証番号|保険証の番号|記号番号|記号|(?<=記号.{1,30})番号|"
        "公費負担者番号|公費受給者番号|受給者番号|介護保険番号|被保険者証記号"
    ),
    IdentifierKind.ACCOUNT: "口座番号|口座",
    IdentifierKind.LICENSE: (
        "運転免許証番号|免許証番号|免許番号|医籍登録番号|医籍番号|看護師籍番号|登録番号|資格番号"
    ),
    IdentifierKind.DEVICE: "シリアル番号|シリアルNo|製造番号|S/N|SN|機器番号|デバイスID|本体番号",
    IdentifierKind.VEHICLE: "車両番号|ナンバープレート|車のナンバー",
}


def _labelled(kind: IdentifierKind) -> Pattern:
    # the label is a word of its own (not the ID of IDDM), the value holds a digit
    label = f"(?:{_LABELS[kind]})(?![A-Za-z])"
    value = f"(?=[A-Za-zＡ-Ｚａ-ｚ{H[1:-1]}]*[0-9０-９]){_VALUE}"
    return Pattern(f"labelled {kind.name}", f"(?<={label}{_LABEL_GAP}){value}{_END}", 0.95)


class PhoneRecognizer(PatternRecognizer):
    """Japanese phone and fax numbers in every common spelling.

    ``03-1234-5678``, ``03 1234 5678``, ``(03)1234-5678``, ``03（1234）5678``, ``090-1234-5678``,
    ``09012345678``, ``0120-123-456``, ``+81 90 1234 5678``, full-width digits, ``ー`` as a hyphen.
    A match must hold the digits of a Japanese number (10 or 11 from the leading 0).
    """

    PATTERNS = (
        Pattern(
            "phone",
            f"(?<![0-9０-９.．])(?:(?:\\+|＋)(?:81|８１){_SEP}(?:[(（][0０][)）])?{D}{{1,4}}"
            f"|[(（][0０]{D}{{0,4}}[)）]|[0０]{D}{{0,4}})"
            f"(?:[)）(（]{S}?|{_SEP}){D}{{1,4}}(?:[)）]{S}?|{_SEP}){D}{{3,4}}(?![0-9０-９.．])",
            0.9,
        ),
    )

    def __init__(self) -> None:
        super().__init__(
            supported_entity=IdentifierKind.PHONE.entity,
            patterns=list(self.PATTERNS),
            supported_language="ja",
            global_regex_flags=regex.MULTILINE,
            context=["電話", "TEL", "Tel", "携帯", "FAX", "連絡先", "自宅"],
        )

    def validate_result(self, pattern_text: str) -> bool:
        """Whether the digits make a Japanese number (10 or 11 digits from the leading 0)."""
        digits = "".join(ch for ch in pattern_text if ch.isdigit())
        digits = "".join(str(int(ch)) for ch in digits)  # full-width to ASCII
        if digits.startswith("81") and pattern_text.lstrip("(（").startswith(("+", "＋")):
            digits = "0" + digits[2:].removeprefix("0")
        return digits.startswith("0") and len(digits) in (10, 11)


def _pattern_recognizer(
    kind: IdentifierKind, patterns: list[Pattern], name: str | None = None
) -> PatternRecognizer:
    return PatternRecognizer(
        supported_entity=kind.entity,
        patterns=patterns,
        supported_language="ja",
        global_regex_flags=regex.MULTILINE,
        name=name or f"Japanese{kind.name.title().replace('_', '')}Recognizer",
    )


def rule_recognizers() -> list[PatternRecognizer]:
    """Every rule recogniser, ready to add to a Presidio registry."""
    prefecture = f"(?:{_PREFECTURES})"
    return [
        PhoneRecognizer(),
        _pattern_recognizer(
            IdentifierKind.POSTAL_CODE,
            [
                Pattern("〒", f"〒{S}*{D}{{3}}{H}?{D}{{4}}{_END}", 0.95),
                Pattern("labelled", f"(?<=郵便番号{_LABEL_GAP}){D}{{3}}{H}?{D}{{4}}{_END}", 0.95),
                Pattern(
                    "before an address",
                    f"(?<![0-9０-９{H[1:-1]}]){D}{{3}}{H}{D}{{4}}(?={S}*(?:{prefecture}|{_MUNICIPALITY}))",
                    0.85,
                ),
            ],
        ),
        _pattern_recognizer(
            IdentifierKind.ADDRESS,
            [
                Pattern(
                    "prefecture and municipality",
                    f"{prefecture}(?:{_MUNICIPALITY_KANA}){{1,3}}(?:{_TOWN})?{_BUILDING}",
                    0.9,
                ),
                Pattern(
                    "municipality and block number",
                    f"(?<![一-龥々ヶ])(?:{_MUNICIPALITY}){{1,3}}{_TOWN}{_BUILDING}",
                    0.85,
                ),
                Pattern(
                    "labelled",
                    f"(?<=(?:住所|現住所|居住地|自宅住所){S}*[:：]?{S}*)[^\\s、。,，()（）「」\\n]{{2,40}}{_BUILDING}",
                    0.9,
                ),
            ],
        ),
        _pattern_recognizer(
            IdentifierKind.EMAIL,
            [
                Pattern(
                    "email",
                    "[A-Za-z0-9._%+\\-]+[@＠][A-Za-z0-9\\-]+(?:\\.[A-Za-z0-9\\-]+)*\\.[A-Za-z]{2,}",
                    0.95,
                )
            ],
        ),
        _pattern_recognizer(
            IdentifierKind.URL,
            [
                Pattern("scheme", "(?:https?|ftp)://[A-Za-z0-9\\-._~:/?#@!$&'*+,;=%]+", 0.95),
                Pattern("www", "(?<![A-Za-z0-9.@])www\\.[A-Za-z0-9\\-._~:/?#@!$&'*+,;=%]+", 0.9),
                Pattern(
                    "domain",
                    "(?<![A-Za-z0-9.@/\\-])[A-Za-z0-9\\-]+(?:\\.[A-Za-z0-9\\-]+)*"
                    "\\.(?:co\\.jp|ne\\.jp|or\\.jp|ac\\.jp|go\\.jp|ed\\.jp|lg\\.jp|jp|com|net|org|info)"
                    "(?:/[A-Za-z0-9\\-._~/?#&=%]*)?(?![A-Za-z0-9@])",
                    0.8,
                ),
            ],
        ),
        _pattern_recognizer(
            IdentifierKind.IP_ADDRESS,
            [
                Pattern(
                    "IPv4",
                    "(?<![0-9.])(?:(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\\.){3}"
                    "(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(?![0-9.])",
                    0.9,
                ),
                Pattern(
                    "IPv6", "(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![0-9A-Fa-f:])", 0.9
                ),
            ],
        ),
        _pattern_recognizer(
            IdentifierKind.ID,
            [
                _labelled(IdentifierKind.ID),
                Pattern("long hexadecimal", "(?<![0-9A-Za-z])[0-9A-Fa-f]{16,}(?![0-9A-Za-z])", 0.9),
                Pattern("DICOM UID", "(?<![0-9.])[0-9]+(?:\\.[0-9]+){5,}(?![0-9])", 0.9),
            ],
        ),
        _pattern_recognizer(
            IdentifierKind.INSURANCE,
            [
                _labelled(IdentifierKind.INSURANCE),
                Pattern("symbol with kanji", f"(?<=記号{_LABEL_GAP})[一-龥]{{1,6}}{D}+{_END}", 0.95),
            ],
        ),
        _pattern_recognizer(IdentifierKind.ACCOUNT, [_labelled(IdentifierKind.ACCOUNT)]),
        _pattern_recognizer(IdentifierKind.LICENSE, [_labelled(IdentifierKind.LICENSE)]),
        _pattern_recognizer(IdentifierKind.DEVICE, [_labelled(IdentifierKind.DEVICE)]),
        _pattern_recognizer(
            IdentifierKind.VEHICLE,
            [
                _labelled(IdentifierKind.VEHICLE),
                Pattern(
                    "number plate",
                    f"(?<![一-龥ぁ-ん])[一-龥ぁ-ん]{{1,4}}{S}?{D}{{2,3}}{S}?[ぁ-ん]{S}?{D}{{1,2}}{H}?{D}{{2}}{_END}",
                    0.9,
                ),
            ],
        ),
        _pattern_recognizer(IdentifierKind.BIRTH_DATE, [Pattern("birth date", BIRTH_DATE_PATTERN, 0.95)]),
        _pattern_recognizer(
            IdentifierKind.AGE_OVER_89, [Pattern("age over 89", AGE_OVER_89_RE.pattern, 0.95)]
        ),
        _pattern_recognizer(
            IdentifierKind.FACILITY,
            [
                Pattern(
                    "facility",
                    f"(?:(?<![一-龥々ァ-ヶーA-Za-z0-9０-９])|(?<={_FACILITY_PREFIXES}))"
                    f"(?!{_FACILITY_PREFIXES}){_GENERIC_FACILITY}"
                    "(?:[一-龥々ァ-ヶーA-Za-zＡ-Ｚ]{1,10}?|(?<![一-龥々ぁ-んァ-ヶー])(?=[ぁ-ん]))"
                    "(?:[ぁ-ん]{2,6}(?<![はがにをでとへもの]))?"
                    "[一-龥々ァ-ヶーA-Za-zＡ-Ｚ]{0,8}?(?:クリニック|病院|医院|診療所|訪問看護ステーション|"
                    "薬局|保育園|保育所|幼稚園|こども園|小学校|中学校|高等学校|高校|老人ホーム|ケアセンター|"
                    "デイサービスセンター|デイサービス|介護センター|医療センター)",
                    0.85,
                ),
            ],
        ),
    ]
