// Tokenizer parity with Hugging Face's slow RobertaTokenizer (fixtures in tests/data/tokenizer and,
// when set, the folder named by TOWERSEARCH_TOKENIZER_FIXTURES), plus hostile input and threads.
#include "core/text/bytelevelbpe.h"
#include "core/text/pretokenizer.h"
#include "core/text/tokenizer.h"
#include "core/text/tokenizerfiles.h"
#include "core/text/utf8.h"
#include "tests/common/testdata.h"

#include <nlohmann/json.hpp>

#include <QElapsedTimer>
#include <QFile>
#include <QHash>
#include <QTemporaryDir>
#include <QTest>

#include <climits>
#include <random>
#include <thread>

using ts::EncodeOptions;
using ts::Tokenizer;
using Json = nlohmann::json;

namespace {

constexpr const char *kFixturesEnv = "TOWERSEARCH_TOKENIZER_FIXTURES";

QString fixtureDir() {
    return ts::test::dataDir(QStringLiteral("tokenizer"));
}

std::vector<int64_t> toIds(const Json &list) {
    std::vector<int64_t> ids;
    for (const Json &v : list)
        ids.push_back(v.get<int64_t>());
    return ids;
}

// Not QString::fromStdString: Qt's UTF-8 decoder drops a leading BOM, which is text to HF.
QString str(const Json &v) {
    return ts::Utf8::toQString(ts::Utf8::decodeLossy(v.get<std::string>()));
}

QStringList toStrings(const Json &list) {
    QStringList out;
    for (const Json &v : list)
        out << str(v);
    return out;
}

// Readable row names: "<folder>/<case id>".
QByteArray rowName(const QString &dir, const QString &id) {
    return (QDir(dir).dirName() + QLatin1Char('/') + id).toUtf8();
}

QByteArray readFile(const QString &path) {
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

bool writeFile(const QString &path, const QByteArray &bytes) {
    QFile f(path);
    return f.open(QIODevice::WriteOnly) && f.write(bytes) == bytes.size();
}

// HF's call keyword arguments mapped onto EncodeOptions (PreTrainedTokenizerBase's
// _get_padding_truncation_strategies). Returns false with `why` for one we cannot express.
bool optionsFromKwargs(const Json &kw, const Tokenizer &tok, EncodeOptions &opts, QString &why) {
    opts = {};
    std::optional<int> maxLength;
    if (kw.contains("max_length") && !kw["max_length"].is_null())
        maxLength = kw["max_length"].get<int>();
    if (kw.contains("add_special_tokens"))
        opts.addSpecialTokens = kw["add_special_tokens"].get<bool>();
    bool padding = false;
    if (kw.contains("padding")) {
        const Json &p = kw["padding"];
        if (p.is_boolean()) {
            padding = p.get<bool>();
            opts.padding = padding ? EncodeOptions::Padding::Longest : EncodeOptions::Padding::None;
        } else if (p == "longest") {
            padding = true;
            opts.padding = EncodeOptions::Padding::Longest;
        } else if (p == "max_length") {
            padding = true;
            opts.padding = EncodeOptions::Padding::MaxLength;
        } else if (p != "do_not_pad") {
            why = QStringLiteral("padding=%1").arg(QString::fromStdString(p.dump()));
            return false;
        }
    }
    bool truncation = false;
    if (kw.contains("truncation")) {
        const Json &t = kw["truncation"];
        if (t.is_boolean())
            truncation = t.get<bool>();
        else if (t == "longest_first")
            truncation = true;
        else if (t != "do_not_truncate") {
            why = QStringLiteral("truncation=%1").arg(QString::fromStdString(t.dump()));
            return false;
        }
    } else if (maxLength && !padding) {
        truncation = true; // HF: max_length alone activates longest_first
    }
    if (truncation && !maxLength)
        maxLength = tok.modelMaxLength();
    opts.maxLength = maxLength;
    opts.truncate = truncation;
    return true;
}

} // namespace

class TokenizerTest : public QObject {
    Q_OBJECT

private:
    // One tokenizer per fixture folder: each folder holds its own tokenizer files. Null (with the
    // reason in m_loadErrors) when the folder's files do not load.
    const Tokenizer *tokenizerFor(const QString &dir) {
        if (!m_tokenizers.contains(dir) && !m_loadErrors.contains(dir)) {
            auto tok = Tokenizer::load(dir);
            if (tok)
                m_tokenizers.insert(dir, *tok);
            else
                m_loadErrors.insert(dir, tok.error().message);
        }
        const auto it = m_tokenizers.constFind(dir);
        return it == m_tokenizers.constEnd() ? nullptr : &it.value();
    }
    const Tokenizer &fixture() {
        const Tokenizer *tok = tokenizerFor(fixtureDir());
        if (!tok)
            qFatal("the fixture tokenizer does not load: %s", loadError(fixtureDir()).constData());
        return *tok;
    }
    QByteArray loadError(const QString &dir) const { return m_loadErrors.value(dir).toUtf8(); }
    static void addJsonlRows(const QString &file) {
        QTest::addColumn<QString>("dir");
        QTest::addColumn<QByteArray>("line");
        const QStringList dirs =
            ts::test::caseDirs(QStringLiteral("tokenizer"), kFixturesEnv, file);
        QVERIFY2(!dirs.isEmpty(), "no fixture folder found");
        for (const QString &dir : dirs) {
            const QList<QByteArray> lines = readFile(dir + QLatin1Char('/') + file).split('\n');
            int n = 0;
            for (const QByteArray &line : lines) {
                if (line.trimmed().isEmpty())
                    continue;
                const Json j = Json::parse(line.constData(), line.constData() + line.size());
                const QString id =
                    j.contains("id") ? str(j["id"]) : QStringLiteral("%1-%2").arg(file).arg(n);
                QTest::newRow(rowName(dir, id).constData()) << dir << line;
                ++n;
            }
        }
    }

