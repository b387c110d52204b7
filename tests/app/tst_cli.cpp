// The headless CLI, run as a user would run it, on complete checkpoint folders (tests/data/e2e/*
// and $TOWERSEARCH_E2E_FIXTURES/*): every number Hugging Face computed from the raw strings and
// image files (expected.json) must come back, within the bars of e2e/tiny-e2e/NOTES.md.
#include "clirun.h"
#include "core/common/safetensorsfile.h"
#include "testdata.h"

#include <nlohmann/json.hpp>

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <numeric>

using nlohmann::json;

namespace {

using Run = ts::test::CliRun;

Run runCli(const QStringList &args) {
    return ts::test::runCli(QStringLiteral(TOWERSEARCH_CLI_PATH), args, 120000);
}

json runJson(const QStringList &args) {
    QStringList withJson = args;
    withJson.insert(1, QStringLiteral("--json")); // before any "--"
    const Run r = runCli(withJson);
    if (r.exitCode != 0)
        qWarning("%s failed (%d): %s", qPrintable(args.join(QLatin1Char(' '))), r.exitCode,
                 qPrintable(r.err));
    return r.exitCode == 0 ? r.j : json();
}

double maxAbsDiff(const json &a, const json &b) {
    if (!a.is_array() || !b.is_array() || a.size() != b.size())
        return INFINITY;
    double m = 0;
    for (size_t i = 0; i < a.size(); ++i)
        m = std::max(m, std::abs(a[i].get<double>() - b[i].get<double>()));
    return m;
}

std::vector<int> rankDescending(const std::vector<double> &scores) {
    std::vector<int> order(scores.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return scores[size_t(a)] > scores[size_t(b)]; });
    return order;
}

} // namespace

class TestCli : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void reproducesReferenceEndToEnd_data();
    void reproducesReferenceEndToEnd();
    void reportsUsageAndInputErrorsWithExitCodes_data();
    void reportsUsageAndInputErrorsWithExitCodes();
    void printsHelpAndVersion();
    void inspectListsTensorsTheModelDoesNotUse();
    void convertWritesInt64PositionIds();
    void precisionOptionReachesTheModel_data();
    void precisionOptionReachesTheModel();
    void fillMaskRunsInBFloat16();
    void describeFillsEachTemplateLikeTheReference_data();
    void describeFillsEachTemplateLikeTheReference();
    void describeUsesTheDefaultTemplatesAndPrintsTags();
};

void TestCli::reproducesReferenceEndToEnd_data() {
    QTest::addColumn<QString>("dir");
    const QStringList cases = ts::test::caseDirs(QStringLiteral("e2e"), "TOWERSEARCH_E2E_FIXTURES",
                                                 QStringLiteral("expected.json"));
    QVERIFY(!cases.isEmpty());
    for (const QString &c : cases)
        QTest::newRow(qPrintable(QDir(c).dirName())) << c;
}

