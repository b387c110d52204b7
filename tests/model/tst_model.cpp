// Parity of the LibTorch BridgeTower with Hugging Face: every output tensor stored in each case's
// expected.safetensors (computed by transformers 4.47) must match to atol = rtol = 1e-4.
#include "core/common/precisionpolicy.h"
#include "core/common/safetensorsfile.h"
#include "core/model/bridgetowermodel.h"
#include "core/model/checkpointconverter.h"
#include "core/model/internal/bridgetowernet.h"
#include "precisions.h"
#include "testdata.h"
#include "torchsavewriter.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <QDir>
#include <QFile>
#include <QRegularExpression>
#include <QSet>

#include <QTemporaryDir>
#include <QtTest>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <numeric>
#include <thread>

using namespace ts;

namespace {

constexpr double kTolerance = 1e-4;

at::Tensor toTensor(const TensorView &v) {
    if (v.dtype == DType::I64 || v.dtype == DType::I32 || v.dtype == DType::U8) {
        const std::vector<int64_t> data = v.toInt64();
        return at::tensor(data, at::kLong).view(v.shape).clone();
    }
    const std::vector<float> data = v.toFloat32();
    return at::tensor(data, at::kFloat).view(v.shape).clone();
}

TokenBatch tokenBatch(const at::Tensor &ids, const at::Tensor &mask) {
    TokenBatch t;
    t.batchSize = ids.size(0);
    t.seqLength = ids.size(1);
    const at::Tensor i = ids.contiguous(), m = mask.contiguous();
    t.inputIds.assign(i.data_ptr<int64_t>(), i.data_ptr<int64_t>() + i.numel());
    t.attentionMask.assign(m.data_ptr<int64_t>(), m.data_ptr<int64_t>() + m.numel());
    return t;
}

FloatTensor floatTensor(const at::Tensor &t) {
    const at::Tensor c = t.to(at::kFloat).contiguous();
    FloatTensor out;
    out.shape = c.sizes().vec();
    out.data.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    return out;
}

at::Tensor fromFloat(const FloatTensor &f) {
    return at::tensor(f.data, at::kFloat).view(f.shape).clone();
}

// Row i of a token batch, keeping its padding (the reference ran the padded batch).
TokenBatch tokenRow(const TokenBatch &t, int64_t i) {
    TokenBatch row{1, t.seqLength, {}, {}};
    row.inputIds.assign(t.inputIds.begin() + i * t.seqLength,
                        t.inputIds.begin() + (i + 1) * t.seqLength);
    row.attentionMask.assign(t.attentionMask.begin() + i * t.seqLength,
                             t.attentionMask.begin() + (i + 1) * t.seqLength);
    return row;
}

// Item i along the first axis, as a batch of one.
FloatTensor batchRow(const FloatTensor &t, int64_t i) {
    FloatTensor row = t;
    row.shape[0] = 1;
    const int64_t n = FloatTensor::elementCount(row.shape);
    row.data.assign(t.data.begin() + i * n, t.data.begin() + (i + 1) * n);
    return row;
}

// Model folder with only config.json and one weights file, so each format is loaded on its own.
QString isolateWeights(const QTemporaryDir &tmp, const QString &caseDir,
                       const QString &weightsFile) {
    const QString dir = tmp.filePath(weightsFile);
    QDir().mkpath(dir);
    QFile::link(QDir(caseDir).filePath(QStringLiteral("config.json")),
                dir + QStringLiteral("/config.json"));
    QFile::link(QDir(caseDir).filePath(weightsFile), dir + QLatin1Char('/') + weightsFile);
    return dir;
}

} // namespace

class TestModelParity : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { BridgeTowerModel::setThreadCount(2); }

    void matchesHuggingFace_data();
    void matchesHuggingFace();
    void headsComputeOnlyWhatTheyReadWithTheSameResults_data();
    void headsComputeOnlyWhatTheyReadWithTheSameResults();
    void rejectsConfigsHuggingFaceCannotRun_data();
    void rejectsConfigsHuggingFaceCannotRun();
    void rejectsCheckpointsThatDoNotFitTheConfig_data();
    void rejectsCheckpointsThatDoNotFitTheConfig();
    void toleratesAbsentHeadsUnlessRequired();
    void loadsCheckpointsWithTensorsTheModelDoesNotUse_data();
    void loadsCheckpointsWithTensorsTheModelDoesNotUse();
    void rejectsBadInputs();
    void bfloat16StaysCloseToFloat32();
    void everyEntryPointRunsInEveryPrecision_data();
    void everyEntryPointRunsInEveryPrecision();
    void autoPicksBFloat16OnlyWhereTheCpuRunsItNatively_data();
    void autoPicksBFloat16OnlyWhereTheCpuRunsItNatively();
    void detectsTheBFloat16InstructionsTheKernelReports();
    void parsesPrecisionNames_data();
    void parsesPrecisionNames();
    void threadCountAppliesToThreadsThatAlreadyRanTheModel();
};

void TestModelParity::matchesHuggingFace_data() {
    QTest::addColumn<QString>("caseDir");
    QTest::addColumn<QString>("weightsFile");
    const QStringList cases = test::caseDirs(QStringLiteral("model"), "TOWERSEARCH_MODEL_FIXTURES",
                                             QStringLiteral("expected.safetensors"));
    QVERIFY2(!cases.isEmpty(), "no model parity cases found");
    for (const QString &dir : cases)
        for (const QString &weights :
             {QStringLiteral("model.safetensors"), QStringLiteral("pytorch_model.bin")})
            if (QFile::exists(QDir(dir).filePath(weights)))
                QTest::newRow(qPrintable(QDir(dir).dirName() + QLatin1Char('/') + weights))
                    << dir << weights;
}

