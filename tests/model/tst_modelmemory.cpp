// Memory of the model: a process holds only the weights its work touches.
//
// The checks look at the pages of model.safetensors mapped into this process (/proc/self/pagemap):
// a tower a task never runs must stay unmapped, and in a reduced precision the float32 pages of a
// converted part must be given back (only the converted copy stays). The checkpoint is a synthetic
// one of a few MB per part, large enough that the kernel's fault-around (64 KB) cannot blur a part.
#include "core/common/safetensorsfile.h"
#include "core/model/bridgetowermodel.h"
#include "core/model/internal/bridgetowernet.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QtTest>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <thread>
#include <unistd.h>

using namespace ts;

namespace {

// Every part big enough to be told apart page by page: hidden 384, 3 text and vision layers,
// 2 cross-modal layers, all heads.
const char *kConfig = R"({
  "architectures": ["BridgeTowerForContrastiveLearning"], "model_type": "bridgetower",
  "contrastive_hidden_size": 128, "hidden_act": "gelu", "hidden_size": 384, "layer_norm_eps": 1e-05,
  "link_tower_type": "add", "num_attention_heads": 6, "num_hidden_layers": 2,
  "share_cross_modal_transformer_layers": true, "share_link_tower_layers": false, "tie_word_embeddings": false,
  "text_config": {"vocab_size": 2000, "hidden_size": 384, "num_hidden_layers": 3, "num_attention_heads": 6,
                  "intermediate_size": 1536, "max_position_embeddings": 40, "type_vocab_size": 1, "pad_token_id": 1},
  "vision_config": {"hidden_size": 384, "num_hidden_layers": 3, "patch_size": 16, "image_size": 64}
})";

enum Part : unsigned { kText = 1, kVision = 2, kCross = 4, kMlm = 8 };

// The part a (2-D) Linear weight belongs to, 0 for tensors not measured (embeddings, small heads).
unsigned partOf(const std::string &name, int64_t dims) {
    auto has = [&](const char *s) { return name.find(s) != std::string::npos; };
    if (dims != 2 || has("embeddings") || has("embedding"))
        return 0;
    if (has("text_model.encoder."))
        return kText;
    if (has("vision_model.visual.transformer."))
        return kVision;
    if (has("cross_modal_text_layers.") || has("cross_modal_image_layers."))
        return kCross;
    if (has("mlm_score."))
        return kMlm;
    return 0;
}

// Writes config.json and a model.safetensors with every tensor the config asks for (N(0, 0.02);
// LayerNorm weights 1), laid out in name order like Hugging Face's files.
bool writeCheckpoint(const QString &dir) {
    QFile config(dir + QStringLiteral("/config.json"));
    if (!config.open(QIODevice::WriteOnly) || config.write(kConfig) < 0)
        return false;
    config.close();
    auto parsed =
        BridgeTowerConfig::fromJsonText(QByteArray(kConfig), QStringLiteral("test config"));
    if (!parsed)
        return false;
    const std::map<std::string, at::Tensor> none;
    internal::WeightBinder binder(none);
    internal::BridgeTowerNet net;
    net.bind(binder, *parsed, "");
    net.bindContrastiveHead(binder);
    net.bindItmHead(binder);
    net.bindMlmHead(binder);
    at::manual_seed(11);
    std::vector<at::Tensor> values;
    std::vector<TensorToWrite> tensors;
    for (const auto &[name, shape] : binder.expectedShapes()) {
        const bool norm = name.find("LayerNorm.weight") != std::string::npos ||
                          name.find("layernorm.weight") != std::string::npos ||
                          name.find(".ln_") != std::string::npos;
        values.push_back((norm ? at::ones(shape) : at::randn(shape) * 0.02).contiguous());
        tensors.push_back(
            {name, DType::F32, shape, values.back().data_ptr(), size_t(values.back().nbytes())});
    }
    return writeSafetensors(dir + QStringLiteral("/model.safetensors"), tensors).ok();
}

struct TensorRange {
    unsigned part = 0;
    qint64 fileOffset = 0;
    qint64 bytes = 0;
};

// Where each measured tensor lies in the file (from the safetensors header).
std::vector<TensorRange> measuredRanges(const QString &file) {
    QFile f(file);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    uint64_t headerLength = 0;
    if (f.read(reinterpret_cast<char *>(&headerLength), 8) != 8)
        return {};
    const auto header = nlohmann::json::parse(f.read(qint64(headerLength)).toStdString());
    std::vector<TensorRange> out;
    for (const auto &[name, entry] : header.items()) {
        if (name == "__metadata__")
            continue;
        const unsigned part = partOf(name, int64_t(entry["shape"].size()));
        if (part == 0)
            continue;
        const auto offsets = entry["data_offsets"].get<std::vector<qint64>>();
        out.push_back({part, qint64(8 + headerLength) + offsets[0], offsets[1] - offsets[0]});
    }
    return out;
}