    QHash<QString, Tokenizer> m_tokenizers;
    QHash<QString, QString> m_loadErrors;

private Q_SLOTS:
    void fixtureFolderFromEnvironmentIsUsed() {
        const QString extra = qEnvironmentVariable(kFixturesEnv);
        if (extra.isEmpty())
            QSKIP("TOWERSEARCH_TOKENIZER_FIXTURES is not set");
        const QStringList dirs = ts::test::caseDirs(QStringLiteral("tokenizer"), kFixturesEnv,
                                                    QStringLiteral("cases.jsonl"));
        const QString root = QDir(extra).absolutePath();
        QVERIFY2(std::any_of(dirs.begin(), dirs.end(),
                             [&](const QString &d) { return d.startsWith(root); }),
                 qPrintable(QStringLiteral("%1 holds no cases.jsonl").arg(extra)));
    }

    void matchesHuggingFaceEncoding_data() { addJsonlRows(QStringLiteral("cases.jsonl")); }
    void matchesHuggingFaceEncoding() {
        QFETCH(QString, dir);
        QFETCH(QByteArray, line);
        const Tokenizer *loaded = tokenizerFor(dir);
        QVERIFY2(loaded, loadError(dir).constData());
        const Tokenizer &tok = *loaded;
        const Json c = Json::parse(line.constData(), line.constData() + line.size());
        EncodeOptions opts;
        QString why;
        QVERIFY2(optionsFromKwargs(c.value("call_kwargs", Json::object()), tok, opts, why),
                 qPrintable(QStringLiteral("unsupported call argument ") + why));
        if (c.contains("texts")) {
            QStringList texts = toStrings(c["texts"]);
            QVERIFY2(!c.contains("text_pair") && !c.contains("text_pairs"),
                     "batches of pairs are not supported");
            const ts::TokenBatch b = tok.encodeBatch(texts, opts);
            QCOMPARE(b.batchSize, int64_t(texts.size()));
            const Json &ids = c["input_ids"];
            const Json &mask = c["attention_mask"];
            QCOMPARE(size_t(b.batchSize), ids.size());
            const bool rectangular = std::all_of(
                ids.begin(), ids.end(), [&](const Json &r) { return r.size() == ids[0].size(); });
            for (qsizetype r = 0; r < texts.size(); ++r) {
                std::vector<int64_t> gotIds;
                std::vector<int64_t> gotMask;
                if (rectangular) {
                    QCOMPARE(size_t(b.seqLength), ids[0].size());
                    gotIds.assign(b.inputIds.begin() + r * b.seqLength,
                                  b.inputIds.begin() + (r + 1) * b.seqLength);
                    gotMask.assign(b.attentionMask.begin() + r * b.seqLength,
                                   b.attentionMask.begin() + (r + 1) * b.seqLength);
                } else { // HF returns ragged rows without padding; compare row by row
                    const ts::Encoding e = tok.encode(texts[r], opts);
                    gotIds = e.inputIds;
                    gotMask = e.attentionMask;
                }
                QCOMPARE(gotIds, toIds(ids[size_t(r)]));
                QCOMPARE(gotMask, toIds(mask[size_t(r)]));
            }
            return;
        }
        const QString text = str(c["text"]);
        const ts::Encoding e = c.contains("text_pair")
                                   ? tok.encodePair(text, str(c["text_pair"]), opts)
                                   : tok.encode(text, opts);
        if (c.contains("tokens")) {
            const QStringList tokens = tok.tokenize(text);
            if (tokens != toStrings(c["tokens"]))
                qWarning() << "tokenize gave" << tokens;
            QCOMPARE(tokens, toStrings(c["tokens"]));
        }
        QCOMPARE(e.inputIds, toIds(c["input_ids"]));
        QCOMPARE(e.attentionMask, toIds(c["attention_mask"]));
    }

