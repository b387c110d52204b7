#pragma once

#include "core/model/bridgetowermodel.h" // the commands use pipeline->model()
#include "core/model/precisionpolicy.h"
#include "core/search/bridgetowerpipeline.h"

#include <QCommandLineOption>
#include <QCommandLineParser>

#include <memory>

namespace ts::cli {

// The options every model-using command shares: --model DIR, --threads N, --json,
// --precision auto|f32|bf16|int8 (--bf16 is --precision bf16).
struct ModelOptions {
    QCommandLineOption model{
        QStringLiteral("model"),
        QStringLiteral("Checkpoint folder (config.json, weights, vocab.json, merges.txt, "
                       "preprocessor_config.json). Default: $TOWERSEARCH_MODEL, else the default "
                       "model in the Hugging Face cache."),
        QStringLiteral("DIR")};
    QCommandLineOption threads{QStringLiteral("threads"),
                               QStringLiteral("LibTorch threads (default: all cores)."),
                               QStringLiteral("N")};
    QCommandLineOption json{QStringLiteral("json"),
                            QStringLiteral("Print JSON (schema in the README) instead of text.")};
    QCommandLineOption precision{
        QStringLiteral("precision"),
        QStringLiteral("Model precision: auto (the default: bf16 where the CPU executes bfloat16 "
                       "natively, else f32), f32 (matches the reference), bf16 or int8."),
        QStringLiteral("P")};
    QCommandLineOption bf16{QStringLiteral("bf16"), QStringLiteral("Same as --precision bf16.")};

    void addTo(QCommandLineParser &parser) const {
        parser.addOptions({model, threads, json, precision, bf16});
    }

    // The precision --precision / --bf16 ask for, resolved for this CPU. On a bad value prints the
    // error, sets `exitCode` to the usage code and returns nullopt.
    std::optional<PrecisionChoice> precisionChoice(const QCommandLineParser &parser,
                                                   const QString &command, int &exitCode) const;

    // Applies --threads and loads the pipeline. On failure prints the error and sets `exitCode`.
    std::shared_ptr<BridgeTowerPipeline> load(const QCommandLineParser &parser,
                                              const QString &command, unsigned requiredHeads,
                                              int &exitCode) const;
};

} // namespace ts::cli
