// Int8 precision: tower Linears quantized per output channel, activations per call (oneDNN).
// Every head against the Hugging Face reference outputs of each fixture, with bounds measured on
// these fixtures (see the qInfo lines), and the properties int8 promises: the quantized product is
// what a plain dequantized reference computes, no float copy of a quantized weight stays alive
// and the read-only weights are never written, and float32 models in the same process are
// unchanged.
#include "core/common/safetensorsfile.h"
#include "core/model/bridgetowermodel.h"
#include "core/model/internal/bridgetowernet.h"
#include "testdata.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <QDir>
#include <QtTest>

#include <sys/mman.h>

#include <cstring>

using namespace ts;
using internal::Linear;
using internal::LinearRole;

namespace {

TokenBatch tokenBatch(const TensorView &ids, const TensorView &mask) {
    TokenBatch t;
    t.batchSize = ids.shape[0];
    t.seqLength = ids.shape[1];
    t.inputIds = ids.toInt64();
    t.attentionMask = mask.toInt64();
    return t;
}

at::Tensor toTensor(const FloatTensor &f) {
    return at::tensor(f.data, at::kFloat).view(f.shape).clone();
}
at::Tensor toTensor(const TensorView &v) {
    return toTensor(v.toFloatTensor());
}

// Row-wise cosine of two [B, C] tensors.
at::Tensor rowCosine(const at::Tensor &a, const at::Tensor &b) {
    return (a * b).sum(-1) / (a.norm(2, -1) * b.norm(2, -1)).clamp_min(1e-12);
}

// A float tensor in memory that is mapped read-only (as a safetensors file is): writing into it
// kills the test. `freed` turns true when the last reference to it is gone.
at::Tensor readOnlyTensor(const at::Tensor &values, bool *freed) {
    const size_t bytes = size_t(values.numel()) * sizeof(float);
    void *p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return {};
    std::memcpy(p, values.contiguous().data_ptr<float>(), bytes);
    mprotect(p, bytes, PROT_READ);
    *freed = false;
    return at::from_blob(
        p, values.sizes(),
        [bytes, freed](void *q) {
            munmap(q, bytes);
            *freed = true;
        },
        at::kFloat);
}

// Int8 and float32 models of one fixture with its expected outputs.
struct Fixture {
    std::unique_ptr<BridgeTowerModel> int8, f32;
    std::optional<SafetensorsFile> expected;
    TokenBatch tokens;
    FloatTensor pixels;
};

} // namespace

class TestInt8 : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { BridgeTowerModel::setThreadCount(2); }

    void engineProblemNamesWhatIsMissing_data();
    void engineProblemNamesWhatIsMissing();
    void int8LinearComputesTheQuantizedProduct_data();
    void int8LinearComputesTheQuantizedProduct();
    void int8KeepsNoFloatCopyAndNeverWritesTheWeights();
    void int8QuantizesTowersAndKeepsHeadsFloat32();
    void everyHeadStaysCloseToHuggingFace_data();
    void everyHeadStaysCloseToHuggingFace();
    void float32ParityHoldsAfterAnInt8Load_data();
    void float32ParityHoldsAfterAnInt8Load();
    void inputRangesRecordEachLinearsLargestInput();
};

void TestInt8::engineProblemNamesWhatIsMissing_data() {
    QTest::addColumn<std::vector<at::QEngine>>("engines");
    QTest::addColumn<QString>("mustMention"); // empty: int8 can run
    QTest::newRow("oneDNN present")
        << std::vector<at::QEngine>{at::kQNNPACK, at::kNoQEngine, at::kONEDNN} << QString();
    QTest::newRow("only qnnpack (ARM builds)")
        << std::vector<at::QEngine>{at::kQNNPACK, at::kNoQEngine}
        << QStringLiteral("(quantized engines: QNNPACK)");
    QTest::newRow("no quantized engine")
        << std::vector<at::QEngine>{at::kNoQEngine} << QStringLiteral("(quantized engines: none)");
}

void TestInt8::engineProblemNamesWhatIsMissing() {
    QFETCH(std::vector<at::QEngine>, engines);
    QFETCH(QString, mustMention);
    const Status support = internal::int8EngineSupport(engines);
    const QString problem = support.ok() ? QString() : support.error().message;
    if (mustMention.isEmpty()) {
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        return;
    }
    qInfo("%s", qPrintable(problem));
    QVERIFY(problem.contains(QStringLiteral("oneDNN")));
    QVERIFY(problem.contains(mustMention));
    QVERIFY(problem.contains(QStringLiteral("choose float32 or bfloat16")));
}

