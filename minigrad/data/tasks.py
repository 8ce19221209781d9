"""Seeded generators for the course's sequence tasks: generated here, never downloaded.

Every generator has the same shape: ``name(n, seed=0, **options)`` returns ``n`` examples as
plain Python strings, the same ones for the same arguments on every machine. The pair
generators return a list of ``(source, target)`` string pairs with ``n`` distinct sources,
so that the first examples can be held out and the rest trained on without overlap:

    addition(3)          # [('16+75', '91'), ...]          sum of two numbers
    date_formats(3)      # [('march 7, 1994', '1994-03-07'), ('07/03/94', '1994-03-07'), ...]
    reversal(3)          # [('abc', 'cba'), ...]
    qa_summaries(3)      # [('大众 朗逸 刹车 ... 技师说 ： ...', '刹车片 磨损 严重 ， 建议 更换 刹车片 。'), ...]
    char_corpus(1000)    # 'The cat sleeps in the garden. ...'  (one string of n characters)

Turn strings into ids with ``Vocab`` (characters: ``list(s)``; the Chinese task: ``s.split()``).

One task is numeric, for the many-to-one models of lessons 06-08: ``remember_batch`` (the
long-range memory task, one-hot arrays), with ``memory_batches`` giving a fresh batch per
training step.
"""
import datetime
import random

import numpy as np

from ..tensor import tensor

__all__ = ["addition", "date_formats", "reversal", "qa_summaries", "char_corpus",
           "remember_batch", "memory_batches"]


def _distinct(n, seed, draw, space, who):
    """``n`` distinct results of ``draw(rng)``, in the order first drawn."""
    if n < 0:
        raise ValueError(f"{who}: n must be >= 0, got {n}")
    if n > space:
        raise ValueError(f"{who}: asked for {n} distinct examples but only {space} exist "
                         "with these options")
    rng = random.Random(seed)
    seen, out = set(), []
    while len(out) < n:
        src, tgt = draw(rng)
        if src not in seen:
            seen.add(src)
            out.append((src, tgt))
    return out


# ----------------------------------------------------------------------------- addition