// Start of this process's mapping of `file` (offset 0), or 0 when there is none or more than one.
uintptr_t mappingOf(const QString &file) {
    QFile maps(QStringLiteral("/proc/self/maps"));
    if (!maps.open(QIODevice::ReadOnly))
        return 0;
    const QByteArray wanted = QFileInfo(file).canonicalFilePath().toLocal8Bit();
    uintptr_t found = 0;
    int count = 0;
    for (const QByteArray &line : maps.readAll().split('\n')) {
        const QList<QByteArray> fields = line.simplified().split(' ');
        if (fields.size() < 6 || fields[5] != wanted || fields[2].toULongLong(nullptr, 16) != 0)
            continue;
        found = uintptr_t(fields[0].split('-')[0].toULongLong(nullptr, 16));
        ++count;
    }
    return count == 1 ? found : 0;
}

// Fraction of the pages of each part's measured tensors that are mapped into this process.
std::map<unsigned, double> mappedFractions(const QString &file) {
    const uintptr_t base = mappingOf(file);
    std::map<unsigned, double> out;
    if (base == 0)
        return out;
    const int pagemap = ::open("/proc/self/pagemap", O_RDONLY);
    if (pagemap < 0)
        return out;
    const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
    std::map<unsigned, std::pair<qint64, qint64>> counts; // present, total
    for (const TensorRange &r : measuredRanges(file)) {
        // Pages wholly inside the tensor (edge pages are shared with neighbours).
        const uintptr_t first = (base + uintptr_t(r.fileOffset) + page - 1) / page;
        const uintptr_t last = (base + uintptr_t(r.fileOffset + r.bytes)) / page;
        for (uintptr_t p = first; p < last; ++p) {
            uint64_t entry = 0;
            if (::pread(pagemap, &entry, sizeof entry, off_t(p * sizeof entry)) != sizeof entry)
                continue;
            counts[r.part].first += (entry >> 63) & 1;
            counts[r.part].second += 1;
        }
    }
    ::close(pagemap);
    for (const auto &[part, c] : counts)
        out[part] = c.second ? double(c.first) / double(c.second) : 0.0;
    return out;
}

QString partName(unsigned part) {
    switch (part) {
    case kText:
        return QStringLiteral("text tower");
    case kVision:
        return QStringLiteral("vision tower");
    case kCross:
        return QStringLiteral("cross-modal layers");
    case kMlm:
        return QStringLiteral("MLM head");
    }
    return QStringLiteral("?");
}

const TokenBatch kCaption{1, 5, {0, 10, 20, 30, 2}, {1, 1, 1, 1, 1}};

FloatTensor randomFloats(std::vector<int64_t> shape, uint64_t seed) {
    FloatTensor t(std::move(shape));
    const at::Tensor r = at::randn({t.numel()}, at::make_generator<at::CPUGeneratorImpl>(seed));
    std::memcpy(t.ptr(), r.data_ptr<float>(), size_t(t.numel()) * sizeof(float));
    return t;
}

using Task = std::function<bool(const BridgeTowerModel &)>;

struct NamedTask {
    const char *name;
    unsigned uses; // parts the task must run
    Task run;
    // Share of the cross-modal weights the task reads: fill-mask skips the last layer's image
    // side (nothing reads it), a quarter of the weights with this checkpoint's two layers.
    double crossShare = 1.0;
};

std::vector<NamedTask> tasks() {
    const FloatTensor pixels = randomFloats({1, 3, 64, 64}, 1);
    // Vision-side inputs of the cross-modal layers as a rerank cache holds them: [1, Lc, tokens,
    // H].
    const FloatTensor fusion = randomFloats({1, 2, 17, 384}, 2);
    return {
        {"nothing run (just loaded)", 0, [](const BridgeTowerModel &) { return true; }},
        {"caption query (embedText)", kText,
         [](const BridgeTowerModel &m) { return m.embedText(kCaption).ok(); }},
        {"indexing a photo (embedImages with fusion)", kVision,
         [pixels](const BridgeTowerModel &m) {
             FloatTensor f;
             return m.embedImages(pixels, &f).ok();
         }},
        {"rerank from cached fusion inputs", kText | kCross,
         [fusion](const BridgeTowerModel &m) {
             return m.imageTextMatchingFromFusion(kCaption, fusion).ok();
         }},
        {"image-text matching from pixels", kText | kVision | kCross,
         [pixels](const BridgeTowerModel &m) {
             return m.imageTextMatching(kCaption, pixels).ok();
         }},
        {"fill-mask", kText | kVision | kCross | kMlm,
         [pixels](const BridgeTowerModel &m) { return m.maskedLmLogits(kCaption, pixels).ok(); },
         0.75},
    };
}

} // namespace

class TestModelMemory : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void holdsOnlyTheWeightsATaskTouches_data();
    void holdsOnlyTheWeightsATaskTouches();
    void concurrentFirstUseGivesTheSameResults_data();
    void concurrentFirstUseGivesTheSameResults();

private:
    QTemporaryDir m_dir;
};

void TestModelMemory::initTestCase() {
    BridgeTowerModel::setThreadCount(2);
    QVERIFY(m_dir.isValid());
    QVERIFY(writeCheckpoint(m_dir.path()));
    if (::access("/proc/self/pagemap", R_OK) != 0)
        QSKIP(qPrintable(
            QStringLiteral(
                "/proc/self/pagemap is not readable here (%1): cannot see which pages are mapped")
                .arg(QString::fromLocal8Bit(std::strerror(errno)))));
}