    void matchesHuggingFaceDecoding_data() { addJsonlRows(QStringLiteral("decode.jsonl")); }
    void matchesHuggingFaceDecoding() {
        QFETCH(QString, dir);
        QFETCH(QByteArray, line);
        const Tokenizer *loaded = tokenizerFor(dir);
        QVERIFY2(loaded, loadError(dir).constData());
        const Tokenizer &tok = *loaded;
        const Json c = Json::parse(line.constData(), line.constData() + line.size());
        const Json kw = c.value("kwargs", Json::object());
        const std::vector<int64_t> ids = toIds(c["ids"]);
        QString got;
        if (kw.value("default", false)) {
            got = tok.decode(ids);
        } else {
            std::optional<bool> cleanUp;
            if (kw.contains("clean_up_tokenization_spaces") &&
                !kw["clean_up_tokenization_spaces"].is_null())
                cleanUp = kw["clean_up_tokenization_spaces"].get<bool>();
            got = tok.decode(ids, kw.value("skip_special_tokens", false), cleanUp);
        }
        QCOMPARE(got, str(c["text"]));
    }

    void exposesSpecialTokensAndLimits() {
        const Tokenizer &tok = fixture();
        QCOMPARE(tok.bosTokenId(), 0);
        QCOMPARE(tok.padTokenId(), 1);
        QCOMPARE(tok.eosTokenId(), 2);
        QCOMPARE(tok.unkTokenId(), 3);
        QCOMPARE(tok.maskTokenId(), 50264);
        QCOMPARE(tok.vocabSize(), 50265);
        QCOMPARE(tok.modelMaxLength(), 512);
        QVERIFY(tok.isSpecial(50264));
        QVERIFY(!tok.isSpecial(50260)); // <|endoftext|> is ordinary here
        QCOMPARE(tok.idToToken(50264), QStringLiteral("<mask>"));
        QCOMPARE(tok.tokenToId(QStringLiteral("<pad>")), std::optional<int64_t>(1));
        QCOMPARE(tok.tokenToId(QStringLiteral("no such token")), std::nullopt);
        QCOMPARE(tok.idToToken(1 << 30), QString());
    }

    void emptyTextGivesOnlyBosAndEos() {
        const Tokenizer &tok = fixture();
        QCOMPARE(tok.encode(QString()).inputIds, (std::vector<int64_t>{0, 2}));
        QCOMPARE(tok.encode(QString()).attentionMask, (std::vector<int64_t>{1, 1}));
        QVERIFY(tok.tokenize(QString()).isEmpty());
        QCOMPARE(tok.decode({0, 2}), QStringLiteral("<s></s>"));
        QCOMPARE(tok.decode({}), QString());
        const ts::TokenBatch none = tok.encodeBatch({}, {});
        QCOMPARE(none.batchSize, 0);
        QVERIFY(none.inputIds.empty());
    }