def addition(n, seed=0, digits=3):
    """``n`` distinct problems "a+b" -> "a+b's value", a and b uniform in [0, 10**digits).

    As in the DLS2 book's addition task: ('16+75', '91'), ('582+7', '589'). Fast at the
    50,000-example scale (one vectorized draw without replacement).
    """
    if digits < 1:
        raise ValueError(f"addition: digits must be >= 1, got {digits}")
    base = 10 ** digits
    if not 0 <= n <= base * base:
        raise ValueError(f"addition: asked for {n} distinct problems but only {base * base} "
                         f"exist with digits={digits}")
    pick = np.random.default_rng(seed).choice(base * base, size=n, replace=False)
    return [(f"{a}+{b}", str(a + b)) for a, b in zip((pick // base).tolist(),
                                                    (pick % base).tolist())]


# ----------------------------------------------------------------------------- dates

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

# how people write a date; every numeric form is day first (07/03/94 is 7 March), so each
# string has exactly one meaning. Fields: d 7, dd 07, m 3, mm 03, yy 94, y 1994,
# month march, mon mar, weekday monday; a capitalised field name gives a capitalised word.
DATE_FORMATS = [
    "{month} {d}, {y}",                 # march 7, 1994
    "{Month} {d}, {y}",                 # March 7, 1994
    "{d} {mon} {y}",                    # 7 mar 1994
    "{d} {Month} {y}",                  # 7 March 1994
    "{dd} {Mon} {y}",                   # 07 Mar 1994
    "{Weekday}, {Month} {d}, {y}",      # Monday, March 7, 1994
    "{weekday} {month} {d} {y}",        # monday march 7 1994
    "{Weekday} {d} {Month} {y}",        # Monday 7 March 1994
    "{dd}/{mm}/{yy}",                   # 07/03/94
    "{dd}.{mm}.{y}",                    # 07.03.1994
    "{d}.{m}.{yy}",                     # 7.3.94
    "{MONTH} {d} {y}",                  # MARCH 7 1994
    "{Mon} {d}, {y}",                   # Mar 7, 1994
    "{dd}-{mon}-{y}",                   # 07-mar-1994
]
FIRST_DAY, LAST_DAY = datetime.date(1970, 1, 1), datetime.date(2029, 12, 31)


def format_date(date, fmt):
    """``date`` written in one of ``DATE_FORMATS`` (English names, whatever the locale)."""
    month, weekday = MONTHS[date.month - 1], WEEKDAYS[date.weekday()]
    return fmt.format(d=date.day, dd=f"{date.day:02d}", m=date.month, mm=f"{date.month:02d}",
                      y=date.year, yy=f"{date.year % 100:02d}",
                      month=month, Month=month.capitalize(), MONTH=month.upper(),
                      mon=month[:3], Mon=month[:3].capitalize(),
                      weekday=weekday, Weekday=weekday.capitalize())


def date_formats(n, seed=0):
    """``n`` distinct human-written dates -> ISO 'YYYY-MM-DD'.

    Dates are uniform over 1970-01-01 .. 2029-12-31 (so a two-digit year is unambiguous:
    70-99 is 19xx, 00-29 is 20xx), each written in one of the 14 ``DATE_FORMATS``, e.g.
    ('march 7, 1994', '1994-03-07'), ('07/03/94', '1994-03-07'),
    ('Monday, March 7, 1994', '1994-03-07').
    """
    first, days = FIRST_DAY.toordinal(), (LAST_DAY - FIRST_DAY).days + 1

    def draw(rng):
        date = datetime.date.fromordinal(first + rng.randrange(days))
        return format_date(date, rng.choice(DATE_FORMATS)), date.isoformat()

    # distinct strings: a few formats coincide on some dates, so count dates x formats loosely
    return _distinct(n, seed, draw, days * len(DATE_FORMATS) // 2, "date_formats")


# ----------------------------------------------------------------------------- reversal

def reversal(n, seed=0, min_len=1, max_len=8, alphabet="abcdefghijklmnopqrstuvwxyz"):
    """``n`` distinct strings -> the same string reversed: ('abc', 'cba').
    Lengths uniform in [min_len, max_len], characters uniform over ``alphabet``."""
    if not 1 <= min_len <= max_len:
        raise ValueError(f"reversal: expected 1 <= min_len <= max_len, got {min_len}, {max_len}")
    space = sum(len(alphabet) ** L for L in range(min_len, max_len + 1))

    def draw(rng):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(min_len, max_len)))
        return s, s[::-1]

    return _distinct(n, seed, draw, space, "reversal")


# ----------------------------------------------------------------------------- 问答摘要

CARS = ["大众 朗逸", "大众 速腾", "丰田 卡罗拉", "丰田 凯美瑞", "本田 雅阁", "本田 思域",
        "日产 轩逸", "别克 英朗", "福特 福克斯", "现代 伊兰特", "吉利 帝豪", "哈弗 H6",
        "宝马 3系", "奥迪 A4L", "马自达 阿特兹"]