void TestCli::reproducesReferenceEndToEnd() {
    QFETCH(QString, dir);
    QFile f(QDir(dir).filePath(QStringLiteral("expected.json")));
    QVERIFY(f.open(QIODevice::ReadOnly));
    const json expected = json::parse(f.readAll().toStdString());
    // float32: the precision that matches the reference (auto may pick bfloat16 on this CPU).
    const QStringList model{QStringLiteral("--model"), dir, QStringLiteral("--precision"),
                            QStringLiteral("f32")};

    // Text tower: token ids exact, embeddings within 1e-5.
    QStringList textArgs =
        QStringList{QStringLiteral("embed-text")} + model + QStringList{QStringLiteral("--")};
    for (const auto &t : expected["texts"])
        textArgs << QString::fromStdString(t["text"].get<std::string>());
    const json texts = runJson(textArgs);
    QVERIFY(texts.is_object());
    QCOMPARE(texts["texts"].size(), expected["texts"].size());
    for (size_t j = 0; j < expected["texts"].size(); ++j) {
        QCOMPARE(texts["texts"][j]["input_ids"], expected["texts"][j]["input_ids"]);
        const double d =
            maxAbsDiff(texts["texts"][j]["embedding"], expected["texts"][j]["text_embeds"]);
        qInfo("text %zu: embedding max abs error %.3g", j, d);
        QVERIFY(d <= 1e-5);
    }
    QVERIFY(std::abs(texts["logit_scale"].get<double>() - expected["logit_scale"].get<double>()) <=
            1e-6);

    // Vision tower from the image files: decoding, EXIF, resize, crop, normalise, embed.
    QStringList imageArgs = QStringList{QStringLiteral("embed-image")} + model;
    for (const auto &i : expected["images"])
        imageArgs << QDir(dir).filePath(QString::fromStdString(i["file"].get<std::string>()));
    const json images = runJson(imageArgs);
    QVERIFY(images.is_object());
    QCOMPARE(images["images"].size(), expected["images"].size());
    for (size_t i = 0; i < expected["images"].size(); ++i) {
        const double d =
            maxAbsDiff(images["images"][i]["embedding"], expected["images"][i]["image_embeds"]);
        qInfo("image %zu: embedding max abs error %.3g", i, d);
        QVERIFY(d <= 1e-5);
    }

    // Contrastive ranking from our embeddings: logits within 1e-4, order exact.
    const double scale = std::exp(texts["logit_scale"].get<double>());
    for (size_t j = 0; j < expected["texts"].size(); ++j) {
        std::vector<double> logits;
        for (size_t i = 0; i < expected["images"].size(); ++i) {
            const json &a = texts["texts"][j]["embedding"], &b = images["images"][i]["embedding"];
            double dot = 0;
            for (size_t k = 0; k < a.size(); ++k)
                dot += a[k].get<double>() * b[k].get<double>();
            logits.push_back(dot * scale);
            QVERIFY(std::abs(dot * scale -
                             expected["contrastive"]["text_to_image_logits"][j][i].get<double>()) <=
                    1e-4);
        }
        QCOMPARE(json(rankDescending(logits)), expected["search"][j]["by_contrastive"]);
    }

    // ITM for every (image, text) pair; ranking by match probability exact.
    std::vector<std::vector<double>> probability(expected["texts"].size(),
                                                 std::vector<double>(expected["images"].size()));
    for (size_t i = 0; i < expected["images"].size(); ++i) {
        QStringList itmArgs =
            QStringList{QStringLiteral("itm")} + model +
            QStringList{QStringLiteral("--"), imageArgs[int(i) + 1 + int(model.size())]};
        for (const auto &t : expected["texts"])
            itmArgs << QString::fromStdString(t["text"].get<std::string>());
        const json itm = runJson(itmArgs);
        QVERIFY(itm.is_object());
        for (size_t j = 0; j < expected["texts"].size(); ++j) {
            const json &want = expected["itm"][i * expected["texts"].size() + j];
            QCOMPARE(want["image"].get<size_t>(), i);
            QCOMPARE(want["text"].get<size_t>(), j);
            const json &got = itm["results"][j];
            QVERIFY2(maxAbsDiff(got["logits"], want["logits"]) <= 1e-4,
                     qPrintable(QString::fromStdString(got.dump())));
            QVERIFY(std::abs(got["match_probability"].get<double>() -
                             want["match_probability"].get<double>()) <= 1e-5);
            probability[j][i] = got["match_probability"].get<double>();
        }
    }
    for (size_t j = 0; j < expected["texts"].size(); ++j)
        QCOMPARE(json(rankDescending(probability[j])), expected["search"][j]["by_itm"]);

    // Masked captioning: ids, tokens, words and filled text exact; probabilities rtol 1e-3; logits
    // 1e-4.
    for (const auto &fm : expected["fill_mask"]) {
        const QString image = imageArgs[fm["image"].get<int>() + 1 + int(model.size())];
        const json got =
            runJson(QStringList{QStringLiteral("fill-mask")} + model +
                    QStringList{QStringLiteral("--"), image,
                                QString::fromStdString(fm["text"].get<std::string>())});
        QVERIFY(got.is_object());
        QCOMPARE(got["input_ids"], fm["input_ids"]);
        QCOMPARE(got["masks"].size(), fm["masks"].size());
        for (size_t m = 0; m < fm["masks"].size(); ++m) {
            const json &want = fm["masks"][m], &have = got["masks"][m];
            QCOMPARE(have["position"], want["position"]);
            QCOMPARE(have["top_ids"], want["top_ids"]);
            QCOMPARE(have["top_tokens"], want["top_tokens"]);
            QCOMPARE(have["top_words"], want["top_words"]);
            QVERIFY(maxAbsDiff(have["top_logits"], want["top_logits"]) <= 1e-4);
            for (size_t k = 0; k < want["top_probabilities"].size(); ++k) {
                const double w = want["top_probabilities"][k].get<double>(),
                             h = have["top_probabilities"][k].get<double>();
                QVERIFY(std::abs(h - w) <= 1e-3 * std::abs(w));
            }
        }
        QCOMPARE(got["filled_input_ids"], fm["filled_input_ids"]);
        QCOMPARE(got["filled_text"], fm["filled_text"]);
    }
}