    void replacesInvalidUtf8AndLoneSurrogates_data() {
        QTest::addColumn<QString>("text");
        QTest::newRow("invalid bytes") << QString::fromUtf8("caf\xc3 \xff\xfe bar \xed\xa0\x80");
        QTest::newRow("truncated emoji") << QString::fromUtf8("smile \xf0\x9f\x98");
        QTest::newRow("lone high surrogate")
            << (QStringLiteral("a ") + QChar(0xD83D) + QStringLiteral(" b"));
        QTest::newRow("lone low surrogate at end") << (QStringLiteral("x") + QChar(0xDE00));
        QTest::newRow("nul and controls") << QString::fromUtf8(QByteArray("a\0b\x01\x1c c", 8));
    }
    void replacesInvalidUtf8AndLoneSurrogates() {
        QFETCH(QString, text);
        const Tokenizer &tok = fixture();
        const ts::Encoding e = tok.encode(text);
        QVERIFY(e.inputIds.size() >= 3);
        for (const int64_t id : e.inputIds)
            QVERIFY(id >= 0 && id < tok.vocabSize() && id != tok.unkTokenId());
        const QString back = tok.decode(e.inputIds, true);
        QVERIFY(!back.isEmpty());
        for (const QChar c : back)
            QVERIFY(!c.isSurrogate() || back.toUcs4().size() < back.size()); // well-formed UTF-16
    }

    void truncatesPairsLongestFirst_data() {
        QTest::addColumn<int>("lengthA");
        QTest::addColumn<int>("lengthB");
        QTest::addColumn<int>("maxLength");
        QTest::addColumn<int>("keptA");
        QTest::addColumn<int>("keptB");
        // HF truncate_sequences("longest_first"): even out the lengths, then remove alternately,
        // the first text losing the smaller half. <s> A </s></s> B </s> adds 4.
        QTest::newRow("first longer: only it shrinks") << 10 << 3 << 10 << 3 << 3;
        QTest::newRow("second longer: only it shrinks") << 3 << 10 << 10 << 3 << 3;
        QTest::newRow("equal, even removal") << 10 << 10 << 10 << 3 << 3;
        QTest::newRow("equal, odd removal: second loses more") << 10 << 10 << 11 << 4 << 3;
        QTest::newRow("limit below the specials empties both") << 2 << 2 << 3 << 0 << 0;
        QTest::newRow("fits: untouched") << 10 << 10 << 600 << 10 << 10;
    }
    void truncatesPairsLongestFirst() {
        QFETCH(int, lengthA);
        QFETCH(int, lengthB);
        QFETCH(int, maxLength);
        QFETCH(int, keptA);
        QFETCH(int, keptB);
        const Tokenizer &tok = fixture();
        // "a a a ..." is one token per word: "a", then "Ġa" repeated.
        auto words = [](const char *w, int n) {
            QStringList l;
            for (int i = 0; i < n; ++i)
                l << QString::fromLatin1(w);
            return l.join(QLatin1Char(' '));
        };
        EncodeOptions opts;
        opts.maxLength = maxLength;
        const std::vector<int64_t> a =
            tok.encode(words("a", lengthA), {false, {}, true, EncodeOptions::Padding::None})
                .inputIds;
        const std::vector<int64_t> b =
            tok.encode(words("b", lengthB), {false, {}, true, EncodeOptions::Padding::None})
                .inputIds;
        QCOMPARE(int(a.size()), lengthA);
        QCOMPARE(int(b.size()), lengthB);
        std::vector<int64_t> expected{tok.clsTokenId()};
        expected.insert(expected.end(), a.begin(), a.begin() + keptA);
        expected.insert(expected.end(), {tok.sepTokenId(), tok.sepTokenId()});
        expected.insert(expected.end(), b.begin(), b.begin() + keptB);
        expected.push_back(tok.sepTokenId());
        QCOMPARE(tok.encodePair(words("a", lengthA), words("b", lengthB), opts).inputIds, expected);
    }

    void decodeReplacesBrokenByteSequences() {
        const Tokenizer &tok = fixture();
        // "Ã" stands for byte 0xC3, a lead byte: alone it is a truncated sequence -> one U+FFFD.
        const int64_t lead = tok.tokenToId(QStringLiteral("Ã")).value();
        const int64_t a = tok.tokenToId(QStringLiteral("a")).value();
        QCOMPARE(tok.decode({lead, a}), QStringLiteral("\uFFFDa"));
        QCOMPARE(tok.decode({a, lead}), QStringLiteral("a\uFFFD"));
        // Broken bytes do not leak across a special token: each run decodes on its own.
        QCOMPARE(tok.decode({lead, 2, a}), QStringLiteral("\uFFFD</s>a"));
        QCOMPARE(tok.decode({-5, 1 << 30}), QStringLiteral("<unk><unk>"));
    }

