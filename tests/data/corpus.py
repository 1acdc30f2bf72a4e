"""corpus.py — the test texts shared by the data tests: English prose (the
fortunes package, when installed), source code (this repository, Python's
standard library), generated multilingual text with emoji, combining marks and
whitespace runs, stress cases (long words, long whitespace runs, contractions),
invalid UTF-8, and sweeps over every Unicode code point."""
import glob
import os

def prose_docs():
    docs = []
    for path in sorted(glob.glob("/usr/share/games/fortunes/*")):
        if path.endswith(".dat") or os.path.isdir(path) or os.path.islink(path):
            continue
        try:
            text = open(path, "rb").read()
        except OSError:
            continue
        docs += [d.strip(b"\n") for d in text.split(b"\n%\n") if d.strip()]
    return docs


def code_docs(repo):
    docs = []
    pats = ["data/*.[ch]", "framework/*.[ch]", "framework/cpu/*.c", "tools/*.[ch]", "tools/*.sh", "tests/*.c",
            "tests/data/*.py", "README.md", "meson.build"]
    for p in pats:
        for path in sorted(glob.glob(os.path.join(repo, p))):
            docs.append(open(path, "rb").read())
    stdlib = os.path.dirname(os.__file__)
    for path in sorted(glob.glob(os.path.join(stdlib, "*.py")))[:120]:
        docs.append(open(path, "rb").read())
    return docs


SCRIPTS = {
    "latin": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZàáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßĀāĂăĄąĆćČčĎďĒēĘęĚěĞğĪīİıŁłŃńŇňŌōŐőŒœŘřŚśŞşŠšŢţŤťŪūŮůŰűŸŹźŻżŽžǅǆ",
    "greek": "αβγδεζηθικλμνξοπρστυφχψωςΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩάέήίόύώϊϋΐΰ",
    "cyrillic": "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯіїєґ",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأؤإئةى٠١٢٣٤٥٦٧٨٩،؛؟",
    "hebrew": "אבגדהוזחטיכלמנסעפצקרשתךםןףץ",
    "devanagari": "अआइईउऊऋएऐओऔकखगघङचछजझञटठडढणतथदधनपफबभमयरलवशषसह्ािीुूृेैोौंः०१२३४५६७८९।",
    "thai": "กขฃคฅฆงจฉชซฌญฎฏฐฑฒณดตถทธนบปผฝพฟภมยรฤลฦวศษสหฬอฮะัาำิีึืฺุู฿เแโใไๅๆ็่้๊๋์ํ๎๏๐๑๒",
    "cjk": "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坐集编宝谈府拉黑且随格尽剑讲布杀微怕母调局根曾准团段终乐切级克精哪官示冷域读",
    "kana": "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをんアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲンー",
    "hangul": "가각간갇갈감갑값강개객거건걸검게겨격견결경계고곡곤골곰공과관광괴교구국군굴궁권귀규균그극근글금급기긴길김까깨꼬꽃꾸꿈끄끝나낙난날남납낭내냉너널넣네녀년념녕노녹논놀농높뇌누눈뉴느늘능니닉다단달담답당대댁더덕던덜덤덥데도독돈돌동돼되된두둑둘둥뒤드득든들등디따땅때또뚜뛰뜨뜻띠라락란람랍랑래랭량러럭런럴럼렁레려력련렬렴령례로록론롤롬롭롯료루룩룹룻뤄류륙률르른름릇릎리릭린림립링마막만많말맑맘맛망맞맡매맥맨맵맺머먹먼멀멈멋멍메며면멸명몇모목몬몰몸몹못몽묘무묵묶문묻물뭄뭇뭐뭘므미민믿밀밑바박밖반받발밝밟밤밥방밭배",
    "emoji": ["😀", "😂", "🥰", "👍", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "❤️", "🇺🇸", "🇯🇵", "🙏🏻", "🤖", "🧑‍💻", "✨", "🔥", "🎉", "🦄", "☕", "⚡", "🍕"],
    "marks": ["e\u0301", "a\u0308", "o\u0302\u0323", "n\u0303", "\u0915\u094d\u0937", "c\u0327", "Z\u0335\u0321\u0320", "\u1100\u1161\u11a8"],
    "symbols": "∀∂∃∅∇∈∉∋∏∑−∓∕∗∘√∝∞∠∧∨∩∪∫≈≠≡≤≥⊂⊃⊆⊇⊕⊗⊥⋅⌈⌉⌊⌋〈〉◊♠♣♥♦←↑→↓↔⇒⇔€£¥¢§¶©®™°±²³¹¼½¾×÷«»“”‘’„‚‹›…–—·•‰′″※‼⁇⁈⁉",
    "fullwidth": "ＡＢＣａｂｃ０１２３！？（）［］＠＃％＆　、。「」『』【】〔〕・ー～",
}
WS = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\n ", "\u00a0", "\u3000", "\u2003", "\u2028", "\u200b", "\x0b", "\x0c", "\x85", " \t \n"]
PUNCT = list(".,;:!?'\"()[]{}<>-_/\\@#$%^&*+=|~`") + ["...", "--", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "''", "n't"]