void TestCli::reportsUsageAndInputErrorsWithExitCodes_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<QString>("messagePart");
    const QString e2e = ts::test::dataDir(QStringLiteral("e2e/tiny-e2e"));
    const QString photo = e2e + QStringLiteral("/images/photo_chelsea.png");
    const QStringList m{QStringLiteral("--model"), e2e};
    QTest::newRow("unknown command")
        << QStringList{QStringLiteral("frobnicate")} << 2 << QStringLiteral("unknown command");
    QTest::newRow("embed-text without text")
        << (QStringList{QStringLiteral("embed-text")} + m) << 2 << QStringLiteral("TEXT");
    QTest::newRow("missing model folder")
        << QStringList{QStringLiteral("embed-text"), QStringLiteral("--model"),
                       QStringLiteral("/nonexistent/model"), QStringLiteral("x")}
        << 3 << QStringLiteral("/nonexistent/model");
    QTest::newRow("folder that is not a checkpoint")
        << QStringList{QStringLiteral("itm"), QStringLiteral("--model"),
                       ts::test::dataDir(QStringLiteral("images")), photo, QStringLiteral("x")}
        << 3 << QStringLiteral("vocab.json");
    QTest::newRow("missing photo") << (QStringList{QStringLiteral("embed-image")} + m +
                                       QStringList{QStringLiteral("/no/such/photo.jpg")})
                                   << 4 << QStringLiteral("/no/such/photo.jpg");
    QTest::newRow("text file posing as a photo")
        << (QStringList{QStringLiteral("embed-image")} + m +
            QStringList{e2e + QStringLiteral("/config.json")})
        << 4 << QStringLiteral("config.json");
    QTest::newRow("caption without a blank")
        << (QStringList{QStringLiteral("fill-mask")} + m +
            QStringList{photo, QStringLiteral("a cat on a couch")})
        << 4 << QStringLiteral("<mask>");
    QTest::newRow("bad thread count")
        << (QStringList{QStringLiteral("embed-text")} + m +
            QStringList{QStringLiteral("--threads"), QStringLiteral("zero"), QStringLiteral("x")})
        << 2 << QStringLiteral("--threads");
    QTest::newRow("unknown precision")
        << (QStringList{QStringLiteral("embed-text")} + m +
            QStringList{QStringLiteral("--precision"), QStringLiteral("fp64"), QStringLiteral("x")})
        << 2 << QStringLiteral("--precision takes auto, f32, bf16 or int8");
    QTest::newRow("--bf16 against another --precision")
        << (QStringList{QStringLiteral("embed-text")} + m +
            QStringList{QStringLiteral("--bf16"), QStringLiteral("--precision"),
                        QStringLiteral("f32"), QStringLiteral("x")})
        << 2 << QStringLiteral("--bf16");
    QTest::newRow("describe a missing photo") << (QStringList{QStringLiteral("describe")} + m +
                                                  QStringList{QStringLiteral("/no/such/photo.jpg")})
                                              << 4 << QStringLiteral("/no/such/photo.jpg");
    QTest::newRow("describe with a template without a blank")
        << (QStringList{QStringLiteral("describe")} + m +
            QStringList{QStringLiteral("--template"), QStringLiteral("a cat on a couch"), photo})
        << 4 << QStringLiteral("\"a cat on a couch\"");
    QTest::newRow("describe with a template that starts with a blank")
        << (QStringList{QStringLiteral("describe")} + m +
            QStringList{QStringLiteral("--template"), QStringLiteral("<mask> on a couch"), photo})
        << 4 << QStringLiteral("starts with a blank");
    QTest::newRow("describe --top 0")
        << (QStringList{QStringLiteral("describe")} + m +
            QStringList{QStringLiteral("--top"), QStringLiteral("0"), photo})
        << 2 << QStringLiteral("--top");
    // The usage errors the commands share helpers for: each keeps its command's name and sentence.
    QTest::newRow("describe --tags 0")
        << (QStringList{QStringLiteral("describe")} + m +
            QStringList{QStringLiteral("--tags"), QStringLiteral("0"), photo})
        << 2 << QStringLiteral("towersearch-cli describe: --tags needs a positive number");
    QTest::newRow("index --batch 0")
        << QStringList{QStringLiteral("index"), QStringLiteral("--batch"), QStringLiteral("0")} << 2
        << QStringLiteral("towersearch-cli index: --batch needs a positive number");
    QTest::newRow("similar --limit not a number")
        << QStringList{QStringLiteral("similar"), QStringLiteral("--limit"), QStringLiteral("x"),
                       photo}
        << 2 << QStringLiteral("towersearch-cli similar: --limit needs a positive number");
    QTest::newRow("search --rerank not a number")
        << QStringList{QStringLiteral("search"), QStringLiteral("--rerank"), QStringLiteral("x"),
                       QStringLiteral("a cat")}
        << 2
        << QStringLiteral(
               "towersearch-cli search: --limit, --rerank and --min-probability need numbers");
    QTest::newRow("search without text or filter")
        << QStringList{QStringLiteral("search")} << 2
        << QStringLiteral("towersearch-cli search: give the TEXT to look for, or a filter");
    QTest::newRow("tokenize --max-length 0")
        << QStringList{QStringLiteral("tokenize"),
                       QStringLiteral("--model"),
                       e2e,
                       QStringLiteral("--max-length"),
                       QStringLiteral("0"),
                       QStringLiteral("x")}
        << 2
        << QStringLiteral(
               "towersearch-cli tokenize: --max-length needs a positive integer, not '0'");
    QTest::newRow("duplicates with an argument")
        << QStringList{QStringLiteral("duplicates"), QStringLiteral("extra")} << 2
        << QStringLiteral("towersearch-cli duplicates: takes no arguments (got 'extra')");
    QTest::newRow("duplicates --threshold 2")
        << QStringList{QStringLiteral("duplicates"), QStringLiteral("--threshold"),
                       QStringLiteral("2")}
        << 2
        << QStringLiteral("towersearch-cli duplicates: --threshold needs a number above 0 and at "
                          "most 1 (got '2')");
}