    void hugeInputIsBoundedAndTruncated_data() {
        QTest::addColumn<QString>("text");
        QString mixed;
        while (mixed.size() < 1'000'000)
            mixed +=
                QStringLiteral("A dog runs on the beach, 42 times! Ein Hund läuft. 犬が走る。 🐕🐕 ");
        QTest::newRow("1 MB of mixed text") << mixed;
        QString word;
        std::mt19937 rng(7);
        while (word.size() < 1'000'000)
            word += QChar(u'a' + char16_t(rng() % 26));
        QTest::newRow("1 MB word without spaces") << word;
        QTest::newRow("1 MB of spaces") << QString(1'000'000, QLatin1Char(' '));
        QTest::newRow("1 MB of punctuation") << QString(1'000'000, QLatin1Char('!'));
    }
    void hugeInputIsBoundedAndTruncated() {
        QFETCH(QString, text);
        const Tokenizer &tok = fixture();
        // "Bounded" must hold on a loaded CI machine and in sanitizer builds, so the budget is
        // loose: 30 s, or 40x what a tenth of the text takes (n log n gives ~12x). Quadratic
        // behaviour (HF's BPE on a 1 MB word) takes hours and fails either way.
        QElapsedTimer timer;
        timer.start();
        (void)tok.encode(text.left(text.size() / 10));
        const qint64 budget = std::max<qint64>(30000, 40 * timer.elapsed());

        timer.restart();
        EncodeOptions toModel;
        toModel.maxLength = tok.modelMaxLength();
        const ts::Encoding cut = tok.encode(text, toModel);
        const qint64 cutMs = timer.elapsed();
        QCOMPARE(cut.inputIds.size(), size_t(tok.modelMaxLength()));
        QCOMPARE(cut.inputIds.front(), tok.bosTokenId());
        QCOMPARE(cut.inputIds.back(), tok.eosTokenId());
        QVERIFY2(cutMs < budget,
                 qPrintable(QStringLiteral("truncated encode took %1 ms, budget %2 ms")
                                .arg(cutMs)
                                .arg(budget)));
        // The whole text, untruncated: bounded too.
        timer.restart();
        const ts::Encoding full = tok.encode(text);
        const qint64 fullMs = timer.elapsed();
        QVERIFY2(
            fullMs < budget,
            qPrintable(
                QStringLiteral("full encode took %1 ms, budget %2 ms").arg(fullMs).arg(budget)));
        QVERIFY(full.inputIds.size() >= cut.inputIds.size());
        // Stopping early never changes the ids kept.
        QVERIFY(std::equal(cut.inputIds.begin(), cut.inputIds.end() - 1, full.inputIds.begin()));
    }

    void longWordBpeMatchesReferenceAlgorithm() {
        auto files = ts::TokenizerFiles::read(fixtureDir());
        QVERIFY2(files.ok(), files.ok() ? "" : qPrintable(files.error().message));
        const ts::ByteLevelBpe bpe(files->merges);
        std::mt19937 rng(1);
        const std::string alphabet = "aaabcdeeefghiilmnnoorssttu  .,'-ĠÃ©";
        for (int round = 0; round < 300; ++round) {
            std::vector<int32_t> symbols(1 + rng() % 400);
            for (int32_t &s : symbols)
                s = int32_t(uint8_t(alphabet[rng() % alphabet.size()]));
            QCOMPARE(bpe.mergeLinked(symbols), bpe.mergeDirect(symbols));
        }
        const std::vector<int32_t> same(1000,
                                        int32_t('a')); // overlapping pairs: "aaa" -> "aa", "a"
        QCOMPARE(bpe.mergeLinked(same), bpe.mergeDirect(same));
    }