void TestInt8::int8LinearComputesTheQuantizedProduct_data() {
    QTest::addColumn<std::vector<int64_t>>("inputShape");
    QTest::addColumn<int64_t>("outFeatures");
    QTest::addColumn<bool>("strided");
    QTest::newRow("tokens x features (2-D)")
        << std::vector<int64_t>{13, 96} << int64_t(200) << false;
    QTest::newRow("batch x tokens x features (3-D)")
        << std::vector<int64_t>{2, 37, 128} << int64_t(64) << false;
    QTest::newRow("one token per batch row, not contiguous (pooler input)")
        << std::vector<int64_t>{3, 9, 64} << int64_t(48) << true;
}

// oneDNN computes in int32 from u8 activations (per-tensor scale and zero point, PyTorch's
// choice of parameters) and s8 weights (per output channel, symmetric): exactly the product of the
// dequantized tensors, up to float rounding.
void TestInt8::int8LinearComputesTheQuantizedProduct() {
    QFETCH(std::vector<int64_t>, inputShape);
    QFETCH(int64_t, outFeatures);
    QFETCH(bool, strided);
    at::manual_seed(3);
    const int64_t in = inputShape.back();
    const at::Tensor w = at::randn({outFeatures, in}) *
                         (at::rand({outFeatures, 1}) + 0.1); // channels of unequal range
    const at::Tensor b = at::randn({outFeatures}) * 0.1;
    at::Tensor x = at::randn(inputShape) * 3 + 0.5;
    if (strided)
        x = x.select(1, 0); // [B, H] rows with a stride of T * H

    Linear l;
    l.weight = w.clone();
    l.bias = b.clone();
    l.prepareFor(Precision::Int8);
    QVERIFY(l.int8);
    c10::InferenceMode guard;
    const at::Tensor got = l(x);

    const at::Tensor scales = w.abs().amax({1}).to(at::kDouble) / 127.5;
    const at::Tensor wq =
        at::quantize_per_channel(w, scales, at::zeros({outFeatures}, at::kLong), 0, at::kQInt8)
            .dequantize();
    const auto [scale, zeroPoint] =
        at::_choose_qparams_per_tensor(x.contiguous(), l.int8ReduceRange);
    const at::Tensor xq =
        at::quantize_per_tensor(x.contiguous(), scale, zeroPoint, at::kQUInt8).dequantize();
    const at::Tensor want = at::linear(xq, wq, b);
    const at::Tensor exact = at::linear(x, w, b);

    QCOMPARE(got.sizes(), want.sizes());
    const double err = (got - want).abs().max().item<double>() / want.abs().max().item<double>();
    const double quantErr =
        (got - exact).abs().max().item<double>() / exact.abs().max().item<double>();
    qInfo("relative error to the dequantized reference %.2g; to float32 %.2g", err, quantErr);
    QVERIFY2(err < 1e-5, "oneDNN's int8 product differs from the dequantized reference");
    QVERIFY(quantErr > 0);    // really quantized ...
    QVERIFY(quantErr < 0.05); // ... and still the same linear map
}

void TestInt8::int8KeepsNoFloatCopyAndNeverWritesTheWeights() {
    at::manual_seed(4);
    bool weightFreed = true, biasFreed = true;
    Linear l;
    l.weight = readOnlyTensor(at::randn({256, 128}), &weightFreed);
    l.bias = readOnlyTensor(at::randn({256}), &biasFreed);
    QVERIFY(l.weight.defined() && l.bias.defined());
    const at::Tensor x = at::randn({5, 128});
    const at::Tensor before = at::linear(x, l.weight, l.bias);
    l.prepareFor(Precision::Int8); // a write into the read-only pages would end the test here
    QVERIFY(l.int8);
    QVERIFY(!l.weight.defined());
    QVERIFY(!l.bias.defined());
    QVERIFY2(weightFreed, "a float copy of the quantized weight is still referenced");
    QVERIFY2(biasFreed, "the layer still references the checkpoint's bias");
    // The layer still computes the same map (its bias is its own copy now).
    const at::Tensor after = l(x);
    QVERIFY(((after - before).abs().max() / before.abs().max()).item<double>() < 0.05);
    // Preparing twice (a lazily loaded part) changes nothing.
    auto packed = l.int8;
    l.prepareFor(Precision::Int8);
    QCOMPARE(l.int8.get(), packed.get());
}