void TestCli::reportsUsageAndInputErrorsWithExitCodes() {
    QFETCH(QStringList, args);
    QFETCH(int, exitCode);
    QFETCH(QString, messagePart);
    const Run r = runCli(args);
    QCOMPARE(r.exitCode, exitCode);
    QVERIFY2(r.err.contains(messagePart), qPrintable(r.err));
    QVERIFY(r.out.isEmpty() || exitCode == 2);
}

void TestCli::printsHelpAndVersion() {
    const Run help = runCli({QStringLiteral("--help")});
    QCOMPARE(help.exitCode, 0);
    for (const char *command :
         {"inspect", "tokenize", "embed-text", "embed-image", "itm", "fill-mask", "describe"})
        QVERIFY2(help.out.contains(command), command);
    const Run version = runCli({QStringLiteral("--version")});
    QCOMPARE(version.exitCode, 0);
    QVERIFY(version.out.startsWith("towersearch-cli "));
}

// A checkpoint with extra tensors (an int64 position_ids buffer, another class's head) loads, and
// inspect names every one of them.
void TestCli::inspectListsTensorsTheModelDoesNotUse() {
    const QString source = ts::test::dataDir(QStringLiteral("model/tiny-add"));
    auto file = ts::SafetensorsFile::open(source + QStringLiteral("/model.safetensors"));
    QVERIFY(file.ok());
    std::vector<ts::TensorToWrite> tensors;
    for (const ts::TensorView &v : file->tensors())
        tensors.push_back({v.name, v.dtype, v.shape, v.data, v.byteSize});
    std::vector<int64_t> positions(64);
    std::iota(positions.begin(), positions.end(), 0);
    const std::vector<int64_t> zeros(64, 0);
    const std::vector<float> classifier(2 * 64, 0.5f);
    const std::vector<std::string> extras{"bridgetower.text_model.embeddings.position_ids",
                                          "bridgetower.text_model.embeddings.token_type_ids",
                                          "bridgetower.vision_model.visual.embeddings.position_ids",
                                          "classifier.weight"};
    tensors.push_back({extras[0], ts::DType::I64, {1, 64}, positions.data(), 64 * 8});
    tensors.push_back({extras[1], ts::DType::I64, {1, 64}, zeros.data(), 64 * 8});
    tensors.push_back({extras[2], ts::DType::I64, {1, 5}, positions.data(), 5 * 8});
    tensors.push_back({extras[3], ts::DType::F32, {2, 64}, classifier.data(), 2 * 64 * 4});
    QTemporaryDir tmp;
    QVERIFY(ts::writeSafetensors(tmp.filePath(QStringLiteral("model.safetensors")), tensors).ok());
    QVERIFY(QFile::copy(source + QStringLiteral("/config.json"),
                        tmp.filePath(QStringLiteral("config.json"))));

    const Run r = runCli({QStringLiteral("inspect"), QStringLiteral("--model"), tmp.path()});
    QCOMPARE(r.exitCode, 0);
    qInfo("%s", qPrintable(r.out));
    QVERIFY2(r.out.contains("unused:"), qPrintable(r.out));
    for (const std::string &name : extras)
        QVERIFY2(r.out.contains(name.c_str()), name.c_str());
}