void TestModelParity::matchesHuggingFace() {
    QFETCH(QString, caseDir);
    QFETCH(QString, weightsFile);
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    auto loaded = BridgeTowerModel::load(isolateWeights(tmp, caseDir, weightsFile));
    QVERIFY2(loaded.ok(), loaded.ok() ? "" : qPrintable(loaded.error().message));
    const BridgeTowerModel &model = **loaded;
    const internal::BridgeTowerNet &net = model.net();

    auto expectedFile =
        SafetensorsFile::open(QDir(caseDir).filePath(QStringLiteral("expected.safetensors")));
    QVERIFY2(expectedFile.ok(), expectedFile.ok() ? "" : qPrintable(expectedFile.error().message));
    std::map<std::string, at::Tensor> expected;
    for (const TensorView &v : expectedFile->tensors())
        expected[v.name] = toTensor(v);
    const at::Tensor ids = expected.at("input_ids");
    const at::Tensor mask = expected.at("attention_mask");
    const at::Tensor pixels = expected.at("pixel_values");

    // Everything the reference returned, computed by our port.
    std::map<std::string, at::Tensor> actual;
    {
        c10::InferenceMode guard;
        internal::BridgeTowerNet::Trace trace;
        const auto text = net.textTower(ids, mask, true, &trace);
        const auto vision = net.visionTower(pixels, &trace);
        const auto cross = net.crossModal(text, vision, &trace);
        actual["model.text_features"] = cross.textFeatures;
        actual["model.image_features"] = cross.imageFeatures;
        actual["model.pooler_output"] = cross.pooler;
        for (size_t i = 0; i < trace.text.size(); ++i)
            actual["model.hidden_states.text." + std::to_string(i)] = trace.text[i];
        for (size_t i = 0; i < trace.imageLND.size(); ++i)
            actual["model.hidden_states.image_LND." + std::to_string(i)] = trace.imageLND[i];
        for (size_t j = 0; j < trace.crossText.size(); ++j) {
            actual["model.hidden_states.cross." + std::to_string(j) + ".text"] = trace.crossText[j];
            actual["model.hidden_states.cross." + std::to_string(j) + ".image"] =
                trace.crossImage[j];
        }
        if (net.hasContrastive()) {
            const at::Tensor t = net.textEmbeds(text), i = net.imageEmbeds(vision),
                             c = net.crossEmbeds(cross);
            actual["contrastive.text_embeds"] = t;
            actual["contrastive.image_embeds"] = i;
            actual["contrastive.cross_embeds"] = c;
            actual["contrastive.logits"] = at::stack({t, i, c}, -2);
            const double scale = net.logitScale().exp().item<double>();
            const at::Tensor t2i = at::matmul(t, i.t()) * scale, t2c = at::matmul(t, c.t()) * scale,
                             i2c = at::matmul(i, c.t()) * scale;
            actual["contrastive.derived.logits_text_to_image"] = t2i;
            actual["contrastive.derived.logits_text_to_cross"] = t2c;
            actual["contrastive.derived.logits_image_to_cross"] = i2c;
            const at::Tensor labels = at::arange(t.size(0), at::kLong);
            actual["contrastive.loss"] =
                (at::cross_entropy_loss(t2i, labels) + at::cross_entropy_loss(t2c, labels) +
                 at::cross_entropy_loss(i2c, labels)) /
                3.0;
        }
        if (net.hasItm()) {
            actual["itm.logits"] = net.itmLogits(cross);
            if (expected.count("itm.labels"))
                actual["itm.loss"] =
                    at::cross_entropy_loss(actual["itm.logits"], expected.at("itm.labels"));
        }
        if (net.hasMlm()) {
            const at::Tensor logits = net.mlmLogits(cross);
            actual["mlm.logits"] = logits;
            if (expected.count("mlm.labels"))
                actual["mlm.loss"] = at::cross_entropy_loss(logits.view({-1, logits.size(-1)}),
                                                            expected.at("mlm.labels").view({-1}),
                                                            {}, at::Reduction::Mean, -100);
        }
    }

    // The public, std-typed API must give the same numbers along its own paths (two towers,
    // cached vision features for ITM, broadcast of one text).
    const TokenBatch tokens = tokenBatch(ids, mask);
    const FloatTensor pixelInput = floatTensor(pixels);
    if (model.has(kHeadContrastive)) {
        auto t = model.embedText(tokens);
        auto i = model.embedImages(pixelInput);
        QVERIFY(t.ok() && i.ok());
        actual["twotower.text_embeds"] = fromFloat(*t);
        actual["twotower.image_embeds"] = fromFloat(*i);
    }
    if (model.has(kHeadImageTextMatching)) {
        auto direct = model.imageTextMatching(tokens, pixelInput);
        auto fusion = model.visionFusionInputs(pixelInput);
        QVERIFY(direct.ok() && fusion.ok());
        auto cached = model.imageTextMatchingFromFusion(tokens, *fusion);
        QVERIFY(cached.ok());
        QVERIFY(
            at::allclose(fromFloat(*direct), expected.at("itm.logits"), kTolerance, kTolerance));
        QVERIFY(at::equal(fromFloat(*direct), fromFloat(*cached)));
    }

    int compared = 0;
    for (const auto &[name, want] : expected) {
        static const QRegularExpression inputs(
            QStringLiteral("^(input_ids|attention_mask|pixel_values|pixel_mask)$|\\.labels$"));
        if (inputs.match(QString::fromStdString(name)).hasMatch())
            continue;
        const auto it = actual.find(name);
        QVERIFY2(it != actual.end(),
                 qPrintable(QStringLiteral("no port output for expected tensor %1")
                                .arg(QString::fromStdString(name))));
        const at::Tensor got = it->second.to(at::kFloat);
        QVERIFY2(
            got.sizes() == want.sizes(),
            qPrintable(QStringLiteral("%1: shape mismatch").arg(QString::fromStdString(name))));
        const double maxAbs = want.numel() ? (got - want).abs().max().item<double>() : 0.0;
        qInfo("%s %-45s max abs error %.3g", qPrintable(QDir(caseDir).dirName()), name.c_str(),
              maxAbs);
        QVERIFY2(at::allclose(got, want, kTolerance, kTolerance),
                 qPrintable(QStringLiteral("%1 differs: max abs error %2")
                                .arg(QString::fromStdString(name))
                                .arg(maxAbs)));
        ++compared;
    }
    QVERIFY(compared > 0);
}

void TestModelParity::headsComputeOnlyWhatTheyReadWithTheSameResults_data() {
    QTest::addColumn<QString>("caseDir");
    const QStringList cases = test::caseDirs(QStringLiteral("model"), "TOWERSEARCH_MODEL_FIXTURES",
                                             QStringLiteral("expected.safetensors"));
    QVERIFY2(!cases.isEmpty(), "no model parity cases found");
    for (const QString &dir : cases)
        QTest::newRow(qPrintable(QDir(dir).dirName())) << dir;
}