# fault -> (how an owner describes it, [(cause, fix), ...]); all words pre-segmented
FAULTS = {
    "刹车": (["踩 刹车 的 时候 有 异响", "刹车 时 吱吱 响"],
           [("刹车片 磨损 严重", "更换 刹车片"), ("刹车盘 生锈", "打磨 刹车盘"),
            ("刹车片 上 有 异物", "清理 刹车片")]),
    "抖动": (["怠速 的 时候 发动机 抖动", "冷车 启动 后 发动机 抖 得 厉害"],
           [("火花塞 老化", "更换 火花塞"), ("节气门 积碳", "清洗 节气门"),
            ("点火线圈 故障", "更换 点火线圈"), ("发动机 脚垫 老化", "更换 发动机 脚垫")]),
    "空调": (["空调 不 制冷", "开 空调 吹 的 是 热风"],
           [("空调 缺 冷媒", "加注 冷媒"), ("压缩机 不 工作", "检查 压缩机"),
            ("冷凝器 太 脏", "清洗 冷凝器"), ("空调 滤芯 堵塞", "更换 空调 滤芯")]),
    "跑偏": (["开 起来 方向盘 跑偏", "松开 方向盘 车 往 一边 跑"],
           [("四轮定位 不准", "做 四轮定位"), ("轮胎 气压 不一致", "调整 胎压"),
            ("轮胎 磨损 不均", "更换 轮胎")]),
    "油耗": (["最近 油耗 特别 高", "油耗 比 以前 高 了 不少"],
           [("空气 滤芯 太 脏", "更换 空气 滤芯"), ("氧传感器 故障", "更换 氧传感器"),
            ("轮胎 气压 不足", "补充 胎压")]),
    "启动": (["早上 打 不 着 火", "启动 困难 要 打 好 几 次"],
           [("电瓶 亏电", "给 电瓶 充电"), ("电瓶 老化", "更换 电瓶"),
            ("启动机 故障", "维修 启动机"), ("汽油泵 供油 不足", "检查 汽油泵")]),
    "顿挫": (["换挡 的 时候 有 顿挫 感", "起步 换挡 有 冲击"],
           [("变速箱油 变质", "更换 变速箱油"), ("变速箱 需要 匹配", "做 变速箱 自适应"),
            ("离合器 片 磨损", "更换 离合器 片")]),
    "故障灯": (["仪表 上 发动机 故障灯 亮 了", "故障灯 一直 亮 着"],
            [("氧传感器 故障", "更换 氧传感器"), ("三元催化 堵塞", "清洗 三元催化"),
             ("油箱 盖 没 拧紧", "拧紧 油箱 盖")]),
    "漏油": (["车 底下 有 油 渍", "停 一晚 地上 有 一 滩 油"],
           [("油底壳 垫子 老化", "更换 油底壳 垫子"), ("机油 滤芯 没 装 好", "重新 安装 机油 滤芯"),
            ("放油 螺丝 松 了", "拧紧 放油 螺丝")]),
}
QUESTION_ENDS = ["是 什么 原因 ？", "怎么 回事 ？", "该 怎么办 ？", "需要 修 吗 ？"]
PRICES = ["100", "200", "300", "500", "800", "1000"]


def _qa_example(rng):
    car = rng.choice(CARS)
    fault = rng.choice(sorted(FAULTS))
    symptoms, causes = FAULTS[fault]
    cause, fix = rng.choice(causes)
    km = rng.choice([None] + list(range(1, 16)))
    question = " ".join([car] + ([f"开 了 {km} 万 公里 ，"] if km else [])
                        + [rng.choice(symptoms), "，", rng.choice(QUESTION_ENDS)])
    turns = []
    if rng.random() < 0.5:
        # the owner guesses wrong first: the summary must take the technician's cause
        wrong = rng.choice([c for c, _ in causes if c != cause])
        turns += [f"车主说 ： 是不是 {wrong} ？", f"技师说 ： 不是 ， 是 {cause} 导致 的 ， 建议 {fix} 。"]
    else:
        turns += [f"技师说 ： 你好 ， 这种 情况 一般 是 {cause} ， 建议 {fix} 。"]
    price = rng.choice([None] + PRICES)
    if price:
        turns += ["车主说 ： 费用 大概 多少 ？", f"技师说 ： {price} 元 左右 。"]
    turns += [rng.choice(["车主说 ： 好的 ， 谢谢 。", "车主说 ： 明白 了 。"])]
    summary = f"{cause} ， 建议 {fix}" + (f" ， 费用 {price} 元 左右" if price else "") + " 。"
    return question + " " + " ".join(turns), summary


def qa_summaries(n, seed=0):
    """``n`` distinct car-repair Q&A dialogues (问答摘要) -> a short summary (the report).

    Source: the owner's question (car, mileage, symptom) then the dialogue between the
    technician (技师说) and the owner (车主说); target: the diagnosis and advice, written with
    words of the source only, which is what the prior-knowledge layer of notes 000/001
    (先验知识: the 0/1 vector of source words) exploits. Half of the dialogues have the owner
    guess a wrong cause first, so copying needs the right part of the source. Words are
    separated by single spaces (``s.split()`` gives the tokens, ``''.join(s.split())`` the
    raw text), as the course project's segmented data.
    """
    # distinct sources: per fault, symptom x cause x (no guess or one of the other causes),
    # times car x mileage x question end x price (or none) x closing turn
    per_fault = sum(len(symptoms) * len(causes) ** 2 for symptoms, causes in FAULTS.values())
    space = per_fault * len(CARS) * 16 * len(QUESTION_ENDS) * (1 + len(PRICES)) * 2
    return _distinct(n, seed, _qa_example, space, "qa_summaries")