// position_ids saved by older transformers (int64 [1, N] views, one with stride 0) convert to I64.
void TestCli::convertWritesInt64PositionIds() {
    QTemporaryDir tmp;
    const QString output = tmp.filePath(QStringLiteral("model.safetensors"));
    const Run r = runCli({QStringLiteral("convert"), QStringLiteral("--model"),
                          ts::test::dataDir(QStringLiteral("model/position-ids")),
                          QStringLiteral("--output"), output});
    QCOMPARE(r.exitCode, 0);
    auto converted = ts::SafetensorsFile::open(output);
    QVERIFY(converted.ok());
    for (const auto &[name, n] :
         {std::pair<std::string, int64_t>{"bridgetower.text_model.embeddings.position_ids", 40},
          {"bridgetower.vision_model.visual.embeddings.position_ids", 17}}) {
        const ts::TensorView *v = converted->find(name);
        QVERIFY2(v, name.c_str());
        QCOMPARE(v->dtype, ts::DType::I64);
        QCOMPARE(v->shape, (std::vector<int64_t>{1, n}));
        std::vector<int64_t> expected(static_cast<size_t>(n));
        std::iota(expected.begin(), expected.end(), 0); // torch.arange(n), as the file was made
        QCOMPARE(v->toInt64(), expected);
    }
}

namespace {
// What the kernel says of this CPU's native bfloat16 (the reference for `auto`).
bool kernelListsNativeBFloat16() {
    QFile cpuinfo(QStringLiteral("/proc/cpuinfo"));
    if (!cpuinfo.open(QIODevice::ReadOnly))
        return false;
    for (const QByteArray &line : cpuinfo.readAll().split('\n'))
        if (line.startsWith("flags")) {
            const QList<QByteArray> flags = line.mid(line.indexOf(':') + 1).simplified().split(' ');
            return flags.contains("avx512_bf16") ||
                   (flags.contains("amx_bf16") && flags.contains("amx_tile"));
        }
    return false;
}
} // namespace

// --precision (and its alias --bf16) reaches the model, and inspect says which precision it
// chose and why; auto follows the CPU.
void TestCli::precisionOptionReachesTheModel_data() {
    QTest::addColumn<QStringList>("options");
    QTest::addColumn<QString>("expected");
    QTest::newRow("f32") << QStringList{QStringLiteral("--precision"), QStringLiteral("f32")}
                         << QStringLiteral("f32 (chosen");
    QTest::newRow("bf16") << QStringList{QStringLiteral("--precision"), QStringLiteral("bf16")}
                          << QStringLiteral("bf16 (chosen");
    QTest::newRow("--bf16 is --precision bf16")
        << QStringList{QStringLiteral("--bf16")} << QStringLiteral("bf16 (chosen");
    const QString autoExpected =
        kernelListsNativeBFloat16()
            ? QStringLiteral("bf16 (auto: this CPU executes bfloat16 natively")
            : QStringLiteral("f32 (auto: this CPU has no native bfloat16");
    QTest::newRow("auto by default") << QStringList{} << autoExpected;
    QTest::newRow("auto") << QStringList{QStringLiteral("--precision"), QStringLiteral("auto")}
                          << autoExpected;
    QTest::newRow("int8") << QStringList{QStringLiteral("--precision"), QStringLiteral("int8")}
                          << QStringLiteral("int8 (chosen");
}

