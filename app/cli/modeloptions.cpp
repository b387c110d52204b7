#include "modeloptions.h"

#include "clicommand.h"

#include "core/hub/hubcache.h"
#include "core/hub/modellocator.h"

#include <QThread>

namespace ts::cli {

std::optional<PrecisionChoice> ModelOptions::precisionChoice(const QCommandLineParser &parser,
                                                             const QString &command,
                                                             int &exitCode) const {
    PrecisionSetting setting = PrecisionSetting::Auto;
    if (parser.isSet(precision)) {
        const auto parsed = parsePrecisionSetting(parser.value(precision));
        if (!parsed) {
            err(QStringLiteral(
                    "towersearch-cli %1: --precision takes auto, f32, bf16 or int8, not '%2'\n")
                    .arg(command, parser.value(precision)));
            exitCode = kExitUsage;
            return std::nullopt;
        }
        setting = *parsed;
    }
    if (parser.isSet(bf16)) {
        if (parser.isSet(precision) && setting != PrecisionSetting::BFloat16) {
            err(QStringLiteral("towersearch-cli %1: --bf16 means --precision bf16; it contradicts "
                               "--precision %2\n")
                    .arg(command, parser.value(precision)));
            exitCode = kExitUsage;
            return std::nullopt;
        }
        setting = PrecisionSetting::BFloat16;
    }
    return resolvePrecision(setting);
}

std::shared_ptr<BridgeTowerPipeline> ModelOptions::load(const QCommandLineParser &parser,
                                                        const QString &command,
                                                        unsigned requiredHeads,
                                                        int &exitCode) const {
    int threadCount = QThread::idealThreadCount();
    if (parser.isSet(threads)) {
        bool ok = false;
        threadCount = parser.value(threads).toInt(&ok);
        if (!ok || threadCount < 1) {
            err(QStringLiteral("towersearch-cli %1: --threads needs a positive number\n")
                    .arg(command));
            exitCode = kExitUsage;
            return {};
        }
    }
    const auto chosen = precisionChoice(parser, command, exitCode);
    if (!chosen)
        return {};
    BridgeTowerModel::setThreadCount(threadCount);
    QString dir = parser.value(model);
    if (dir.isEmpty())
        dir = qEnvironmentVariable("TOWERSEARCH_MODEL");
    if (dir.isEmpty()) {
        // A model downloaded earlier (by us or by Python tools) in the Hugging Face cache.
        auto found = ModelLocator::find({}, HubCache::fromEnvironment());
        if (!found) {
            err(QStringLiteral(
                    "towersearch-cli %1: no model: pass --model DIR, set TOWERSEARCH_MODEL, or run "
                    "'towersearch-cli model download' (%2)\n")
                    .arg(command, found.error().message));
            exitCode = kExitUsage;
            return {};
        }
        dir = found->directory;
    }
    BridgeTowerPipeline::Options options;
    options.requiredHeads = requiredHeads;
    options.precision = chosen->precision;
    auto pipeline = BridgeTowerPipeline::load(dir, options);
    if (!pipeline) {
        err(QStringLiteral("towersearch-cli %1: %2\n").arg(command, pipeline.error().message));
        exitCode = kExitModel;
        return {};
    }
    return *pipeline;
}

} // namespace ts::cli