// The public entry points skip what their head never reads (the last cross-modal layer beyond the
// CLS rows for ITM and the cross embedding, its image side for MLM, the MLM decoder away from the
// asked positions) and run the text tower once per prepared caption. Their outputs must still be
// the reference's, and batching photos under one prepared caption must not change a score.
void TestModelParity::headsComputeOnlyWhatTheyReadWithTheSameResults() {
    QFETCH(QString, caseDir);
    auto loaded = BridgeTowerModel::load(caseDir);
    QVERIFY2(loaded.ok(), loaded.ok() ? "" : qPrintable(loaded.error().message));
    const BridgeTowerModel &model = **loaded;
    auto expectedFile =
        SafetensorsFile::open(QDir(caseDir).filePath(QStringLiteral("expected.safetensors")));
    QVERIFY(expectedFile.ok());
    std::map<std::string, at::Tensor> expected;
    for (const TensorView &v : expectedFile->tensors())
        expected[v.name] = toTensor(v);
    const TokenBatch tokens = tokenBatch(expected.at("input_ids"), expected.at("attention_mask"));
    const FloatTensor pixels = floatTensor(expected.at("pixel_values"));
    const int64_t B = tokens.batchSize, T = tokens.seqLength;
    auto fusion = model.visionFusionInputs(pixels);
    QVERIFY(fusion.ok());
    auto near = [](const at::Tensor &got, const at::Tensor &want, double tol, const char *what) {
        const double maxAbs = (got - want).abs().max().item<double>();
        qInfo("%-45s max abs error %.3g", what, maxAbs);
        QVERIFY2(at::allclose(got, want, tol, tol),
                 qPrintable(
                     QStringLiteral("%1: max abs error %2").arg(QLatin1String(what)).arg(maxAbs)));
    };

    if (model.has(kHeadMaskedLm)) {
        auto all = model.maskedLmLogits(tokens, pixels);
        QVERIFY(all.ok());
        near(fromFloat(*all), expected.at("mlm.logits"), kTolerance,
             "mlm.logits (last image layer skipped)");
        const std::vector<int64_t> positions{T - 1, 0, T / 2};
        const at::Tensor index = at::tensor(positions, at::kLong);
        auto some = model.maskedLmLogits(tokens, pixels, positions);
        QVERIFY(some.ok());
        QCOMPARE(some->shape, (std::vector<int64_t>{B, 3, all->dim(2)}));
        near(fromFloat(*some), expected.at("mlm.logits").index_select(1, index), kTolerance,
             "mlm.logits at 3 positions");
        auto cached = model.maskedLmLogitsFromFusion(tokens, *fusion, positions);
        QVERIFY(cached.ok());
        // The cached vision side is computed photo by photo, the pixels' path as one batch: the
        // same numbers but for the last bits of a batched matrix product.
        near(fromFloat(*cached), fromFloat(*some), 1e-5, "mlm.logits from cached vision features");
        auto outside = model.maskedLmLogits(tokens, pixels, {T});
        QVERIFY(!outside.ok());
        QCOMPARE(outside.error().code, Error::Code::InvalidArgument);
    }
    if (model.has(kHeadContrastive)) {
        auto c = model.contrastive(tokens, pixels);
        QVERIFY(c.ok());
        near(fromFloat(c->crossEmbeds), expected.at("contrastive.cross_embeds"), kTolerance,
             "contrastive.cross_embeds (CLS rows only)");
    }
    if (model.has(kHeadImageTextMatching)) {
        for (int64_t i = 0; i < B; ++i) {
            const BridgeTowerModel::TowerRuns before = model.towerRuns();
            auto caption = model.prepareText(tokenRow(tokens, i));
            QVERIFY2(caption.ok(), caption.ok() ? "" : qPrintable(caption.error().message));
            QCOMPARE(model.towerRuns().text, before.text + 1);
            if (model.has(kHeadContrastive))
                near(fromFloat(caption->embedding()),
                     expected.at("contrastive.text_embeds").narrow(0, i, 1), kTolerance,
                     "prepared caption's text embedding");
            // Caption i against every photo in one pass: no further text-tower run.
            auto batched = model.imageTextMatchingFromFusion(*caption, *fusion);
            QVERIFY(batched.ok());
            QCOMPARE(model.towerRuns().text, before.text + 1);
            QCOMPARE(model.towerRuns().vision, before.vision);
            const at::Tensor scores = fromFloat(*batched);
            near(scores.narrow(0, i, 1), expected.at("itm.logits").narrow(0, i, 1), kTolerance,
                 "itm.logits, prepared caption");
            // Each photo alone, with the text tower run again (the unbatched path), gives the same
            // scores.
            for (int64_t j = 0; j < B; ++j) {
                auto single =
                    model.imageTextMatchingFromFusion(tokenRow(tokens, i), batchRow(*fusion, j));
                QVERIFY(single.ok());
                near(fromFloat(*single), scores.narrow(0, j, 1), 1e-5,
                     "itm.logits, batched vs one photo");
            }
        }
        // A caption prepared by another model (another checkpoint, or a reload) is refused.
        auto other = BridgeTowerModel::load(caseDir);
        QVERIFY(other.ok());
        auto foreign = (*other)->prepareText(tokenRow(tokens, 0));
        QVERIFY(foreign.ok());
        auto refused = model.imageTextMatchingFromFusion(*foreign, *fusion);
        QVERIFY(!refused.ok());
        QCOMPARE(refused.error().code, Error::Code::InvalidArgument);
    }
}

void TestModelParity::rejectsConfigsHuggingFaceCannotRun_data() {
    QTest::addColumn<QString>("caseDir");
    QStringList roots{test::dataDir(QStringLiteral("model/error-cases"))};
    if (const QString extra = qEnvironmentVariable("TOWERSEARCH_MODEL_FIXTURES"); !extra.isEmpty())
        roots << extra + QStringLiteral("/error-cases");
    for (const QString &root : roots)
        for (const QString &name :
             QDir(root).entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name))
            if (QFile::exists(QDir(root).filePath(name + QStringLiteral("/expected_error.json"))))
                QTest::newRow(qPrintable(name)) << QDir(root).filePath(name);
}

void TestModelParity::rejectsConfigsHuggingFaceCannotRun() {
    QFETCH(QString, caseDir);
    auto model = BridgeTowerModel::load(caseDir);
    QVERIFY(!model.ok());
    const QString message = model.error().message;
    qInfo("%s", qPrintable(message));
    QCOMPARE(model.error().code, Error::Code::Model);
    // The error names the file and the setting, never a crash or an error about weights.
    QVERIFY2(message.contains(QStringLiteral("config.json")), qPrintable(message));
    QVERIFY2(message.contains(QStringLiteral("unsupported config")), qPrintable(message));
}

namespace {

// Writes tiny-add's tensors, changed by `edit`, with its config into `dir`.
void writeEditedCheckpoint(const QString &dir,
                           const std::function<void(std::vector<TensorToWrite> &,
                                                    std::vector<std::vector<float>> &)> &edit,
                           const QByteArray &config = {}) {
    const QString source = test::dataDir(QStringLiteral("model/tiny-add"));
    auto file = SafetensorsFile::open(source + QStringLiteral("/model.safetensors"));
    QVERIFY(file.ok());
    std::vector<TensorToWrite> tensors;
    std::vector<std::vector<float>> storage;
    storage.reserve(file->tensors().size() + 4);
    for (const TensorView &v : file->tensors()) {
        storage.push_back(v.toFloat32());
        tensors.push_back({v.name, DType::F32, v.shape, storage.back().data(),
                           storage.back().size() * sizeof(float)});
    }
    edit(tensors, storage);
    QVERIFY(writeSafetensors(dir + QStringLiteral("/model.safetensors"), tensors).ok());
    if (config.isEmpty()) {
        QVERIFY(QFile::copy(source + QStringLiteral("/config.json"),
                            dir + QStringLiteral("/config.json")));
    } else {
        QFile out(dir + QStringLiteral("/config.json"));
        QVERIFY(out.open(QIODevice::WriteOnly));
        out.write(config);
    }
}

void dropTensor(std::vector<TensorToWrite> &tensors, const std::string &name) {
    tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                                 [&](const TensorToWrite &t) { return t.name == name; }),
                  tensors.end());
}

} // namespace

