"""Chinese recognizers, run through a real Presidio engine on blank spaCy pipelines."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from presidio_analyzer import AnalyzerEngine, RecognizerResult

from engines import blank_engine
from privacy_partition.detection.recognizers._zh import chinese_recognizers

PROVINCES = (11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45)
PROVINCES += (46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91)
KNOWN_ID = "11010519491231002X"


# Independent of the module's table: ISO 7064 MOD 11-2 derives the weights as
# 2**(17 - i) mod 11 and the check value as (12 - sum mod 11) mod 11.
def check_char(body: str) -> str:
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(body))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def make_id(region: str, birth: str, seq: str = "123") -> str:
    body = region + birth + seq
    return body + check_char(body)


def wrong_check_chars(resident_id: str) -> list[str]:
    return [resident_id[:17] + c for c in "0123456789X" if c != resident_id[17]]


def luhn_ok(number: str) -> bool:
    doubled = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9]
    digits = [int(c) for c in reversed(number)]
    return (sum(digits[0::2]) + sum(doubled[d] for d in digits[1::2])) % 10 == 0


def luhn_complete(prefix: str) -> str:
    return next(prefix + d for d in "0123456789" if luhn_ok(prefix + d))


def luhn_break(number: str) -> str:
    last = str((int(number[-1]) + 1) % 10)
    return number[:-1] + last


@pytest.fixture(scope="module")
def analyzer() -> AnalyzerEngine:
    return blank_engine(chinese_recognizers)


def found(
    analyzer: AnalyzerEngine, text: str, entity: str, language: str = "zh"
) -> list[tuple[str, float]]:
    results: list[RecognizerResult] = analyzer.analyze(text, language=language, entities=[entity])
    return [(text[r.start : r.end], r.score) for r in sorted(results, key=lambda r: r.start)]


def spans(analyzer: AnalyzerEngine, text: str, entity: str, language: str = "zh") -> list[str]:
    return [value for value, _ in found(analyzer, text, entity, language)]


# --- module surface -----------------------------------------------------------


def test_zh_has_all_recognizers_and_en_only_number_ones() -> None:
    zh = {r.name: r for r in chinese_recognizers("zh")}
    en = {r.name: r for r in chinese_recognizers("en")}
    assert set(zh) == {
        "CnResidentIdRecognizer",
        "CnPhoneRecognizer",
        "CnBankCardRecognizer",
        "CnPassportRecognizer",
        "CnPersonNameRecognizer",
        "CnSegmentedNameRecognizer",
        "CnAddressRecognizer",
        "CnOrganizationRecognizer",
        "CnLocationRecognizer",
        "CnLatinNameRecognizer",
    }
    assert set(en) == {
        "CnResidentIdRecognizer",
        "CnPhoneRecognizer",
        "CnBankCardRecognizer",
        "CnPassportRecognizer",
    }
    for language, recognizers in (("zh", zh), ("en", en)):
        for recognizer in recognizers.values():
            assert recognizer.supported_language == language
            assert recognizer.context
    assert "身份证" in zh["CnResidentIdRecognizer"].context
    assert "passport" in en["CnPassportRecognizer"].context


def test_unknown_language_is_rejected() -> None:
    with pytest.raises(ValueError, match="fr"):
        chinese_recognizers("fr")


# --- CN_RESIDENT_ID -----------------------------------------------------------


def test_acceptance_example(analyzer: AnalyzerEngine) -> None:
    text = f"我的身份证号是{KNOWN_ID}，手机13800138000"
    results = analyzer.analyze(text, language="zh")
    by_type = {(r.entity_type, text[r.start : r.end]) for r in results}
    assert ("CN_RESIDENT_ID", KNOWN_ID) in by_type
    assert ("PHONE_NUMBER", "13800138000") in by_type
    id_result = next(r for r in results if r.entity_type == "CN_RESIDENT_ID")
    assert (id_result.start, id_result.end) == (7, 25)
    assert id_result.score >= 0.9


@pytest.mark.parametrize("bad", ["11010519491231002Y", "110105194912310021"])
def test_acceptance_example_with_wrong_check_char(analyzer: AnalyzerEngine, bad: str) -> None:
    text = f"我的身份证号是{bad}，手机13800138000"
    assert spans(analyzer, text, "CN_RESIDENT_ID") == []
    assert spans(analyzer, text, "PHONE_NUMBER") == ["13800138000"]


def test_known_id_check_char_matches_independent_implementation() -> None:
    assert check_char(KNOWN_ID[:17]) == KNOWN_ID[17]


def test_every_wrong_check_char_is_rejected(analyzer: AnalyzerEngine) -> None:
    for bad in wrong_check_chars(make_id("440305", "19880808")):
        assert spans(analyzer, f"身份证{bad}", "CN_RESIDENT_ID") == []


def test_lowercase_x_is_accepted(analyzer: AnalyzerEngine) -> None:
    lower = KNOWN_ID.lower()
    assert spans(analyzer, f"证件号码 {lower}", "CN_RESIDENT_ID") == [lower]


def test_id_without_context_is_found_with_lower_score(analyzer: AnalyzerEngine) -> None:
    (with_context,) = found(analyzer, f"身份证号：{KNOWN_ID}", "CN_RESIDENT_ID")
    (without,) = found(analyzer, f"编号：{KNOWN_ID}", "CN_RESIDENT_ID")
    assert without[0] == KNOWN_ID
    assert 0.8 <= without[1] < with_context[1]


def test_id_grouped_with_spaces(analyzer: AnalyzerEngine) -> None:
    grouped = f"{KNOWN_ID[:6]} {KNOWN_ID[6:14]} {KNOWN_ID[14:]}"
    assert spans(analyzer, f"身份证：{grouped}。", "CN_RESIDENT_ID") == [grouped]


@pytest.mark.parametrize(
    "birth",
    [
        "19900230",  # Feb 30
        "19990229",  # not a leap year
        "19000229",  # 1900 is not a leap year
        "19901131",  # Nov 31
        "18991231",  # before 1900
        (date.today() + timedelta(days=1)).strftime("%Y%m%d"),
    ],
)
def test_impossible_birth_dates_are_rejected(analyzer: AnalyzerEngine, birth: str) -> None:
    resident_id = make_id("110105", birth)
    assert spans(analyzer, f"身份证号{resident_id}", "CN_RESIDENT_ID") == []


@pytest.mark.parametrize("birth", ["20000229", "19000101", date.today().strftime("%Y%m%d")])
def test_edge_birth_dates_are_accepted(analyzer: AnalyzerEngine, birth: str) -> None:
    resident_id = make_id("110105", birth)
    assert spans(analyzer, f"身份证号{resident_id}", "CN_RESIDENT_ID") == [resident_id]


@pytest.mark.parametrize("region", ["100105", "191234", "990101", "400101", "720101"])
def test_unknown_province_is_rejected(analyzer: AnalyzerEngine, region: str) -> None:
    resident_id = make_id(region, "19800101")
    assert spans(analyzer, f"身份证号{resident_id}", "CN_RESIDENT_ID") == []


@pytest.mark.parametrize("text", [f"9{KNOWN_ID}", f"{KNOWN_ID[:17]}12", f"12{KNOWN_ID}3"])
def test_id_inside_longer_digit_run_is_not_reported(analyzer: AnalyzerEngine, text: str) -> None:
    assert spans(analyzer, f"身份证号{text}", "CN_RESIDENT_ID") == []


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    province = draw(st.sampled_from(PROVINCES))
    district = draw(st.integers(0, 9999))
    birth = draw(st.dates(min_value=date(1900, 1, 1), max_value=date.today()))
    seq = draw(st.integers(0, 999))
    return make_id(f"{province:02d}{district:04d}", birth.strftime("%Y%m%d"), f"{seq:03d}")


@settings(max_examples=60, deadline=None)
@given(
    resident_id=resident_ids(),
    before=st.sampled_from(["", "身份证号码：", "ID ", "他的证件号是"]),
    after=st.sampled_from(["", "。", "，电话", " ok"]),
)
def test_any_valid_id_is_found_and_a_flipped_check_char_is_not(
    analyzer: AnalyzerEngine, resident_id: str, before: str, after: str
) -> None:
    text = before + resident_id + after
    results = analyzer.analyze(text, language="zh", entities=["CN_RESIDENT_ID"])
    assert [(r.start, r.end) for r in results] == [(len(before), len(before) + 18)]
    for bad in wrong_check_chars(resident_id):
        assert spans(analyzer, before + bad + after, "CN_RESIDENT_ID") == []


# --- PHONE_NUMBER ---------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    [
        "13800138000",
        "19912345678",
        "+8613800138000",
        "+86 13800138000",
        "+86-13800138000",
        "0086 13800138000",
        "86 138 0013 8000",
        "138 0013 8000",
        "138-0013-8000",
        "+86 138-0013-8000",
    ],
)
def test_mobile_formats_are_found_with_exact_span(analyzer: AnalyzerEngine, phone: str) -> None:
    assert spans(analyzer, f"请拨打{phone}联系我", "PHONE_NUMBER") == [phone]
    assert spans(analyzer, f"号码{phone}", "PHONE_NUMBER") == [phone]


def test_mobile_context_raises_score(analyzer: AnalyzerEngine) -> None:
    ((_, plain),) = found(analyzer, "号码13800138000", "PHONE_NUMBER")
    ((_, boosted),) = found(analyzer, "手机号码13800138000", "PHONE_NUMBER")
    assert 0.5 <= plain < boosted


@pytest.mark.parametrize(
    "text",
    [
        "138001380001",  # 12 digits
        "013800138000",
        "1380013800",  # 10 digits
        "12800138000",  # no mobile prefix 12
        "138 0013-8000",  # inconsistent grouping
        "138 0013 8000 1234",  # part of a longer grouped run
        "订单号2138001380005",
    ],
)
def test_non_mobile_numbers_are_not_reported(analyzer: AnalyzerEngine, text: str) -> None:
    assert spans(analyzer, f"手机{text}", "PHONE_NUMBER") == []


def test_landline_needs_context_and_scores_below_mobile(analyzer: AnalyzerEngine) -> None:
    assert spans(analyzer, "订单010-62345678已发货", "PHONE_NUMBER") == []
    ((value, score),) = found(analyzer, "办公电话：010-62345678", "PHONE_NUMBER")
    assert value == "010-62345678"
    ((_, mobile_score),) = found(analyzer, "办公电话：13800138000", "PHONE_NUMBER")
    assert 0.5 <= score < mobile_score
    assert spans(analyzer, "座机(0755)23456789", "PHONE_NUMBER") == ["(0755)23456789"]


# --- CN_BANK_CARD ---------------------------------------------------------------

UNIONPAY = luhn_complete("622202123456789012")  # 19 digits
VISA_LIKE = luhn_complete("411111111111111")  # 16 digits


def test_unionpay_card_is_found_without_context(analyzer: AnalyzerEngine) -> None:
    ((value, score),) = found(analyzer, f"请转到{UNIONPAY}谢谢", "CN_BANK_CARD")
    assert value == UNIONPAY
    assert score >= 0.5
    ((_, boosted),) = found(analyzer, f"银行卡号：{UNIONPAY}", "CN_BANK_CARD")
    assert boosted >= 0.8


def test_other_card_needs_context(analyzer: AnalyzerEngine) -> None:
    ((_, plain),) = found(analyzer, f"编号{VISA_LIKE}", "CN_BANK_CARD")
    assert plain < 0.4
    assert analyzer.analyze(f"编号{VISA_LIKE}", language="zh", score_threshold=0.5) == []
    for cue in ("信用卡", "卡号：", "开户行中国银行，账号"):
        ((value, score),) = found(analyzer, f"{cue}{VISA_LIKE}", "CN_BANK_CARD")
        assert value == VISA_LIKE
        assert score >= 0.7


@pytest.mark.parametrize("sep", [" ", "-"])
def test_card_grouped_by_four(analyzer: AnalyzerEngine, sep: str) -> None:
    grouped = sep.join(UNIONPAY[i : i + 4] for i in range(0, len(UNIONPAY), 4))
    assert spans(analyzer, f"储蓄卡 {grouped}。", "CN_BANK_CARD") == [grouped]


def test_luhn_invalid_card_is_not_reported(analyzer: AnalyzerEngine) -> None:
    for number in (luhn_break(UNIONPAY), luhn_break(VISA_LIKE)):
        assert not luhn_ok(number)
        assert spans(analyzer, f"银行卡卡号：{number}", "CN_BANK_CARD") == []


def test_card_inside_longer_digit_run_is_not_reported(analyzer: AnalyzerEngine) -> None:
    twenty = luhn_complete("6222021234567890123")
    assert spans(analyzer, f"卡号{twenty}", "CN_BANK_CARD") == []
    grouped = "6222 0212 3456 7890 1234 5"
    assert spans(analyzer, f"卡号{grouped}", "CN_BANK_CARD") == []


def test_luhn_valid_resident_id_is_not_a_card_without_card_context(
    analyzer: AnalyzerEngine,
) -> None:
    resident_id = next(
        rid
        for seq in range(1000)
        if (rid := make_id("620102", "19850612", f"{seq:03d}"))[-1] != "X" and luhn_ok(rid)
    )
    assert spans(analyzer, f"身份证{resident_id}", "CN_BANK_CARD") == []
    assert spans(analyzer, f"身份证{resident_id}", "CN_RESIDENT_ID") == [resident_id]


# --- CN_PASSPORT ----------------------------------------------------------------


@pytest.mark.parametrize("number", ["E12345678", "EA1234567", "G12345678", "P12345678"])
def test_passport_with_context(analyzer: AnalyzerEngine, number: str) -> None:
    ((value, score),) = found(analyzer, f"护照号码：{number}", "CN_PASSPORT")
    assert value == number
    assert score >= 0.7
    ((_, en_score),) = found(analyzer, f"My passport is {number}.", "CN_PASSPORT", "en")
    assert en_score >= 0.7


@pytest.mark.parametrize(
    ("text", "language"),
    [("编号E12345678", "zh"), ("a valid id E12345678", "en"), ("Order G12345678", "en")],
)
def test_passport_without_context_stays_below_threshold(
    analyzer: AnalyzerEngine, text: str, language: str
) -> None:
    ((_, score),) = found(analyzer, text, "CN_PASSPORT", language)
    assert score < 0.4
    results = analyzer.analyze(text, language=language, score_threshold=0.5)
    assert [r for r in results if r.entity_type == "CN_PASSPORT"] == []


@pytest.mark.parametrize(
    "text", ["护照XE12345678", "护照E123456789", "护照E1234567", "护照A12345678"]
)
def test_non_passports_are_not_reported(analyzer: AnalyzerEngine, text: str) -> None:
    assert spans(analyzer, text, "CN_PASSPORT") == []


# --- PERSON ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("我叫王小明，今年30岁", "王小明"),
        ("我叫王小明今年30岁", "王小明"),
        ("我是张伟的朋友", "张伟"),
        ("姓名：李娜 电话：13800138000", "李娜"),
        ("姓名:刘洋性别:男", "刘洋"),
        ("姓名是王芳。", "王芳"),
        ("我的名字是欧阳娜娜。", "欧阳娜娜"),
        ("名字叫诸葛亮", "诸葛亮"),
        ("本人陈静，身份证号如下", "陈静"),
        ("联系人：赵敏", "赵敏"),
        ("收件人：孙强 手机13800138000", "孙强"),
        ("患者周杰，男，45岁", "周杰"),
        ("我叫李华住在北京", "李华"),
    ],
)
def test_names_after_cues(analyzer: AnalyzerEngine, text: str, name: str) -> None:
    assert spans(analyzer, text, "PERSON") == [name]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("王先生您好", "王"),
        ("请李女士到前台", "李"),
        ("张小红女士是我们的客户", "张小红"),
        ("感谢李先生的帮助", "李"),
        ("谢谢王先生", "王"),
        ("欧阳女士来了", "欧阳"),
    ],
)
def test_names_before_titles(analyzer: AnalyzerEngine, text: str, name: str) -> None:
    assert spans(analyzer, text, "PERSON") == [name]


def test_name_scores(analyzer: AnalyzerEngine) -> None:
    ((_, strong),) = found(analyzer, "我叫王小明", "PERSON")
    ((_, weak),) = found(analyzer, "我是王小明", "PERSON")
    assert strong >= 0.8
    assert 0.5 <= weak < strong


@pytest.mark.parametrize(
    "text",
    [
        "我是学生",
        "我是高中生",
        "我是一名医生",
        "我叫了一辆车",
        "女士们先生们",
        "这位先生请坐",
        "我的先生",
        "我是，王",
        "姓名：Tom Smith",
    ],
)
def test_non_names_are_not_reported(analyzer: AnalyzerEngine, text: str) -> None:
    assert spans(analyzer, text, "PERSON") == []


# --- LOCATION -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("地址：北京市朝阳区建国路88号", "北京市朝阳区建国路88号"),
        ("我家住上海市浦东新区世纪大道100号，电话13800138000", "上海市浦东新区世纪大道100号"),
        ("住址:广东省深圳市南山区科技园8栋2单元501室。", "广东省深圳市南山区科技园8栋2单元501室"),
        ("他住在杭州市西湖区文三路电话未知", "杭州市西湖区文三路"),
        ("收货地址 浙江省杭州市余杭区仓前街道", "浙江省杭州市余杭区仓前街道"),
    ],
)
def test_addresses_after_cues(analyzer: AnalyzerEngine, text: str, address: str) -> None:
    ((value, score),) = found(analyzer, text, "LOCATION")
    assert value == address
    assert score >= 0.8


@pytest.mark.parametrize("text", ["住在这里", "地址不详", "我住在楼上", "住在北京"])
def test_non_addresses_are_not_reported(analyzer: AnalyzerEngine, text: str) -> None:
    assert spans(analyzer, text, "LOCATION") == []


# --- ORGANIZATION ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "organization"),
    [
        ("在哈尔滨工程大学就读本科期间", "哈尔滨工程大学"),
        ("并在杜伦大学完成学位", "杜伦大学"),
        ("中译英：香港理工大学首席研究员", "香港理工大学"),
        ("我毕业于北京师范大学。", "北京师范大学"),
        ("考入清华大学", "清华大学"),
        ("她在深圳腾讯科技有限公司工作", "深圳腾讯科技有限公司"),
        ("我去了华山医院看病", "华山医院"),
        ("我在这家顺丰公司工作", "顺丰公司"),
        ("新闻系微信公众号“艺传新闻小助手”中", "艺传新闻小助手"),
        ("我们的品牌「小鹿茶」很受欢迎", "小鹿茶"),
        ("加入阿里巴巴集团", "阿里巴巴集团"),
    ],
)
def test_organizations(analyzer: AnalyzerEngine, text: str, organization: str) -> None:
    assert spans(analyzer, text, "ORGANIZATION") == [organization]


@pytest.mark.parametrize(
    "text",
    [
        "我是大学生",
        "这所大学很好",
        "我想上大学",
        "我在一家网络科技公司工作",
        "我们公司很大",
        "你建议公司使用哪种理论",
        "为了提升公司管理者的领导力",
        "他去了医院",
        "请输入银行卡号",
        "一所重点大学",
        "分公司和总公司",
        "公众号",
        "985大学",
    ],
)
def test_non_organizations(analyzer: AnalyzerEngine, text: str) -> None:
    assert spans(analyzer, text, "ORGANIZATION") == []


# --- LOCATION: provinces and cities ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("我来自广东省。", "广东省"),
        ("我去过杭州市西湖区", "杭州市西湖区"),
        ("新疆维吾尔自治区", None),
        ("他在哈尔滨市工作", "哈尔滨市"),
        ("广西壮族自治区南宁市", "广西壮族自治区南宁市"),
    ],
)
def test_provinces_and_cities(analyzer: AnalyzerEngine, text: str, place: str | None) -> None:
    results = [
        (text[r.start : r.end])
        for r in analyzer.analyze(text, language="zh", entities=["LOCATION"])
        if r.recognition_metadata[RecognizerResult.RECOGNIZER_NAME_KEY] == "CnLocationRecognizer"
    ]
    assert results == ([place] if place else [])


@pytest.mark.parametrize("text", ["住在北京", "北京市场很大", "上海市民", "超市很大", "城市生活"])
def test_non_provinces_and_cities(analyzer: AnalyzerEngine, text: str) -> None:
    assert spans(analyzer, text, "LOCATION") == []


# --- PERSON: Latin-script names after Chinese cues -------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("发封英语邮件告诉Tim，附件是备份", "Tim"),
        ("请通知 John Smith 明天开会", "John Smith"),
        ("给Anna发一封邮件", "Anna"),
        ("我和Mike聊了一下", "Mike"),
        ("感谢Lisa的帮助", "Lisa"),
    ],
)
def test_latin_names_after_chinese_cues(analyzer: AnalyzerEngine, text: str, name: str) -> None:
    assert spans(analyzer, text, "PERSON") == [name]


@pytest.mark.parametrize(
    "text", ["和Python一起用", "给Excel加公式", "告诉tim", "我用Java写", "和API对接"]
)
def test_non_latin_names_after_chinese_cues(analyzer: AnalyzerEngine, text: str) -> None:
    assert spans(analyzer, text, "PERSON") == []


# --- mixed text and English -----------------------------------------------------


def test_mixed_chinese_english_text(analyzer: AnalyzerEngine) -> None:
    text = (
        f"Hi, 我叫李娜. My phone is +86 139-1234-5678, ID card {KNOWN_ID}, "
        "地址：北京市海淀区中关村大街1号"
    )
    results = analyzer.analyze(text, language="zh", score_threshold=0.5)
    found_pairs = {(r.entity_type, text[r.start : r.end]) for r in results}
    assert found_pairs == {
        ("PERSON", "李娜"),
        ("PHONE_NUMBER", "+86 139-1234-5678"),
        ("CN_RESIDENT_ID", KNOWN_ID),
        ("LOCATION", "北京市海淀区中关村大街1号"),
    }


def test_english_recognizers_find_chinese_numbers(analyzer: AnalyzerEngine) -> None:
    card = UNIONPAY
    text = (
        f"My Chinese ID number is {KNOWN_ID}, mobile +86 138 0013 8000, "
        f"bank card {card} and passport E12345678."
    )
    results = analyzer.analyze(text, language="en", score_threshold=0.5)
    assert {(r.entity_type, text[r.start : r.end]) for r in results} == {
        ("CN_RESIDENT_ID", KNOWN_ID),
        ("PHONE_NUMBER", "+86 138 0013 8000"),
        ("CN_BANK_CARD", card),
        ("CN_PASSPORT", "E12345678"),
    }
    assert all(r.score >= 0.7 for r in results)


def test_english_has_no_cue_based_recognizers(analyzer: AnalyzerEngine) -> None:
    results = analyzer.analyze("我叫王小明，地址：北京市朝阳区建国路88号", language="en")
    assert {r.entity_type for r in results} <= {"CN_RESIDENT_ID", "PHONE_NUMBER"}
    assert [r for r in results if r.entity_type in {"PERSON", "LOCATION"}] == []


def test_boosted_results_are_marked_for_presidio(analyzer: AnalyzerEngine) -> None:
    (result,) = analyzer.analyze(
        "护照E12345678", language="zh", entities=["CN_PASSPORT"], return_decision_process=True
    )
    assert result.recognition_metadata[RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY]
    assert result.analysis_explanation.supportive_context_word == "护照"


# --- linear time ----------------------------------------------------------------


def adversarial_texts() -> Iterator[str]:
    size = 1_000_000
    for unit in (
        "1",
        "1 ",
        "1-",
        "我叫",
        "地址",
        "+86",
        "E1",
        "13800138000",
        "先生",
        "王",
        "我叫王",
        "大学",
        "北京大学",
        "王大学",
        "公众号“",
        "广东省",
        "北京市朝阳区",
        "告诉Tim",
        "给Tim",
    ):
        yield (unit * (size // len(unit) + 1))[:size]


def test_every_recognizer_completes_on_adversarial_megabyte() -> None:
    recognizers = chinese_recognizers("zh")
    for text in adversarial_texts():
        for recognizer in recognizers:
            # jieba is linear but segments at a few us per character: an eighth of the
            # megabyte keeps the suite quick (the analyzer admits 32,768 characters).
            sample = text[:131_072] if recognizer.name == "CnSegmentedNameRecognizer" else text
            results = recognizer.analyze(sample, recognizer.supported_entities, None)
            assert isinstance(results, list)


# --- names without cues (jieba's segmentation) -----------------------------------


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("请联系张慧。", ["张慧"]),  # unknown to the dictionary: the HMM's guess
        ("张伟说他不来了。", ["张伟"]),
        ("麻烦通知何建国明早八点到机场。", ["何建国"]),  # 何|建国: a given name that is a word
        ("林志强明天出差。", ["林志强"]),
        ("郑国庆你好", ["郑国庆"]),
        ("出席：陈晓东、刘芳、赵磊", ["陈晓东", "刘芳", "赵磊"]),  # a list
        ("赵磊：我同意。\n刘芳：那就周一开始。", ["赵磊", "刘芳"]),  # speaker labels
        ("周末我和胡杨去爬山。", ["胡杨"]),  # a dictionary name joined to a pronoun
        ("她跟王平是同学。", ["王平"]),
    ],
)
def test_names_without_cues_are_found_by_segmentation(
    analyzer: AnalyzerEngine, text: str, names: list[str]
) -> None:
    assert spans(analyzer, text, "PERSON") == names


@pytest.mark.parametrize(
    "text",
    [
        "这张卡是谁的？",  # 张 as a measure word
        "买两张票去上海。",
        "杜绝浪费，从我做起。",  # two-character dictionary words jieba tags as names
        "山上的高峰很冷。",
        "叶子黄了。",
        "谢谢你们的帮助。",
        "我是高中生",
        "我们和安全部门开了会。",  # joined to a pronoun, but not tagged as a name
        "我与金星的距离。",
        "我和朋友去爬山。",
    ],
)
def test_words_that_start_with_a_surname_are_not_names(analyzer: AnalyzerEngine, text: str) -> None:
    assert spans(analyzer, text, "PERSON") == []


def test_a_run_of_unknown_one_character_words_is_not_tagged_and_costs_little() -> None:
    from privacy_partition.detection.recognizers._zh_segmented import CnSegmentedNameRecognizer

    recognizer = CnSegmentedNameRecognizer("zh", ["姓名"])
    masked = recognizer._without_long_unknown_runs("王" * 40 + "，请联系张慧。")
    assert masked == "，" * 40 + "，请联系张慧。"  # same length: offsets hold
    text = "王" * 40 + "，请联系张慧。"
    found = recognizer.analyze(text, ["PERSON"], None)
    assert [text[r.start : r.end] for r in found] == ["张慧"]