    void preTokenizerFollowsThePattern_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QStringList>("pieces");
        // Expected pieces from Python's `regex` findall with the GPT-2 pattern.
        QTest::newRow("spaces before a word")
            << QStringLiteral("a  b") << QStringList{"a", " ", " b"};
        QTest::newRow("trailing spaces") << QStringLiteral("a  ") << QStringList{"a", "  "};
        QTest::newRow("newline before a word")
            << QStringLiteral("a\nb") << QStringList{"a", "\n", "b"};
        QTest::newRow("contractions are case-sensitive")
            << QStringLiteral("IT'S it's") << QStringList{"IT", "'", "S", " it", "'s"};
        QTest::newRow("quote run") << QStringLiteral("'''s") << QStringList{"'''", "s"};
        QTest::newRow("digits and letters")
            << QStringLiteral("abc123 ½x") << QStringList{"abc", "123", " ½", "x"};
        QTest::newRow("nbsp is space, not glued")
            << QStringLiteral("a\u00a0b") << QStringList{"a", "\u00a0", "b"};
        QTest::newRow("U+001C is not regex space")
            << QStringLiteral("a\u001c b") << QStringList{"a", "\u001c", " b"};
        QTest::newRow("Kawi letters (Unicode 15, unknown to Qt 6.4)")
            << QStringLiteral("a \U00011F04\U00011F05")
            << QStringList{"a", " \U00011F04\U00011F05"};
        QTest::newRow("ideographic space run")
            << QStringLiteral("x\u3000\u3000y") << QStringList{"x", "\u3000", "\u3000", "y"};
    }
    void preTokenizerFollowsThePattern() {
        QFETCH(QString, text);
        QFETCH(QStringList, pieces);
        const std::u32string u = text.toStdU32String();
        QStringList got;
        ts::PreTokenizer::split(u, [&](std::u32string_view p) {
            got << ts::Utf8::toQString(p);
            return true;
        });
        QCOMPARE(got, pieces);
    }