void TestModelParity::rejectsCheckpointsThatDoNotFitTheConfig_data() {
    using Edit =
        std::function<void(std::vector<TensorToWrite> &, std::vector<std::vector<float>> &)>;
    QTest::addColumn<Edit>("edit");
    QTest::addColumn<QByteArray>("config");
    QTest::addColumn<QStringList>("mustMention");
    QTest::newRow("missing and mis-shaped tensors are all named")
        << Edit([](auto &t, auto &) {
               dropTensor(t, "bridgetower.text_model.encoder.layer.1.output.dense.bias");
               dropTensor(t, "bridgetower.vision_model.visual.ln_post.weight");
               for (auto &x : t)
                   if (x.name == "bridgetower.cross_modal_text_pooler.dense.weight") {
                       x.shape = {32, 128};
                   }
           })
        << QByteArray()
        << QStringList{QStringLiteral("bridgetower.text_model.encoder.layer.1.output.dense.bias"),
                       QStringLiteral("bridgetower.vision_model.visual.ln_post.weight"),
                       QStringLiteral("bridgetower.cross_modal_text_pooler.dense.weight has shape "
                                      "[32, 128], expected [64, 64]")};
    QTest::newRow("config.json that is not JSON")
        << Edit([](auto &, auto &) {}) << QByteArray("{\"hidden_size\": 64,")
        << QStringList{QStringLiteral("config.json"), QStringLiteral("not valid JSON")};
    QTest::newRow("config.json with a wrongly typed value")
        << Edit([](auto &, auto &) {})
        << QByteArray("{\"model_type\": \"bridgetower\", \"hidden_size\": \"big\"}")
        << QStringList{QStringLiteral("config.json"),
                       QStringLiteral("\"hidden_size\" must be an integer")};
    QTest::newRow("config.json nested deeper than the JSON limit")
        << Edit([](auto &, auto &) {})
        << QByteArray("{\"model_type\": \"bridgetower\", \"x\": " + QByteArray(65, '[') +
                      QByteArray(65, ']') + "}")
        << QStringList{QStringLiteral("config.json"), QStringLiteral("nested more than 64 levels")};
    QTest::newRow("config of another model type")
        << Edit([](auto &, auto &) {}) << QByteArray("{\"model_type\": \"clip\"}")
        << QStringList{QStringLiteral("\"clip\"")};
    QTest::newRow("checkpoint for a larger vocabulary")
        << Edit([](auto &, auto &) {}) << QByteArray() << QStringList{};
}

void TestModelParity::rejectsCheckpointsThatDoNotFitTheConfig() {
    using Edit =
        std::function<void(std::vector<TensorToWrite> &, std::vector<std::vector<float>> &)>;
    QFETCH(Edit, edit);
    QFETCH(QByteArray, config);
    QFETCH(QStringList, mustMention);
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    QByteArray cfg = config;
    if (mustMention
            .isEmpty()) { // the vocabulary row: a config that disagrees with every embedding matrix
        QFile f(test::dataDir(QStringLiteral("model/tiny-add/config.json")));
        QVERIFY(f.open(QIODevice::ReadOnly));
        cfg = f.readAll().replace("\"vocab_size\": 120", "\"vocab_size\": 121");
        mustMention << QStringLiteral(
            "word_embeddings.weight has shape [120, 64], expected [121, 64]");
    }
    writeEditedCheckpoint(tmp.path(), edit, cfg);
    auto model = BridgeTowerModel::load(tmp.path());
    QVERIFY(!model.ok());
    qInfo("%s", qPrintable(model.error().message));
    QCOMPARE(model.error().code, Error::Code::Model);
    for (const QString &m : mustMention)
        QVERIFY2(model.error().message.contains(m),
                 qPrintable(QStringLiteral("'%1' not in: %2").arg(m, model.error().message)));
}

void TestModelParity::toleratesAbsentHeadsUnlessRequired() {
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    writeEditedCheckpoint(tmp.path(), [](auto &t, auto &) {
        dropTensor(t, "itm_score.fc.weight"); // a broken ITM head
        dropTensor(t, "itm_score.fc.bias");
        dropTensor(t, "mlm_score.bias"); // a head present in part
    });
    auto model = BridgeTowerModel::load(tmp.path());
    QVERIFY2(model.ok(), model.ok() ? "" : qPrintable(model.error().message));
    QVERIFY((*model)->has(kHeadContrastive));
    QVERIFY(!(*model)->has(kHeadImageTextMatching));
    QVERIFY(!(*model)->has(kHeadMaskedLm));
    QCOMPARE((*model)->info().headProblems.size(), 1); // only the MLM head is present but broken
    QVERIFY((*model)->info().headProblems.first().contains(QStringLiteral("mlm_score.bias")));

    ModelLoadOptions needMlm;
    needMlm.requiredHeads = kHeadMaskedLm | kHeadImageTextMatching;
    auto strict = BridgeTowerModel::load(tmp.path(), needMlm);
    QVERIFY(!strict.ok());
    QVERIFY(strict.error().message.contains(QStringLiteral("mlm_score.bias")));
    QVERIFY(strict.error().message.contains(
        QStringLiteral("image-text matching (ITM) head is not in the checkpoint")));

    // Asking a model for a head it lacks is an error, not a crash.
    TokenBatch tokens{1, 3, {0, 5, 2}, {1, 1, 1}};
    FloatTensor pixels({1, 3, 32, 32});
    QVERIFY(!(*model)->imageTextMatching(tokens, pixels).ok());
    QVERIFY(!(*model)->maskedLmLogits(tokens, pixels).ok());
}

// The app's settings change the model's thread count while pooled worker threads (search,
// indexing) that already ran the model live on: their next forward pass must use the new count.
void TestModelParity::threadCountAppliesToThreadsThatAlreadyRanTheModel() {
    auto model = BridgeTowerModel::load(test::dataDir(QStringLiteral("model/tiny-add")));
    QVERIFY2(model.ok(), model.ok() ? "" : qPrintable(model.error().message));
    const TokenBatch tokens{1, 3, {0, 5, 2}, {1, 1, 1}};
    const int before = BridgeTowerModel::threadCount();
    BridgeTowerModel::setThreadCount(2);
    std::mutex m;
    std::condition_variable cv;
    int step = 0; // 1: the worker ran the model; 2: the count was changed
    int seenFirst = 0, seenAfterChange = 0;
    bool ok = true;
    std::thread worker([&] {
        ok = ok && (*model)->embedText(tokens).ok();
        seenFirst = BridgeTowerModel::threadCount();
        {
            std::unique_lock lock(m);
            step = 1;
            cv.notify_all();
            cv.wait(lock, [&] { return step == 2; });
        }
        ok = ok && (*model)->embedText(tokens).ok();
        seenAfterChange = BridgeTowerModel::threadCount();
    });
    {
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return step == 1; });
        BridgeTowerModel::setThreadCount(1); // from another thread, as the settings dialog does
        step = 2;
        cv.notify_all();
    }
    worker.join();
    BridgeTowerModel::setThreadCount(before);
    QVERIFY(ok);
    QCOMPARE(seenFirst, 2);
    QCOMPARE(seenAfterChange, 1);
}

