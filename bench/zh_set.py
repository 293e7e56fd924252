#!/usr/bin/env python3
"""A Chinese evaluation set in leak_eval's JSONL form: names without cues, and identifiers.

How it is made, and from what (so that no recognizer is tuned to it):

* Sentences: templates written by hand for this set, in the layouts where a
  bare name is missed (a message to someone, a list, a dialogue or
  transcript line, a sign-off, a name as subject or object, a name before
  a title), none with a cue phrase such as 我叫 or 姓名.
* Names: half from Faker's zh_CN provider (seeded), half from a list made up
  by hand for this set (no public figures, whom a dictionary would know),
  with compound surnames and given names that are words themselves (建国,
  海燕, 志强). No recognizer reads either list.
* Identifiers: resident ID numbers with a valid check digit, mobile
  numbers, UnionPay card numbers (Luhn-valid), passports, made here from
  their specifications with a seeded generator.
* Negatives: sentences written by hand with no personal value, many of them
  starting words with a surname character (王国, 高兴, 马上, 黄色), to show
  what recall costs in retention.

    python bench/zh_set.py OUT.jsonl [--seed 7] [--split tune|held-out]

The held-out split has its own templates and names, written before any
result on it was seen; rules are read against the tune split only.

Each line: {"id", "text", "spans": [{"type", "start", "end", "value"}]}; spans
are of type PERSON, CN_RESIDENT_ID, PHONE_NUMBER, CN_BANK_CARD or CN_PASSPORT.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

from faker import Faker

# Names written by hand for this set (not from any recognizer's list).
HAND_NAMES = (
    "何建国", "欧阳晓岚", "司马文涛", "诸葛红梅", "林志强", "吴海燕", "郑国庆", "宋春梅",
    "钱丽君", "上官雨桐", "徐静怡", "冯晓东", "胡一鸣", "曾晓锋", "吕子涵", "陆展鹏",
    "唐悠然", "秦羽桐", "张伟", "高明远", "马丽华", "黄博文", "方文静", "白松涛",
    "丁蕾", "夏雨晴", "金晨曦", "田亮亮", "江海涛", "付新博", "任贤明", "邵逸凡",
    "尹天成", "柯景行", "沈佳琪", "段宇航", "乔立峰", "杜若溪", "闫书华", "王平",
)  # fmt: skip

# {n}, {m}, {k}: names. Hand-written; no cue phrase (我叫, 姓名, 联系人, 先生 ...).
NAME_TEMPLATES = (
    "给{n}发个消息，说明天的会改到下午三点。",
    "帮我提醒{n}周五之前把报销单交上来。",
    "参会人员：{n}、{m}、{k}。",
    "{n}和{m}负责这次的活动策划，预算控制在五万以内。",
    "请转告{n}，合同已经寄出了。",
    "{n}：我晚点给你回电话。",
    "{n}：好的，没问题。\n{m}：那就这么定了。",
    "昨天在超市碰到了{n}，她说下个月要搬家。",
    "把这份文件转发给{n}就行。",
    "我和{n}打算国庆去成都玩，帮我们做个行程。",
    "{n}说他周末有空，可以一起吃饭。",
    "帮我写一封感谢信给{n}，感谢她在项目上的帮助。",
    "抄送：{n}；{m}",
    "此致\n敬礼\n{n}\n2024年3月5日",
    "{n}经理让我把季度报告整理一下。",
    "{n}老师布置的作业太多了，怎么安排时间？",
    "我同事{n}最近总是迟到，我该怎么跟她沟通？",
    "帮我给{n}写一条生日祝福，她今年三十岁。",
    "下周一{n}请假，{m}替她值班。",
    "会议由{n}主持，{m}做记录。",
    "麻烦把快递放到门卫那里，{n}会去取。",
    "{n}的手机号我忘了，你帮我看看通讯录格式怎么写。",
    "我想给{n}道歉，上次吵架是我不对。",
    "这次比赛第一名是{n}，第二名是{m}。",
    "明天跟{n}一起去医院复查。",
    "微信群里{n}发了一个通知，大家记得看。",
    "你好，我是{n}的家长，想问一下开学时间。",
    "{n}，你的快递到了。",
    "推荐人：{n}\n被推荐人：{m}",
    "帮我翻译成英文：{n}是我们部门最优秀的工程师。",
    "收到{n}转来的两千块钱了吗？",
    "面试官{n}问了我很多关于数据库的问题。",
    "我的室友{n}想学吉他，有什么入门建议？",
    "{n}跟{m}离婚以后，孩子归谁抚养？",
    "记录一下：{n}借了我五百元，下个月还。",
    "请把{n}加到项目组的邮件列表里。",
)

# The held-out split: other templates and other names, written before any
# result on them was seen, never used to change a rule.
HELD_OUT_NAMES = (
    "苏文博", "邱雅婷", "侯振东", "孔令辉", "谭晓燕", "龚志明", "万国华", "汤丽娟",
    "司徒静", "皇甫嘉怡", "慕容雪", "令狐明轩", "黎振宇", "罗春燕", "梁文杰", "蔡国栋",
    "彭丽", "韩冬", "鲁一凡", "薛晴", "崔永健", "姜维民", "邹小燕", "熊建平",
    "严冬梅", "郝建设", "戴晓军", "孟凡", "章子豪", "卢秀兰", "史建新", "顾晓雯",
    "殷红", "俞佳", "裴东升", "骆海峰", "管玉兰", "房立新", "艾青青", "蒲海洋",
)  # fmt: skip

HELD_OUT_TEMPLATES = (
    "帮我问问{n}今晚几点到。",
    "{n}刚才打电话说航班延误了。",
    "周会名单：{n}，{m}，{k}",
    "{n}: 文件我已经发到群里了。\n{m}: 收到，谢谢。",
    "我想约{n}下周二吃午饭，帮我写个邀请。",
    "{n}这个月的绩效是优秀，{m}是良好。",
    "把会议纪要抄送给{n}和{m}。",
    "这是{n}上次推荐的那家餐厅。",
    "帮我跟{n}说一声，钥匙放在前台了。",
    "{n}请病假三天，工作由{m}代理。",
    "我表姐{n}下个月结婚，礼金给多少合适？",
    "昨晚{n}喝多了，今天没来上班。",
    "今天值日生：{n}",
    "{n}在群里问谁有充电宝。",
    "你知道{n}搬到哪里去了吗？",
    "感谢{n}、{m}两位同事的支持。",
    "我跟{n}合租了一套房子，房租怎么分比较公平？",
    "签字：{n}",
    "{n}推荐我去读这本书，你觉得怎么样？",
    "孩子的班主任是{n}，家长会定在周四。",
)

# {id}, {phone}, {card}, {passport}: identifiers, with or without a cue.
ID_TEMPLATES = (
    ("帮我查一下身份证号{id}的社保缴纳记录。", "id"),
    ("证件号码：{id}，请核对信息是否正确。", "id"),
    ("我的手机是{phone}，有事打给我。", "phone"),
    ("联系电话 {phone}，工作日九点到六点。", "phone"),
    ("快递到了打{phone}", "phone"),
    ("工资卡{card}这个月没收到钱，怎么办？", "card"),
    ("退款请打到这张卡：{card}", "card"),
    ("护照号{passport}，办签证需要带什么材料？", "passport"),
    ("我的护照 {passport} 下个月过期，怎么续签？", "passport"),
)

# Hand-written sentences with no personal value; many begin words with a surname character.
NEGATIVES = (
    "王国的历史很长，讲讲欧洲中世纪的封建制度。",
    "今天很高兴见到大家，我们开始上课吧。",
    "马上就要下雨了，记得带伞。",
    "黄色和蓝色混在一起是什么颜色？",
    "周末去爬山还是去看电影？",
    "林业局发布了新的森林防火规定，主要内容是什么？",
    "陈列柜里的展品都是清代的瓷器。",
    "张开嘴巴，医生要检查一下喉咙。",
    "李子和桃子哪个维生素含量高？",
    "金融危机对普通人的影响有哪些？",
    "白天和黑夜的温差很大，注意保暖。",
    "高速公路上限速一百二十公里。",
    "方便面吃多了对身体不好吗？",
    "江南的春天雨水特别多。",
    "石头剪刀布的必胜策略是什么？",
    "孙子兵法里最有名的一句话是什么？",
    "朱红色的大门是故宫的特色。",
    "于是我们决定提前出发。",
    "杨树和柳树怎么区分？",
    "何必为了这点小事生气呢？",
    "郭德纲的相声为什么受欢迎？",
    "宋朝的科技成就有哪些？",
    "唐诗三百首里最适合孩子背的是哪几首？",
    "安全第一，预防为主。",
    "常见的排序算法有哪些，时间复杂度分别是多少？",
    "明天的天气预报说有大风。",
    "成本控制是项目管理中最难的部分。",
    "温度计的原理是什么？",
    "程序员应该怎么保护颈椎？",
    "田园风格的装修需要注意什么？",
    "万一航班延误了，可以申请什么补偿？",
    "苏州园林的设计理念是什么？",
    "吴语和粤语有什么区别？",
    "贾宝玉和林黛玉的故事出自哪本书？",
    "任何人都可以报名参加这次马拉松。",
    "毛衣起球了怎么处理？",
    "邓小平理论的主要内容有哪些？",
    "许多人认为早起对健康有好处。",
    "曹操是三国时期著名的政治家。",
    "谢谢你的帮助，下次请你喝咖啡。",
)


def _resident_id(rng: random.Random) -> str:
    area = rng.choice(["110105", "310104", "440305", "510107", "330106", "420102"])
    birth = f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body = area + birth + f"{rng.randint(0, 999):03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    return body + check


def _luhn_complete(digits: str) -> str:
    total = 0
    for index, char in enumerate(reversed(digits + "0")):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return digits + str((10 - total % 10) % 10)


def _card(rng: random.Random) -> str:
    length = rng.choice([16, 19])
    digits = "62" + "".join(str(rng.randint(0, 9)) for _ in range(length - 3))
    card = _luhn_complete(digits)
    return " ".join(card[i : i + 4] for i in range(0, len(card), 4)) if rng.random() < 0.3 else card


def _phone(rng: random.Random) -> str:
    number = rng.choice(["138", "139", "150", "186", "177", "199"]) + "".join(
        str(rng.randint(0, 9)) for _ in range(8)
    )
    return f"{number[:3]}-{number[3:7]}-{number[7:]}" if rng.random() < 0.2 else number


def _passport(rng: random.Random) -> str:
    return rng.choice("EG") + "".join(str(rng.randint(0, 9)) for _ in range(8))


_SLOT = re.compile(r"\{(\w+)\}")


def _fill(template: str, values: dict[str, tuple[str, str]]) -> tuple[str, list[dict[str, object]]]:
    """The template with its slots filled, and one span per slot."""
    text, spans, position = "", [], 0
    for match in _SLOT.finditer(template):
        text += template[position : match.start()]
        kind, value = values[match.group(1)]
        spans.append(
            {"type": kind, "start": len(text), "end": len(text) + len(value), "value": value}
        )
        text += value
        position = match.end()
    return text + template[position:], spans


def build(seed: int, split: str = "tune") -> list[dict[str, object]]:
    """The rows of ``split``: "tune" (rules may be read against it) or "held-out"."""
    held_out = split == "held-out"
    rng = random.Random(seed + (1000 if held_out else 0))  # noqa: S311 - reproducible data
    faker = Faker("zh_CN")
    faker.seed_instance(seed + (1000 if held_out else 0))
    rows: list[dict[str, object]] = []
    hand_names = HELD_OUT_NAMES if held_out else HAND_NAMES
    templates = HELD_OUT_TEMPLATES if held_out else NAME_TEMPLATES

    def name() -> tuple[str, str]:
        source = rng.choice(hand_names) if rng.random() < 0.5 else faker.name()
        return "PERSON", source

    for round_ in range(4 if not held_out else 7):
        for index, template in enumerate(templates):
            names = {slot: name() for slot in ("n", "m", "k")}
            while len({v for _, v in names.values()}) < 3:
                names["m"], names["k"] = name(), name()
            text, spans = _fill(template, names)
            rows.append({"id": f"name-{round_}-{index}", "text": text, "spans": spans})
    makers = {
        "id": ("CN_RESIDENT_ID", _resident_id),
        "phone": ("PHONE_NUMBER", _phone),
        "card": ("CN_BANK_CARD", _card),
        "passport": ("CN_PASSPORT", _passport),
    }
    for round_ in range(6):
        for index, (template, slot) in enumerate(ID_TEMPLATES):
            kind, make = makers[slot]
            text, spans = _fill(template, {slot: (kind, make(rng))})
            rows.append({"id": f"id-{round_}-{index}", "text": text, "spans": spans})
    if not held_out:
        for index, text in enumerate(NEGATIVES):
            rows.append({"id": f"none-{index}", "text": text, "spans": []})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--split", choices=("tune", "held-out"), default="tune")
    args = parser.parse_args()
    rows = build(args.seed, args.split)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{args.out}: {len(rows)} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