void TestCli::precisionOptionReachesTheModel() {
    QFETCH(QStringList, options);
    QFETCH(QString, expected);
    const Run r = runCli(QStringList{QStringLiteral("inspect"), QStringLiteral("--model"),
                                     ts::test::dataDir(QStringLiteral("model/tiny-add"))} +
                         options);
    if (expected.startsWith(QLatin1String("int8")) && r.exitCode != 0) {
        // Until int8 weights are implemented the model refuses them at load: the choice got there.
        QCOMPARE(r.exitCode, 3);
        QVERIFY2(r.err.contains("int8"), qPrintable(r.err));
        return;
    }
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QVERIFY2(r.out.contains(QStringLiteral("precision:  ") + expected), qPrintable(r.out));
}

// The reported bug: fill-mask failed in bfloat16 on every model.
void TestCli::fillMaskRunsInBFloat16() {
    const QString e2e = ts::test::dataDir(QStringLiteral("e2e/tiny-e2e"));
    const json got = runJson({QStringLiteral("fill-mask"), QStringLiteral("--model"), e2e,
                              QStringLiteral("--bf16"), QStringLiteral("--"),
                              e2e + QStringLiteral("/images/photo_chelsea.png"),
                              QStringLiteral("a <mask> sitting on a couch")});
    QVERIFY(got.is_object());
    QCOMPARE(got["masks"].size(), size_t(1));
    QCOMPARE(got["masks"][0]["top_ids"].size(), size_t(10));
}

void TestCli::describeFillsEachTemplateLikeTheReference_data() {
    QTest::addColumn<int>("caseIndex"); // into expected.json's fill_mask
    QTest::addColumn<QStringList>(
        "tags"); // the merge rule (README) read off the reference top-10s by hand
    QTest::newRow("a <mask> sitting on a couch")
        << 0 << QStringList{"required", "financial", "waterproof", "zucker", "consistently"};
    QTest::newRow("a cup of <mask> on a wooden table")
        << 1 << QStringList{"required", "lost", "magn"};
    QTest::newRow("an <mask> in a white <mask>")
        << 2 << QStringList{"wine",    "required", "determined", "lost",
                            "signals", "dared",    "magn",       "king"};
    QTest::newRow("a black and white photo of a man holding a <mask>.")
        << 3 << QStringList{"lovers", "signals", "computational", "ned", "dwind"};
}