namespace {

// A tensor for a crafted checkpoint: raw little-endian bytes, and the strides a .bin stores it
// with.
struct RawTensor {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    std::vector<int64_t> binStrides; // empty: contiguous
    QByteArray bytes; // the storage (for a stride-0 view, fewer elements than the shape)
};

QByteArray int64Bytes(const std::vector<int64_t> &v) {
    return QByteArray(reinterpret_cast<const char *>(v.data()),
                      qsizetype(v.size() * sizeof(int64_t)));
}

std::vector<int64_t> arange(int64_t n) {
    std::vector<int64_t> v(static_cast<size_t>(n));
    std::iota(v.begin(), v.end(), 0);
    return v;
}

// The contiguous bytes of a (possibly stride-0) RawTensor, as safetensors stores it.
QByteArray contiguousBytes(const RawTensor &t) {
    if (t.binStrides.empty() || t.binStrides[0] != 0)
        return t.bytes;
    QByteArray out;
    for (int64_t i = 0; i < t.shape[0]; ++i)
        out += t.bytes;
    return out;
}

void writeSafetensorsFile(const QString &path, const std::vector<RawTensor> &tensors) {
    std::vector<QByteArray> data;
    data.reserve(tensors.size());
    std::vector<TensorToWrite> out;
    for (const RawTensor &t : tensors) {
        data.push_back(contiguousBytes(t));
        out.push_back(
            {t.name, t.dtype, t.shape, data.back().constData(), size_t(data.back().size())});
    }
    QVERIFY(writeSafetensors(path, out).ok());
}

// torch.save layout: an OrderedDict of tensors, one storage record each.
void writeTorchBin(const QString &path, const std::vector<RawTensor> &tensors) {
    std::vector<test::TensorSpec> specs;
    std::vector<std::string> keys;
    std::vector<test::Record> records;
    keys.reserve(tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
        const RawTensor &t = tensors[i];
        const char *storage = t.dtype == DType::I64   ? "LongStorage"
                              : t.dtype == DType::F16 ? "HalfStorage"
                                                      : "FloatStorage";
        std::vector<int64_t> strides = t.binStrides;
        if (strides.empty()) {
            strides.assign(t.shape.size(), 1);
            for (size_t d = t.shape.size(); d-- > 1;)
                strides[d - 1] = strides[d] * t.shape[d];
        }
        keys.push_back(std::to_string(i));
        specs.push_back({t.name, storage, keys.back(),
                         int64_t(t.bytes.size() / int64_t(dtypeSize(t.dtype))), 0, t.shape,
                         strides});
    }
    const QByteArray pickle = test::stateDictPickle(specs, {}, true);
    records.push_back({"data.pkl", pickle.constData(), size_t(pickle.size())});
    std::vector<std::string> names;
    names.reserve(tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
        names.push_back("data/" + keys[i]);
        records.push_back(
            {names.back(), tensors[i].bytes.constData(), size_t(tensors[i].bytes.size())});
    }
    test::writeTorchZip(path.toStdString(), records);
}

} // namespace

// Checkpoints often hold tensors the model never reads: position_ids / token_type_ids buffers
// (int64, saved by older transformers, position_ids as a stride-0 expand view), heads of other
// classes. Hugging Face ignores them; so must every format and the converter, listing them.
void TestModelParity::loadsCheckpointsWithTensorsTheModelDoesNotUse_data() {
    QTest::addColumn<QString>("format");
    QTest::newRow("model.safetensors") << QStringLiteral("safetensors");
    QTest::newRow("pytorch_model.bin") << QStringLiteral("bin");
    QTest::newRow("pytorch_model.bin converted to model.safetensors")
        << QStringLiteral("converted");
}

void TestModelParity::loadsCheckpointsWithTensorsTheModelDoesNotUse() {
    QFETCH(QString, format);
    const QString source = test::dataDir(QStringLiteral("model/tiny-add"));
    auto file = SafetensorsFile::open(source + QStringLiteral("/model.safetensors"));
    QVERIFY(file.ok());
    // An ITC-only checkpoint (BridgeTowerForContrastiveLearning): no ITM or MLM head ...
    std::vector<RawTensor> tensors;
    for (const TensorView &v : file->tensors())
        if (v.name.rfind("itm_score.", 0) != 0 && v.name.rfind("mlm_score.", 0) != 0)
            tensors.push_back(
                {v.name,
                 v.dtype,
                 v.shape,
                 {},
                 QByteArray(reinterpret_cast<const char *>(v.data), qsizetype(v.byteSize))});
    // ... plus tensors the model does not use.
    const std::vector<float> otherHead(3 * 16, 0.25f), otherBias(3, -1.0f);
    auto floats = [](const std::vector<float> &v) {
        return QByteArray(reinterpret_cast<const char *>(v.data()), qsizetype(v.size() * 4));
    };
    const std::vector<RawTensor> extras{
        {"bridgetower.text_model.embeddings.position_ids",
         DType::I64,
         {1, 64},
         {0, 1},
         int64Bytes(arange(64))},
        {"bridgetower.text_model.embeddings.token_type_ids",
         DType::I64,
         {1, 64},
         {},
         int64Bytes(std::vector<int64_t>(64, 0))},
        {"bridgetower.vision_model.visual.embeddings.position_ids",
         DType::I64,
         {1, 5},
         {5, 1},
         int64Bytes(arange(5))},
        {"itm_score.fc.weight",
         DType::F32,
         {3, 16},
         {},
         floats(otherHead)}, // another class's head, other shape
        {"itm_score.fc.bias", DType::F32, {3}, {}, floats(otherBias)},
        {"classifier.weight", DType::F32, {3, 16}, {}, floats(otherHead)},
    };
    tensors.insert(tensors.end(), extras.begin(), extras.end());

    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    QVERIFY(QFile::copy(source + QStringLiteral("/config.json"),
                        tmp.filePath(QStringLiteral("config.json"))));
    if (format == QLatin1String("safetensors")) {
        writeSafetensorsFile(tmp.filePath(QStringLiteral("model.safetensors")), tensors);
    } else if (format == QLatin1String("bin")) {
        writeTorchBin(tmp.filePath(QStringLiteral("pytorch_model.bin")), tensors);
    } else {
        QTemporaryDir binDir;
        const QString bin = binDir.filePath(QStringLiteral("pytorch_model.bin"));
        writeTorchBin(bin, tensors);
        const Status s =
            convertTorchBinToSafetensors(bin, tmp.filePath(QStringLiteral("model.safetensors")));
        QVERIFY2(s.ok(), s.ok() ? "" : qPrintable(s.error().message));
        auto converted = SafetensorsFile::open(tmp.filePath(QStringLiteral("model.safetensors")));
        QVERIFY(converted.ok());
        for (const RawTensor &e : extras) {
            const TensorView *v = converted->find(e.name);
            QVERIFY2(v, e.name.c_str());
            QCOMPARE(v->dtype, e.dtype);
            QCOMPARE(v->shape, e.shape);
            QCOMPARE(QByteArray(reinterpret_cast<const char *>(v->data), qsizetype(v->byteSize)),
                     contiguousBytes(e));
        }
    }
    if (QTest::currentTestFailed()) // a QVERIFY inside a writer above
        return;

    auto model = BridgeTowerModel::load(tmp.path());
    QVERIFY2(model.ok(), model.ok() ? "" : qPrintable(model.error().message));
    const ModelInfo &info = (*model)->info();
    QVERIFY((*model)->has(kHeadContrastive));
    QVERIFY(!(*model)->has(kHeadImageTextMatching));
    QVERIFY(!(*model)->has(kHeadMaskedLm));
    // Listed: the extra tensors, and what the fixture itself holds unused (RoBERTa's text pooler).
    auto reference = BridgeTowerModel::load(source);
    QVERIFY(reference.ok());
    QStringList expectedUnused = (*reference)->info().unusedKeys;
    for (const RawTensor &e : extras)
        expectedUnused << QString::fromStdString(e.name);
    expectedUnused.sort();
    QCOMPARE(info.unusedKeys, expectedUnused);

    // The model computes exactly what the checkpoint without the extra tensors computes.
    const TokenBatch tokens{1, 3, {0, 5, 2}, {1, 1, 1}};
    FloatTensor pixels({1, 3, 32, 32});
    for (size_t i = 0; i < pixels.data.size(); ++i)
        pixels.data[i] = float(i % 7) / 7.0f - 0.5f;
    auto text = (*model)->embedText(tokens), refText = (*reference)->embedText(tokens);
    auto image = (*model)->embedImages(pixels), refImage = (*reference)->embedImages(pixels);
    QVERIFY(text.ok() && refText.ok() && image.ok() && refImage.ok());
    QCOMPARE(text->data, refText->data);
    QCOMPARE(image->data, refImage->data);
}