    void concurrentEncodesAgree() {
        const Tokenizer tok = fixture(); // a copy: handles share the data
        QStringList texts;
        for (const QByteArray &line :
             readFile(fixtureDir() + QStringLiteral("/cases.jsonl")).split('\n')) {
            if (line.trimmed().isEmpty())
                continue;
            const Json c = Json::parse(line.constData(), line.constData() + line.size());
            if (c.contains("text"))
                texts << str(c["text"]);
        }
        std::vector<std::vector<int64_t>> expected;
        for (const QString &t : texts)
            expected.push_back(tok.encode(t).inputIds);
        std::atomic<int> mismatches{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&, t] {
                const Tokenizer mine = tok;
                for (int round = 0; round < 20; ++round)
                    for (qsizetype i = 0; i < texts.size(); ++i) {
                        // Vary the text so that the cache is written while others read it.
                        const QString text = texts[i] + QStringLiteral(" r%1t%2").arg(round).arg(t);
                        const std::vector<int64_t> ids = mine.encode(text).inputIds;
                        if (!std::equal(expected[size_t(i)].begin(), expected[size_t(i)].end() - 1,
                                        ids.begin()))
                            ++mismatches;
                    }
            });
        }
        for (std::thread &th : threads)
            th.join();
        QCOMPARE(mismatches.load(), 0);
    }

    void loadsTokenizerJsonOnlyFolder_data() {
        QTest::addColumn<bool>("mergesAsPairs");
        QTest::newRow("merges as \"a b\" strings") << false;
        QTest::newRow("merges as [a, b] pairs") << true;
    }
    void loadsTokenizerJsonOnlyFolder() {
        QFETCH(bool, mergesAsPairs);
        QTemporaryDir tmp;
        QVERIFY(tmp.isValid());
        const QByteArray vocabBytes = readFile(fixtureDir() + QStringLiteral("/vocab.json"));
        Json model{{"type", "BPE"},
                   {"vocab", Json::parse(vocabBytes.constData(),
                                         vocabBytes.constData() + vocabBytes.size())}};
        Json merges = Json::array();
        const QList<QByteArray> lines =
            readFile(fixtureDir() + QStringLiteral("/merges.txt")).split('\n');
        for (qsizetype i = 1; i + 1 < lines.size(); ++i) {
            const QList<QByteArray> parts = lines[i].split(' ');
            if (mergesAsPairs)
                merges.push_back(Json::array({parts[0].toStdString(), parts[1].toStdString()}));
            else
                merges.push_back(lines[i].toStdString());
        }
        model["merges"] = merges;
        Json added = Json::array();
        for (const auto &[id, content] :
             {std::pair{0, "<s>"}, {1, "<pad>"}, {2, "</s>"}, {3, "<unk>"}, {50264, "<mask>"}})
            added.push_back({{"id", id},
                             {"content", content},
                             {"special", true},
                             {"lstrip", id == 50264},
                             {"rstrip", false}});
        const Json root{{"version", "1.0"}, {"added_tokens", added}, {"model", model}};
        QVERIFY(writeFile(tmp.filePath(QStringLiteral("tokenizer.json")),
                          QByteArray::fromStdString(root.dump())));

        auto fromJson = Tokenizer::load(tmp.path());
        QVERIFY2(fromJson.ok(), fromJson.ok() ? "" : qPrintable(fromJson.error().message));
        const Tokenizer &reference = fixture();
        for (const QString &text :
             {QStringLiteral("A man riding a wave on top of a surfboard."),
              QStringLiteral("two <mask> <mask> masks, naïve café 🐕"), QStringLiteral("a <s> b")}) {
            QCOMPARE(fromJson->encode(text).inputIds, reference.encode(text).inputIds);
            QCOMPARE(fromJson->tokenize(text), reference.tokenize(text));
        }
        QCOMPARE(fromJson->maskTokenId(), 50264);
        QCOMPARE(fromJson->modelMaxLength(), INT_MAX); // no tokenizer_config.json: no model limit
        EncodeOptions padToModel;
        padToModel.padding = EncodeOptions::Padding::MaxLength; // no limit: HF does not pad
        QCOMPARE(fromJson->encode(QStringLiteral("a cat"), padToModel).inputIds.size(), size_t(4));
        QCOMPARE(fromJson->padTokenId(), 1);
    }

    void rejectsMalformedFiles_data() {
        QTest::addColumn<QString>("file"); // the file to write ("" = none)
        QTest::addColumn<QByteArray>("content");
        QTest::addColumn<QString>("remove");  // a fixture file left out
        QTest::addColumn<QString>("mention"); // the message must name this file
        QTest::addColumn<QString>("detail");  // ... and contain this
        QTest::newRow("missing vocab.json") << QString() << QByteArray() << "vocab.json"
                                            << "vocab.json"
                                            << "not found";
        QTest::newRow("missing merges.txt") << QString() << QByteArray() << "merges.txt"
                                            << "merges.txt"
                                            << "not found";
        QTest::newRow("vocab.json is not JSON")
            << "vocab.json" << QByteArray("{\"a\": 0,\n  \"b\" 1}") << QString() << "vocab.json"
            << "line 2";
        QTest::newRow("vocab.json is a list")
            << "vocab.json" << QByteArray("[1, 2]") << QString() << "vocab.json"
            << "object";
        QTest::newRow("vocab.json id is text")
            << "vocab.json" << QByteArray("{\"a\": \"x\"}") << QString() << "vocab.json"
            << "\"a\"";
        QTest::newRow("merges.txt line with one symbol")
            << "merges.txt" << QByteArray("#version: 0.2\nĠ t\nbroken\n") << QString()
            << "merges.txt"
            << "line 3";
        QTest::newRow("merges.txt line with three symbols")
            << "merges.txt" << QByteArray("#version: 0.2\na b c\n") << QString() << "merges.txt"
            << "line 2";
        QTest::newRow("merges.txt invalid UTF-8")
            << "merges.txt" << QByteArray("#version: 0.2\nĠ t\n\xff b\n") << QString()
            << "merges.txt"
            << "line 3";
        QTest::newRow("tokenizer_config.json is not JSON")
            << "tokenizer_config.json" << QByteArray("{\n\n,}") << QString()
            << "tokenizer_config.json"
            << "line 3";
        QTest::newRow("mask_token is a number")
            << "special_tokens_map.json" << QByteArray("{\"mask_token\": 5}") << QString()
            << "special_tokens_map.json"
            << "mask_token";
        // JSON nested deeper than the 64-level limit is refused while parsing, before it is built
        // (a 10 MB "[[[[..." safetensors header peaked at 390 MB), in every tokenizer file.
        const QByteArray nested = QByteArray(65, '[') + QByteArray(65, ']');
        QTest::newRow("vocab.json nested 65 deep")
            << "vocab.json" << QByteArray("{\"a\": " + nested + "}") << QString() << "vocab.json"
            << "64 levels";
        QTest::newRow("tokenizer_config.json nested 65 deep")
            << "tokenizer_config.json" << QByteArray("{\"x\": " + nested + "}") << QString()
            << "tokenizer_config.json"
            << "64 levels";
        QTest::newRow("special_tokens_map.json nested 65 deep")
            << "special_tokens_map.json" << QByteArray("{\"x\": " + nested + "}") << QString()
            << "special_tokens_map.json"
            << "64 levels";
    }
    void rejectsMalformedFiles() {
        QFETCH(QString, file);
        QFETCH(QByteArray, content);
        QFETCH(QString, remove);
        QFETCH(QString, mention);
        QFETCH(QString, detail);
        QTemporaryDir tmp;
        QVERIFY(tmp.isValid());
        for (const char *name :
             {"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"}) {
            const QString n = QString::fromLatin1(name);
            if (n != remove)
                QVERIFY(QFile::copy(fixtureDir() + QLatin1Char('/') + n, tmp.filePath(n)));
        }
        if (!file.isEmpty()) {
            QFile::remove(tmp.filePath(file));
            QVERIFY(writeFile(tmp.filePath(file), content));
        }
        const auto tok = Tokenizer::load(tmp.path());
        QVERIFY(!tok.ok());
        QVERIFY2(tok.error().message.contains(mention), qPrintable(tok.error().message));
        QVERIFY2(tok.error().message.contains(detail), qPrintable(tok.error().message));
    }

    // A tokenizer.json-only folder with the file nested too deep: the fast tokenizer's file is
    // checked too.
    void rejectsDeeplyNestedTokenizerJson() {
        QTemporaryDir tmp;
        QVERIFY(tmp.isValid());
        const QByteArray nested = QByteArray(65, '[') + QByteArray(65, ']');
        QVERIFY(writeFile(
            tmp.filePath(QStringLiteral("tokenizer.json")),
            "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"x\": " +
                nested + "}"));
        const auto tok = Tokenizer::load(tmp.path());
        QVERIFY(!tok.ok());
        QVERIFY2(tok.error().message.contains(QStringLiteral("tokenizer.json")),
                 qPrintable(tok.error().message));
        QVERIFY2(tok.error().message.contains(QStringLiteral("64 levels")),
                 qPrintable(tok.error().message));
    }

    // Files above the size limit are refused from their size, before they are read (a sparse file:
    // no disk or memory is spent making it). The limit is 64 MiB for vocab.json and tokenizer.json.
    void refusesOversizedFilesBeforeReading_data() {
        QTest::addColumn<QString>("file");
        QTest::newRow("vocab.json") << QStringLiteral("vocab.json");
        QTest::newRow("tokenizer.json") << QStringLiteral("tokenizer.json");
        QTest::newRow("tokenizer_config.json") << QStringLiteral("tokenizer_config.json");
    }
    void refusesOversizedFilesBeforeReading() {
        QFETCH(QString, file);
        QTemporaryDir tmp;
        QVERIFY(tmp.isValid());
        if (file != QLatin1String("tokenizer.json"))
            for (const char *name : {"vocab.json", "merges.txt"})
                QVERIFY(QFile::copy(fixtureDir() + QLatin1Char('/') + QLatin1String(name),
                                    tmp.filePath(QLatin1String(name))));
        QFile big(tmp.filePath(file));
        QVERIFY(big.open(QIODevice::ReadWrite | QIODevice::Truncate));
        QVERIFY(big.resize(64LL * 1024 * 1024 + 1));
        big.close();
        const auto tok = Tokenizer::load(tmp.path());
        QVERIFY(!tok.ok());
        QVERIFY2(tok.error().message.contains(file), qPrintable(tok.error().message));
        QVERIFY2(tok.error().message.contains(QStringLiteral("-byte limit")),
                 qPrintable(tok.error().message));
    }

    void rejectsMissingFolderAndEmptyFolder() {
        auto missing = Tokenizer::load(QStringLiteral("/nonexistent/tokenizer"));
        QVERIFY(!missing.ok());
        QCOMPARE(missing.error().code, ts::Error::Code::NotFound);
        QTemporaryDir tmp;
        auto empty = Tokenizer::load(tmp.path());
        QVERIFY(!empty.ok());
        QVERIFY(empty.error().message.contains(QStringLiteral("vocab.json")));
    }
};

QTEST_GUILESS_MAIN(TokenizerTest)
#include "tst_tokenizer.moc"