# ----------------------------------------------------------------------------- characters

_SUBJECTS = {  # singular and plural subjects take different verb forms
    "sg": ["the cat", "a dog", "my sister", "the old man", "a little bird", "the teacher",
           "our neighbour", "the farmer"],
    "pl": ["the cats", "two dogs", "my parents", "the children", "the birds", "the farmers"],
}
_VERBS = [("sleeps", "sleep", False), ("sings", "sing", False), ("runs", "run", False),
          ("sees", "see", True), ("likes", "like", True), ("finds", "find", True),
          ("carries", "carry", True), ("watches", "watch", True)]
_OBJECTS = ["the ball", "a red apple", "the moon", "some bread", "the river", "a small box",
            "the garden", "an old book"]
_PLACES = ["in the garden", "on the hill", "by the river", "under the tree", "at home",
           "near the house"]
_TIMES = ["every morning", "at night", "in the spring", "on sunday", "after dinner"]


def _sentence(rng):
    number = rng.choice(["sg", "pl"])
    singular, plural, transitive = rng.choice(_VERBS)
    words = [rng.choice(_SUBJECTS[number]), singular if number == "sg" else plural]
    if transitive:
        words.append(rng.choice(_OBJECTS))
    if rng.random() < 0.5:
        words.append(rng.choice(_PLACES))
    if rng.random() < 0.3:
        words.append(rng.choice(_TIMES))
    text = " ".join(words)
    return text[0].upper() + text[1:] + "."


def char_corpus(n, seed=0):
    """A text of exactly ``n`` characters for a character language model.

    Made of simple English sentences from a small grammar, so a model can learn spelling,
    subject-verb agreement ("the cat sleeps", "the cats sleep"), that a verb like "sees"
    takes an object, a capital letter after a full stop, and paragraphs of 3-6 sentences
    separated by a newline. Lowercase letters, capitals, space, '.' and '\\n' only.
    """
    if n < 0:
        raise ValueError(f"char_corpus: n must be >= 0, got {n}")
    rng = random.Random(seed)
    parts, size = [], 0
    while size < n:
        paragraph = " ".join(_sentence(rng) for _ in range(rng.randint(3, 6))) + "\n"
        parts.append(paragraph)
        size += len(paragraph)
    return "".join(parts)[:n]


# ----------------------------------------------------------------------------- the memory task

def remember_batch(rng, n, T, keys=4):
    """The long-range memory task: a sequence of T symbols, one-hot over 2*keys; one position
    holds a key (0..keys-1), every other a distractor (keys..2*keys-1); at the end, name the
    key. The key stands ``distance`` steps before the end, uniform in 1..T, so short and long
    lags are both in every batch. ``rng``: a NumPy Generator.
    Returns x (n, T, 2*keys) float32, key (n,) int64, distance (n,) int64 (host arrays)."""
    if T < 1 or keys < 1:
        raise ValueError(f"remember_batch: expected T >= 1 and keys >= 1, got T={T}, keys={keys}")
    key = rng.integers(0, keys, n)
    distance = rng.integers(1, T + 1, n)
    seq = rng.integers(keys, 2 * keys, (n, T))
    seq[np.arange(n), T - distance] = key
    return np.eye(2 * keys, dtype=np.float32)[seq], key, distance


def memory_batches(seed, batch, T, keys):
    """``make_batch(step)`` for ``minigrad.training.train_classifier``: a fresh memory-task
    batch each step, ((x,), key) with x a (batch, T, 2*keys) tensor, from a generator seeded
    with ``seed``."""
    rng = np.random.default_rng(seed)

    def make(step):
        x, key, _ = remember_batch(rng, batch, T, keys)
        return (tensor(x),), key
    return make