void TestModelParity::rejectsBadInputs() {
    auto model = BridgeTowerModel::load(test::dataDir(QStringLiteral("model/tiny-add")));
    QVERIFY(model.ok());
    const BridgeTowerModel &m = **model;
    QCOMPARE(m.maxTextTokens(), 62); // max_position_embeddings 64 minus the padding offset
    const FloatTensor goodPixels({1, 3, 32, 32});
    struct Row {
        const char *name;
        TokenBatch tokens;
        FloatTensor pixels;
    };
    TokenBatch tooLong{1, 63, std::vector<int64_t>(63, 5), std::vector<int64_t>(63, 1)};
    const std::vector<Row> rows = {
        {"token id outside the vocabulary", {1, 3, {0, 120, 2}, {1, 1, 1}}, goodPixels},
        {"negative token id", {1, 3, {0, -1, 2}, {1, 1, 1}}, goodPixels},
        {"more tokens than positions", tooLong, goodPixels},
        {"mask values other than 0/1", {1, 3, {0, 5, 2}, {1, 2, 1}}, goodPixels},
        {"arrays shorter than the shape", {2, 3, {0, 5, 2}, {1, 1, 1}}, goodPixels},
        {"image of the wrong size", {1, 3, {0, 5, 2}, {1, 1, 1}}, FloatTensor({1, 3, 64, 64})},
        {"pixels without a batch axis", {1, 3, {0, 5, 2}, {1, 1, 1}}, FloatTensor({3, 32, 32})},
    };
    for (const Row &r : rows) {
        auto itm = m.imageTextMatching(r.tokens, r.pixels);
        QVERIFY2(!itm.ok(), r.name);
        QCOMPARE(itm.error().code, Error::Code::InvalidArgument);
    }
    QVERIFY(m.imageTextMatching({1, 3, {0, 5, 2}, {1, 1, 1}}, goodPixels).ok());
}

void TestModelParity::bfloat16StaysCloseToFloat32() {
    const QString dir = test::dataDir(QStringLiteral("model/base-ratios"));
    auto f32 = BridgeTowerModel::load(dir);
    ModelLoadOptions bf16Options;
    bf16Options.precision = Precision::BFloat16;
    auto bf16 = BridgeTowerModel::load(dir, bf16Options);
    QVERIFY(f32.ok() && bf16.ok());
    auto expected = SafetensorsFile::open(dir + QStringLiteral("/expected.safetensors"));
    QVERIFY(expected.ok());
    const FloatTensor pixels = expected->find("pixel_values")->toFloatTensor();
    auto a = (*f32)->embedImages(pixels);
    auto b = (*bf16)->embedImages(pixels);
    QVERIFY(a.ok() && b.ok());
    const int64_t n = a->dim(0), c = a->dim(1);
    for (int64_t i = 0; i < n; ++i) {
        double dot = 0;
        for (int64_t k = 0; k < c; ++k)
            dot += double(a->data[size_t(i * c + k)]) * b->data[size_t(i * c + k)];
        qInfo("image %lld: cosine(bf16, f32) = %.6f", static_cast<long long>(i), dot);
        QVERIFY2(dot > 0.999, "bfloat16 embedding drifted from float32");
    }
    // The reduced-precision path really ran (bfloat16 rounding shows in the last digits).
    double maxDiff = 0;
    for (size_t k = 0; k < a->data.size(); ++k)
        maxDiff = std::max(maxDiff, double(std::abs(a->data[k] - b->data[k])));
    qInfo("max abs difference bf16 vs f32: %.3g", maxDiff);
    QVERIFY(maxDiff > 0);
}