def gen_word(rng):
    name = rng.choice(list(SCRIPTS))
    alphabet = SCRIPTS[name]
    if isinstance(alphabet, list):
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3)))
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))


def gen_doc(rng):
    parts = []
    for _ in range(rng.randint(5, 200)):
        r = rng.random()
        if r < 0.55:
            parts.append(gen_word(rng))
        elif r < 0.7:
            parts.append(rng.choice(PUNCT))
        elif r < 0.8:
            parts.append(str(rng.randint(0, 10 ** rng.randint(1, 12))))
        parts.append(rng.choice(WS) if rng.random() < 0.3 else " ")
    return "".join(parts).encode("utf-8")


def stress_docs(rng):
    docs = [b"", b" ", b"\n", b"  ", b"a", b"'", b"'s", b" 's", b"I'm don't they'll we've you're he'd it's",
            b"IT'S DON'T WE'VE", b"x''s ''ll", b"hello   world", b"hello   ", b"   hello", b"a\n\n\nb",
            b"trailing spaces    ", b"\t\tindented\n\t\t\tmore", b"<|endoftext|>", b"text<|endoftext|>more",
            b"[CLS] [SEP] [MASK] [UNK] [PAD]", b"12345678901234567890", b"3.14159 2,718 1e-10 0x1F",
            "naïve café résumé Ångström İstanbul ΣΊΣΥΦΟΣ ǅ ß ẞ ﬁ".encode(), "Hello\u00a0world\u3000again".encode()]
    for n in (50, 300, 3000, 20000):
        docs.append(b"a" * n)
        docs.append(b" " * n + b"x")
        docs.append(b"\n" * n)
        docs.append(("ab" * n).encode())
        docs.append("".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
                            for _ in range(n)).encode())
        docs.append(("🤖" * (n // 4 + 1)).encode())
        docs.append("".join(rng.choice(" \t\n\u00a0\u3000") for _ in range(n)).encode())
        docs.append(("x" * 150 + " ") .encode() * (n // 150 + 1))
    return docs


def invalid_docs(rng):
    pieces = [b"\x80", b"\xbf", b"\xc0\xaf", b"\xc1\xbf", b"\xc2", b"\xe0\x80\xaf", b"\xe0\xa0", b"\xed\xa0\x80",
              b"\xed\xbf\xbf", b"\xf0\x8f\xbf\xbf", b"\xf0\x90\x80", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",
              b"\xff", b"\xfe", b"\xe2\x82", b"\xf0\x9f\x98", b"\xef\xbf\xbd"]
    docs = []
    for _ in range(400):
        out = []
        for _ in range(rng.randint(1, 30)):
            r = rng.random()
            out.append(rng.choice(pieces) if r < 0.3 else gen_word(rng).encode() if r < 0.8 else b" ")
        docs.append(b"".join(out))
    for _ in range(100):
        docs.append(bytes(rng.randrange(256) for _ in range(rng.randint(1, 400))))
    return docs


def sweep_docs(lo=0, hi=0x110000, chunk=2000):
    """GPT-2: every code point between letters, digits and punctuation, and doubled."""
    docs = []
    cps = [c for c in range(lo, hi) if not 0xD800 <= c <= 0xDFFF]
    for i in range(0, len(cps), chunk):
        docs.append(" ".join(f"a{chr(c)}a 1{chr(c)}1 !{chr(c)}! {chr(c)}{chr(c)}" for c in cps[i:i + chunk])
                    .encode("utf-8"))
    return docs


def char_sweep_docs():
    """BERT: one document "a<c>a" per code point of planes 0-3 and 14 (every assigned
    character), and every 61st of the unassigned and private-use planes."""
    cps = [c for c in range(0x110000) if (c < 0x32400 or 0xE0000 <= c < 0xE1000 or c % 61 == 0)
           and not 0xD800 <= c <= 0xDFFF]
    return [("a" + chr(c) + "a").encode("utf-8") for c in cps]