void TestInt8::int8QuantizesTowersAndKeepsHeadsFloat32() {
    ModelLoadOptions options;
    options.precision = Precision::Int8;
    auto model = BridgeTowerModel::load(test::dataDir(QStringLiteral("model/tiny-add")), options);
    QVERIFY2(model.ok(), model.ok() ? "" : qPrintable(model.error().message));
    (*model)->net().materializeAll(); // parts are prepared on first use; prepare them all here
    int towers = 0, heads = 0;
    for (const Linear *l : (*model)->net().linears()) {
        if (l->role == LinearRole::Head) {
            ++heads;
            QVERIFY2(!l->int8 && l->weight.defined() && l->weight.scalar_type() == at::kFloat,
                     l->name.c_str());
        } else {
            ++towers;
            QVERIFY2(l->int8 && !l->weight.defined() && !l->bias.defined(), l->name.c_str());
        }
    }
    // ITC text/image/cross, ITM, MLM transform and decoder, two poolers.
    QCOMPARE(heads, 8);
    QVERIFY(towers > heads);
}

void TestInt8::everyHeadStaysCloseToHuggingFace_data() {
    QTest::addColumn<QString>("caseDir");
    const QStringList cases = test::caseDirs(QStringLiteral("model"), "TOWERSEARCH_MODEL_FIXTURES",
                                             QStringLiteral("expected.safetensors"));
    QVERIFY2(!cases.isEmpty(), "no model parity cases found");
    for (const QString &dir : cases)
        QTest::newRow(qPrintable(QDir(dir).dirName())) << dir;
}

// Bounds measured on these fixtures (random weights, hidden size 32-64, so coarser than the real
// size, where each output sums over 1024-4096 products): the worst values seen are in the log.
void TestInt8::everyHeadStaysCloseToHuggingFace() {
    QFETCH(QString, caseDir);
    ModelLoadOptions options;
    options.precision = Precision::Int8;
    auto model = BridgeTowerModel::load(caseDir, options);
    QVERIFY2(model.ok(), model.ok() ? "" : qPrintable(model.error().message));
    const BridgeTowerModel &m = **model;
    auto expected =
        SafetensorsFile::open(QDir(caseDir).filePath(QStringLiteral("expected.safetensors")));
    QVERIFY(expected.ok());
    const TokenBatch tokens =
        tokenBatch(*expected->find("input_ids"), *expected->find("attention_mask"));
    const FloatTensor pixels = expected->find("pixel_values")->toFloatTensor();
    const QString name = QDir(caseDir).dirName();

    int heads = 0;
    if (m.has(kHeadContrastive)) {
        ++heads;
        auto text = m.embedText(tokens);
        auto image = m.embedImages(pixels);
        auto both = m.contrastive(tokens, pixels);
        QVERIFY(text.ok() && image.ok() && both.ok());
        const double textCos =
            rowCosine(toTensor(*text), toTensor(*expected->find("contrastive.text_embeds")))
                .min()
                .item<double>();
        const double imageCos =
            rowCosine(toTensor(*image), toTensor(*expected->find("contrastive.image_embeds")))
                .min()
                .item<double>();
        const double crossCos = rowCosine(toTensor(both->crossEmbeds),
                                          toTensor(*expected->find("contrastive.cross_embeds")))
                                    .min()
                                    .item<double>();
        qInfo("%s: worst cosine to Hugging Face: text %.5f, image %.5f, cross %.5f",
              qPrintable(name), textCos, imageCos, crossCos);
        QVERIFY2(textCos > 0.998, "int8 text embedding drifted");
        QVERIFY2(imageCos > 0.998, "int8 image embedding drifted");
        QVERIFY2(crossCos > 0.998, "int8 cross-modal embedding drifted");
    }
    if (m.has(kHeadImageTextMatching)) {
        ++heads;
        auto logits = m.imageTextMatching(tokens, pixels);
        QVERIFY(logits.ok());
        const at::Tensor p = at::softmax(toTensor(*logits), -1);
        const at::Tensor want = at::softmax(toTensor(*expected->find("itm.logits")), -1);
        const double worst = (p - want).abs().max().item<double>();
        qInfo("%s: ITM match probability off by at most %.4f", qPrintable(name), worst);
        QVERIFY2(worst < 0.03, "int8 ITM probabilities drifted");
    }
    if (m.has(kHeadMaskedLm)) {
        ++heads;
        auto logits = m.maskedLmLogits(tokens, pixels);
        QVERIFY(logits.ok());
        const at::Tensor mask = at::tensor(tokens.attentionMask, at::kLong)
                                    .view({tokens.batchSize, tokens.seqLength})
                                    .to(at::kBool);
        const at::Tensor top = toTensor(*logits).argmax(-1).masked_select(mask);
        const at::Tensor wantTop =
            toTensor(*expected->find("mlm.logits")).argmax(-1).masked_select(mask);
        const double agree = top.eq(wantTop).to(at::kDouble).mean().item<double>();
        qInfo("%s: MLM top-1 agreement %.3f over %lld real tokens", qPrintable(name), agree,
              static_cast<long long>(top.numel()));
        QVERIFY2(agree >= 0.9, "int8 MLM top-1 predictions drifted");
    }
    QVERIFY(heads > 0);
}