namespace {

using test::kPrecisionBounds;
using test::PrecisionBounds;

enum class Compare { Embedding, Features, ItmLogits, MlmLogits };

using EntryRun = std::function<Result<FloatTensor>(const BridgeTowerModel &, const TokenBatch &,
                                                   const FloatTensor &)>;

// A public entry point of BridgeTowerModel and the output it is checked on.
struct EntryPoint {
    const char *name;
    unsigned head; // the head it needs (kHeadNone: the base model)
    const char
        *reference; // a tensor of expected.safetensors, or "port:<entry point>" run in float32
    Compare compare;
    EntryRun run;
};

Result<FloatTensor> contrastivePart(const BridgeTowerModel &m, const TokenBatch &t,
                                    const FloatTensor &p,
                                    FloatTensor BridgeTowerModel::ContrastiveOutput::*part) {
    auto out = m.contrastive(t, p);
    if (!out)
        return out.error();
    return (*out).*part;
}

const std::vector<EntryPoint> &entryPoints() {
    using M = const BridgeTowerModel &;
    using T = const TokenBatch &;
    using P = const FloatTensor &;
    static const std::vector<EntryPoint> all = {
        {"embedText", kHeadContrastive, "contrastive.text_embeds", Compare::Embedding,
         [](M m, T t, P) { return m.embedText(t); }},
        {"embedImages", kHeadContrastive, "contrastive.image_embeds", Compare::Embedding,
         [](M m, T, P p) { return m.embedImages(p); }},
        {"embedImages fusionOut", kHeadContrastive, "port:visionFusionInputs", Compare::Features,
         [](M m, T, P p) -> Result<FloatTensor> {
             FloatTensor fusion;
             if (auto r = m.embedImages(p, &fusion); !r)
                 return r.error();
             return fusion;
         }},
        {"visionFusionInputs", kHeadNone, "port:embedImages fusionOut", Compare::Features,
         [](M m, T, P p) { return m.visionFusionInputs(p); }},
        {"imageTextMatching", kHeadImageTextMatching, "itm.logits", Compare::ItmLogits,
         [](M m, T t, P p) { return m.imageTextMatching(t, p); }},
        {"imageTextMatchingFromFusion", kHeadImageTextMatching, "itm.logits", Compare::ItmLogits,
         [](M m, T t, P p) -> Result<FloatTensor> {
             auto fusion = m.visionFusionInputs(p);
             if (!fusion)
                 return fusion.error();
             return m.imageTextMatchingFromFusion(t, *fusion);
         }},
        {"maskedLmLogits", kHeadMaskedLm, "mlm.logits", Compare::MlmLogits,
         [](M m, T t, P p) { return m.maskedLmLogits(t, p); }},
        {"contrastive text", kHeadContrastive, "contrastive.text_embeds", Compare::Embedding,
         [](M m, T t, P p) {
             return contrastivePart(m, t, p, &BridgeTowerModel::ContrastiveOutput::textEmbeds);
         }},
        {"contrastive image", kHeadContrastive, "contrastive.image_embeds", Compare::Embedding,
         [](M m, T t, P p) {
             return contrastivePart(m, t, p, &BridgeTowerModel::ContrastiveOutput::imageEmbeds);
         }},
        {"contrastive cross", kHeadContrastive, "contrastive.cross_embeds", Compare::Embedding,
         [](M m, T t, P p) {
             return contrastivePart(m, t, p, &BridgeTowerModel::ContrastiveOutput::crossEmbeds);
         }},
    };
    return all;
}

const EntryPoint *entryPoint(const QString &name) {
    for (const EntryPoint &e : entryPoints())
        if (name == QLatin1String(e.name))
            return &e;
    return nullptr;
}

// Smallest cosine between matching rows (last dimension) of two tensors of one shape.
double minRowCosine(const at::Tensor &a, const at::Tensor &b) {
    const at::Tensor x = a.reshape({-1, a.size(-1)}).to(at::kDouble),
                     y = b.reshape({-1, b.size(-1)}).to(at::kDouble);
    return at::cosine_similarity(x, y, 1, 1e-12).min().item<double>();
}

} // namespace

// Every entry point of the model, every head, in every precision, on every fixture checkpoint:
// float32 to the parity tolerance, the reduced precisions within their measured bounds. A head
// that fails in one precision (a float32 tensor meeting bfloat16 ones) fails its row here.
void TestModelParity::everyEntryPointRunsInEveryPrecision_data() {
    QTest::addColumn<QString>("caseDir");
    QTest::addColumn<int>("precisionIndex");
    QTest::addColumn<QString>("entry");
    const QStringList cases = test::caseDirs(QStringLiteral("model"), "TOWERSEARCH_MODEL_FIXTURES",
                                             QStringLiteral("expected.safetensors"));
    QVERIFY2(!cases.isEmpty(), "no model parity cases found");
    for (const QString &dir : cases) {
        auto model = BridgeTowerModel::load(dir);
        QVERIFY2(model.ok(), model.ok() ? "" : qPrintable(model.error().message));
        auto expected =
            SafetensorsFile::open(QDir(dir).filePath(QStringLiteral("expected.safetensors")));
        QVERIFY(expected.ok());
        for (size_t p = 0; p < std::size(kPrecisionBounds); ++p)
            for (const EntryPoint &e : entryPoints()) {
                // Heads this checkpoint lacks have no reference output: nothing to compare.
                const bool hasHead = e.head == kHeadNone || ((*model)->info().heads & e.head);
                const QByteArray ref(e.reference);
                const EntryPoint *other =
                    ref.startsWith("port:") ? entryPoint(QString::fromLatin1(ref.mid(5))) : nullptr;
                const bool hasReference =
                    other ? (other->head == kHeadNone || ((*model)->info().heads & other->head))
                          : expected->find(e.reference) != nullptr;
                if (hasHead && hasReference)
                    QTest::newRow(qPrintable(QStringLiteral("%1 %2 %3")
                                                 .arg(QDir(dir).dirName(),
                                                      QLatin1String(kPrecisionBounds[p].name),
                                                      QLatin1String(e.name))))
                        << dir << int(p) << QString::fromLatin1(e.name);
            }
    }
}

void TestModelParity::everyEntryPointRunsInEveryPrecision() {
    QFETCH(QString, caseDir);
    QFETCH(int, precisionIndex);
    QFETCH(QString, entry);
    const PrecisionBounds &bounds = kPrecisionBounds[precisionIndex];
    const double minCosine = test::minCosineOnThisCpu(bounds);
    const EntryPoint *e = entryPoint(entry);
    QVERIFY(e);

    auto expectedFile =
        SafetensorsFile::open(QDir(caseDir).filePath(QStringLiteral("expected.safetensors")));
    QVERIFY(expectedFile.ok());
    const at::Tensor ids = toTensor(*expectedFile->find("input_ids"));
    const at::Tensor mask = toTensor(*expectedFile->find("attention_mask"));
    const TokenBatch tokens = tokenBatch(ids, mask);
    const FloatTensor pixels = floatTensor(toTensor(*expectedFile->find("pixel_values")));

    ModelLoadOptions options;
    options.precision = bounds.precision;
    auto model = BridgeTowerModel::load(caseDir, options);
    QVERIFY2(model.ok(), model.ok() ? "" : qPrintable(model.error().message));
    auto actual = e->run(**model, tokens, pixels);
    QVERIFY2(actual.ok(), actual.ok() ? "" : qPrintable(actual.error().message));

    at::Tensor reference;
    if (const QByteArray ref(e->reference); ref.startsWith("port:")) {
        auto f32 = BridgeTowerModel::load(caseDir);
        QVERIFY(f32.ok());
        const EntryPoint *other = entryPoint(QString::fromLatin1(ref.mid(5)));
        QVERIFY(other);
        auto r = other->run(**f32, tokens, pixels);
        QVERIFY(r.ok());
        reference = fromFloat(*r);
    } else {
        reference = toTensor(*expectedFile->find(e->reference));
    }
    const at::Tensor got = fromFloat(*actual);
    QCOMPARE(got.sizes().vec(), reference.sizes().vec());
    QVERIFY2(at::isfinite(got).all().item<bool>(), "non-finite output");

    const double maxAbs = (got - reference).abs().max().item<double>();
    const double cosine = minRowCosine(got, reference);
    if (bounds.parity)
        QVERIFY2(at::allclose(got, reference, kTolerance, kTolerance),
                 qPrintable(QStringLiteral("max abs error %1").arg(maxAbs)));
    switch (e->compare) {
    case Compare::Embedding:
    case Compare::Features:
        qInfo("%s: min row cosine %.6f, max abs error %.3g", bounds.name, cosine, maxAbs);
        QVERIFY2(cosine >= minCosine,
                 qPrintable(QStringLiteral("cosine %1 < %2").arg(cosine).arg(minCosine)));
        break;
    case Compare::ItmLogits: {
        const double probDiff =
            (at::softmax(got, -1) - at::softmax(reference, -1)).abs().max().item<double>();
        qInfo("%s: max match probability difference %.3g, max abs logit error %.3g", bounds.name,
              probDiff, maxAbs);
        QVERIFY2(probDiff <= bounds.maxProbabilityDiff,
                 qPrintable(QStringLiteral("match probability off by %1 > %2")
                                .arg(probDiff)
                                .arg(bounds.maxProbabilityDiff)));
        break;
    }
    case Compare::MlmLogits: {
        // Only real tokens: padded positions are outputs too, but nobody reads them.
        const at::Tensor real = mask.reshape({-1}).nonzero().squeeze(1);
        const at::Tensor g = got.reshape({-1, got.size(-1)}).index_select(0, real);
        const at::Tensor r = reference.reshape({-1, reference.size(-1)}).index_select(0, real);
        const double agreement =
            g.argmax(-1).eq(r.argmax(-1)).to(at::kDouble).mean().item<double>();
        const double realCosine = minRowCosine(g, r);
        qInfo(
            "%s: top-1 agreement %.4f over %lld positions, min row cosine %.6f, max abs error %.3g",
            bounds.name, agreement, static_cast<long long>(g.size(0)), realCosine, maxAbs);
        QVERIFY2(agreement >= bounds.minTop1Agreement,
                 qPrintable(QStringLiteral("top-1 agreement %1 < %2")
                                .arg(agreement)
                                .arg(bounds.minTop1Agreement)));
        QVERIFY2(realCosine >= minCosine,
                 qPrintable(QStringLiteral("cosine %1 < %2").arg(realCosine).arg(minCosine)));
        break;
    }
    }
}