// `describe --template` with a caption the reference filled gives the reference's top-10 at every
// blank, and the tags the merge rule makes of them, scored by the mean reference probability.
void TestCli::describeFillsEachTemplateLikeTheReference() {
    QFETCH(int, caseIndex);
    QFETCH(QStringList, tags);
    const QString e2e = ts::test::dataDir(QStringLiteral("e2e/tiny-e2e"));
    QFile f(e2e + QStringLiteral("/expected.json"));
    QVERIFY(f.open(QIODevice::ReadOnly));
    const json fm = json::parse(f.readAll().toStdString())["fill_mask"][size_t(caseIndex)];
    const QString image =
        e2e + QStringLiteral("/") +
        QStringList{QStringLiteral("images/photo_chelsea.png"),
                    QStringLiteral("images/photo_coffee.jpg"),
                    QStringLiteral("images/photo_astronaut.png"),
                    QStringLiteral("images/photo_camera_gray.png")}[fm["image"].get<int>()];
    const QString text = QString::fromStdString(fm["text"].get<std::string>());
    const json got =
        runJson({QStringLiteral("describe"), QStringLiteral("--model"), e2e,
                 QStringLiteral("--precision"), QStringLiteral("f32"), QStringLiteral("--template"),
                 text, QStringLiteral("--top"), QStringLiteral("10"), QStringLiteral("--tags"),
                 QStringLiteral("100"), QStringLiteral("--"), image});
    QVERIFY(got.is_object());
    QCOMPARE(got["templates"].size(), size_t(1));
    QCOMPARE(got["templates"][0]["text"].get<std::string>(), text.toStdString());
    const json &masks = got["templates"][0]["masks"];
    QCOMPARE(masks.size(), fm["masks"].size());
    for (size_t m = 0; m < masks.size(); ++m) {
        const json &want = fm["masks"][m];
        QCOMPARE(masks[m]["position"], want["position"]);
        QCOMPARE(masks[m]["top_ids"], want["top_ids"]);
        QCOMPARE(masks[m]["top_words"], want["top_words"]);
        for (size_t k = 0; k < want["top_probabilities"].size(); ++k) {
            const double w = want["top_probabilities"][k].get<double>();
            QVERIFY(std::abs(masks[m]["top_probabilities"][k].get<double>() - w) <= 1e-3 * w);
        }
    }
    QCOMPARE(got["tags"].size(), size_t(tags.size()));
    for (qsizetype t = 0; t < tags.size(); ++t) {
        QCOMPARE(QString::fromStdString(got["tags"][size_t(t)]["word"].get<std::string>()),
                 tags[t]);
        double sum = 0;
        for (const json &want : fm["masks"])
            for (size_t k = 0; k < want["top_words"].size(); ++k)
                if (QString::fromStdString(want["top_words"][k].get<std::string>())
                        .trimmed()
                        .toLower() == tags[t])
                    sum += want["top_probabilities"][k].get<double>();
        const double score = sum / double(fm["masks"].size());
        QVERIFY(std::abs(got["tags"][size_t(t)]["score"].get<double>() - score) <= 1e-3 * score);
    }
}

void TestCli::describeUsesTheDefaultTemplatesAndPrintsTags() {
    const QString e2e = ts::test::dataDir(QStringLiteral("e2e/tiny-e2e"));
    const QString photo = e2e + QStringLiteral("/images/photo_coffee.jpg");
    const json got = runJson(
        {QStringLiteral("describe"), QStringLiteral("--model"), e2e, QStringLiteral("--"), photo});
    QVERIFY(got.is_object());
    // The documented defaults (README): one blank, then two blanks read from one pass.
    QCOMPARE(got["templates"].size(), size_t(2));
    QCOMPARE(got["templates"][0]["text"].get<std::string>(), std::string("a photo of a <mask>."));
    QCOMPARE(got["templates"][0]["masks"].size(), size_t(1));
    QCOMPARE(got["templates"][1]["text"].get<std::string>(),
             std::string("a <mask> in the <mask>."));
    QCOMPARE(got["templates"][1]["masks"].size(), size_t(2));
    const json &tags = got["tags"];
    QVERIFY(!tags.empty() && tags.size() <= 10);
    for (size_t t = 0; t < tags.size(); ++t) {
        // Every tag is a proposal of some blank, and the list is best first.
        const std::string word = tags[t]["word"].get<std::string>();
        bool proposed = false;
        for (const json &tpl : got["templates"])
            for (const json &mask : tpl["masks"])
                for (const json &w : mask["top_words"])
                    proposed = proposed ||
                               QString::fromStdString(w.get<std::string>()).trimmed().toLower() ==
                                   QString::fromStdString(word);
        QVERIFY2(proposed, word.c_str());
        if (t > 0)
            QVERIFY(tags[t]["score"].get<double>() <= tags[t - 1]["score"].get<double>());
    }
    // Plain text: one "word<TAB>percent" line per tag, in the same order.
    const Run plain = runCli(
        {QStringLiteral("describe"), QStringLiteral("--model"), e2e, QStringLiteral("--"), photo});
    QCOMPARE(plain.exitCode, 0);
    const QStringList lines = plain.out.split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), qsizetype(tags.size()));
    for (qsizetype t = 0; t < lines.size(); ++t)
        QCOMPARE(lines[t].section(QLatin1Char('\t'), 0, 0),
                 QString::fromStdString(tags[size_t(t)]["word"].get<std::string>()));
}

QTEST_GUILESS_MAIN(TestCli)
#include "tst_cli.moc"