void TestInt8::float32ParityHoldsAfterAnInt8Load_data() {
    everyHeadStaysCloseToHuggingFace_data();
}

// The quantized engine is process-wide state: an int8 model loaded and run first must leave
// float32 models bit-for-bit on their reference outputs.
void TestInt8::float32ParityHoldsAfterAnInt8Load() {
    QFETCH(QString, caseDir);
    ModelLoadOptions options;
    options.precision = Precision::Int8;
    auto int8 = BridgeTowerModel::load(caseDir, options);
    QVERIFY(int8.ok());
    auto expected =
        SafetensorsFile::open(QDir(caseDir).filePath(QStringLiteral("expected.safetensors")));
    QVERIFY(expected.ok());
    const TokenBatch tokens =
        tokenBatch(*expected->find("input_ids"), *expected->find("attention_mask"));
    const FloatTensor pixels = expected->find("pixel_values")->toFloatTensor();
    QVERIFY((*int8)->maskedLmLogits(tokens, pixels).ok());

    auto f32 = BridgeTowerModel::load(caseDir);
    QVERIFY(f32.ok());
    QVERIFY((*int8)->imageTextMatching(tokens, pixels).ok()); // both alive, used in turn
    const BridgeTowerModel &m = **f32;
    std::vector<std::pair<const char *, Result<FloatTensor>>> outputs;
    if (m.has(kHeadContrastive)) {
        outputs.emplace_back("contrastive.text_embeds", m.embedText(tokens));
        outputs.emplace_back("contrastive.image_embeds", m.embedImages(pixels));
    }
    outputs.emplace_back("itm.logits", m.imageTextMatching(tokens, pixels));
    outputs.emplace_back("mlm.logits", m.maskedLmLogits(tokens, pixels));
    for (const auto &[key, got] : outputs) {
        QVERIFY2(got.ok(), key);
        const double maxAbs =
            (toTensor(*got) - toTensor(*expected->find(key))).abs().max().item<double>();
        QVERIFY2(
            at::allclose(toTensor(*got), toTensor(*expected->find(key)), 1e-4, 1e-4),
            qPrintable(QStringLiteral("%1: max abs error %2").arg(QLatin1String(key)).arg(maxAbs)));
    }
}

void TestInt8::inputRangesRecordEachLinearsLargestInput() {
    auto model = BridgeTowerModel::load(test::dataDir(QStringLiteral("model/tiny-add")));
    QVERIFY(model.ok());
    auto expected =
        SafetensorsFile::open(test::dataDir(QStringLiteral("model/tiny-add/expected.safetensors")));
    QVERIFY(expected.ok());
    const TokenBatch tokens =
        tokenBatch(*expected->find("input_ids"), *expected->find("attention_mask"));
    const FloatTensor pixels = expected->find("pixel_values")->toFloatTensor();

    internal::LinearInputRanges ranges;
    QVERIFY((*model)->embedText(tokens).ok());
    QVERIFY((*model)->embedImages(pixels).ok());
    // The first text layer's query projection reads the embeddings' output (hidden state 0).
    const double embeddingsMax =
        toTensor(*expected->find("model.hidden_states.text.0")).abs().max().item<double>();
    const auto &seen = ranges.maxAbs();
    const auto it = seen.find("bridgetower.text_model.encoder.layer.0.attention.self.query");
    QVERIFY(it != seen.end());
    QVERIFY2(std::abs(it->second - embeddingsMax) <= 1e-4 * embeddingsMax,
             qPrintable(QStringLiteral("%1 vs %2").arg(it->second).arg(embeddingsMax)));
    // Every Linear of both towers ran and was recorded; the cross-modal layers did not run.
    int towerLinears = 0;
    for (const Linear *l : (*model)->net().linears())
        if (l->name.find("text_model.") != std::string::npos ||
            l->name.find("vision_model.") != std::string::npos) {
            ++towerLinears;
            QVERIFY2(seen.count(l->name), l->name.c_str());
        }
    QVERIFY(towerLinears > 0);
    for (const auto &[name, max] : seen)
        QVERIFY2(name.find("cross_modal_text_layers") == std::string::npos, name.c_str());
}

QTEST_GUILESS_MAIN(TestInt8)
#include "tst_int8.moc"