void TestModelParity::autoPicksBFloat16OnlyWhereTheCpuRunsItNatively_data() {
    QTest::addColumn<int>("setting");
    QTest::addColumn<bool>("avx512bf16");
    QTest::addColumn<bool>("amxbf16");
    QTest::addColumn<int>("expected");
    QTest::addColumn<QString>("reasonMentions");
    const int f32 = int(Precision::Float32), bf16 = int(Precision::BFloat16),
              int8 = int(Precision::Int8);
    const int autoSetting = int(PrecisionSetting::Auto);
    QTest::newRow("auto, AVX512-BF16")
        << autoSetting << true << false << bf16 << QStringLiteral("AVX512-BF16");
    QTest::newRow("auto, AMX-BF16")
        << autoSetting << false << true << bf16 << QStringLiteral("AMX-BF16");
    QTest::newRow("auto, both") << autoSetting << true << true << bf16
                                << QStringLiteral("AVX512-BF16 and AMX-BF16");
    QTest::newRow("auto, neither")
        << autoSetting << false << false << f32 << QStringLiteral("no native bfloat16");
    QTest::newRow("f32 on a bfloat16 CPU")
        << int(PrecisionSetting::Float32) << true << true << f32 << QStringLiteral("chosen");
    QTest::newRow("bf16 on a CPU without it")
        << int(PrecisionSetting::BFloat16) << false << false << bf16 << QStringLiteral("slower");
    QTest::newRow("int8 is taken as asked")
        << int(PrecisionSetting::Int8) << false << false << int8 << QStringLiteral("chosen");
}

void TestModelParity::autoPicksBFloat16OnlyWhereTheCpuRunsItNatively() {
    QFETCH(int, setting);
    QFETCH(bool, avx512bf16);
    QFETCH(bool, amxbf16);
    QFETCH(int, expected);
    QFETCH(QString, reasonMentions);
    CpuFeatures cpu;
    cpu.avx512bf16 = avx512bf16;
    cpu.amxbf16 = amxbf16;
    const PrecisionChoice choice = resolvePrecision(PrecisionSetting(setting), cpu);
    QCOMPARE(int(choice.precision), expected);
    // The reason starts with the precision's name and says why.
    QVERIFY2(choice.reason.startsWith(precisionName(choice.precision) + QLatin1Char(' ')),
             qPrintable(choice.reason));
    QVERIFY2(choice.reason.contains(reasonMentions), qPrintable(choice.reason));
}

// cpuid and the kernel must agree on this machine's bfloat16 instructions (the kernel lists a
// flag only when it also enabled the registers' state).
void TestModelParity::detectsTheBFloat16InstructionsTheKernelReports() {
    QFile cpuinfo(QStringLiteral("/proc/cpuinfo"));
    if (!cpuinfo.open(QIODevice::ReadOnly))
        QSKIP("no /proc/cpuinfo to compare the cpuid detection with");
    QSet<QByteArray> flags;
    for (const QByteArray &line : cpuinfo.readAll().split('\n'))
        if (line.startsWith("flags")) {
            for (const QByteArray &f : line.mid(line.indexOf(':') + 1).simplified().split(' '))
                flags.insert(f);
            break;
        }
    QVERIFY(!flags.isEmpty());
    const CpuFeatures cpu = CpuFeatures::detect();
    qInfo("cpuid: avx512_bf16 %d, amx_bf16 %d", cpu.avx512bf16, cpu.amxbf16);
    QCOMPARE(cpu.avx512bf16, flags.contains("avx512_bf16"));
    QCOMPARE(cpu.amxbf16, flags.contains("amx_bf16") && flags.contains("amx_tile"));
    QCOMPARE(resolvePrecision(PrecisionSetting::Auto).precision,
             cpu.nativeBFloat16() ? Precision::BFloat16 : Precision::Float32);
}

void TestModelParity::parsesPrecisionNames_data() {
    QTest::addColumn<QString>("text");
    QTest::addColumn<int>("expected"); // -1: refused
    QTest::newRow("auto") << QStringLiteral("auto") << int(PrecisionSetting::Auto);
    QTest::newRow("f32") << QStringLiteral("f32") << int(PrecisionSetting::Float32);
    QTest::newRow("float32") << QStringLiteral("float32") << int(PrecisionSetting::Float32);
    QTest::newRow("bf16") << QStringLiteral("bf16") << int(PrecisionSetting::BFloat16);
    QTest::newRow("BFloat16, any case")
        << QStringLiteral("BFloat16") << int(PrecisionSetting::BFloat16);
    QTest::newRow("int8") << QStringLiteral("int8") << int(PrecisionSetting::Int8);
    QTest::newRow("fp16 is not a precision we run") << QStringLiteral("fp16") << -1;
    QTest::newRow("empty") << QString() << -1;
}

void TestModelParity::parsesPrecisionNames() {
    QFETCH(QString, text);
    QFETCH(int, expected);
    const auto parsed = parsePrecisionSetting(text);
    QCOMPARE(parsed.has_value(), expected >= 0);
    if (parsed) {
        QCOMPARE(int(*parsed), expected);
        // Names round-trip: what settings files and --precision store is read back the same.
        QCOMPARE(parsePrecisionSetting(precisionSettingName(*parsed)), parsed);
    }
}

QTEST_GUILESS_MAIN(TestModelParity)
#include "tst_model.moc"