void TestModelMemory::holdsOnlyTheWeightsATaskTouches_data() {
    QTest::addColumn<int>("task");
    QTest::addColumn<Precision>("precision");
    const auto all = tasks();
    for (int i = 0; i < int(all.size()); ++i) {
        QTest::addRow("float32, %s", all[size_t(i)].name) << i << Precision::Float32;
        QTest::addRow("bfloat16, %s", all[size_t(i)].name) << i << Precision::BFloat16;
    }
}

void TestModelMemory::holdsOnlyTheWeightsATaskTouches() {
    QFETCH(int, task);
    QFETCH(Precision, precision);
    const NamedTask t = tasks()[size_t(task)];
    const QString file = m_dir.filePath(QStringLiteral("model.safetensors"));
    ModelLoadOptions options;
    options.precision = precision;
    auto model = BridgeTowerModel::load(m_dir.path(), options);
    QVERIFY2(model.ok(), model.ok() ? "" : qPrintable(model.error().message));
    QVERIFY(t.run(**model));
    const auto fractions = mappedFractions(file);
    QVERIFY2(fractions.size() == 4,
             "could not find the model's mapping of model.safetensors in /proc/self/maps");
    for (const auto &[part, fraction] : fractions) {
        const bool used = (t.uses & part) != 0;
        qInfo("%s: %.1f%% of its float32 pages mapped", qPrintable(partName(part)),
              100.0 * fraction);
        if (!used) {
            QVERIFY2(fraction < 0.1,
                     qPrintable(QStringLiteral("%1 was touched by a task that never runs it")
                                    .arg(partName(part))));
        } else if (precision == Precision::Float32) {
            // Float32 computes straight from the mapping: the pages a task reads are its weights.
            const double share = part == kCross ? t.crossShare : 1.0;
            QVERIFY2(
                fraction > 0.9 * share && fraction < share + 0.1,
                qPrintable(
                    QStringLiteral("%1 ran but its weights are not mapped").arg(partName(part))));
        } else {
            QVERIFY2(
                fraction < 0.1,
                qPrintable(QStringLiteral("%1 keeps its float32 pages beside its converted copy")
                               .arg(partName(part))));
        }
    }
}

void TestModelMemory::concurrentFirstUseGivesTheSameResults_data() {
    QTest::addColumn<Precision>("precision");
    QTest::newRow("float32") << Precision::Float32;
    QTest::newRow("bfloat16") << Precision::BFloat16;
}

void TestModelMemory::concurrentFirstUseGivesTheSameResults() {
    QFETCH(Precision, precision);
    ModelLoadOptions options;
    options.precision = precision;
    const FloatTensor pixels = randomFloats({1, 3, 64, 64}, 3);
    // Text tower, vision tower, and both plus the cross-modal layers (an error comes back as an
    // empty tensor with its message, so a failure names itself).
    auto outputsOf = [&](const BridgeTowerModel &m, int which) -> std::pair<FloatTensor, QString> {
        Result<FloatTensor> r = which % 3 == 0   ? m.embedText(kCaption)
                                : which % 3 == 1 ? m.embedImages(pixels)
                                                 : m.imageTextMatching(kCaption, pixels);
        if (!r)
            return {FloatTensor(), r.error().message};
        return {std::move(*r), QString()};
    };
    // Reference: each output computed alone, one call at a time, on its own model.
    std::vector<FloatTensor> expected;
    for (int which = 0; which < 3; ++which) {
        auto alone = BridgeTowerModel::load(m_dir.path(), options);
        QVERIFY(alone.ok());
        auto [out, error] = outputsOf(**alone, which);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        expected.push_back(std::move(out));
    }
    auto shared = BridgeTowerModel::load(m_dir.path(), options);
    QVERIFY(shared.ok());
    constexpr int kThreads = 9;
    std::vector<std::pair<FloatTensor, QString>> got(kThreads);
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i)
        threads.emplace_back([&, i] {
            ready.fetch_add(1);
            while (ready.load() <
                   kThreads) // all start together: every part's first use is contended
                std::this_thread::yield();
            got[size_t(i)] = outputsOf(**shared, i);
        });
    for (std::thread &t : threads)
        t.join();
    for (int i = 0; i < kThreads; ++i) {
        const FloatTensor &want = expected[size_t(i % 3)];
        const auto &[have, error] = got[size_t(i)];
        QVERIFY2(error.isEmpty(), qPrintable(error));
        QCOMPARE(have.shape, want.shape);
        double worst = 0;
        for (size_t k = 0; k < want.data.size(); ++k)
            worst = std::max(worst, double(std::abs(have.data[k] - want.data[k])));
        QVERIFY2(worst <= 1e-5,
                 qPrintable(QStringLiteral("thread %1 differs by %2").arg(i).arg(worst)));
    }
}

QTEST_GUILESS_MAIN(TestModelMemory)
#include "tst_modelmemory.moc"
