from __future__ import annotations

import pytest

from workbench.summary.redaction import Redactor

PATIENT_ID = "A660EFEB6E039E79C1530ED625F2D6E980AC21F9AE01C372DE27B79AEAC05493"


def test_names_ids_phones_and_addresses_are_replaced_and_restored() -> None:
    redactor = Redactor(names=["YAMADA^TARO=山田^太郎=やまだ^たろう"], ids=[PATIENT_ID])
    text = (
        f"山田太郎様（患者ID: 20081234）ID {PATIENT_ID}。連絡先 090-1234-5678、自宅 03-1234-5678。"
        "住所 東京都千代田区丸の内1-1-1。妻の花子さんより聴取。YAMADA TARO。"
    )
    redacted = redactor.redact(text)
    for secret in (
        "山田",
        "太郎",
        "20081234",
        PATIENT_ID,
        "090-1234-5678",
        "03-1234-5678",
        "千代田区",
        "花子",
        "YAMADA",
    ):
        assert secret not in redacted, secret
    assert redacted == (
        "[氏名2]様（患者ID: [ID2]）ID [ID1]。連絡先 [電話1]、自宅 [電話2]。住所 [住所1]。"
        "妻の[氏名3]さんより聴取。[氏名1]。"
    )
    assert redactor.restore(redacted) == text


def test_clinical_numbers_dates_and_generic_people_are_left_alone() -> None:
    text = (
        "2023-07-25 CRP 18.6 SpO2 95% 0.8mg TAZ/PIPC 4.5g×3 ロキソプロフェン 60mg 患者さんとご家族へ説明、"
        "看護師さんに伝達。Cre 0.98 BP 142/78"
    )
    assert Redactor().redact(text) == text


def test_the_same_value_keeps_its_placeholder_and_the_model_answer_is_restored() -> None:
    redactor = Redactor(names=["佐藤^花子"])
    first = redactor.redact("佐藤花子さん、090-1111-2222")
    second = redactor.redact("再度 佐藤花子 に 090-1111-2222 で連絡")
    assert first == "[氏名1]さん、[電話1]" and second == "再度 [氏名1] に [電話1] で連絡"
    answer = "・ 現病歴\n[氏名1]は発熱で入院した。"
    assert redactor.restore(answer) == "・ 現病歴\n佐藤花子は発熱で入院した。"
    assert redactor.replacements == {"[氏名1]": "佐藤花子", "[電話1]": "090-1111-2222"}


@pytest.mark.parametrize(
    "text", ["大阪府大阪市北区梅田3-1", "神奈川県横浜市中区本町6丁目50番地", "北海道札幌市中央区"]
)
def test_addresses(text: str) -> None:
    assert Redactor().redact(f"住所: {text}") == "住所: [住所1]"
