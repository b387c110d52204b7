#include "core/model/bridgetowermodel.h"

#include "core/model/internal/bridgetowernet.h"
#include "core/model/internal/checkpointweights.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <c10/core/InferenceMode.h>

#include <QDir>
#include <QFile>

#include <atomic>
#include <optional>
#include <set>

namespace ts {

using internal::BridgeTowerNet;

struct BridgeTowerModel::Impl {
    BridgeTowerConfig config;
    ModelInfo info;
    BridgeTowerNet net;
    Precision precision = Precision::Float32;
    mutable std::atomic<qint64> textRuns{0}, visionRuns{0};

    // Every tower pass goes through these two, so towerRuns() counts them all.
    BridgeTowerNet::TextTower textTower(const at::Tensor &ids, const at::Tensor &mask,
                                        bool fusion) const {
        textRuns.fetch_add(1, std::memory_order_relaxed);
        return net.textTower(ids, mask, fusion);
    }
    BridgeTowerNet::VisionTower visionTower(const at::Tensor &pixels) const {
        visionRuns.fetch_add(1, std::memory_order_relaxed);
        return net.visionTower(pixels);
    }
    // The text tower with its cross-modal inputs, one caption broadcast over `images` photos.
    BridgeTowerNet::TextTower fusionText(const TokenBatch &tokens, int64_t images) const;
};

struct PreparedText::Impl {
    const void *owner = nullptr;    // the model (its Impl) that prepared it
    BridgeTowerNet::TextTower text; // batch of one; lastHidden dropped after use
    FloatTensor embedding;
};

const FloatTensor &PreparedText::embedding() const {
    static const FloatTensor empty;
    return d ? d->embedding : empty;
}

qint64 PreparedText::byteSize() const {
    if (!d)
        return 0;
    qint64 bytes = qint64(sizeof(Impl)) + qint64(d->embedding.data.size() * sizeof(float));
    for (const at::Tensor &t : d->text.fusionInputs)
        bytes += qint64(t.nbytes());
    if (d->text.extendedMask.defined())
        bytes += qint64(d->text.extendedMask.nbytes());
    return bytes;
}

namespace {

QString joinNames(const std::vector<std::string> &names, size_t limit = 40) {
    QStringList out;
    for (size_t i = 0; i < names.size() && i < limit; ++i)
        out << QString::fromStdString(names[i]);
    if (names.size() > limit)
        out << QStringLiteral("... (%1 more)").arg(names.size() - limit);
    return out.join(QStringLiteral(", "));
}

QString problemsOf(const internal::WeightBinder &b) {
    QStringList parts;
    if (!b.missing().empty())
        parts << QStringLiteral("missing %1 tensor(s): %2")
                     .arg(b.missing().size())
                     .arg(joinNames(b.missing()));
    if (!b.misshaped().empty())
        parts << QStringLiteral("wrong shape: %1").arg(joinNames(b.misshaped()));
    return parts.join(QStringLiteral("; "));
}

// The thread count the user chose (BridgeTowerModel::setThreadCount), 0 until set. OpenMP keeps
// its thread count per calling thread, and LibTorch reads the process-wide value only the first
// time a thread runs an operator: a worker thread that already ran the model (a pooled search or
// indexing thread) would keep the old count until the app restarts. Every forward pass brings its
// thread in line first, so a changed setting applies to the next search or photo.
std::atomic<int> g_threadCount{0};

void followThreadCount() {
    const int wanted = g_threadCount.load(std::memory_order_relaxed);
    if (wanted > 0 && at::get_num_threads() != wanted)
        at::set_num_threads(wanted);
}

// Runs the model code: inference mode, optional bfloat16 autocast, and every exception turned
// into an Error (none may cross into Qt's event loop or a worker thread's entry).
template <typename F>
auto guarded(Precision precision, const char *what, F &&body) -> decltype(body()) {
    try {
        followThreadCount();
        c10::InferenceMode inference;
        const bool autocast = precision == Precision::BFloat16;
        const bool wasEnabled = at::autocast::is_cpu_enabled();
        if (autocast) {
            at::autocast::set_cpu_enabled(true);
            at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
        }
        struct Restore {
            bool on, was;
            ~Restore() {
                if (on) {
                    at::autocast::set_cpu_enabled(was);
                    at::autocast::clear_cache();
                }
            }
        } restore{autocast, wasEnabled};
        return body();
    } catch (const c10::Error &e) {
        return Error(
            Error::Code::Internal,
            QStringLiteral("%1 failed: %2")
                .arg(QLatin1String(what), QString::fromStdString(e.what_without_backtrace())));
    } catch (const std::exception &e) {
        return Error(
            Error::Code::Internal,
            QStringLiteral("%1 failed: %2").arg(QLatin1String(what), QString::fromUtf8(e.what())));
    }
}

FloatTensor toFloatTensor(const at::Tensor &t) {
    const at::Tensor c = t.to(at::kFloat).contiguous();
    FloatTensor out;
    out.shape = c.sizes().vec();
    out.data.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    return out;
}

// Appends `rows` (first dimension 1 or more) to `out`, which ends up [batch, ...]. The vision tower
// runs one photo at a time: on the CPU a batch is no faster per photo, while its activations grow
// with it (a batch of 8 held ~0.5 GB more at the large model's size).
void appendRows(FloatTensor &out, const at::Tensor &rows, int64_t batch) {
    const at::Tensor c = rows.to(at::kFloat).contiguous();
    if (out.shape.empty()) {
        out.shape = c.sizes().vec();
        out.shape[0] = batch;
        out.data.reserve(size_t(FloatTensor::elementCount(out.shape)));
    }
    out.data.insert(out.data.end(), c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// Wraps caller memory without copying; the model never writes into its inputs.
at::Tensor view(const FloatTensor &t) {
    return at::from_blob(const_cast<float *>(t.ptr()), t.shape, at::kFloat);
}

} // namespace

BridgeTowerModel::BridgeTowerModel() : d(std::make_unique<Impl>()) {}
BridgeTowerModel::~BridgeTowerModel() = default;

const BridgeTowerConfig &BridgeTowerModel::config() const {
    return d->config;
}
const ModelInfo &BridgeTowerModel::info() const {
    return d->info;
}
const internal::BridgeTowerNet &BridgeTowerModel::net() const {
    return d->net;
}
Precision BridgeTowerModel::precision() const {
    return d->precision;
}

int BridgeTowerModel::maxTextTokens() const {
    return d->config.text.maxPositionEmbeddings - d->config.text.padTokenId - 1;
}

int BridgeTowerModel::embeddingDimension() const {
    return has(kHeadContrastive) ? d->config.contrastiveHiddenSize.value_or(0) : 0;
}

float BridgeTowerModel::logitScale() const {
    return has(kHeadContrastive) ? d->net.logitScale().item<float>() : 0.0f;
}

namespace {

// Loading runs LibTorch code that throws: every exception becomes an Error naming the folder.
template <typename F>
Result<std::unique_ptr<BridgeTowerModel>> catchingLoadErrors(const QString &directory, F &&body) {
    try {
        return body();
    } catch (const c10::Error &e) {
        return Error(Error::Code::Model,
                     QStringLiteral("%1: loading failed: %2")
                         .arg(directory, QString::fromStdString(e.what_without_backtrace())));
    } catch (const std::exception &e) {
        return Error(
            Error::Code::Model,
            QStringLiteral("%1: loading failed: %2").arg(directory, QString::fromUtf8(e.what())));
    }
}

using TensorMap = std::map<std::string, at::Tensor>;

// The released checkpoints hold all heads in one file, with the base model under "bridgetower.".
std::string baseModelPrefix(const TensorMap &tensors) {
    for (const auto &[name, t] : tensors)
        if (name.rfind("bridgetower.", 0) == 0)
            return "bridgetower.";
    return {};
}

struct HeadSpec {
    ModelHead head;
    const char *name;
    std::vector<std::string> keyPrefixes;
    void (BridgeTowerNet::*bind)(internal::WeightBinder &);
    Status configSupport; // whether the config can run it
};

std::vector<HeadSpec> headSpecs(const BridgeTowerConfig &config) {
    return {
        {kHeadContrastive,
         "contrastive (ITC)",
         {"itc_text_head.", "itc_image_head.", "itc_cross_modal_head.", "logit_scale"},
         &BridgeTowerNet::bindContrastiveHead,
         config.contrastiveHeadSupport()},
        {kHeadImageTextMatching,
         "image-text matching (ITM)",
         {"itm_score."},
         &BridgeTowerNet::bindItmHead,
         {}},
        {kHeadMaskedLm, "masked LM (MLM)", {"mlm_score."}, &BridgeTowerNet::bindMlmHead, {}},
    };
}

bool hasHeadKeys(const TensorMap &tensors, const HeadSpec &h) {
    for (const auto &[name, t] : tensors)
        for (const std::string &p : h.keyPrefixes)
            if (name.rfind(p, 0) == 0)
                return true;
    return false;
}

// Binds the heads the checkpoint holds. A usable head is added to info.heads and its tensors to
// `used`; a head that is present but unusable is listed in info.headProblems; a required head that
// is absent or unusable fails the load.
Status bindHeads(const TensorMap &tensors, const BridgeTowerConfig &config, unsigned requiredHeads,
                 BridgeTowerNet &net, ModelInfo &info, std::set<std::string> &used) {
    QStringList fatal;
    for (const HeadSpec &h : headSpecs(config)) {
        const bool present = hasHeadKeys(tensors, h);
        std::optional<QString> problem;
        if (!present) {
            problem =
                QStringLiteral("the %1 head is not in the checkpoint").arg(QLatin1String(h.name));
        } else if (!h.configSupport) {
            problem = QStringLiteral("the %1 head cannot run: %2")
                          .arg(QLatin1String(h.name), h.configSupport.error().message);
        } else {
            internal::WeightBinder binder(tensors);
            (net.*h.bind)(binder);
            if (binder.ok()) {
                info.heads |= h.head;
                used.insert(binder.used().begin(), binder.used().end());
            } else {
                problem = QStringLiteral("the %1 head is broken: %2")
                              .arg(QLatin1String(h.name), problemsOf(binder));
            }
        }
        if (problem && (requiredHeads & h.head) != 0)
            fatal << *problem;
        else if (problem && present)
            info.headProblems << *problem;
    }
    if (!fatal.isEmpty())
        return Error(Error::Code::Model, fatal.join(QStringLiteral("; ")));
    net.setHeads(info.heads & kHeadContrastive, info.heads & kHeadImageTextMatching,
                 info.heads & kHeadMaskedLm);
    return Status::success();
}

// Everything the model does not use (buffers such as position_ids, heads of other classes or that
// could not be loaded) is ignored, as Hugging Face ignores unexpected keys, and listed.
void countParameters(const TensorMap &tensors, const std::set<std::string> &used, ModelInfo &info) {
    for (const auto &[name, t] : tensors) {
        if (used.count(name))
            info.parameterCount += t.numel();
        else
            info.unusedKeys << QString::fromStdString(name);
    }
}

} // namespace

Result<std::unique_ptr<BridgeTowerModel>> BridgeTowerModel::load(const QString &directory,
                                                                 const ModelLoadOptions &options) {
    const QDir dir(directory);
    if (!dir.exists())
        return Error(Error::Code::NotFound,
                     QStringLiteral("%1: model folder not found").arg(directory));
    auto config = BridgeTowerConfig::load(dir.filePath(QStringLiteral("config.json")));
    if (!config)
        return Error(Error::Code::Model, config.error().message);
    if (Status s = config->validate(); !s)
        return s.error().withContext(dir.filePath(QStringLiteral("config.json")));
    return catchingLoadErrors(directory, [&]() -> Result<std::unique_ptr<BridgeTowerModel>> {
        auto weights = internal::loadCheckpointWeights(directory);
        if (!weights)
            return Error(weights.error().code == Error::Code::NotFound ? Error::Code::Model
                                                                       : weights.error().code,
                         weights.error().message);
        return fromWeights(*config, *weights, dir.absolutePath(), options);
    });
}

Result<std::unique_ptr<BridgeTowerModel>>
BridgeTowerModel::fromWeights(const BridgeTowerConfig &config,
                              const internal::CheckpointWeights &weights, const QString &directory,
                              const ModelLoadOptions &options) {
    if (Status s = config.validate(); !s)
        return s.error();
    std::unique_ptr<BridgeTowerModel> model(new BridgeTowerModel());
    Impl &m = *model->d;
    m.config = config;
    m.precision = options.precision;
    m.info.directory = directory;
    return catchingLoadErrors(directory, [&]() -> Result<std::unique_ptr<BridgeTowerModel>> {
        m.info.weightsFile = weights.file;
        m.info.storedDtypes = weights.storedDtypes;
        internal::WeightBinder base(weights.tensors);
        m.net.bind(base, m.config, baseModelPrefix(weights.tensors));
        if (!base.ok())
            return Error(Error::Code::Model,
                         QStringLiteral("%1: the checkpoint does not match config.json: %2")
                             .arg(weights.file, problemsOf(base)));
        std::set<std::string> used(base.used().begin(), base.used().end());
        if (Status s =
                bindHeads(weights.tensors, m.config, options.requiredHeads, m.net, m.info, used);
            !s)
            return s.error().withContext(weights.file);
        // Nothing is converted or read here: each part is prepared for the precision by the first
        // forward pass that needs it (BridgeTowerNet::materialize).
        if (options.precision == Precision::Int8)
            if (const Status engine =
                    internal::int8EngineSupport(at::globalContext().supportedQEngines());
                !engine)
                return engine.error().withContext(directory);
        m.net.setPrecision(options.precision, weights.mappedRanges);
        countParameters(weights.tensors, used, m.info);
        return std::move(model);
    });
}

namespace {

Status checkPixels(const FloatTensor &p, int imageSize, int channels) {
    if (p.shape.size() != 4 || p.shape[0] < 1 || p.shape[1] != channels ||
        p.shape[2] != imageSize || p.shape[3] != imageSize)
        return Error(
            Error::Code::InvalidArgument,
            QStringLiteral(
                "pixel values must have shape [batch, %1, %2, %2]; this model takes %2x%2 images")
                .arg(channels)
                .arg(imageSize));
    if (int64_t(p.data.size()) != FloatTensor::elementCount(p.shape))
        return Error(Error::Code::InvalidArgument,
                     QStringLiteral("pixel values hold fewer numbers than their shape says"));
    return Status::success();
}

} // namespace

static Status checkTokens(const TokenBatch &t, const BridgeTowerModel &m) {
    if (t.batchSize < 1 || t.seqLength < 1 ||
        int64_t(t.inputIds.size()) != t.batchSize * t.seqLength ||
        t.attentionMask.size() != t.inputIds.size())
        return Error(Error::Code::InvalidArgument,
                     QStringLiteral("token batch is empty or its arrays do not match its shape"));
    if (t.seqLength > m.maxTextTokens())
        return Error(Error::Code::InvalidArgument,
                     QStringLiteral("the text has %1 tokens; this model accepts at most %2")
                         .arg(t.seqLength)
                         .arg(m.maxTextTokens()));
    const int64_t vocab = m.config().text.vocabSize;
    for (int64_t id : t.inputIds)
        if (id < 0 || id >= vocab)
            return Error(Error::Code::InvalidArgument,
                         QStringLiteral("token id %1 is outside this model's vocabulary of %2")
                             .arg(id)
                             .arg(vocab));
    for (int64_t v : t.attentionMask)
        if (v != 0 && v != 1)
            return Error(Error::Code::InvalidArgument,
                         QStringLiteral("attention mask values must be 0 or 1"));
    return Status::success();
}

static at::Tensor idsTensor(const TokenBatch &t) {
    return at::from_blob(const_cast<int64_t *>(t.inputIds.data()), {t.batchSize, t.seqLength},
                         at::kLong);
}
static at::Tensor maskTensor(const TokenBatch &t) {
    return at::from_blob(const_cast<int64_t *>(t.attentionMask.data()), {t.batchSize, t.seqLength},
                         at::kLong);
}

// Broadcasts a one-text tower over `batch` images.
static BridgeTowerNet::TextTower expandText(BridgeTowerNet::TextTower text, int64_t batch) {
    if (text.fusionInputs.front().size(0) == batch)
        return text;
    for (at::Tensor &f : text.fusionInputs)
        f = f.expand({batch, f.size(1), f.size(2)});
    text.extendedMask = text.extendedMask.expand({batch, -1, -1, -1});
    return text;
}

BridgeTowerNet::TextTower BridgeTowerModel::Impl::fusionText(const TokenBatch &tokens,
                                                             int64_t images) const {
    return expandText(textTower(idsTensor(tokens), maskTensor(tokens), /*fusion=*/true), images);
}

Result<FloatTensor> BridgeTowerModel::embedText(const TokenBatch &tokens) const {
    if (!has(kHeadContrastive))
        return Error(Error::Code::Model,
                     QStringLiteral("this checkpoint has no usable contrastive head, so it cannot "
                                    "embed text for search"));
    if (Status s = checkTokens(tokens, *this); !s)
        return s.error();
    return guarded(d->precision, "text embedding", [&]() -> Result<FloatTensor> {
        const auto text = d->textTower(idsTensor(tokens), maskTensor(tokens), /*fusion=*/false);
        return toFloatTensor(d->net.textEmbeds(text));
    });
}

Result<FloatTensor> BridgeTowerModel::embedImages(const FloatTensor &pixels,
                                                  FloatTensor *fusionOut) const {
    if (!has(kHeadContrastive))
        return Error(Error::Code::Model,
                     QStringLiteral("this checkpoint has no usable contrastive head, so it cannot "
                                    "embed images for search"));
    if (Status s = checkPixels(pixels, imageSize(), d->config.vision.numChannels); !s)
        return s.error();
    return guarded(d->precision, "image embedding", [&]() -> Result<FloatTensor> {
        const at::Tensor all = view(pixels);
        FloatTensor embeds, fusion;
        for (int64_t i = 0; i < all.size(0); ++i) {
            const auto vision = d->visionTower(all.narrow(0, i, 1));
            appendRows(embeds, d->net.imageEmbeds(vision), all.size(0));
            if (fusionOut)
                appendRows(fusion, BridgeTowerNet::stackFusion(vision), all.size(0));
        }
        if (fusionOut)
            *fusionOut = std::move(fusion);
        return embeds;
    });
}

Result<FloatTensor> BridgeTowerModel::visionFusionInputs(const FloatTensor &pixels) const {
    if (Status s = checkPixels(pixels, imageSize(), d->config.vision.numChannels); !s)
        return s.error();
    return guarded(d->precision, "vision tower", [&]() -> Result<FloatTensor> {
        const at::Tensor all = view(pixels);
        FloatTensor fusion;
        for (int64_t i = 0; i < all.size(0); ++i)
            appendRows(fusion, BridgeTowerNet::stackFusion(d->visionTower(all.narrow(0, i, 1))),
                       all.size(0));
        return fusion;
    });
}

Result<FloatTensor> BridgeTowerModel::imageTextMatching(const TokenBatch &tokens,
                                                        const FloatTensor &pixels) const {
    if (Status s = checkPixels(pixels, imageSize(), d->config.vision.numChannels); !s)
        return s.error();
    auto fusion = visionFusionInputs(pixels);
    if (!fusion)
        return fusion.error();
    return imageTextMatchingFromFusion(tokens, *fusion);
}

static Status checkFusion(const FloatTensor &fusion, const BridgeTowerConfig &c) {
    if (fusion.shape.size() != 4 || fusion.shape[0] < 1 || fusion.shape[1] != c.numHiddenLayers ||
        fusion.shape[2] != c.vision.numTokens() || fusion.shape[3] != c.hiddenSize ||
        int64_t(fusion.data.size()) != FloatTensor::elementCount(fusion.shape))
        return Error(Error::Code::InvalidArgument,
                     QStringLiteral("cached vision features do not fit this model (stale cache?)"));
    return Status::success();
}

static Status checkTextsForImages(int64_t texts, int64_t images) {
    if (texts != 1 && texts != images)
        return Error(Error::Code::InvalidArgument,
                     QStringLiteral("%1 texts for %2 images: give one text, or one per image")
                         .arg(texts)
                         .arg(images));
    return Status::success();
}

static Status checkPositions(const std::vector<int64_t> &positions, int64_t seqLength) {
    for (int64_t p : positions)
        if (p < 0 || p >= seqLength)
            return Error(Error::Code::InvalidArgument,
                         QStringLiteral("token position %1 is outside the caption's %2 tokens")
                             .arg(p)
                             .arg(seqLength));
    return Status::success();
}

// The message when a call needs a head the checkpoint lacks (or could not load).
static Status requireHead(const BridgeTowerModel &m, ModelHead head) {
    if (m.has(head))
        return Status::success();
    switch (head) {
    case kHeadContrastive:
        return Error(Error::Code::Model,
                     QStringLiteral("this checkpoint has no usable contrastive head"));
    case kHeadImageTextMatching:
        return Error(
            Error::Code::Model,
            QStringLiteral("this checkpoint has no usable image-text matching (ITM) head"));
    case kHeadMaskedLm:
        return Error(Error::Code::Model,
                     QStringLiteral("this checkpoint has no usable masked-LM (MLM) head"));
    case kHeadNone:
        break;
    }
    return Status::success();
}

// What the ITM and MLM heads receive besides the caption: pixels, or cached vision features.
enum class VisionInput { Pixels, Fusion };

// The checks every ITM / MLM call makes, in the order their errors are reported: the head, the
// tokens, the vision input, one text or one per image, and the MLM positions (when given).
static Status checkCrossModalCall(const BridgeTowerModel &m, const BridgeTowerConfig &config,
                                  ModelHead head, const TokenBatch &tokens,
                                  const FloatTensor &vision, VisionInput kind,
                                  const std::vector<int64_t> *positions = nullptr) {
    if (Status s = requireHead(m, head); !s)
        return s;
    if (Status s = checkTokens(tokens, m); !s)
        return s;
    if (Status s = kind == VisionInput::Pixels
                       ? checkPixels(vision, m.imageSize(), config.vision.numChannels)
                       : checkFusion(vision, config);
        !s)
        return s;
    if (Status s = checkTextsForImages(tokens.batchSize, vision.shape[0]); !s)
        return s;
    if (positions)
        return checkPositions(*positions, tokens.seqLength);
    return Status::success();
}

Result<FloatTensor> BridgeTowerModel::imageTextMatchingFromFusion(const TokenBatch &tokens,
                                                                  const FloatTensor &fusion) const {
    if (Status s = checkCrossModalCall(*this, d->config, kHeadImageTextMatching, tokens, fusion,
                                       VisionInput::Fusion);
        !s)
        return s.error();
    return guarded(d->precision, "image-text matching", [&]() -> Result<FloatTensor> {
        const auto text = d->fusionText(tokens, fusion.shape[0]);
        const auto cross = d->net.crossModal(text, BridgeTowerNet::unstackFusion(view(fusion)),
                                             nullptr, BridgeTowerNet::CrossOutputs::Pooled);
        return toFloatTensor(d->net.itmLogits(cross));
    });
}

Result<PreparedText> BridgeTowerModel::prepareText(const TokenBatch &tokens) const {
    if (Status s = checkTokens(tokens, *this); !s)
        return s.error();
    if (tokens.batchSize != 1)
        return Error(
            Error::Code::InvalidArgument,
            QStringLiteral("prepare one caption at a time (got %1)").arg(tokens.batchSize));
    return guarded(d->precision, "text tower", [&]() -> Result<PreparedText> {
        auto impl = std::make_shared<PreparedText::Impl>();
        impl->owner = d.get();
        impl->text = d->textTower(idsTensor(tokens), maskTensor(tokens), /*fusion=*/true);
        if (has(kHeadContrastive))
            impl->embedding = toFloatTensor(d->net.textEmbeds(impl->text));
        impl->text.lastHidden = at::Tensor(); // read only by the embedding
        PreparedText prepared;
        prepared.d = std::move(impl);
        return prepared;
    });
}

Result<FloatTensor> BridgeTowerModel::imageTextMatchingFromFusion(const PreparedText &text,
                                                                  const FloatTensor &fusion) const {
    if (Status s = requireHead(*this, kHeadImageTextMatching); !s)
        return s.error();
    if (!text.d || text.d->owner != d.get())
        return Error(Error::Code::InvalidArgument,
                     QStringLiteral("the caption was not prepared by this model"));
    if (Status s = checkFusion(fusion, d->config); !s)
        return s.error();
    return guarded(d->precision, "image-text matching", [&]() -> Result<FloatTensor> {
        const auto cross = d->net.crossModal(expandText(text.d->text, fusion.shape[0]),
                                             BridgeTowerNet::unstackFusion(view(fusion)), nullptr,
                                             BridgeTowerNet::CrossOutputs::Pooled);
        return toFloatTensor(d->net.itmLogits(cross));
    });
}

// MLM over one text tower and a vision side: only the text side of the last cross-modal layer,
// and the decoder only at `positions` (all when empty).
static at::Tensor maskedLm(const BridgeTowerNet &net, const BridgeTowerNet::TextTower &text,
                           const BridgeTowerNet::VisionTower &vision,
                           const std::vector<int64_t> &positions) {
    const auto cross =
        net.crossModal(text, vision, nullptr, BridgeTowerNet::CrossOutputs::TextSide);
    if (positions.empty())
        return net.mlmLogits(cross);
    return net.mlmLogits(cross, at::tensor(positions, at::kLong));
}

Result<FloatTensor> BridgeTowerModel::maskedLmLogits(const TokenBatch &tokens,
                                                     const FloatTensor &pixels,
                                                     const std::vector<int64_t> &positions) const {
    if (Status s = checkCrossModalCall(*this, d->config, kHeadMaskedLm, tokens, pixels,
                                       VisionInput::Pixels, &positions);
        !s)
        return s.error();
    return guarded(d->precision, "masked LM", [&]() -> Result<FloatTensor> {
        const auto text = d->fusionText(tokens, pixels.shape[0]);
        return toFloatTensor(maskedLm(d->net, text, d->visionTower(view(pixels)), positions));
    });
}

Result<FloatTensor>
BridgeTowerModel::maskedLmLogitsFromFusion(const TokenBatch &tokens, const FloatTensor &fusion,
                                           const std::vector<int64_t> &positions) const {
    if (Status s = checkCrossModalCall(*this, d->config, kHeadMaskedLm, tokens, fusion,
                                       VisionInput::Fusion, &positions);
        !s)
        return s.error();
    return guarded(d->precision, "masked LM", [&]() -> Result<FloatTensor> {
        const auto text = d->fusionText(tokens, fusion.shape[0]);
        return toFloatTensor(
            maskedLm(d->net, text, BridgeTowerNet::unstackFusion(view(fusion)), positions));
    });
}

Result<BridgeTowerModel::ContrastiveOutput>
BridgeTowerModel::contrastive(const TokenBatch &tokens, const FloatTensor &pixels) const {
    if (Status s = requireHead(*this, kHeadContrastive); !s)
        return s.error();
    if (Status s = checkTokens(tokens, *this); !s)
        return s.error();
    if (Status s = checkPixels(pixels, imageSize(), d->config.vision.numChannels); !s)
        return s.error();
    if (tokens.batchSize != pixels.shape[0])
        return Error(Error::Code::InvalidArgument,
                     QStringLiteral("contrastive needs one text per image"));
    return guarded(d->precision, "contrastive", [&]() -> Result<ContrastiveOutput> {
        const auto text = d->textTower(idsTensor(tokens), maskTensor(tokens), true);
        const auto vision = d->visionTower(view(pixels));
        const auto cross =
            d->net.crossModal(text, vision, nullptr, BridgeTowerNet::CrossOutputs::Pooled);
        return ContrastiveOutput{toFloatTensor(d->net.textEmbeds(text)),
                                 toFloatTensor(d->net.imageEmbeds(vision)),
                                 toFloatTensor(d->net.crossEmbeds(cross))};
    });
}

BridgeTowerModel::TowerRuns BridgeTowerModel::towerRuns() const {
    return {d->textRuns.load(std::memory_order_relaxed),
            d->visionRuns.load(std::memory_order_relaxed)};
}

void BridgeTowerModel::setThreadCount(int threads) {
    g_threadCount.store(std::max(1, threads), std::memory_order_relaxed);
    at::set_num_threads(std::max(1, threads));
}
int BridgeTowerModel::threadCount() {
    return at::get_num_threads();
}

QString BridgeTowerModel::runtimeInfo() {
    // The BLAS actually mapped into this process decides float32 speed (see TOOLCHAIN.md).
    QString blas = QStringLiteral("unknown");
    QFile maps(QStringLiteral("/proc/self/maps"));
    if (maps.open(QIODevice::ReadOnly)) {
        const QList<QByteArray> lines = maps.readAll().split('\n');
        for (const QByteArray &line : lines) {
            const int slash = line.indexOf('/');
            if (slash < 0)
                continue;
            const QString path = QString::fromUtf8(line.mid(slash));
            if (path.contains(QLatin1String("libblas")) ||
                path.contains(QLatin1String("libopenblas"))) {
                blas = path;
                break;
            }
        }
    }
    QString variant;
    if (blas.contains(QLatin1String("openblas-openmp")))
        variant = QStringLiteral(" (OpenBLAS, OpenMP: good)");
    else if (blas.contains(QLatin1String("openblas-pthread")))
        variant = QStringLiteral(
            " (OpenBLAS, pthreads: ~2.5x slower with LibTorch; install libopenblas0-openmp)");
    else if (blas.contains(QLatin1String("/blas/")))
        variant = QStringLiteral(" (reference BLAS: very slow; install libopenblas0-openmp)");
    return QStringLiteral("LibTorch threads: %1; BLAS: %2%3")
        .arg(at::get_num_threads())
        .arg(blas, variant);
}

} // namespace ts
